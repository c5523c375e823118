"""zhan end to end on a tiny build: hold-out training, the triplet_eval stage, the report pieces,
zhan-1's two arms, and user-supplied ImageNet weights (strict, checksummed loading; a clear error without the file)."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT
from fashionbench.core import config
from fashionbench.reporting import report
from fashionbench.papers.zhan import report as zhan_report
import fashionbench.core.paths
import fashionbench.pipeline.embed
import fashionbench.pipeline.evaluate
import fashionbench.pipeline.train
import fashionbench.data.splits
import fashionbench.papers.zhan.triplets
import fashionbench.pipeline.triplet_eval
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.models import build_model, triplet_accuracy
from fashionbench.papers.registry import paper
from fashionbench.models.pretrained import sha256_file
from fashionbench.engine.training import load_trained

ROW = {"group": "zhan", "notebook": "notebooks/train.ipynb", "model": {"arch": "triplet", "backbone": "resnet18"},
       "loss": {"loss": "zhan_triplet", "margin": 1.0, "negatives": 4, "easy_fraction": 0.0},
       "sampler": "domain", "holdout": 0.3, "optimizer": "sgd", "lr": 0.001, "momentum": 0.9,
       "schedule": "step", "milestones": [1], "gamma": 0.1, "augment": {"flip": False, "shift": 0}, "crop": "given"}


def _params(**rows) -> dict:
    return {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"},
            "profiles": {"tiny": {"train": {"img_size": 16, "epochs": 1, "batch_size": 8, "threads": 1},
                                  "eval": {"top_k": 100, "n_boot": 50}}},
            "methods": rows, "triplet_eval": {"methods": list(rows), "negatives": 4, "easy_fraction": 0.25}}


@pytest.fixture(scope="module")
def project(tiny_dataset, tmp_path_factory):
    """A project folder holding the tiny build, two trained zhan rows and their triplet_eval outputs."""
    root = tmp_path_factory.mktemp("zhanproj")
    shutil.copytree(tiny_dataset, root / "data" / "prepared")
    params = _params(**{"zhan-random-m1": ROW,
                        "zhan-random-m4": {**ROW, "loss": {**ROW["loss"], "margin": 4.0}}})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    mp = pytest.MonkeyPatch()
    mp.setenv("FASHIONBENCH_ROOT", str(root))
    out = {}
    for m in params["methods"]:
        fashionbench.pipeline.train.train(params, m, progress=False)
        fashionbench.pipeline.embed.embed(params, m, progress=False)
        fashionbench.pipeline.evaluate.evaluate(params, m)
        out[m] = fashionbench.pipeline.triplet_eval.evaluate_method(params, m, progress=False)
    yield root, params, out
    mp.undo()
    shutil.rmtree(root, ignore_errors=True)  # trained models: free the disk once this module is done


def test_select_train_rows_holds_out_items(tiny_dataset):
    manifest = pd.read_csv(tiny_dataset / "manifest.csv")
    params = _params(x=ROW, y={**ROW, "holdout": 0}, z={**ROW, "train_filter": {"category": "clothes"}})
    tr, va = fashionbench.pipeline.train.select_train_rows(params, "x", manifest)
    all_train = manifest[manifest["split"] == "train"]
    assert len(tr) + len(va) == len(all_train) and len(va) > 0
    assert not set(tr["item_id"]) & set(va["item_id"])
    assert set(va["item_id"]) == set(fashionbench.data.splits.holdout_split(all_train, 0.3, 0)[1])
    tr_y, va_y = fashionbench.pipeline.train.select_train_rows(params, "y", manifest)
    assert len(tr_y) == len(all_train) and va_y.empty
    tr_z, va_z = fashionbench.pipeline.train.select_train_rows(params, "z", manifest)
    assert set(tr_z["category"]) | set(va_z["category"]) == {"clothes"}
    with pytest.raises(ConfigError, match="methods.w.holdout"):
        fashionbench.pipeline.train.select_train_rows(_params(w={**ROW, "holdout": 1.5}), "w", manifest)


def test_training_never_sees_the_validation_items(project):
    root, params, _ = project
    manifest = pd.read_csv(root / "data" / "prepared" / "manifest.csv")
    _, val = fashionbench.pipeline.train.select_train_rows(params, "zhan-random-m1", manifest)
    _, saved = load_trained(fashionbench.core.paths.model_dir("zhan-random-m1", root))
    assert set(saved["item_vocab"]).isdisjoint(set(val["item_id"]))


def test_triplet_eval_outputs_agree_with_an_independent_computation(project):
    root, params, out = project
    m = "zhan-random-m1"
    extra = json.loads((root / "metrics" / f"{m}.extra.json").read_text())
    table = pd.read_csv(root / "artifacts" / "per_triplet" / f"{m}.csv")
    assert extra == pytest.approx(out[m])
    assert extra["triplet_accuracy"] == pytest.approx(table["triplet_accuracy"].mean())
    assert extra["n_val_triplets"] == len(table) and table["triplet_id"].is_unique
    # recompute from scratch: embed each image on its own, then models.zhan.triplet_accuracy
    manifest = pd.read_csv(root / "data" / "prepared" / "manifest.csv").set_index("uid")
    model, saved = load_trained(fashionbench.core.paths.model_dir(m, root))
    from fashionbench.data.imaging import crop_boxes, load_crop, IMAGENET_MEAN, IMAGENET_STD

    def feat(uid):
        row = manifest.loc[[uid]].reset_index()
        img = load_crop(root / "data" / "prepared" / row["path"].iloc[0], crop_boxes(row, "given")[0], saved["size"])
        x = (torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) \
            / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        with torch.no_grad():
            return model(x[None])["embedding"][0].double().numpy()

    sub = table.head(40)
    cache = {u: feat(u) for u in set(sub[["anchor", "positive", "negative"]].to_numpy().ravel())}
    a, p, n = (np.stack([cache[u] for u in sub[c]]) for c in ("anchor", "positive", "negative"))
    assert triplet_accuracy(a, p, n) == pytest.approx(sub["triplet_accuracy"].mean())
    assert np.linalg.norm(a - p, axis=1) == pytest.approx(sub["d_ap"].to_numpy(), rel=1e-5)
    # every validation triplet lies inside the held-out items; negatives are other items' consumer photos
    _, val = fashionbench.pipeline.train.select_train_rows(params, m, manifest.reset_index())
    assert set(table["anchor_item"]) <= set(val["item_id"]) and (table["anchor_item"] != table["negative_item"]).all()
    assert set(manifest.loc[table["negative"], "domain"]) == {"consumer"}
    assert set(manifest.loc[table["anchor"], "domain"]) == {"shop"}


def test_triplet_eval_is_deterministic_and_same_triplets_for_every_row(project):
    root, params, out = project
    t1 = pd.read_csv(root / "artifacts" / "per_triplet" / "zhan-random-m1.csv")
    t4 = pd.read_csv(root / "artifacts" / "per_triplet" / "zhan-random-m4.csv")
    assert t1["triplet_id"].tolist() == t4["triplet_id"].tolist()
    again = fashionbench.pipeline.triplet_eval.evaluate_method(params, "zhan-random-m1", progress=False)
    assert again == out["zhan-random-m1"]
    pd.testing.assert_frame_equal(t1, pd.read_csv(root / "artifacts" / "per_triplet" / "zhan-random-m1.csv"))


def test_triplet_eval_needs_a_holdout(project):
    _, params, _ = project
    bad = {**params, "methods": {**params["methods"], "nohold": {**ROW, "holdout": 0}}}
    with pytest.raises(ConfigError, match="methods.nohold.holdout"):
        fashionbench.pipeline.triplet_eval.evaluate_method(bad, "nohold")
    with pytest.raises(ConfigError, match="triplet_eval"):
        fashionbench.papers.zhan.triplets.eval_settings({"triplet_eval": {"negative": 4}})


def test_report_pieces_read_this_run(project):
    root, params, out = project
    names = config.evaluated_names(params)
    metrics = report.load_all_metrics(names, root / "metrics")
    per_query = report.load_per_query(names, root / "artifacts" / "per_query")
    t1 = paper("zhan").tables[0]
    tab = report.paper_table(t1, "zhan", metrics, per_query, root / "metrics", n_boot=50)
    ours = tab.loc["random init, m=1", "validation accuracy (ours)"]
    assert ours.startswith(f"{100 * out['zhan-random-m1']['triplet_accuracy']:.2f} [")
    assert tab.loc["random init, m=1", "train accuracy (ours)"] == \
        f"{100 * out['zhan-random-m1']['train_triplet_accuracy']:.2f}"
    assert "not in this run" in tab.loc["ImageNet init, m=1", "our row"]
    assert tab.loc["ImageNet init, m=1", "validation accuracy (ours)"] == "—"
    zt = zhan_report.triplet_table(params, root, n_boot=50)
    assert list(zt.index) == ["zhan-random-m1", "zhan-random-m4"] and "retrieval mAP [95% CI]" in zt.columns
    assert zhan_report.plot_margins(params, root, n_boot=50) is not None
    settings = zhan_report.row_settings(params)
    assert settings.loc["zhan-random-m4", "margin"] == 4.0 and settings.loc["zhan-random-m1", "init"] == "random"
    res = {r.id: r for r in zhan_report.ap_claims(per_query, n_boot=50)}
    assert res["zhan-3"].metric == "AP" and res["zhan-1"].metric == "AP"


# ----------------------------------------------------------------------------- zhan-1's arms and user-supplied weights


def test_zhan1_arms_differ_only_in_the_initialisation():
    params = config.load_params(ROOT / "params.yaml")
    for prof in config.PROFILES:
        p = {**params, "profile": prof}
        imagenet = config.method_settings(p, "zhan-imagenet-m1")
        random = config.method_settings(p, "zhan-random-m1")
        assert imagenet["model"].pop("pretrained") == "imagenet" and "pretrained" not in random["model"]
        imagenet.pop("description"), random.pop("description")
        assert imagenet == random


SPEC = {"arch": "triplet", "backbone": "resnet18",
        "pretrained": {"path": "weights/resnet18-imagenet.pth", "sha256": "REPLACE-WITH-THE-SHA256-OF-YOUR-FILE",
                       "key_map": {"fc.weight": None, "fc.bias": None}}}


def test_documented_row_fails_clearly_without_the_file_and_loads_a_real_checkpoint(tmp_path):
    spec = SPEC
    with pytest.raises(ContractError, match="resnet18-imagenet.pth: pretrained weights file not found"):
        build_model({**spec, "pretrained": {**spec["pretrained"], "path": str(tmp_path / "resnet18-imagenet.pth")}},
                    3, 2)
    import torchvision
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None)  # stands in for torchvision's ImageNet file
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(tv.state_dict(), path)
    with pytest.raises(ConfigError, match="sha256"):  # the placeholder is refused
        build_model({**spec, "pretrained": {**spec["pretrained"], "path": str(path)}}, 3, 2)
    model = build_model({**spec, "pretrained": {**spec["pretrained"], "path": str(path),
                                                "sha256": sha256_file(path)}}, 3, 2)
    assert torch.equal(model.backbone.layer3[0].conv1.weight, tv.layer3[0].conv1.weight)


def test_zhan_training_resumes_to_the_uninterrupted_weights(tiny_dataset, tmp_path):
    """Domain sampler + in-batch mining (the loss's own RNG, kept in its state) survive a kill."""
    from fashionbench.data.imaging import CropDataset
    from fashionbench.engine.training import train

    manifest = pd.read_csv(tiny_dataset / "manifest.csv")
    ds = CropDataset(manifest[manifest["split"] == "train"], tiny_dataset, "given", 16)
    cfg = {**{k: v for k, v in ROW.items() if k not in ("group", "notebook", "holdout")},
           "loss": {**ROW["loss"], "easy_fraction": 0.25}, "epochs": 2, "batch_size": 8, "threads": 1}
    full, hist = train(cfg, ds, tmp_path / "full", seed=2, progress=False)
    train(cfg, ds, tmp_path / "killed", seed=2, progress=False, stop_after_epoch=1)
    resumed, hist_res = train(cfg, ds, tmp_path / "killed", seed=2, progress=False)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in hist] == [h["loss"] for h in hist_res]
    assert 0 < hist[0]["hard_share"] < 1 and hist[0]["triplets"] > 0
