"""Tests of fashionbench.fusion against a dense float64 brute force of the mean distance."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from fashionbench.core.artifacts import Embeddings
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.fusion import fuse_embeddings, fuse_search, smallest_k
from fashionbench.retrieval.search import search


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(queries, galleries, k, weights=None, squared_euclidean=False):
    """Dense float64 reference: per-model distance matrices, weighted mean, stable argsort."""
    m = len(queries)
    w = np.full(m, 1 / m) if weights is None else np.asarray(weights, float) / np.sum(weights)
    fused = 0.0
    for wm, q, g in zip(w, queries, galleries):
        q64, g64 = q.astype(np.float64), g.astype(np.float64)
        if squared_euclidean:
            d = ((q64[:, None, :] - g64[None, :, :]) ** 2).sum(-1)
        else:
            d = 1.0 - q64 @ g64.T
        fused = fused + wm * d
    order = np.array([np.lexsort((np.arange(len(r)), r)) for r in fused])[:, :k]
    return order, np.take_along_axis(fused, order, axis=1)


def _models(rng, n_q, n_g, dims):
    return [_unit(rng, n_q, d) for d in dims], [_unit(rng, n_g, d) for d in dims]


@pytest.mark.parametrize("weights", [None, [0.5, 0.2, 0.3], [1.0, 0.0, 3.0]])
def test_matches_dense_bruteforce(weights) -> None:
    rng = np.random.default_rng(0)
    qs, gs = _models(rng, 23, 140, (4, 8, 16))
    idx, dist = fuse_search(qs, gs, 12, weights=weights, chunk_size=5)
    ref_idx, ref_dist = _brute(qs, gs, 12, weights)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-5)


def test_squared_euclidean_mean_ranks_the_same() -> None:
    rng = np.random.default_rng(1)
    qs, gs = _models(rng, 15, 100, (3, 6, 9, 12))
    idx, dist = fuse_search(qs, gs, 20)
    ref_idx, ref_sq = _brute(qs, gs, 20, squared_euclidean=True)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(ref_sq, 2 * dist, atol=1e-5)   # ||q-g||^2 = 2 (1 - q.g)


def test_single_model_equals_search() -> None:
    rng = np.random.default_rng(2)
    q, g = _unit(rng, 20, 8), _unit(rng, 70, 8)
    idx, dist = fuse_search([q], [g], 9)
    s_idx, sims = search(q, g, 9)
    np.testing.assert_array_equal(idx, s_idx)
    np.testing.assert_allclose(dist, 1 - sims, atol=1e-6)


def test_ties_split_by_k_take_lowest_indices() -> None:
    # Unit one-hot vectors: fused distances are exact multiples of 1/2 with large tie groups.
    e = np.eye(3, dtype=np.float32)
    g1 = np.tile(e, (8, 1))                              # 24 rows, rows i, i+3, ... equal
    g2 = np.tile(e[[1, 2, 0]], (8, 1))
    q1, q2 = e[[0, 1]], e[[1, 1]]
    # query 0: model 1 favours rows 0,3,6,..; model 2 row r is e[(r+1)%3] -> favours rows
    # 0,3,6,.. too -> distance 0 on rows 0,3,...,21 (8 rows), cut by k = 5: rows 0..12.
    idx, dist = fuse_search([q1, q2], [g1, g2], 5)
    np.testing.assert_array_equal(idx[0], [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(dist[0], np.zeros(5))
    np.testing.assert_array_equal(idx, _brute([q1, q2], [g1, g2], 5)[0])
    # query 1: model 1 matches rows 1,4,..; model 2 matches rows 0,3,.. -> 16 rows at
    # distance 0.5, all other 8 at 1: the first 5 are rows 0, 1, 3, 4, 6.
    np.testing.assert_array_equal(idx[1], [0, 1, 3, 4, 6])


def test_smallest_k_tie_rule_hand_cases() -> None:
    d = np.array([[1, 0, 0, 0, 2, 0, 1]], np.float32)
    np.testing.assert_array_equal(smallest_k(d, 2)[0], [[1, 2]])
    np.testing.assert_array_equal(smallest_k(d, 5)[0], [[1, 2, 3, 5, 0]])
    np.testing.assert_array_equal(smallest_k(d, 6)[0], [[1, 2, 3, 5, 0, 6]])
    np.testing.assert_array_equal(smallest_k(d, 7)[0], [[1, 2, 3, 5, 0, 6, 4]])
    rng = np.random.default_rng(3)
    many = rng.integers(0, 4, (50, 30)).astype(np.float32)     # heavy ties
    for k in (1, 7, 29, 30):
        ref = np.array([np.lexsort((np.arange(30), r)) for r in many])[:, :k]
        np.testing.assert_array_equal(smallest_k(many, k)[0], ref)


def test_chunk_size_does_not_change_result() -> None:
    rng = np.random.default_rng(4)
    qs, gs = _models(rng, 30, 80, (5, 7))
    a = fuse_search(qs, gs, 10, chunk_size=1)
    b = fuse_search(qs, gs, 10, chunk_size=1000)
    c = fuse_search(qs, gs, 10)
    for x, y in ((a, b), (a, c)):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_allclose(x[1], y[1], atol=1e-6)


def test_k_larger_than_gallery_pads() -> None:
    rng = np.random.default_rng(5)
    qs, gs = _models(rng, 3, 4, (3, 5))
    idx, dist = fuse_search(qs, gs, 7)
    np.testing.assert_array_equal(idx[:, :4], _brute(qs, gs, 4)[0])
    assert (idx[:, 4:] == -1).all() and np.isposinf(dist[:, 4:]).all()


def test_memory_stays_below_query_by_gallery() -> None:
    rng = np.random.default_rng(6)
    n_q, n_g = 200, 5000
    qs, gs = _models(rng, n_q, n_g, (8, 8))
    tracemalloc.start()
    fuse_search(qs, gs, 10, chunk_size=8)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a dense float32 Q x G would be 4 MB; a chunk's float64 products (exact scores) and a float64
    # copy of the gallery stay well under half of it
    assert peak < n_q * n_g * 4 / 2, peak


@pytest.mark.parametrize("case, match", [
    ("count", "one query and one gallery matrix per model"),
    ("dim", "model 1: query dim 4 != gallery dim 5"),
    ("rows", r"galleries\[1\] has 9 rows, galleries\[0\] has 10"),
    ("qrows", r"queries\[1\] has 2 rows, queries\[0\] has 3"),
    ("norm", r"galleries\[0\]: 1 row\(s\) are not L2-normalised \(row 2"),
    ("dtype", r"queries\[0\]: must be float32"),
])
def test_bad_inputs(case: str, match: str) -> None:
    rng = np.random.default_rng(7)
    qs, gs = _models(rng, 3, 10, (3, 4))
    if case == "count":
        gs = gs[:1]
    elif case == "dim":
        gs[1] = _unit(rng, 10, 5)
    elif case == "rows":
        gs[1] = _unit(rng, 9, 4)
    elif case == "qrows":
        qs[1] = _unit(rng, 2, 4)
    elif case == "norm":
        gs[0][2] *= 2
    elif case == "dtype":
        qs[0] = qs[0].astype(np.float64)
    with pytest.raises(ContractError, match=match):
        fuse_search(qs, gs, 3)


@pytest.mark.parametrize("weights", [[1.0], [1, -1], [0, 0], [1, float("nan")], ["a", "b"]])
def test_bad_weights(weights) -> None:
    rng = np.random.default_rng(8)
    qs, gs = _models(rng, 3, 10, (3, 4))
    with pytest.raises(ConfigError, match="weights"):
        fuse_search(qs, gs, 3, weights=weights)


def _emb(q, g, model, gallery_ids=None) -> Embeddings:
    return Embeddings(query=q, gallery=g, query_ids=[f"q{i}" for i in range(len(q))],
                      gallery_ids=gallery_ids or [f"g{i}" for i in range(len(g))],
                      query_labels=[str(i % 2) for i in range(len(q))],
                      gallery_labels=[str(i % 3) for i in range(len(g))],
                      query_categories=["c"] * len(q), gallery_categories=["c"] * len(g),
                      model=model, fingerprint=f"fp-{model}")


def test_fuse_embeddings_returns_valid_ranking() -> None:
    rng = np.random.default_rng(9)
    qs, gs = _models(rng, 6, 12, (4, 6))
    embs = [_emb(qs[0], gs[0], "a"), _emb(qs[1], gs[1], "b")]
    r = fuse_embeddings(embs, 5, weights=[2, 1])
    ref_idx, ref_dist = _brute(qs, gs, 5, [2, 1])
    np.testing.assert_array_equal(r.indices, ref_idx)
    np.testing.assert_allclose(r.distances, ref_dist, atol=1e-5)
    assert r.model == "fusion(a+b)" and len(r.fingerprint) == 64
    np.testing.assert_array_equal(r.gallery_ids, embs[0].gallery_ids)
    assert fuse_embeddings(embs, 5, weights=[1, 1]).fingerprint != r.fingerprint


def test_fuse_embeddings_rejects_different_item_order() -> None:
    rng = np.random.default_rng(10)
    qs, gs = _models(rng, 4, 5, (4, 6))
    ids = [f"g{i}" for i in range(5)]
    swapped = ids[:2] + [ids[3], ids[2]] + ids[4:]
    embs = [_emb(qs[0], gs[0], "a", ids), _emb(qs[1], gs[1], "b", swapped)]
    with pytest.raises(ContractError, match=r"embeddings 1 \(b\): 'gallery_ids' differs .* row 2"):
        fuse_embeddings(embs, 3)
