"""Paper shang's models as params.yaml rows: AM-Softmax feature extractors and the category classifier.

AM-Softmax itself is tested against a direct formula and PML's CosFaceLoss in
test_models_losses.py; here it is tested as the shang rows use it (model arch ``cosine``, whose
head holds the class weights, with ``classifier: model``), against PML's CosFaceLoss fed the same
weights, and the rows are checked against the paper's design (3 categories x 4 sizes, routes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import CosFaceLoss

from fashionbench.core import config
from fashionbench.retrieval.compose import fusion_inputs
from fashionbench.core.errors import ContractError
from fashionbench.models import build_loss, build_model

CATS = ("clothes", "shoes", "bags")
SIZES = (512, 1024, 2048, 4096)


@pytest.fixture(scope="module")
def params():
    return config.load_params()


def _settings(params, method, profile):
    return config.method_settings({**params, "profile": profile}, method)


def test_rows_are_three_categories_by_four_sizes(params):
    for c in CATS:
        for d in SIZES:
            name = f"shang-{c}-{d}"
            paper = _settings(params, name, "paper")
            assert paper["group"] == "shang" and paper["train_filter"] == {"category": c}
            assert paper["model"]["arch"] == "cosine" and paper["model"]["embedding_dim"] == d
            assert paper["loss"]["loss"] == "am_softmax" and paper["expansion"]["n"] == 5
            assert paper["crop"] == "union"  # eq. 1
            default = _settings(params, name, "default")
            assert default["model"]["embedding_dim"] == d // 8  # the stated default stand-in
    clf = _settings(params, "shang-classifier", "paper")
    assert clf["model"] == {"arch": "classifier", "backbone": "resnet50", "pretrained": "imagenet"} and \
        clf["loss"]["loss"] == "category_ce"


def test_fusion_rows_route_every_category_to_its_own_models(params):
    fus = params["fusions"]
    for d in SIZES:
        row = fus[f"shang-single-{d}"]
        assert row["kind"] == "route" and row["router"] == "shang-classifier"
        assert row["routes"] == {c: [f"shang-{c}-{d}"] for c in CATS}
    for name, router in (("shang-fusion", "shang-classifier"), ("shang-fusion-oracle", "oracle")):
        row = fus[name]
        assert row["router"] == router
        assert row["routes"] == {c: [f"shang-{c}-{d}" for d in SIZES] for c in CATS}
        assert set(fusion_inputs(row, name)) == {f"shang-{c}-{d}" for c in CATS for d in SIZES} | (
            {"shang-classifier"} if router != "oracle" else set())
    rr = params["reranks"]["shang-fusion-rerank"]
    assert rr["input"] == "shang-fusion" and rr["steps"] == [{"name": "top1", "depth": 10}]


@pytest.mark.parametrize("profile", ["tiny", "default"])
def test_am_softmax_of_a_shang_row_equals_pml_cosface_with_the_head_weights(params, profile):
    s = _settings(params, "shang-bags-1024", profile)
    n_classes = 9
    torch.manual_seed(0)
    model = build_model(s["model"], n_classes, 3)
    loss_fn = build_loss(s["loss"], n_classes, 3, model.embedding_dim)
    assert model.embedding_dim == s["model"]["embedding_dim"]
    x = torch.randn(6, 3, 32, 32)
    y = torch.tensor([0, 3, 3, 8, 1, 2])
    model.eval()
    out = model(x)
    ours, parts = loss_fn(out, y, y)
    pml = CosFaceLoss(num_classes=n_classes, embedding_size=model.embedding_dim, margin=s["loss"]["m"],
                      scale=s["loss"]["s"])
    pml.W.data = model.head.weight.data.T.clone()  # PML keeps [D, C]
    ref = pml(out["embedding"], y)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    # and the direct formula on the model's cosines
    cos = out["cosine"].double()
    logits = s["loss"]["s"] * (cos - s["loss"]["m"] * F.one_hot(y, n_classes))
    assert ours.item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)


def test_am_softmax_row_learns_a_fixed_batch(params):
    s = _settings(params, "shang-shoes-512", "default")
    torch.manual_seed(1)
    model = build_model(s["model"], 4, 3)
    loss_fn = build_loss(s["loss"], 4, 3, model.embedding_dim)
    opt = torch.optim.Adam(list(model.parameters()) + list(loss_fn.parameters()), lr=1e-3)
    x, y = torch.randn(8, 3, 32, 32), torch.tensor([0, 1, 2, 3] * 2)
    model.eval()  # fixed batch-norm statistics: the loss on the same batch must fall
    first = loss_fn(model(x), y, y)[0].item()
    for _ in range(15):
        loss = loss_fn(model(x), y, y)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_fn(model(x), y, y)[0].item() < first


def test_category_classifier_and_its_loss():
    torch.manual_seed(0)
    model = build_model({"arch": "classifier", "backbone": "resnet18"}, 10, 3)
    out = model(torch.randn(4, 3, 32, 32))
    assert out["category_logits"].shape == (4, 3) and out["embedding"].shape == (4, model.embedding_dim)
    loss_fn = build_loss({"loss": "category_ce"}, 10, 3, model.embedding_dim)
    c = torch.tensor([0, 2, 1, 2])
    loss, parts = loss_fn(out, torch.zeros(4, dtype=torch.long), c)
    assert loss.item() == pytest.approx(F.cross_entropy(out["category_logits"], c).item())
    assert parts["category_ce"] == pytest.approx(loss.item())
    with pytest.raises(ContractError, match="category_logits"):
        loss_fn({"embedding": out["embedding"]}, c, c)


def test_embed_saves_category_predictions_of_a_classifier(tiny_dataset):
    from fashionbench.data.datasets import load_manifest
    from fashionbench.engine.embedding import embed_splits

    manifest = load_manifest("fmnist-c2s", tiny_dataset)
    torch.manual_seed(0)
    model = build_model({"arch": "classifier", "backbone": "resnet18"}, 5, 3).eval()
    vocab = ["bags", "clothes", "shoes"]
    emb = embed_splits(model, manifest, tiny_dataset, query_crop="given", gallery_crop="given", size=16,
                       name="clf", params={}, category_vocab=vocab, progress=False)
    for side in ("query", "gallery"):
        logits = emb.extra[f"{side}_category_logits"]
        assert logits.shape == (len(getattr(emb, f"{side}_ids")), 3)
        assert (emb.extra[f"{side}_category_pred"] == np.asarray(vocab)[logits.argmax(1)]).all()
    assert emb.extra["category_vocab"].tolist() == vocab
    # a retrieval model (no category logits) gets no such extras
    plain = embed_splits(build_model({"arch": "cosine", "backbone": "resnet18", "embedding_dim": 8}, 5, 3).eval(),
                         manifest, tiny_dataset, query_crop="given", gallery_crop="given", size=16, name="m",
                         params={}, category_vocab=vocab, progress=False)
    assert not plain.extra


def test_training_cost_table_totals_the_time_and_leaves_the_rest_blank(tmp_path):
    import json
    from fashionbench.papers.shang.report import training_cost_table

    for name, secs in (("shang-a", [10.0, 20.0]), ("shang-b", [5.0, 5.5])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text(json.dumps(
            [{"epoch": i + 1, "seconds": s, "images_per_s": 100.0, "loss": 1.0 / (i + 1)} for i, s in enumerate(secs)]))
    t = training_cost_table(["shang-a", "shang-b", "baseline"], tmp_path)
    assert list(t.index) == ["shang-a", "shang-b", "total"]
    assert t.loc["total", "train seconds"] == 40.5 and t.loc["shang-a", "epochs"] == 2
    assert t.loc["total", "epochs"] == t.loc["total", "final loss"] == "—"
