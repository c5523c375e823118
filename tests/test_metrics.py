"""Tests of fashionbench.metrics: hand-worked examples, sklearn per-query AP, a dense float64
brute force (full argsort), the tie rule, unmatched queries, chunking and ranking files."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from fashionbench.core.artifacts import Embeddings, Ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.metrics import evaluate, evaluate_detailed, evaluate_ranking, evaluate_ranking_detailed
from fashionbench.retrieval.search import to_ranking


def _col(values) -> np.ndarray:
    """1-D embeddings: the similarity of query [s] to gallery [v] is s * v."""
    return np.asarray(values, np.float32).reshape(-1, 1)


def brute_metrics(q, g, ql, gl, ks, map_ks) -> tuple[dict, list[float]]:
    """Independent dense reference: float64 similarities, full stable argsort per query."""
    sims = q.astype(np.float64) @ g.astype(np.float64).T
    ql, gl = np.asarray(ql), np.asarray(gl)
    aps, ap_k, hits, n_without = [], {k: [] for k in map_ks}, {k: [] for k in ks}, 0
    for i in range(len(q)):
        order = np.lexsort((np.arange(len(g)), -sims[i]))  # ties: ascending index
        rel = (gl[order] == ql[i]).astype(float)
        n_rel = rel.sum()
        if n_rel == 0:
            n_without += 1
            continue
        prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
        aps.append((prec * rel).sum() / n_rel)
        for k in map_ks:
            ap_k[k].append((prec[:k] * rel[:k]).sum() / min(n_rel, k))
        for k in ks:
            hits[k].append(float(rel[:k].any()))
    out = {"mAP": np.mean(aps), **{f"mAP@{k}": np.mean(v) for k, v in ap_k.items()},
           **{f"top{k}": np.mean(v) for k, v in hits.items()},
           "n_queries": len(aps), "n_without_match": n_without}
    return out, aps


def _assert_same(got: dict, ref: dict, tol: float = 1e-12) -> None:
    assert set(ref) <= set(got)
    for key, val in ref.items():
        assert got[key] == pytest.approx(val, abs=tol), key


def test_hand_worked_example() -> None:
    # Gallery similarity values (query [1]) and labels; sorted by similarity for query "a":
    #   0.9 a | 0.8 b | 0.7 a | 0.6 b | 0.5 b | 0.4 a   -> rel = 1,0,1,0,0,1, R = 3
    #   AP = (1/1 + 2/3 + 3/6) / 3 = 13/18; AP@2 = (1/1) / min(3, 2) = 1/2; top1 = 1
    # Query "b" is [-1], so the order reverses: 0.4 a | 0.5 b | 0.6 b | 0.7 a | 0.8 b | 0.9 a
    #   rel = 0,1,1,0,1,0, R = 3: AP = (1/2 + 2/3 + 3/5) / 3 = 53/90; AP@2 = (1/2) / 2 = 1/4
    #   top1 = 0, top2 = 1
    # Query "z" has no match: excluded, n_without_match = 1.
    # mAP = (13/18 + 53/90) / 2 = 59/90; mAP@2 = (1/2 + 1/4) / 2 = 3/8; AP@10 = AP here (R < 10)
    g = _col([0.5, 0.9, 0.4, 0.7, 0.8, 0.6])
    gl = np.array(["b", "a", "a", "a", "b", "b"])
    q = _col([1, -1, 1])
    ql = np.array(["a", "b", "z"])
    m, table = evaluate_detailed(q, g, ql, gl, ks=(1, 2, 5), map_ks=(2, 10))
    assert m["mAP"] == pytest.approx(59 / 90, abs=1e-12)
    assert m["mAP@2"] == pytest.approx(3 / 8, abs=1e-12)
    assert m["mAP@10"] == pytest.approx(59 / 90, abs=1e-12)
    assert (m["top1"], m["top2"], m["top5"]) == (0.5, 1.0, 1.0)
    assert (m["n_queries"], m["n_without_match"]) == (2, 1)
    np.testing.assert_allclose(table["AP"], [13 / 18, 53 / 90], atol=1e-12)
    np.testing.assert_array_equal(table["query"], [0, 1])
    np.testing.assert_array_equal(table["first_match_rank"], [1, 2])
    np.testing.assert_array_equal(table["n_relevant"], [3, 3])


def test_map_at_k_divides_by_min_r_k() -> None:
    # 4 relevant items at ranks 1, 2, 3, 4; with k = 2: AP@2 = (1 + 1) / min(4, 2) = 1.
    # With k = 8 > R: AP@8 = (1 + 1 + 1 + 1) / min(4, 8) = 1 (a wrong "/k" would give 0.5).
    g = _col([0.9, 0.8, 0.7, 0.6, 0.1])
    gl = ["a", "a", "a", "a", "b"]
    m = evaluate(_col([1]), g, ["a"], gl, ks=(1,), map_ks=(2, 8))
    assert m["mAP@2"] == 1.0 and m["mAP@8"] == 1.0 and m["mAP"] == 1.0


def test_tie_rule_ascending_gallery_index() -> None:
    # query [1]; similarities 0.5, 0.5, 0.5, 0.9 with labels x, x, a, a.
    # order: idx 3 (0.9), then the tie 0, 1, 2 by ascending index.
    # query "a": relevant at ranks 1 and 4 -> AP = (1 + 2/4) / 2 = 3/4 (not 1, which the
    #   reverse tie order would give); query "x": ranks 2, 3 -> AP = (1/2 + 2/3) / 2 = 7/12.
    g = _col([0.5, 0.5, 0.5, 0.9])
    gl = ["x", "x", "a", "a"]
    m, table = evaluate_detailed(_col([1, 1]), g, ["a", "x"], gl, ks=(1, 2), map_ks=(3,))
    np.testing.assert_allclose(table["AP"], [3 / 4, 7 / 12], atol=1e-12)
    np.testing.assert_array_equal(table["first_match_rank"], [1, 2])
    # AP@3: "a" -> 1/min(2,3) * 1 = 1/2; "x" -> (1/2 + 2/3) / 2 = 7/12
    np.testing.assert_allclose(table["AP@3"], [1 / 2, 7 / 12], atol=1e-12)
    assert m["top1"] == 0.5 and m["top2"] == 1.0


def test_matches_sklearn_average_precision_per_query() -> None:
    rng = np.random.default_rng(0)
    q = rng.standard_normal((40, 6)).astype(np.float32)
    g = rng.standard_normal((150, 6)).astype(np.float32)
    ql, gl = rng.integers(0, 12, 40), rng.integers(0, 12, 150)
    _, table = evaluate_detailed(q, g, ql, gl)
    sims = q.astype(np.float64) @ g.astype(np.float64).T
    for row in table.itertuples():
        ref = average_precision_score(gl == ql[row.query], sims[row.query])
        assert row.AP == pytest.approx(ref, abs=1e-9)
    assert len(table) == sum((gl == lab).any() for lab in ql)


@pytest.mark.parametrize("seed, tied", [(1, False), (2, True), (3, True)])
def test_matches_dense_bruteforce(seed: int, tied: bool) -> None:
    rng = np.random.default_rng(seed)
    if tied:   # small integers: exact float32 similarities with many ties
        q = rng.integers(-2, 3, (30, 3)).astype(np.float32)
        g = rng.integers(-2, 3, (80, 3)).astype(np.float32)
    else:
        q = rng.standard_normal((30, 8)).astype(np.float32)
        g = rng.standard_normal((80, 8)).astype(np.float32)
    ql = rng.integers(0, 25, 30).astype(str)
    gl = rng.integers(0, 25, 80).astype(str)
    ks, map_ks = (1, 3, 5, 10, 100), (1, 4, 10)
    got = evaluate(q, g, ql, gl, ks=ks, map_ks=map_ks, chunk_size=7)
    ref, _ = brute_metrics(q, g, ql, gl, ks, map_ks)
    assert ref["n_without_match"] > 0      # the exclusion path is exercised
    _assert_same(got, ref)


def test_chunk_size_does_not_change_anything() -> None:
    rng = np.random.default_rng(4)
    q = rng.integers(-1, 2, (50, 4)).astype(np.float32)   # includes ties
    g = rng.integers(-1, 2, (120, 4)).astype(np.float32)
    ql, gl = rng.integers(0, 10, 50), rng.integers(0, 10, 120)
    a, ta = evaluate_detailed(q, g, ql, gl, chunk_size=1)
    b, tb = evaluate_detailed(q, g, ql, gl, chunk_size=10**6)
    c, tc = evaluate_detailed(q, g, ql, gl)
    assert a == b == c
    assert ta.equals(tb) and ta.equals(tc)


def test_table_means_are_the_summary() -> None:
    rng = np.random.default_rng(5)
    q = rng.standard_normal((30, 5)).astype(np.float32)
    g = rng.standard_normal((60, 5)).astype(np.float32)
    m, t = evaluate_detailed(q, g, rng.integers(0, 8, 30), rng.integers(0, 8, 60))
    assert m["mAP"] == pytest.approx(t["AP"].mean()) and m["mAP@10"] == pytest.approx(t["AP@10"].mean())
    for k in (1, 5, 10, 20, 30, 40, 50):
        assert m[f"top{k}"] == pytest.approx(t[f"top{k}"].mean())
        assert set(np.unique(t[f"top{k}"])) <= {0, 1}
    assert m["n_queries"] == len(t)
    assert {"mAP", "mAP@10", "top1", "top5", "top10", "top20", "top30", "top40", "top50",
            "n_queries", "n_without_match"} <= set(m)
    assert isinstance(m["n_queries"], int) and isinstance(m["mAP"], float)


def test_no_query_with_a_match_raises() -> None:
    with pytest.raises(ContractError, match="no query has a relevant gallery item"):
        evaluate(_col([1, 1]), _col([1, 2]), ["a", "b"], ["c", "d"])


@pytest.mark.parametrize("ql, gl, match", [
    ([1, 2], ["1", "2", "3"], "different kinds"),
    (["a"], ["a", "b", "c"], "query_labels: has 1 entries for 2 rows"),
    ([["a"], ["b"]], ["a", "b", "c"], "query_labels: must be 1-D"),
])
def test_bad_labels(ql, gl, match) -> None:
    with pytest.raises(ContractError, match=match):
        evaluate(_col([1, 2]), _col([1, 2, 3]), ql, gl)


@pytest.mark.parametrize("kw", [{"ks": (0,)}, {"ks": (1.5,)}, {"map_ks": 10}, {"chunk_size": 0}])
def test_bad_parameters(kw) -> None:
    with pytest.raises(ConfigError):
        evaluate(_col([1]), _col([1, 2]), ["a"], ["a", "b"], **kw)


def test_memory_stays_below_query_by_gallery() -> None:
    rng = np.random.default_rng(6)
    n_q, n_g = 300, 4000
    q = rng.standard_normal((n_q, 8)).astype(np.float32)
    g = rng.standard_normal((n_g, 8)).astype(np.float32)
    ql, gl = rng.integers(0, 500, n_q), rng.integers(0, 500, n_g)
    tracemalloc.start()
    evaluate(q, g, ql, gl, chunk_size=16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a dense float32 Q x G would be 4.8 MB; a chunk's float64 products (exact scores) and a float64
    # copy of the gallery stay well under half of it
    assert peak < n_q * n_g * 4 / 2, peak


# ---------------------------------------------------------------- ranking files


def _emb(q, g, ql, gl) -> Embeddings:
    return Embeddings(query=q, gallery=g, query_ids=[f"q{i}" for i in range(len(q))],
                      gallery_ids=[f"g{i}" for i in range(len(g))], query_labels=ql,
                      gallery_labels=gl, query_categories=["c"] * len(q),
                      gallery_categories=["c"] * len(g), model="m", fingerprint="f")


@pytest.mark.parametrize("tied", [False, True])
def test_ranking_with_full_lists_equals_evaluate(tied: bool) -> None:
    rng = np.random.default_rng(7)
    if tied:
        q = rng.integers(-2, 3, (25, 3)).astype(np.float32)
        g = rng.integers(-2, 3, (60, 3)).astype(np.float32)
    else:
        q = rng.standard_normal((25, 6)).astype(np.float32)
        g = rng.standard_normal((60, 6)).astype(np.float32)
    ql, gl = rng.integers(0, 15, 25).astype(str), rng.integers(0, 15, 60).astype(str)
    ks, map_ks = (1, 5, 10, 50, 70), (10, 60)
    ref, ref_table = evaluate_detailed(q, g, ql, gl, ks=ks, map_ks=map_ks)
    for k_list in (60, 64):                    # K = G and K > G (padded with -1)
        got, table = evaluate_ranking_detailed(to_ranking(_emb(q, g, ql, gl), k_list),
                                               ks=ks, map_ks=map_ks)
        assert {k: v for k, v in got.items() if not k.startswith("chance_")} == ref
        assert table.drop(columns=["query_id", "item_id"]).equals(ref_table)
        np.testing.assert_array_equal(table["query_id"], [f"q{i}" for i in table["query"]])


def _ranking(indices, gl, ql) -> Ranking:
    indices = np.asarray(indices, np.int64)
    dist = np.where(indices >= 0, np.arange(indices.shape[1], dtype=np.float32), np.inf)
    return Ranking(indices=indices, distances=dist.astype(np.float32),
                   query_ids=[f"q{i}" for i in range(len(ql))],
                   gallery_ids=[f"g{i}" for i in range(len(gl))], query_labels=ql,
                   gallery_labels=gl, query_categories=["c"] * len(ql),
                   gallery_categories=["c"] * len(gl), model="m", fingerprint="f")


def test_truncated_ranking_hand_example() -> None:
    # gallery labels: g0 a, g1 b, g2 a, g3 b, g4 a, g5 c   (R_a = 3, R_b = 2)
    # query 0 ("a") lists [g2, g0, g1]: hits at ranks 1, 2; g4 is beyond K = 3
    #   AP = (1/1 + 2/2) / 3 = 2/3 (a lower bound: the full list is unknown)
    #   AP@2 = (1 + 1) / min(3, 2) = 1
    # query 1 ("b") lists [g5, g3, g1]: both relevant within K: AP = (1/2 + 2/3) / 2 = 7/12
    #   AP@2 = (1/2) / min(2, 2) = 1/4, top1 = 0, top2 = 1
    gl = ["a", "b", "a", "b", "a", "c"]
    r = _ranking([[2, 0, 1], [5, 3, 1]], gl, ["a", "b"])
    m, t = evaluate_ranking_detailed(r, ks=(1, 2, 3), map_ks=(2,))
    np.testing.assert_allclose(t["AP"], [2 / 3, 7 / 12], atol=1e-12)
    np.testing.assert_allclose(t["AP@2"], [1.0, 0.25], atol=1e-12)
    assert m["top1"] == 0.5 and m["top2"] == 1.0
    assert m["mAP"] == pytest.approx((2 / 3 + 7 / 12) / 2, abs=1e-12)
    np.testing.assert_array_equal(t["n_relevant"], [3, 2])


def test_truncated_ranking_is_a_lower_bound_and_exact_for_small_k() -> None:
    rng = np.random.default_rng(8)
    q = rng.standard_normal((40, 5)).astype(np.float32)
    g = rng.standard_normal((90, 5)).astype(np.float32)
    ql, gl = rng.integers(0, 20, 40).astype(str), rng.integers(0, 20, 90).astype(str)
    full = evaluate(q, g, ql, gl, ks=(1, 5, 10), map_ks=(5, 10))
    part = evaluate_ranking(to_ranking(_emb(q, g, ql, gl), 10), ks=(1, 5, 10), map_ks=(5, 10))
    assert part["mAP"] <= full["mAP"]
    assert part["mAP"] < full["mAP"]         # some relevant item lies beyond K = 10 here
    for key in ("top1", "top5", "top10", "mAP@5", "mAP@10", "n_queries", "n_without_match"):
        assert part[key] == full[key], key


def test_ranking_k_beyond_list_raises() -> None:
    r = _ranking([[0, 1]], ["a", "b", "c"], ["a"])
    with pytest.raises(ConfigError, match="exceed the ranking's list length K=2"):
        evaluate_ranking(r, ks=(1, 5))


def test_ranking_duplicate_index_raises() -> None:
    r = _ranking([[0, 0, 1]], ["a", "b", "c"], ["a"])
    with pytest.raises(ContractError, match="row 0 lists a gallery index twice"):
        evaluate_ranking(r, ks=(1,), map_ks=(1,))
