"""Dataset protocols: gallery scope, per-category scores, the DeepFashion2 official score of a ranking."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashionbench.core.artifacts import Embeddings, Ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.metrics import evaluate_ranking_detailed
from fashionbench.retrieval.protocols import deepfashion2 as df2
from fashionbench.retrieval.protocols.retrieval import PROTOCOLS, apply_scope, category_key, column_of, per_category_scores, per_category_table, protocol_from_card, protocol_scores, rank_embeddings, resolve_protocol, restrict_ranking, scoped_ranking
from fashionbench.retrieval.search import to_ranking

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures_proto", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


def _ranking(indices, gallery_labels, query_labels, distances=None) -> Ranking:
    idx = np.asarray(indices, np.int64)
    dist = (np.tile(np.arange(idx.shape[1], dtype=np.float32), (idx.shape[0], 1)) if distances is None
            else np.asarray(distances, np.float32))
    dist = np.where(idx >= 0, dist, np.inf).astype(np.float32)
    nq, ng = idx.shape[0], len(gallery_labels)
    return Ranking(indices=idx, distances=dist, query_ids=np.array([f"q{i}" for i in range(nq)]),
                   gallery_ids=np.array([f"g{i}" for i in range(ng)]), query_labels=np.array(query_labels),
                   gallery_labels=np.array(gallery_labels), query_categories=np.array(["c"] * nq),
                   gallery_categories=np.array(["c"] * ng), model="m", fingerprint="f")


def _emb(q: np.ndarray, g: np.ndarray, qlab, glab) -> Embeddings:
    return Embeddings(query=q.astype(np.float32), gallery=g.astype(np.float32),
                      query_ids=np.array([f"q{i}" for i in range(len(q))]),
                      gallery_ids=np.array([f"g{i}" for i in range(len(g))]),
                      query_labels=np.array(qlab), gallery_labels=np.array(glab),
                      query_categories=np.array(["c"] * len(q)), gallery_categories=np.array(["c"] * len(g)),
                      model="m", fingerprint="f")


# ----------------------------------------------------------------------------- scope

def test_restrict_ranking_by_hand():
    # gallery groups: g0 a, g1 b, g2 a, g3 b, g4 a; query 0 in a, query 1 in b
    r = _ranking([[1, 0, 3, 2, -1], [4, 3, 2, 1, 0]], ["x", "y", "z", "y", "x"], ["x", "y"])
    out = restrict_ranking(r, ["a", "b"], ["a", "b", "a", "b", "a"])
    assert out.indices.tolist() == [[0, 2, -1, -1, -1], [3, 1, -1, -1, -1]]
    assert out.distances[0, :2].tolist() == [1.0, 3.0] and np.isinf(out.distances[:, 2:]).all()
    # q0 (label x, relevant g0 and g4): g0 at rank 1, g4 was never listed -> AP = 1/2;
    # q1 (label y, relevant g1 and g3): ranks 1 and 2 -> AP = 1
    m, _ = evaluate_ranking_detailed(out, ks=(1, 2))
    assert m["top1"] == 1.0 and m["mAP"] == pytest.approx((0.5 + 1.0) / 2)
    assert restrict_ranking(out, ["a", "b"], ["a", "b", "a", "b", "a"]) is out  # nothing crosses: unchanged
    with pytest.raises(ContractError, match="restrict_ranking"):
        restrict_ranking(r, ["a"], ["a", "b", "a", "b", "a"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scoped_search_equals_full_search_restricted(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(30, 8))
    g = rng.normal(size=(40, 8))
    g[5] = g[7]  # an exact tie: ascending gallery index first in both
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    qg, gg = rng.choice(list("abc"), 30), rng.choice(list("abcd"), 40)
    emb = _emb(q, g, [f"i{i % 7}" for i in range(30)], [f"i{i % 9}" for i in range(40)])
    scoped = scoped_ranking(emb, 12, qg, gg)
    full = restrict_ranking(to_ranking(emb, 40), qg, gg)
    assert np.array_equal(scoped.indices, full.indices[:, :12])
    np.testing.assert_allclose(scoped.distances[scoped.indices >= 0], full.distances[:, :12][scoped.indices >= 0],
                               atol=1e-6)
    listed = scoped.indices >= 0
    assert (gg[np.where(listed, scoped.indices, 0)] == qg[:, None])[listed].all()
    assert listed.sum(axis=1).tolist() == [min(12, int((gg == v).sum())) for v in qg]


def test_scoped_search_group_without_gallery():
    emb = _emb(np.eye(3)[:2], np.eye(3), ["a", "b"], ["a", "b", "c"])
    r = scoped_ranking(emb, 2, ["x", "y"], ["x", "x", "z"])
    assert r.indices.tolist() == [[0, 1], [-1, -1]] and np.isinf(r.distances[1]).all()


def test_rank_embeddings_and_apply_scope_follow_the_protocol():
    manifest = pd.DataFrame({"uid": ["q0", "q1", "g0", "g1", "g2"], "subcategory": ["a", "b", "a", "b", "b"]})
    emb = _emb(np.eye(3)[:2], np.eye(3)[[1, 0, 2]], ["a", "b"], ["a", "b", "c"])
    plain = rank_embeddings(emb, 3, manifest, PROTOCOLS["inshop"])
    assert plain.indices.tolist() == to_ranking(emb, 3).indices.tolist()
    s2s = PROTOCOLS["street2shop"]
    scoped = rank_embeddings(emb, 3, manifest, s2s)
    assert scoped.indices.tolist() == [[0, -1, -1], [1, 2, -1]]
    assert apply_scope(plain, manifest, s2s).indices.tolist() == scoped.indices.tolist()
    assert apply_scope(plain, manifest, PROTOCOLS["inshop"]) is plain
    with pytest.raises(ContractError, match="uid 'g2' of the ranking is not in the manifest"):
        column_of(manifest.iloc[:4], emb.gallery_ids, "subcategory")
    with pytest.raises(ConfigError, match="no column 'style'"):
        column_of(manifest, emb.gallery_ids, "style")


# ----------------------------------------------------------------------------- per category

def test_per_category_scores_by_hand():
    per_query = pd.DataFrame({"query": [0, 1, 3], "query_id": ["a", "b", "d"], "n_relevant": [1, 2, 1],
                              "first_match_rank": [1, 3, -1], "AP": [1.0, 0.5, 0.0], "AP@10": [1.0, 0.5, 0.0],
                              "top1": [1, 0, 0], "top10": [1, 1, 0]})
    out = per_category_scores(per_query, ["a", "b", "c", "d"], ["WOMEN/Dresses", "WOMEN/Dresses", "tops", "tops"])
    assert out == {"mAP/WOMEN_Dresses": 0.75, "mAP@10/WOMEN_Dresses": 0.75, "top1/WOMEN_Dresses": 0.5,
                   "top10/WOMEN_Dresses": 1.0, "n_queries/WOMEN_Dresses": 2, "n_without_match/WOMEN_Dresses": 0,
                   "mAP/tops": 0.0, "mAP@10/tops": 0.0, "top1/tops": 0.0, "top10/tops": 0.0,
                   "n_queries/tops": 1, "n_without_match/tops": 1}
    only_unscored = per_category_scores(per_query.iloc[:2], ["a", "b", "c"], ["x", "x", "y"])
    assert only_unscored["n_queries/y"] == 0 and only_unscored["n_without_match/y"] == 1
    assert "top1/y" not in only_unscored
    assert category_key("short sleeve top") == "short_sleeve_top"
    with pytest.raises(ContractError, match="both map to the metric key suffix 'a_b'"):
        per_category_scores(per_query, ["a", "b", "c", "d"], ["a b", "a/b", "c", "c"])


def test_per_category_table(tmp_path):
    from fashionbench.core.artifacts import save_metrics
    save_metrics(tmp_path / "m1.json", {"top10/a": 0.5, "top10/b": 1.0, "top1/a": 0.0})
    save_metrics(tmp_path / "m2.json", {"top10/a": 0.25})
    t = per_category_table(["m1", "m2", "absent"], tmp_path, "top10")
    assert t.loc["m1"].tolist() == [0.5, 1.0] and t.loc["m2", "a"] == 0.25 and np.isnan(t.loc["m2", "b"])
    assert list(t.index) == ["m1", "m2"]


def test_resolve_protocol():
    assert resolve_protocol("street2shop").gallery_scope == "subcategory"
    p = resolve_protocol("manifest", {"gallery_scope": "category", "category_column": "subcategory"})
    assert (p.gallery_scope, p.category_column) == ("category", "subcategory")
    assert protocol_from_card({"name": "manifest", "protocol": p.card()}) == p
    assert protocol_from_card({"name": "inshop"}) == PROTOCOLS["inshop"]  # cards written before protocols
    with pytest.raises(ConfigError, match=r"dataset\.protocol\.scope: unknown key"):
        resolve_protocol("manifest", {"scope": "category"})
    with pytest.raises(ConfigError, match=r"dataset\.protocol\.category_column: must name"):
        resolve_protocol("manifest", {"category_column": None})
    with pytest.raises(ConfigError, match="dataset.name"):
        resolve_protocol("jd")
    assert set(PROTOCOLS) == set(__import__("fashionbench.datasets", fromlist=["READERS"]).READERS)


# ----------------------------------------------------------------------------- DeepFashion2 official score

@pytest.fixture
def df2_data(tmp_path):
    from fashionbench.data.datasets import load_manifest
    root = fixtures.materialise("deepfashion2", tmp_path)
    return root, load_manifest("deepfashion2", root)


def _df2_ranking(manifest: pd.DataFrame, indices) -> Ranking:
    q, g = manifest[manifest["split"] == "query"], manifest[manifest["split"] == "gallery"]
    idx = np.asarray(indices, np.int64)
    return Ranking(indices=idx, distances=np.tile(np.arange(idx.shape[1], dtype=np.float32), (len(idx), 1)),
                   query_ids=q["uid"].to_numpy(), gallery_ids=g["uid"].to_numpy(),
                   query_labels=q["item_id"].to_numpy(), gallery_labels=g["item_id"].to_numpy(),
                   query_categories=q["category"].to_numpy(), gallery_categories=g["category"].to_numpy(),
                   model="m", fingerprint="f")


# gallery rows: g0 = 000003#item1 (pair 7, style 1), g1 = 000003#item2 (7, 2), g2 = 000004#item1 (7, 1),
# g3 = 000004#item2 (7, 0), g4 = 000005#item1 (8, 1); queries: 000001#item1 (7, 1), #item3 (7, 2), 000002#item1 (8, 1)
HAND = [[3, 0, 1, 2, 4], [1, 0, 2, 3, 4], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("use_files", [True, False])
def test_df2_official_score_of_a_ranking_by_hand(df2_data, use_files):
    root, manifest = df2_data
    assert list(manifest.loc[manifest["split"] == "gallery", "uid"].str[-12:]) == [
        "000003:item1", "000003:item2", "000004:item1", "000004:item2", "000005:item1"]
    r = _df2_ranking(manifest, HAND)
    out, note = df2.score_ranking(r, manifest, root if use_files else None, "given", "given")
    assert ("official files" in note) == use_files
    # ground-truth boxes as detections: q0's first hit at rank 2, q1 at rank 1, q2 at rank 5
    assert out == {"official/top1": 1 / 3, "official/top5": 1.0, "official/top10": 1.0, "official/top15": 1.0,
                   "official/top20": 1.0, "official/n_queries": 3, "official/n_selected": 3, "official/n_missed": 0}
    m, pq = evaluate_ranking_detailed(r, ks=(1, 5))
    assert (m["top1"], m["top5"]) == (1 / 3, 1.0)


def test_df2_official_score_with_detected_boxes(df2_data):
    root, manifest = df2_data
    m = manifest.copy()
    q = (m["split"] == "query").to_numpy()
    boxes = m[["x1", "y1", "x2", "y2"]].to_numpy(float)
    det = np.full_like(boxes, np.nan)
    det[q] = boxes[q] + [5, 5, -5, -5]          # IoU >> 0.5 with their own item
    det[np.flatnonzero(q)[1]] = np.nan            # query 1: the detector missed it
    for i, c in enumerate(("x1", "y1", "x2", "y2")):
        m[f"detected_{c}"] = det[:, i]
    m["detected_cls"] = np.where(q, m["category_id"], np.nan)
    m.loc[np.flatnonzero(q)[2], "detected_cls"] = 11   # query 2: wrong class (its item is 12)
    m["detected_score"] = 0.9
    r = _df2_ranking(m, HAND)
    sub = df2.submission_from_ranking(r, m, "detected", "given", depth=20)
    assert sub.image_id.tolist() == [1, 2] and sub.cls.tolist() == [2, 11] and sub.gallery_image_id.shape == (2, 5)
    assert sub.gallery_image_id[0].tolist() == [4, 3, 3, 4, 5]
    out, _ = df2.score_ranking(r, m, root, "detected", "given")
    assert out["official/n_selected"] == 1 and out["official/n_missed"] == 2
    assert out["official/top1"] == 0.0 and out["official/top5"] == pytest.approx(1 / 3)


def test_protocol_scores_of_df2_has_categories_and_official(df2_data):
    root, manifest = df2_data
    r = _df2_ranking(manifest, HAND)
    _, pq = evaluate_ranking_detailed(r, ks=(1, 5))
    out = protocol_scores(r, pq, manifest, PROTOCOLS["deepfashion2"], root, "given", "given")
    assert out["top1/long_sleeve_top"] == 0.0 and out["top1/shorts"] == 1.0 and out["top5/vest_dress"] == 1.0
    assert out["official/top1"] == pytest.approx(1 / 3)
    plain = protocol_scores(r, pq, manifest, PROTOCOLS["inshop"])
    assert not any(k.startswith("official/") for k in plain)


def test_protocol_frame_and_describe(tmp_path):
    from fashionbench.core.artifacts import save_metrics
    from fashionbench.retrieval.protocols.retrieval import describe, protocol_frame
    save_metrics(tmp_path / "p.json", {"top1/b": 0.5, "n_queries/b": 2, "n_without_match/b": 0, "top1/a": 1.0,
                                       "n_queries/a": 1, "n_without_match/a": 1, "official/top1": 0.25})
    table, official = protocol_frame(tmp_path / "p.json")
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["n_queries", "n_without_match", "top1"]
    assert table.loc["b", "top1"] == 0.5 and official == {"top1": 0.25}
    save_metrics(tmp_path / "q.json", {"top10/a": 1.0, "mAP@10/a": 1.0, "top5/a": 1.0, "mAP/a": 1.0, "n_queries/a": 1})
    assert list(protocol_frame(tmp_path / "q.json")[0].columns) == ["n_queries", "mAP", "mAP@10", "top5", "top10"]
    assert "only against those with its `subcategory`" in describe(PROTOCOLS["street2shop"])
    assert "only against" not in describe(PROTOCOLS["inshop"])
