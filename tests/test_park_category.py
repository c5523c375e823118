"""park: category top-k accuracy (hand-worked and brute force), the category_column relabelling,
the category_eval stage end to end on a tiny build, and its numbers in the paper table."""

from __future__ import annotations

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
import fashionbench.papers.park.report
import fashionbench.pipeline.category_eval
import fashionbench.core.paths
import fashionbench.data.prepared
import fashionbench.pipeline.embed
import fashionbench.pipeline.evaluate
import fashionbench.pipeline.train
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.imaging import CropDataset
from fashionbench.papers.registry import paper
from fashionbench.engine.training import load_trained

# ---- top-k accuracy: a hand-worked case ------------------------------------------------------

#  class:      0    1    2    3
SCORES = np.array([[0.1, 0.7, 0.2, 0.0],   # true 1: best                        -> rank 1
                   [0.5, 0.1, 0.3, 0.4],   # true 2: 0.5 and 0.4 above           -> rank 3
                   [0.2, 0.2, 0.2, 0.2],   # true 3: all tied, 3 lower indices   -> rank 4
                   [0.3, 0.3, 0.1, 0.0],   # true 0: tie with class 1, 0 first   -> rank 1
                   [0.3, 0.3, 0.1, 0.0]])  # true 1: tie with class 0 (lower)    -> rank 2
LABELS = np.array([1, 2, 3, 0, 1])


def test_true_label_rank_by_hand():
    assert fashionbench.papers.park.report.true_label_rank(SCORES, LABELS).tolist() == [1, 3, 4, 1, 2]


def test_topk_accuracy_by_hand():
    hits = fashionbench.papers.park.report.topk_accuracy(SCORES, LABELS, ks=(1, 2, 3, 5))
    assert hits[1].tolist() == [1, 0, 0, 1, 0]
    assert hits[2].tolist() == [1, 0, 0, 1, 1]
    assert hits[3].tolist() == [1, 1, 0, 1, 1]
    assert hits[5].tolist() == [1, 1, 1, 1, 1]  # k >= number of classes: always a hit
    assert hits[3].mean() == pytest.approx(0.8)


def test_topk_accuracy_matches_a_stable_sort_reference():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(300, 7)).astype(float)  # many ties
    labels = rng.integers(0, 7, size=300)
    # reference: order classes by descending score, ties by ascending index (stable sort on -score)
    order = np.argsort(-scores, axis=1, kind="stable")
    ref_rank = np.array([int(np.flatnonzero(order[i] == labels[i])[0]) + 1 for i in range(300)])
    assert fashionbench.papers.park.report.true_label_rank(scores, labels).tolist() == ref_rank.tolist()
    for k, hits in fashionbench.papers.park.report.topk_accuracy(scores, labels, (1, 3, 5)).items():
        np.testing.assert_array_equal(hits, (ref_rank <= k).astype(float))


def test_topk_accuracy_rejects_bad_input():
    with pytest.raises(ContractError, match="labels"):
        fashionbench.papers.park.report.true_label_rank(SCORES, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ContractError, match="labels"):
        fashionbench.papers.park.report.true_label_rank(SCORES, LABELS[:3])
    with pytest.raises(ConfigError, match="category_eval.ks"):
        fashionbench.papers.park.report.topk_accuracy(SCORES, LABELS, ks=(0,))


def test_split_metrics_keys_and_ci():
    m = fashionbench.papers.park.report.split_metrics(SCORES, LABELS, (1, 3), "category", n_boot=200, seed=0)
    assert m["category_top1"] == pytest.approx(0.4) and m["category_top3"] == pytest.approx(0.8)
    for k in (1, 3):
        assert m[f"category_top{k}_ci_low"] <= m[f"category_top{k}"] <= m[f"category_top{k}_ci_high"]


def test_eval_settings_checks_the_block():
    assert fashionbench.papers.park.report.eval_settings({})["ks"] == [1, 3, 5]
    with pytest.raises(ConfigError, match="unknown key"):
        fashionbench.papers.park.report.eval_settings({"category_eval": {"split": ["query"]}})
    with pytest.raises(ConfigError, match="category_eval.splits"):
        fashionbench.papers.park.report.eval_settings({"category_eval": {"splits": ["train"]}})


def test_topk_difference_table_by_hand():
    a = pd.DataFrame({"query_id": ["q1", "q2", "q3"], **{f"top{k}": [1.0, 1.0, 0.0] for k in (1, 5)}})
    b = pd.DataFrame({"query_id": ["q3", "q2", "q1"], **{f"top{k}": [1.0, 0.0, 0.0] for k in (1, 5)}})
    t = fashionbench.papers.park.report.topk_difference_table({"a": a, "b": b}, [("a", "b"), ("a", "missing")], ks=(1, 5), n_boot=100)
    assert len(t) == 2 and set(t["k"]) == {1, 5}
    # aligned by query id: a = (1, 1, 0), b = (0, 0, 1) -> means 2/3 and 1/3
    assert t["top-k a"].tolist() == pytest.approx([2 / 3] * 2)
    assert t["a - b"].tolist() == pytest.approx([1 / 3] * 2)


# ---- category_column ---------------------------------------------------------------------------

def test_with_category_column_relabels_and_names_faults():
    rows = pd.DataFrame({"uid": ["a", "b"], "category": ["clothes", "shoes"], "subcategory": ["Dress", "Sandal"]})
    assert fashionbench.data.prepared.with_category_column(rows, {}, "m")["category"].tolist() == ["clothes", "shoes"]
    out = fashionbench.data.prepared.with_category_column(rows, {"category_column": "subcategory"}, "m")
    assert out["category"].tolist() == ["Dress", "Sandal"]
    assert rows["category"].tolist() == ["clothes", "shoes"]  # the input is not modified
    with pytest.raises(ConfigError, match="methods.m.category_column.*'fine'"):
        fashionbench.data.prepared.with_category_column(rows, {"category_column": "fine"}, "m")
    with pytest.raises(ContractError, match="uid='b'"):
        fashionbench.data.prepared.with_category_column(rows.assign(subcategory=["Dress", None]), {"category_column": "subcategory"}, "m")


# ---- the category_eval stage on a tiny build ----------------------------------------------------

ROW = {"group": "park", "notebook": "notebooks/train.ipynb",
       "model": {"arch": "relaxation", "backbone": "resnet18", "relaxation_dim": 16, "dropout": 0.5},
       "loss": {"loss": "park", "alpha": 1.0, "beta": 0.1, "margin": 0.3, "labels": "instance"},
       "category_column": "subcategory", "sampler": "identity", "samples_per_item": 2, "optimizer": "adam",
       "lr": 0.001, "schedule": "step", "milestones": [1], "gamma": 0.1, "augment": {"flip": True, "shift": 1},
       "crop": "given"}


@pytest.fixture(scope="module")
def project(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("parkproj")
    shutil.copytree(tiny_dataset, root / "data" / "prepared")
    params = {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"},
              "profiles": {"tiny": {"train": {"img_size": 16, "epochs": 1, "batch_size": 8, "threads": 1},
                                    "eval": {"top_k": 100, "n_boot": 50}}},
              "methods": {"park-oc": ROW}, "category_eval": {"methods": ["park-oc"]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    mp = pytest.MonkeyPatch()
    mp.setenv("FASHIONBENCH_ROOT", str(root))
    fashionbench.pipeline.train.train(params, "park-oc", progress=False)
    fashionbench.pipeline.embed.embed(params, "park-oc", progress=False)
    fashionbench.pipeline.evaluate.evaluate(params, "park-oc")
    metrics = fashionbench.pipeline.category_eval.evaluate_method(params, "park-oc", progress=False)
    yield root, params, metrics
    mp.undo()
    shutil.rmtree(root, ignore_errors=True)  # trained models: free the disk once this module is done


def test_training_used_the_fine_categories(project):
    root, _, _ = project
    manifest = pd.read_csv(root / "data" / "prepared" / "manifest.csv")
    _, saved = load_trained(fashionbench.core.paths.model_dir("park-oc", root))
    train = manifest[manifest["split"] == "train"]
    assert saved["category_vocab"] == sorted(train["subcategory"].unique())


def test_category_eval_writes_the_extra_file(project):
    root, params, metrics = project
    on_disk = json.loads((root / "metrics" / "park-oc.extra.json").read_text())
    assert on_disk == pytest.approx(metrics)
    manifest = pd.read_csv(root / "data" / "prepared" / "manifest.csv")
    model, saved = load_trained(fashionbench.core.paths.model_dir("park-oc", root))
    vocab = saved["category_vocab"]
    assert metrics["category_n_classes"] == len(vocab)
    for split, prefix in fashionbench.papers.park.report.PREFIX.items():
        rows = manifest[manifest["split"] == split]
        known = rows[rows["subcategory"].isin(vocab)].reset_index(drop=True)
        assert metrics[f"{prefix}_n_images"] == len(known)
        assert metrics[f"{prefix}_n_unknown"] == len(rows) - len(known)
        # independent recomputation: the model on the same crops, ranks by a stable sort
        ds = CropDataset(known, root / "data" / "prepared", "given", int(saved["size"]), cache=False)
        with torch.no_grad():
            logits = model(ds.batch(torch.arange(len(ds)))[0])["category_logits"].numpy()
        labels = known["subcategory"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
        order = np.argsort(-logits, axis=1, kind="stable")
        rank = np.array([int(np.flatnonzero(order[i] == labels[i])[0]) + 1 for i in range(len(labels))])
        for k in (1, 3, 5):
            assert metrics[f"{prefix}_top{k}"] == pytest.approx(float((rank <= k).mean()), abs=1e-9)
            assert metrics[f"{prefix}_top{k}_ci_low"] <= metrics[f"{prefix}_top{k}"] <= metrics[f"{prefix}_top{k}_ci_high"]


def test_category_eval_needs_a_category_head(project, monkeypatch):
    root, params, _ = project
    from fashionbench.models import build_model

    model = build_model({"arch": "triplet", "backbone": "resnet18"}, 3, 3)
    rows = pd.read_csv(root / "data" / "prepared" / "manifest.csv").head(2)
    with pytest.raises(ConfigError, match="category head"):
        fashionbench.pipeline.category_eval.category_scores(model, rows, root / "data" / "prepared", "given", 16)


def test_paper_table_2_shows_ours_with_the_stored_ci(project):
    root, params, metrics = project
    mt = report.load_all_metrics(["park-oc"], root / "metrics")
    pq = report.load_per_query(["park-oc"], root / "artifacts" / "per_query")
    table2 = next(t for t in paper("park").tables if t.name == "Table 2")
    t = report.paper_table(table2, "park", mt, pq, root / "metrics", n_boot=50)
    cell = t.loc["ResNet50+OC", "top-3 (ours)"]
    want = (f"{100 * metrics['category_top3']:.2f} [{100 * metrics['category_top3_ci_low']:.2f}, "
            f"{100 * metrics['category_top3_ci_high']:.2f}]")
    assert cell == want
    assert t.loc["DenseNet121+OC", "top-3 (ours)"] == "—"
    ct = fashionbench.papers.park.report.category_table(["park-oc", "nothing"], root / "metrics")
    assert list(ct.index) == ["park-oc"] and ct.loc["park-oc", "query images"] == metrics["category_n_images"]


def test_params_rows_differ_only_in_the_loss():
    params = config.load_params(ROOT / "params.yaml")
    rows = {m: dict(params["methods"][m]) for m in ("park-oc", "park-oc-os", "park-oc-is")}
    labels = {m: r.pop("loss")["labels"] for m, r in rows.items()}
    assert labels == {"park-oc": "none", "park-oc-os": "category", "park-oc-is": "instance"}
    for r in rows.values():
        r.pop("description")
    assert rows["park-oc"] == rows["park-oc-os"] == rows["park-oc-is"]
    assert set(params["category_eval"]["methods"]) <= set(params["methods"])
