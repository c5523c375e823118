"""Paper ji's post-processing in the pipeline: step chains on embedding files, train-split features
for PCA whitening, the concat fusion of them, and the post-processing view (every method x step).

References are independent: dense numpy rankings of features transformed by scikit-learn's PCA or
by the QE formula written out, Zhong et al.'s dense float64 k-reciprocal, and metrics recomputed
from the dense rankings.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from fashionbench.pipeline import postprocess_view as ppv
from fashionbench.core.artifacts import Embeddings, save_embeddings
from fashionbench.retrieval.compose import check_steps, concat, rank_with_steps
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.rerank import k_reciprocal_dense


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_emb(seed: int = 0, q_items: int = 12, per_item: int = 3, distractors: int = 10, d: int = 8,
             train: int = 0, name: str = "m") -> Embeddings:
    """Clustered synthetic embeddings: each query item has ``per_item`` gallery images near it."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((q_items + distractors, d))
    g = np.concatenate([centres[:q_items].repeat(per_item, 0), centres[q_items:]])
    g = g + 0.6 * rng.standard_normal(g.shape)
    gl = np.concatenate([np.arange(q_items).repeat(per_item), np.arange(q_items, q_items + distractors)])
    q = centres[:q_items] + 0.8 * rng.standard_normal((q_items, d))
    ql = np.arange(q_items)
    extra = {}
    if train:
        extra = {"train": _unit(rng.standard_normal((train, d)) * np.linspace(2, 0.5, d)),
                 "train_ids": np.array([f"t{i}" for i in range(train)]),
                 "train_labels": np.array([f"x{i // 3}" for i in range(train)])}
    return Embeddings(query=_unit(q), gallery=_unit(g), query_ids=np.array([f"q{i}" for i in range(len(q))]),
                      gallery_ids=np.array([f"g{i}" for i in range(len(g))]), query_labels=ql.astype(str),
                      gallery_labels=gl.astype(str), query_categories=np.array(["c"] * len(q)),
                      gallery_categories=np.array(["c"] * len(g)), model=name, fingerprint=f"fp-{name}-{seed}",
                      extra=extra).validate()


def dense_order(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gallery indices by decreasing inner product (float64; ties by index)."""
    sims = q.astype(np.float64) @ g.astype(np.float64).T
    return np.argsort(-sims, axis=1, kind="stable")


def dense_scores(order: np.ndarray, ql: np.ndarray, gl: np.ndarray, k: int) -> dict[str, float]:
    """top-k hit rate and mAP (over all relevant items) of full dense rankings, written out."""
    rel = gl[order] == ql[:, None]
    hits, aps = [], []
    for r in rel:
        hits.append(float(r[:k].any()))
        pos = np.flatnonzero(r)
        aps.append(float(np.mean((np.arange(len(pos)) + 1) / (pos + 1))) if len(pos) else 0.0)
    return {f"top{k}": float(np.mean(hits)), "mAP": float(np.mean(aps))}


# ---- step chains on an embedding file -------------------------------------------------------

def test_pca_whiten_fit_on_train_uses_the_train_features_like_sklearn():
    emb = make_emb(train=60)
    r = rank_with_steps(emb, [{"name": "pca_whiten", "fit_on": "train", "dim": 6, "eps": 0.0}], 20, "x")
    pca = PCA(n_components=6, whiten=True).fit(emb.extra["train"].astype(np.float64))
    order = dense_order(_unit(pca.transform(emb.query)), _unit(pca.transform(emb.gallery)))
    np.testing.assert_array_equal(r.indices[:, :5], order[:, :5])
    # fit on the gallery gives a different ranking here (a different PCA)
    r2 = rank_with_steps(emb, [{"name": "pca_whiten", "fit_on": "gallery", "dim": 6, "eps": 0.0}], 20, "x")
    pca_g = PCA(n_components=6, whiten=True).fit(emb.gallery.astype(np.float64))
    np.testing.assert_array_equal(r2.indices[:, :5], dense_order(_unit(pca_g.transform(emb.query)),
                                                                 _unit(pca_g.transform(emb.gallery)))[:, :5])


def test_fit_on_train_without_train_features_names_the_fix():
    with pytest.raises(ConfigError, match="reranks.ji-pcaw.*embed_train: true"):
        rank_with_steps(make_emb(), [{"name": "pca_whiten", "fit_on": "train"}], 10, "x", where="reranks.ji-pcaw")


def test_query_expansion_chain_equals_the_formula_written_out():
    emb = make_emb(seed=1)
    r = rank_with_steps(emb, [{"name": "query_expansion", "top_k": 3, "alpha": 3.0}], 15, "x")
    q, g = emb.query.astype(np.float64), emb.gallery.astype(np.float64)
    sims = q @ g.T
    nn = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    w = np.take_along_axis(np.maximum(sims, 0), nn, 1) ** 3
    qe = q + np.einsum("qk,qkd->qd", w, g[nn])
    np.testing.assert_array_equal(r.indices[:, :5], dense_order(_unit(qe), emb.gallery)[:, :5])


def test_k_reciprocal_chain_equals_the_dense_reference():
    emb = make_emb(seed=2)
    r = rank_with_steps(emb, [{"name": "k_reciprocal", "k1": 6, "k2": 3, "lambda_value": 0.3}], 10, "x")
    dist = k_reciprocal_dense(emb.query, emb.gallery, k1=6, k2=3, lambda_value=0.3)
    ref = np.argsort(dist, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(r.indices, ref)
    np.testing.assert_allclose(r.distances, np.take_along_axis(dist, ref, 1), atol=1e-4)


def test_check_steps_rejects_bad_lists():
    with pytest.raises(ConfigError, match=r"steps\[0\].*must be the last step"):
        check_steps([{"name": "k_reciprocal"}, {"name": "dba"}], "reranks.r")
    with pytest.raises(ConfigError, match=r"unknown parameter.*'k3'"):
        check_steps([{"name": "k_reciprocal", "k3": 2}], "reranks.r")
    with pytest.raises(ConfigError, match="unknown step 'whiten'"):
        check_steps([{"name": "whiten"}], "reranks.r")
    with pytest.raises(ConfigError, match="expected a list"):
        check_steps({"name": "dba"}, "reranks.r")
    with pytest.raises(ConfigError, match="reranks.r: post-processing step 0 \\(dba\\).*top_k"):
        rank_with_steps(make_emb(), [{"name": "dba", "top_k": -1}], 10, "x", where="reranks.r")


# ---- concat fusion keeps the train features -------------------------------------------------

def test_concat_fusion_concatenates_train_features_like_query_and_gallery():
    a, b = make_emb(seed=3, train=30, name="a"), make_emb(seed=4, train=30, name="b")
    out = concat([a, b], {})
    want = _unit(np.concatenate([a.extra["train"], b.extra["train"]], 1))
    np.testing.assert_allclose(out.extra["train"], want, atol=1e-6)
    np.testing.assert_array_equal(out.extra["train_ids"], a.extra["train_ids"])
    np.testing.assert_allclose(out.query, _unit(np.concatenate([a.query, b.query], 1)), atol=1e-6)
    assert concat([a, make_emb(seed=5, name="c")], {}).extra == {}  # one input without: none
    b.extra["train_ids"] = b.extra["train_ids"][::-1].copy()
    with pytest.raises(ContractError, match="different train ids"):
        concat([a, b], {})


# ---- the post-processing view ---------------------------------------------------------------

STEPS = {"qe": [{"name": "query_expansion", "top_k": 2, "alpha": 0.0}],
         "kr": [{"name": "k_reciprocal", "k1": 6, "k2": 3, "lambda_value": 0.3}]}


def test_method_rows_match_dense_rankings_and_paired_differences():
    emb = make_emb(seed=6)
    rows = ppv.method_rows(emb, STEPS, top_k=46, ks=(1, 10), compare=("top10", "AP"), n_boot=200, seed=0)
    assert list(rows["step"]) == ["none", "qe", "kr"]
    ql, gl = emb.query_labels, emb.gallery_labels
    base = dense_scores(dense_order(emb.query, emb.gallery), ql, gl, 10)
    q, g = emb.query.astype(np.float64), emb.gallery.astype(np.float64)
    nn = np.argsort(-(q @ g.T), axis=1, kind="stable")[:, :2]
    qe = dense_scores(dense_order(_unit(q + g[nn].sum(1)), emb.gallery), ql, gl, 10)
    kr = dense_scores(np.argsort(k_reciprocal_dense(emb.query, emb.gallery, k1=6, k2=3, lambda_value=0.3),
                                 axis=1, kind="stable"), ql, gl, 10)
    for step, ref in (("none", base), ("qe", qe), ("kr", kr)):
        row = rows.set_index("step").loc[step]
        assert row["top10"] == pytest.approx(ref["top10"]) and row["mAP"] == pytest.approx(ref["mAP"], abs=1e-6)
    for step, ref in (("qe", qe), ("kr", kr)):
        row = rows.set_index("step").loc[step]
        assert row["d_top10"] == pytest.approx(ref["top10"] - base["top10"])
        assert row["d_AP"] == pytest.approx(ref["mAP"] - base["mAP"], abs=1e-6)
        assert row["d_top10_lo"] <= row["d_top10"] <= row["d_top10_hi"]
    assert pd.isna(rows.set_index("step").loc["none"].get("d_top10"))


def _project(tmp_path, methods: dict[str, Embeddings], steps=STEPS) -> dict:
    params = {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"},
              "profiles": {"tiny": {"eval": {"top_k": 50, "n_boot": 100}}},
              "methods": {m: {"group": "g"} for m in methods},
              "postprocess_view": {"steps": steps, "compare": ["top10"], "metrics": ["top1", "top10"]}}
    for m, e in methods.items():
        save_embeddings(tmp_path / "artifacts" / "embeddings" / "g" / f"{m}.npz", e)
    return params


def test_run_view_writes_table_metrics_and_reuses_its_cache(tmp_path, monkeypatch):
    params = _project(tmp_path, {"a": make_emb(seed=7, name="a"), "b": make_emb(seed=8, name="b")})
    view = ppv.run_view(params, root=tmp_path, progress=False)
    assert set(view["method"]) == {"a", "b"} and len(view) == 6
    on_disk = pd.read_csv(ppv.view_csv(tmp_path))
    assert list(on_disk["step"]) == list(view["step"])
    flat = json.loads(ppv.view_metrics_path(tmp_path).read_text())
    assert flat["a/none/top10"] == pytest.approx(float(view.query("method == 'a' and step == 'none'")["top10"].iloc[0]))
    assert len(flat) == 12 and all(isinstance(v, float) for v in flat.values())

    calls = []
    real = ppv.method_rows
    monkeypatch.setattr(ppv, "method_rows", lambda emb, *a, **k: calls.append(emb.model) or real(emb, *a, **k))
    again = ppv.run_view(params, root=tmp_path, progress=False)
    assert calls == []  # nothing changed: every method from the cache
    pd.testing.assert_frame_equal(again.reset_index(drop=True), view.reset_index(drop=True), check_dtype=False)
    save_embeddings(tmp_path / "artifacts" / "embeddings" / "g" / "b.npz", make_emb(seed=9, name="b"))
    ppv.run_view(params, root=tmp_path, progress=False)
    assert calls == ["b"]  # only the changed method is recomputed
    del params["methods"]["b"]
    ppv.run_view(params, root=tmp_path, progress=False)
    assert sorted(p.stem for p in ppv.cache_dir(tmp_path).glob("*.csv")) == ["a"]


def test_view_settings_are_checked():
    base = {"methods": {"a": {}}, "postprocess_view": {"steps": STEPS}}
    assert ppv.view_settings(base)["methods"] == ["a"]
    for block, msg in (({"steps": {"none": [{"name": "dba"}]}}, "reserved"),
                       ({"steps": {}}, "non-empty"),
                       ({"steps": STEPS, "method": ["a"]}, "unknown key"),
                       ({"steps": STEPS, "methods": ["zz"]}, "not rows of methods"),
                       ({"steps": {"x": [{"name": "top1"}, {"name": "dba"}]}}, "must be the last step"),
                       ({"steps": {"x": []}}, "at least one step")):
        with pytest.raises(ConfigError, match=msg):
            ppv.view_settings({**base, "postprocess_view": block})
    with pytest.raises(ConfigError, match="postprocess_view"):
        ppv.view_settings({"methods": {}})


def test_view_table_and_plot():
    view = pd.DataFrame([
        {"method": "a", "step": "none", "top10": 0.5},
        {"method": "a", "step": "qe", "top10": 0.6, "d_top10": 0.1, "d_top10_lo": 0.02, "d_top10_hi": 0.18},
        {"method": "b", "step": "none", "top10": 0.7},
        {"method": "b", "step": "qe", "top10": 0.65, "d_top10": -0.05, "d_top10_lo": -0.1, "d_top10_hi": 0.01}])
    t = ppv.view_table(view, "top10")
    assert t.loc["a", "none"] == "0.5000"
    assert t.loc["a", "qe"] == "0.6000 (+0.1000 [+0.0200, +0.1800])"
    assert t.loc["b", "qe"] == "0.6500 (-0.0500 [-0.1000, +0.0100])"
    fig = ppv.plot_view(view, "top10")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["+0.100*", "-0.050"]  # only a's CI excludes 0
