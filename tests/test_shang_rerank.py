"""Paper shang's top-1 re-rank on a routed, fused ranking: hand-worked cases.

The rule (fashionbench.rerank.top1_rerank_from_neighbours): rank 1 stays the query's top-1 t;
ranks 2..depth are t's own nearest gallery neighbours (under the same routed, fused distance),
skipping t, -1 padding and repeats; then the query's own list without the items already placed,
in its original order, cut to the list length K. Distances: d(q,t), then d(q,t) + d(t,n), then
the item's own d(q,j), made ascending by a running maximum.
"""

from __future__ import annotations

import numpy as np
import pytest

from fashionbench.core.artifacts import Embeddings, Ranking, fingerprint
from fashionbench.core.errors import ContractError
from fashionbench.retrieval.rerank import top1_rerank_from_neighbours
from fashionbench.retrieval.routing import route_fusion, route_top1_neighbours


def _ranking(indices, distances) -> Ranking:
    n_q, _ = np.shape(indices)
    return Ranking(indices=np.array(indices, np.int64), distances=np.array(distances, np.float32),
                   query_ids=np.array([f"q{i}" for i in range(n_q)]), gallery_ids=np.array([f"g{i}" for i in range(10)]),
                   query_labels=np.array(["a"] * n_q), gallery_labels=np.array(["b"] * 10),
                   query_categories=np.array(["c"] * n_q), gallery_categories=np.array(["c"] * 10),
                   model="m", fingerprint="f")


INF = np.inf


def test_list_rule_hand_worked():
    ranking = _ranking([[4, 2, 7, 1, 5, 3], [-1] * 6, [3, 6, 0, 5, -1, -1]],
                       [[.1, .2, .3, .4, .5, .6], [INF] * 6, [.2, .3, .35, .9, INF, INF]])
    nbrs = np.array([[4, 9, 2, 8, -1], [-1] * 5, [3, 0, -1, -1, -1]])
    nd = np.array([[0, .05, .2, .3, INF], [INF] * 5, [0, .5, INF, INF, INF]])
    out = top1_rerank_from_neighbours(ranking, nbrs, nd, depth=4)
    # q0: 4 kept; 9, 2, 8 from 4's neighbours (4 itself skipped); then 7, 1 of the query's list
    # (2 is not repeated); 5 and 3 fall beyond K = 6
    assert out.indices[0].tolist() == [4, 9, 2, 8, 7, 1]
    np.testing.assert_allclose(out.distances[0], [.1, .15, .3, .4, .4, .4], atol=1e-6)
    # q1: no top-1, unchanged
    assert out.indices[1].tolist() == [-1] * 6 and np.isinf(out.distances[1]).all()
    # q2: only one neighbour besides the top-1, so the query's own list starts at rank 3
    assert out.indices[2].tolist() == [3, 0, 6, 5, -1, -1]
    np.testing.assert_allclose(out.distances[2][:4], [.2, .7, .7, .9], atol=1e-6)
    assert np.isinf(out.distances[2][4:]).all()
    # depth 1 keeps the ranking
    assert np.array_equal(top1_rerank_from_neighbours(ranking, nbrs, nd, depth=1).indices, ranking.indices)


def test_list_rule_bad_inputs():
    ranking = _ranking([[1, 2]], [[.1, .2]])
    with pytest.raises(ContractError):
        top1_rerank_from_neighbours(ranking, np.array([[1, 2], [3, 4]]), np.zeros((2, 2)), depth=2)
    with pytest.raises(ContractError):
        top1_rerank_from_neighbours(ranking, np.array([[1, 12]]), np.zeros((1, 2)), depth=2)
    with pytest.raises(ContractError):
        top1_rerank_from_neighbours(ranking, np.array([[1, 2]]), np.array([[0, np.nan]]), depth=2)


def _world():
    """Two categories (A: g0 g2 g3 g5, B: g1 g4), two 2-D models each; values chosen so every
    cosine is exact: (1,0).(0.8,0.6) = 0.8, (1,0).(0.6,0.8) = 0.6, (0.8,0.6).(0.6,0.8) = 0.96."""
    e, x, y, u, v = (1, 0), (1, 0), (0, 1), (0.8, 0.6), (0.6, 0.8)
    gal = {  # per model: g0..g5; the other category's rows are (1,0) and must never be listed
        "a1": [x, e, u, v, e, y], "a2": [y, e, v, x, e, u],
        "b1": [e, x, e, e, y, e], "b2": [e, v, e, e, u, e],
    }
    qry = {"a1": [x, y], "a2": [x, x], "b1": [x, y], "b2": [x, x]}
    meta = dict(query_ids=np.array(["q0", "q1"]), gallery_ids=np.array([f"g{i}" for i in range(6)]),
                query_labels=np.array(["i0", "i1"]), gallery_labels=np.array(["i3", "i4", "i2", "i0", "i1", "i5"]),
                query_categories=np.array(["A", "B"]), gallery_categories=np.array(["A", "B", "A", "A", "B", "A"]))
    return [Embeddings(query=np.array(qry[m], np.float32), gallery=np.array(gal[m], np.float32), model=m,
                       fingerprint=fingerprint(m, {}), **meta) for m in ("a1", "a2", "b1", "b2")]


ROW = {"routes": {"A": ["a1", "a2"], "B": ["b1", "b2"]}, "router": "oracle", "inputs": ["a1", "a2", "b1", "b2"]}


def test_route_then_top1_rerank_hand_worked():
    embs = _world()
    base = route_fusion(embs, {**ROW, "top_k": 4})
    # q0 (A): a1 distances g0 0, g2 .2, g3 .4, g5 1; a2: g0 1, g2 .4, g3 0, g5 .2
    #         mean: g0 .5, g2 .3, g3 .2, g5 .6 -> [g3, g2, g0, g5]
    assert base.indices[0].tolist() == [3, 2, 0, 5]
    np.testing.assert_allclose(base.distances[0], [.2, .3, .5, .6], atol=1e-6)
    # q1 (B): b1 g1 1, g4 0; b2 g1 .4, g4 .2 -> mean g4 .1, g1 .7; B has 2 images, then padding
    assert base.indices[1].tolist() == [4, 1, -1, -1]
    np.testing.assert_allclose(base.distances[1][:2], [.1, .7], atol=1e-6)

    nbrs, nd = route_top1_neighbours(embs, ROW, base, depth=3)
    # neighbours of g3 with the A models: a1 g2 .04, g5 .2, g0 .4; a2 g2 .4, g5 .2, g0 1
    #   mean: itself 0, g5 .2, g2 .22, g0 .7 -> depth 3 keeps [g3, g5, g2]
    assert nbrs[0].tolist() == [3, 5, 2]
    np.testing.assert_allclose(nd[0], [0, .2, .22], atol=1e-6)
    # neighbours of g4 with the B models: itself 0, g1 (1 + .04) / 2 = .52; B has no third image
    assert nbrs[1].tolist() == [4, 1, -1]
    np.testing.assert_allclose(nd[1][:2], [0, .52], atol=1e-6)

    out = top1_rerank_from_neighbours(base, nbrs, nd, depth=3)
    # q0: g3 kept, then g5 (.2 + .2) and g2 (.2 + .22) from g3's neighbours, then g0 (.5)
    assert out.indices[0].tolist() == [3, 5, 2, 0]
    np.testing.assert_allclose(out.distances[0], [.2, .4, .42, .5], atol=1e-6)
    # q1: g4 kept, then g1 via g4 (.1 + .52); nothing else in B
    assert out.indices[1].tolist() == [4, 1, -1, -1]
    np.testing.assert_allclose(out.distances[1][:2], [.1, .62], atol=1e-6)
