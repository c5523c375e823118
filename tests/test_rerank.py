"""Tests of fashionbench.rerank: k-reciprocal re-ranking and the top-1 re-rank.

References: the dense float64 port of Zhong et al.'s code (``k_reciprocal_dense``), itself
checked against closed forms and a hand-worked k-reciprocal set; hand-worked top-1 lists and a
plain per-query Python loop for the vectorised top-1 re-rank.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from fashionbench.core.artifacts import Ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.rerank import _k_reciprocal_support, gallery_neighbours, k_reciprocal, k_reciprocal_dense, top1_rerank, top1_rerank_ranking, top1_rerank_with_distances


def clustered(n: int, d: int, n_clusters: int, seed: int, noise: float = 0.35) -> np.ndarray:
    """L2-normalised float32 points around random centres, so that neighbourhoods matter."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    x = centres[rng.integers(0, n_clusters, n)] + noise * rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


# ------------------------------------------------------------------------------------------
# the dense reference itself
# ------------------------------------------------------------------------------------------
def test_dense_reference_lambda_one_is_column_max_normalised_distance():
    x = clustered(40, 8, 5, seed=1)
    q, g = x[:10], x[10:]
    d2 = cdist(x.astype(np.float64), x.astype(np.float64), "sqeuclidean")
    # reference code: (d2 / d2.max(axis=0)).T -> row i divided by the max of column i
    expected = (d2 / d2.max(axis=0)).T[:10, 10:]
    np.testing.assert_allclose(k_reciprocal_dense(q, g, 5, 3, 1.0), expected, atol=1e-12)


def test_dense_reference_closed_form_when_every_item_is_reciprocal():
    # k1 >= N - 1: every item is in every k-reciprocal set, so V[i] = softmax(-original[i])
    # over all N items, and with k2 = 1 the Jaccard distance has a closed form.
    x = clustered(24, 6, 3, seed=2)
    n_q, lam = 6, 0.4
    d2 = cdist(x.astype(np.float64), x.astype(np.float64), "sqeuclidean")
    original = d2 / d2.max(axis=1, keepdims=True)  # symmetric d2: column max == row max
    v = np.exp(-original)
    v /= v.sum(axis=1, keepdims=True)
    shared = np.minimum(v[:n_q, None, :], v[None, n_q:, :]).sum(axis=2)
    jaccard = 1 - shared / (2 - shared)
    expected = (1 - lam) * jaccard + lam * original[:n_q, n_q:]
    got = k_reciprocal_dense(x[:n_q], x[n_q:], k1=30, k2=1, lambda_value=lam)
    np.testing.assert_allclose(got, expected, atol=1e-12)


# A hand-made rank table (row i = item i's ranking, itself first) for k1 = 6, round(k1/2) = 3.
# F(i) = first 7 ranks, F'(i) = first 4 ranks.
# R(0) = {0..6} (0 is in F(j) for j = 1..6). R'(1) = {0, 1, 2, 7}: 7 is not in R(0), but
# |R'(1) & R(0)| = 3 > 2/3 * 4, so the expansion adds 7 to row 0.
# R(7) = {1, 7} (7 in F(1), not in F(2..6)); candidate 1 has R'(1) & R(7) = {1, 7}: 2 <= 8/3,
# rejected, so row 7 stays {1, 7}.
HAND_RANKS = np.array([
    [0, 1, 2, 3, 4, 5, 6, 7],
    [1, 0, 2, 7, 3, 4, 5, 6],
    [2, 1, 0, 3, 4, 5, 6, 7],
    [3, 0, 1, 2, 4, 5, 6, 7],
    [4, 0, 1, 2, 3, 5, 6, 7],
    [5, 0, 1, 2, 3, 4, 6, 7],
    [6, 0, 1, 2, 3, 4, 5, 7],
    [7, 1, 2, 3, 4, 5, 6, 0],
])


@pytest.mark.parametrize("row_chunk", [1, 3, 100])
def test_k_reciprocal_support_hand_worked(row_chunk):
    rows, cols = _k_reciprocal_support(HAND_RANKS, k1=6, row_chunk=row_chunk)
    support = {i: set(cols[rows == i].tolist()) for i in range(8)}
    assert support[0] == set(range(8))  # expansion accepted (adds 7)
    assert support[7] == {1, 7}          # expansion rejected
    # R(1) = {1, 0, 2, 7, 3, 4, 5} (1 is in F of all of them), nothing outside to add
    assert support[1] == {0, 1, 2, 3, 4, 5, 7}
    # CSR order: rows non-decreasing, columns increasing inside a row
    assert np.all(np.diff(rows) >= 0)
    assert all(np.all(np.diff(cols[rows == i]) > 0) for i in range(8))


# ------------------------------------------------------------------------------------------
# sparse production version against the dense reference
# ------------------------------------------------------------------------------------------
CASES = [
    # n_query, n_gallery, dim, clusters, k1, k2, lambda, seed
    (20, 180, 16, 12, 20, 6, 0.3, 0),
    (37, 90, 12, 8, 7, 3, 0.5, 1),     # k1 = 7: round(3.5) = 4, int(3.5) would give 3
    (60, 240, 16, 20, 5, 1, 0.1, 2),   # k1 = 5: round(2.5) = 2 (half to even); k2 = 1: no QE
    (10, 40, 8, 4, 12, 8, 0.9, 3),
    (120, 35, 8, 5, 9, 4, 0.25, 4),    # more queries than gallery items
]


@pytest.mark.parametrize("n_q,n_g,dim,n_clusters,k1,k2,lam,seed", CASES)
def test_k_reciprocal_matches_dense_reference(n_q, n_g, dim, n_clusters, k1, k2, lam, seed):
    x = clustered(n_q + n_g, dim, n_clusters, seed)
    q, g = x[:n_q], x[n_q:]
    top_k = min(30, n_g)
    ref = k_reciprocal_dense(q, g, k1, k2, lam)
    idx, dist = k_reciprocal(q, g, k1=k1, k2=k2, lambda_value=lam, top_k=top_k)
    assert idx.shape == dist.shape == (n_q, top_k)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    ref_idx = np.argsort(ref, axis=1, kind="stable")[:, :top_k]
    np.testing.assert_allclose(dist, np.take_along_axis(ref, ref_idx, 1), atol=1e-4)
    np.testing.assert_allclose(dist, np.take_along_axis(ref, idx, 1), atol=1e-4)
    np.testing.assert_array_equal(idx[:, :10], ref_idx[:, :10])
    assert np.all(np.diff(dist, axis=1) >= 0)
    # the case is not trivial: re-ranking changed the plain nearest-neighbour order
    plain = np.argsort(cdist(q, g, "sqeuclidean"), axis=1, kind="stable")[:, :10]
    assert (plain != idx[:, :10]).any()


def test_k_reciprocal_with_exact_duplicates():
    # every image three times: many tied neighbours; the distances still match the reference
    # (the order inside a group of equal distances may differ by float rounding)
    x = np.repeat(clustered(60, 8, 6, seed=3), 3, axis=0)
    x = x[np.random.default_rng(0).permutation(len(x))]
    q, g = x[:30], x[30:]
    ref = k_reciprocal_dense(q, g, 7, 3, 0.3)
    idx, dist = k_reciprocal(q, g, 7, 3, 0.3, top_k=20)
    np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :20], atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(ref, idx, 1), dist, atol=1e-4)


def test_k_reciprocal_chunking_does_not_change_result():
    x = clustered(150, 12, 10, seed=5)
    q, g = x[:30], x[30:]
    ref = k_reciprocal(q, g, 10, 4, 0.3, top_k=25)
    small = k_reciprocal(q, g, 10, 4, 0.3, top_k=25, row_chunk=7, pair_chunk=11, triple_budget=40)
    np.testing.assert_array_equal(small[0], ref[0])
    np.testing.assert_allclose(small[1], ref[1], atol=1e-7)


def test_k_reciprocal_lambda_extremes():
    x = clustered(120, 10, 8, seed=6)
    q, g = x[:20], x[20:]
    # lambda = 1: the original (normalised) distance ranking
    idx, dist = k_reciprocal(q, g, 8, 3, 1.0, top_k=15)
    ref = k_reciprocal_dense(q, g, 8, 3, 1.0)
    np.testing.assert_array_equal(idx, np.argsort(ref, axis=1, kind="stable")[:, :15])
    np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :15], atol=1e-5)
    # lambda = 0: pure Jaccard; items without shared support tie at 1 (order may differ)
    idx0, dist0 = k_reciprocal(q, g, 8, 3, 0.0, top_k=60)
    ref0 = k_reciprocal_dense(q, g, 8, 3, 0.0)
    np.testing.assert_allclose(dist0, np.sort(ref0, axis=1)[:, :60], atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(ref0, idx0, 1), dist0, atol=1e-4)


def test_k_reciprocal_pads_when_gallery_is_shorter_than_top_k():
    x = clustered(30, 6, 3, seed=7)
    q, g = x[:18], x[18:]
    idx, dist = k_reciprocal(q, g, 5, 2, 0.3, top_k=20)
    assert (idx[:, 12:] == -1).all() and np.isinf(dist[:, 12:]).all()
    ref = k_reciprocal_dense(q, g, 5, 2, 0.3)
    np.testing.assert_allclose(dist[:, :12], np.sort(ref, axis=1), atol=1e-4)
    assert all(sorted(row[:12]) == list(range(12)) for row in idx)


@pytest.mark.parametrize("kwargs,error,text", [
    ({"k1": 0}, ConfigError, "k1"),
    ({"k2": 0}, ConfigError, "k2"),
    ({"k1": 2.5}, ConfigError, "k1"),
    ({"k1": True}, ConfigError, "k1"),
    ({"lambda_value": 1.5}, ConfigError, "lambda_value"),
    ({"lambda_value": -0.1}, ConfigError, "lambda_value"),
    ({"top_k": 0}, ConfigError, "top_k"),
])
def test_k_reciprocal_bad_parameters(kwargs, error, text):
    x = clustered(20, 4, 2, seed=8)
    with pytest.raises(error, match=text):
        k_reciprocal(x[:5], x[5:], **kwargs)


def test_k_reciprocal_bad_inputs():
    x = clustered(20, 4, 2, seed=9)
    with pytest.raises(ContractError, match="query dim 4 != gallery dim 3"):
        k_reciprocal(x[:5], x[5:, :3])
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ContractError, match="'gallery'.*row 2"):
        k_reciprocal(bad[:5], bad[5:])
    with pytest.raises(ContractError, match="'query' must be a non-empty 2-D"):
        k_reciprocal(x[0], x[5:])
    with pytest.raises(ContractError, match="'gallery' must be a non-empty 2-D"):
        k_reciprocal(x[:5], x[:0])
    with pytest.raises(ContractError, match="must hold floats"):
        k_reciprocal(x[:5].astype(int), x[5:])
    same = np.ones((6, 4), np.float32) / 2
    with pytest.raises(ContractError, match="identical"):
        k_reciprocal(same[:2], same[2:])


# ------------------------------------------------------------------------------------------
# top-1 re-rank
# ------------------------------------------------------------------------------------------
GG = np.array([
    [0, 3, 5, 1],
    [1, 2, 0, 7],
    [2, 1, 6, 4],
    [3, 0, 5, 6],
    [4, 6, 2, -1],   # only two neighbours
    [5, 3, 3, 7],    # a repeated neighbour
    [7, 6, 4, 2],    # itself not first (e.g. a tie with 7)
    [7, 6, 1, 5],
])


def test_top1_rerank_hand_worked():
    indices = np.array([
        [3, 1, 0, 7, 4, 2],
        [6, 4, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1],
        [4, 5, 6, 2, 1, 0],
        [5, 0, 1, 2, 3, 4],
    ])
    out = top1_rerank(indices, GG, depth=3)
    np.testing.assert_array_equal(out[0], [3, 0, 5, 1, 7, 4])      # 3 skipped; 2 falls off
    np.testing.assert_array_equal(out[1], [6, 7, 4, -1, -1, -1])   # self (6) skipped mid-row
    np.testing.assert_array_equal(out[2], [-1] * 6)                # empty list unchanged
    out4 = top1_rerank(indices, GG, depth=4)
    np.testing.assert_array_equal(out4[3], [4, 6, 2, 5, 1, 0])     # neighbours run out (-1)
    np.testing.assert_array_equal(out4[4], [5, 3, 7, 0, 1, 2])     # duplicate 3 skipped
    np.testing.assert_array_equal(top1_rerank(indices, GG, depth=1), indices)


def test_top1_rerank_distances_hand_worked():
    indices = np.array([[3, 1, 0, 7, 4, 2], [6, 4, -1, -1, -1, -1]])
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.3, 0.35, 9, 9, 9, 9]])
    gg_d = np.zeros(GG.shape)
    gg_d[3] = [0.0, 0.05, 0.15, 0.9]
    gg_d[6] = [0.02, 0.0, 0.4, 0.5]
    out, out_d = top1_rerank_with_distances(indices, dist, GG, gg_d, depth=3)
    np.testing.assert_array_equal(out, [[3, 0, 5, 1, 7, 4], [6, 7, 4, -1, -1, -1]])
    # 0: 0.1 + 0.05; 5: 0.1 + 0.15; 1 (own 0.2) lifted to 0.25; 7 and 4 keep 0.4, 0.5
    np.testing.assert_allclose(out_d[0], [0.1, 0.15, 0.25, 0.25, 0.4, 0.5], atol=1e-7)
    np.testing.assert_allclose(out_d[1, :3], [0.3, 0.32, 0.7], atol=1e-7)
    assert np.isinf(out_d[1, 3:]).all()
    assert out_d.dtype == np.float32


def _top1_loop(indices, gg, depth):
    """Plain per-query loop of the documented rule (independent of the vectorised code)."""
    out = np.full_like(indices, -1)
    for q, row in enumerate(indices):
        if row[0] < 0:
            out[q] = row
            continue
        placed = [int(row[0])]
        for n in gg[row[0]]:
            if len(placed) == depth:
                break
            if n >= 0 and n not in placed:
                placed.append(int(n))
        placed += [int(j) for j in row if j >= 0 and j not in placed]
        placed = placed[:len(row)]
        out[q, :len(placed)] = placed
    return out


@pytest.mark.parametrize("depth", [1, 2, 5, 10, 15])
def test_top1_rerank_matches_loop_on_random_lists(depth):
    rng = np.random.default_rng(depth)
    n_g, n_q, k, m = 40, 50, 12, 8
    indices = np.stack([rng.permutation(n_g)[:k] for _ in range(n_q)])
    indices[rng.random(n_q) < 0.2, 7:] = -1         # some short lists
    indices[3] = -1                                  # an empty one
    gg = rng.integers(-1, n_g, size=(n_g, m))        # repeats, -1 and self anywhere
    np.testing.assert_array_equal(top1_rerank(indices, gg, depth=depth),
                                  _top1_loop(indices, gg, depth))


def test_top1_rerank_bad_inputs():
    indices = np.array([[3, 1, 0]])
    with pytest.raises(ConfigError, match="depth"):
        top1_rerank(indices, GG, depth=0)
    with pytest.raises(ContractError, match="'indices' row 0 holds an index outside"):
        top1_rerank(np.array([[8, 1, 0]]), GG)
    with pytest.raises(ContractError, match="'indices' row 1 lists a gallery item twice"):
        top1_rerank(np.array([[3, 1, 0], [2, 2, 1]]), GG)
    with pytest.raises(ContractError, match="'gallery_gallery_neighbours' row 2"):
        bad = GG.copy()
        bad[2, 1] = 99
        top1_rerank(indices, bad)
    with pytest.raises(ContractError, match="integers"):
        top1_rerank(indices.astype(float), GG)
    with pytest.raises(ContractError, match="'distances'"):
        top1_rerank_with_distances(indices, np.zeros((1, 2)), GG, np.zeros(GG.shape))


def _ranking(indices, distances, n_g):
    n_q = len(indices)
    return Ranking(indices=indices, distances=distances,
                   query_ids=[f"q{i}" for i in range(n_q)], gallery_ids=[f"g{i}" for i in range(n_g)],
                   query_labels=["a"] * n_q, gallery_labels=["a"] * n_g,
                   query_categories=["c"] * n_q, gallery_categories=["c"] * n_g,
                   model="m", fingerprint="f" * 64)


def test_top1_rerank_ranking_uses_gallery_neighbours():
    # gallery on a circle at angles 0, 10, 20, ... degrees: neighbours are known by hand
    angles = np.deg2rad(np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]) * 1.0)
    order = np.array([6, 2, 9, 0, 4, 8, 1, 3, 7, 5])        # gallery index -> angle slot
    gallery = np.stack([np.cos(angles[order]), np.sin(angles[order])], 1).astype(np.float32)
    slot_to_gallery = np.argsort(order)
    indices = np.array([[slot_to_gallery[s] for s in (5, 9, 0, 1)]])  # top-1 at 50 degrees
    dist = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    r = top1_rerank_ranking(_ranking(indices, dist, 10), gallery, depth=3)
    # 50 degrees' nearest: 40 and 60 at equal distance, then 30/70; depth 3 takes two of them
    got_slots = order[r.indices[0]]
    assert got_slots[0] == 5 and set(got_slots[1:3]) == {4, 6}
    assert list(got_slots[3:]) == [9]                       # then the query's list: 90 (0, 1 dropped)
    chord2 = 2 - 2 * np.cos(np.deg2rad(10))
    np.testing.assert_allclose(r.distances[0, :3], [0.1, 0.1 + chord2, 0.1 + chord2], atol=1e-6)
    np.testing.assert_allclose(r.distances[0, 3], max(0.2, 0.1 + chord2), atol=1e-6)
    assert r.model == "m+top1_rerank" and r.fingerprint != "f" * 64
    # same as the array version fed with brute-force neighbours
    gg_d = cdist(gallery, gallery, "sqeuclidean")
    gg = np.argsort(gg_d, axis=1, kind="stable")[:, :3]
    ref_i, ref_d = top1_rerank_with_distances(indices, dist, gg, np.take_along_axis(gg_d, gg, 1),
                                              depth=3)
    assert set(r.indices[0, 1:3]) == set(ref_i[0, 1:3]) and r.indices[0, 3] == ref_i[0, 3]
    np.testing.assert_allclose(r.distances, ref_d, atol=1e-6)
    with pytest.raises(ContractError, match="gallery_emb"):
        top1_rerank_ranking(_ranking(indices, dist, 10), gallery[:9])


def test_gallery_neighbours_against_brute_force():
    g = clustered(60, 8, 5, seed=11)
    idx, dist = gallery_neighbours(g, 6, rows=np.array([3, 10, 59]))
    d2 = cdist(g[[3, 10, 59]].astype(np.float64), g.astype(np.float64), "sqeuclidean")
    np.testing.assert_array_equal(idx, np.argsort(d2, axis=1, kind="stable")[:, :6])
    np.testing.assert_allclose(dist, np.sort(d2, axis=1)[:, :6], atol=1e-5)
    idx_c, dist_c = gallery_neighbours(g, 4, metric="cosine")
    np.testing.assert_allclose(dist_c, 1 - np.sort(g @ g.T, axis=1)[:, ::-1][:, :4], atol=1e-5)
    with pytest.raises(ConfigError, match="metric"):
        gallery_neighbours(g, 4, metric="l1")
