"""Paper shang's category-routed distance fusion (fashionbench.routing, compose kind ``route``).

Reference: a dense brute force written independently here — for every query, the full [G]
vector of mean cosine distances over the routed category's models (float64), the gallery of
other categories removed, a stable argsort, cut at k.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashionbench.core.artifacts import Embeddings, Ranking, fingerprint, save_embeddings
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.routing import assignments, parse_route_row, route_fusion, route_search, route_stats, route_top1_neighbours

CATS = ("clothes", "shoes", "bags")


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_world(seed: int = 0, n_q: int = 40, n_g: int = 90, dims: tuple[int, ...] = (4, 8),
               router_error: float = 0.2, drop_cat: str | None = None):
    """Embedding files of one model per (category, dim) plus a router with some wrong predictions."""
    rng = np.random.default_rng(seed)
    q_cat = rng.choice(CATS, n_q)
    g_cat = rng.choice(CATS, n_g)
    if drop_cat:
        g_cat[g_cat == drop_cat] = "clothes"
    q_lab = rng.integers(0, 15, n_q).astype(str)
    g_lab = rng.integers(0, 15, n_g).astype(str)
    base = dict(query_ids=np.array([f"q{i}" for i in range(n_q)]), gallery_ids=np.array([f"g{i}" for i in range(n_g)]),
                query_labels=q_lab, gallery_labels=g_lab, query_categories=q_cat, gallery_categories=g_cat)
    embs = {}
    for c in CATS:
        for d in dims:
            name = f"m-{c}-{d}"
            embs[name] = Embeddings(query=_unit(rng, n_q, d), gallery=_unit(rng, n_g, d), model=name,
                                    fingerprint=fingerprint(name, {}), **base)
    flip = lambda cats: np.where(rng.random(len(cats)) < router_error, rng.choice(CATS, len(cats)), cats)  # noqa: E731
    embs["router"] = Embeddings(query=_unit(rng, n_q, 3), gallery=_unit(rng, n_g, 3), model="router",
                                fingerprint=fingerprint("router", {}),
                                extra={"query_category_pred": flip(q_cat), "gallery_category_pred": flip(g_cat)}, **base)
    routes = {c: [f"m-{c}-{d}" for d in dims] for c in CATS}
    return embs, routes


def brute_force(embs, routes, q_route, g_route, k):
    """Dense float64 reference: mean cosine distance of the routed category's models."""
    ref = next(iter(embs.values()))
    n_q, n_g = len(ref.query_ids), len(ref.gallery_ids)
    idx = np.full((n_q, k), -1)
    dist = np.full((n_q, k), np.inf)
    for q in range(n_q):
        models = routes[q_route[q]]
        d = np.mean([1.0 - embs[m].gallery.astype(np.float64) @ embs[m].query[q].astype(np.float64)
                     for m in models], axis=0)
        d[g_route != q_route[q]] = np.inf
        order = np.argsort(d, kind="stable")
        order = order[np.isfinite(d[order])][:k]
        idx[q, :len(order)] = order
        dist[q, :len(order)] = d[order]
    return idx, dist


@pytest.mark.parametrize("block", [None, 7])  # 7: a category's gallery searched in several blocks, then merged
@pytest.mark.parametrize("router,gallery_routing", [("router", "router"), ("router", "labels"), ("oracle", None)])
def test_route_search_matches_dense_brute_force(router, gallery_routing, block):
    embs, routes = make_world(seed=1)
    row = {"routes": routes, "router": router}
    if gallery_routing:
        row["gallery_routing"] = gallery_routing
    spec = parse_route_row(row, "fusions.t")
    idx, dist, q_route = route_search(embs, spec, k=12, chunk_size=7, gallery_block=block)  # several query chunks
    ref = embs["router"]
    if router == "oracle":
        exp_q, exp_g = ref.query_categories, ref.gallery_categories
    else:
        exp_q = ref.extra["query_category_pred"]
        exp_g = ref.extra["gallery_category_pred"] if gallery_routing == "router" else ref.gallery_categories
    assert np.array_equal(q_route, exp_q)
    ridx, rdist = brute_force(embs, routes, exp_q, exp_g, 12)
    assert np.array_equal(idx, ridx)
    fin = np.isfinite(rdist)
    assert np.array_equal(np.isfinite(dist), fin)
    np.testing.assert_allclose(dist[fin], rdist[fin], atol=1e-5)
    # every listed gallery image is of the query's routed category
    listed = idx >= 0
    assert (exp_g[idx[listed]] == np.repeat(exp_q, listed.sum(axis=1))).all()


def test_route_one_model_per_category_equals_plain_search_within_category():
    """With one model per category and oracle routing, each category is a plain cosine search."""
    from fashionbench.retrieval.search import search

    embs, routes = make_world(seed=2, dims=(6,))
    spec = parse_route_row({"routes": routes, "router": "oracle"})
    idx, dist, _ = route_search(embs, spec, k=5)
    ref = embs["router"]
    for c in CATS:
        qi, gi = np.flatnonzero(ref.query_categories == c), np.flatnonzero(ref.gallery_categories == c)
        e = embs[f"m-{c}-6"]
        s_idx, s_sim = search(e.query[qi], e.gallery[gi], 5)
        assert np.array_equal(idx[qi], gi[s_idx])
        np.testing.assert_allclose(dist[qi], 1.0 - s_sim, atol=1e-6)


def test_short_category_is_padded_and_empty_category_gives_empty_lists():
    embs, routes = make_world(seed=3, n_g=30, drop_cat="bags")  # no bags in the gallery
    spec = parse_route_row({"routes": routes, "router": "oracle"})
    idx, dist, q_route = route_search(embs, spec, k=25)
    bags = q_route == "bags"
    assert bags.any() and (idx[bags] == -1).all() and np.isinf(dist[bags]).all()
    shoes = q_route == "shoes"
    n_shoes = int((embs["router"].gallery_categories == "shoes").sum())
    assert n_shoes < 25
    assert (idx[shoes, :n_shoes] >= 0).all() and (idx[shoes, n_shoes:] == -1).all()


def test_route_fusion_returns_valid_ranking_with_fingerprint():
    embs, routes = make_world(seed=4)
    names = list(embs)
    row = {"group": "shang", "kind": "route", "routes": routes, "router": "router", "inputs": names, "top_k": 10}
    r = route_fusion([embs[n] for n in names], row)
    assert isinstance(r, Ranking) and r.indices.shape == (40, 10)
    models = [n for n in names if n != "router"]
    r2 = route_fusion([embs[n] for n in models], {**row, "router": "oracle", "inputs": None})
    assert r.fingerprint != r2.fingerprint


def test_route_row_errors_name_the_row():
    embs, routes = make_world(seed=5)
    with pytest.raises(ConfigError, match="fusions.x: unknown key"):
        parse_route_row({"routes": routes, "weights": [1]}, "fusions.x")
    with pytest.raises(ConfigError, match="fusions.x.routes"):
        parse_route_row({"routes": []}, "fusions.x")
    with pytest.raises(ConfigError, match="fusions.x.gallery_routing"):
        parse_route_row({"routes": routes, "router": "router", "gallery_routing": "guess"}, "fusions.x")
    with pytest.raises(ConfigError, match="fusions.x.inputs"):
        parse_route_row({"routes": routes, "router": "router", "inputs": ["m-clothes-4"]}, "fusions.x")
    with pytest.raises(ConfigError, match="listed twice"):
        parse_route_row({"routes": {"bags": ["a", "a"]}}, "fusions.x")
    # a query routed to a category without models
    spec = parse_route_row({"routes": {c: routes[c] for c in ("clothes", "shoes")}, "router": "oracle"})
    with pytest.raises(ConfigError, match="bags"):
        route_search(embs, spec, 5)
    # a router without category predictions
    plain = dict(embs)
    plain["router"] = Embeddings(**{**embs["router"].__dict__, "extra": {}})
    with pytest.raises(ContractError, match="extra_query_category_pred"):
        assignments(plain, parse_route_row({"routes": routes, "router": "router"}))


def test_route_stats_hand_counted():
    embs, routes = make_world(seed=6)
    stats = route_stats([embs[n] for n in embs], {"routes": routes, "router": "router", "inputs": list(embs)})
    r = embs["router"]
    qp, qt = r.extra["query_category_pred"], r.query_categories
    assert stats["router_query_accuracy"] == pytest.approx(np.mean(qp == qt))
    assert stats["router_gallery_accuracy"] == pytest.approx(np.mean(r.extra["gallery_category_pred"] == r.gallery_categories))
    assert stats["n_queries_misrouted"] == int(np.sum(qp != qt))
    for c in CATS:
        assert stats[f"n_queries/{c}"] == int(np.sum(qt == c))
        assert stats[f"n_queries_routed_to/{c}"] == int(np.sum(qp == c))
        assert stats[f"router_query_accuracy/{c}"] == pytest.approx(np.mean(qp[qt == c] == c))
        for d in CATS:
            assert stats[f"query_confusion/{c}/{d}"] == int(np.sum((qt == c) & (qp == d)))
    assert stats["oracle"] == 0 and stats["n_models"] == 2
    oracle = route_stats([embs[n] for n in embs], {"routes": routes, "router": "oracle", "inputs": list(embs)})
    assert oracle["router_query_accuracy"] == 1.0 and oracle["n_queries_misrouted"] == 0 and oracle["oracle"] == 1


@pytest.mark.parametrize("block", [None, 5])
def test_top1_neighbours_use_the_routed_fused_distance(block):
    embs, routes = make_world(seed=7)
    names = list(embs)
    row = {"routes": routes, "router": "router", "inputs": names}
    ranking = route_fusion([embs[n] for n in names], {**row, "top_k": 10})
    nbrs, nd = route_top1_neighbours([embs[n] for n in names], row, ranking, depth=4, gallery_block=block)
    r = embs["router"]
    q_route, g_route = r.extra["query_category_pred"], r.extra["gallery_category_pred"]
    for q in range(len(q_route)):
        t = ranking.indices[q, 0]
        if t < 0:
            assert (nbrs[q] == -1).all()
            continue
        c = q_route[q]
        d = np.mean([1.0 - embs[m].gallery.astype(np.float64) @ embs[m].gallery[t].astype(np.float64)
                     for m in routes[c]], axis=0)
        d[g_route != c] = np.inf
        order = np.argsort(d, kind="stable")[:4]
        order = order[np.isfinite(d[order])]
        assert np.array_equal(nbrs[q, :len(order)], order)
        assert nbrs[q, 0] == t  # itself first (distance 0)
        np.testing.assert_allclose(nd[q, :len(order)], d[order], atol=1e-5)


def test_top1_neighbours_reject_a_ranking_from_elsewhere():
    embs, routes = make_world(seed=8)
    names = list(embs)
    row = {"routes": routes, "router": "oracle", "inputs": names}
    ranking = route_fusion([embs[n] for n in names], {**row, "top_k": 5})
    g_cat = embs["router"].gallery_categories
    wrong = ranking.indices.copy()
    q = int(np.flatnonzero(wrong[:, 0] >= 0)[0])
    other = int(np.flatnonzero(g_cat != g_cat[wrong[q, 0]])[0])
    wrong[q] = np.r_[other, np.full(4, -1)]
    bad = Ranking(**{**ranking.__dict__, "indices": wrong,
                     "distances": np.r_[[np.r_[0.1, np.full(4, np.inf)]] * len(wrong)].astype(np.float32)})
    with pytest.raises(ContractError, match="not made by this route"):
        route_top1_neighbours([embs[n] for n in names], row, bad, depth=3)


# --------------------------------------------------------------------------------------------
# through compose: run_fusion / run_rerank on embedding files in a temp project
# --------------------------------------------------------------------------------------------
@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(tmp_path))
    embs, routes = make_world(seed=9)
    methods = {n: {"group": "g", "notebook": "notebooks/train.ipynb"} for n in embs}
    for n, e in embs.items():
        save_embeddings(tmp_path / "artifacts" / "embeddings" / "g" / f"{n}.npz", e)
    params = {"seed": 0, "profile": "tiny", "profiles": {"tiny": {"eval": {"top_k": 8}}}, "dataset": {},
              "methods": methods,
              "fusions": {"f": {"group": "g", "kind": "route", "routes": routes, "router": "router"},
                          "f-oracle": {"group": "g", "kind": "route", "routes": routes, "router": "oracle"}},
              "reranks": {"f-rr": {"group": "g", "input": "f", "steps": [{"name": "top1", "depth": 4}]},
                          "f-bad": {"group": "g", "input": "f", "steps": [{"name": "dba", "top_k": 2}]}}}
    return tmp_path, params, embs, routes


def test_compose_run_fusion_and_stats(project):
    from fashionbench.core.paths import fused_path
    from fashionbench.retrieval.compose import run_fusion

    root, params, embs, routes = project
    stats: dict = {}
    out = run_fusion(params, "f", stats=stats)
    assert isinstance(out, Ranking) and out.model == "f" and out.k == 8  # the profile's eval.top_k
    assert fused_path("g", "f").is_file()
    assert stats["n_inputs"] == 7 and 0 < stats["router_query_accuracy"] < 1
    json.dumps(stats)  # flat and serialisable
    ref = embs["router"]
    ridx, _ = brute_force(embs, routes, ref.extra["query_category_pred"], ref.extra["gallery_category_pred"], 8)
    assert np.array_equal(out.indices, ridx)


def test_compose_rerank_of_a_route_fusion(project):
    from fashionbench.retrieval.compose import run_fusion, run_rerank
    from fashionbench.retrieval.rerank import top1_rerank_from_neighbours

    root, params, embs, routes = project
    base = run_fusion(params, "f")
    out = run_rerank(params, "f-rr", top_k=8)
    assert out.model == "f-rr" and out.indices.shape == base.indices.shape
    names = [n for n in embs]
    nbrs, nd = route_top1_neighbours([embs[n] for n in names], {**params["fusions"]["f"], "inputs": names}, base, 4)
    exp = top1_rerank_from_neighbours(base, nbrs, nd, 4)
    assert np.array_equal(out.indices, exp.indices)
    assert (out.indices[:, 0] == base.indices[:, 0]).all()  # the top-1 is kept
    with pytest.raises(ConfigError, match="reranks.f-bad.*single 'top1'"):
        run_rerank(params, "f-bad", top_k=8)


def test_block_merge_keeps_ties_by_gallery_index():
    """Equal fused distances across blocks: the lower gallery index first, as one full search."""
    from fashionbench.retrieval.routing import fused_topk

    g = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0]], np.float32)  # rows 0, 2, 4 tie for q = (1, 0)
    q = np.array([[1, 0]], np.float32)
    rows = np.arange(5)
    for block in (1, 2, 3, None):
        idx, d = fused_topk([q], [g], rows, 4, gallery_block=block)
        assert idx.tolist() == [[0, 2, 4, 1]], block
        np.testing.assert_allclose(d, [[0, 0, 0, 1]])
    idx, d = fused_topk([q], [g], np.array([1, 3]), 4, gallery_block=1)
    assert idx.tolist() == [[1, 3, -1, -1]] and np.isinf(d[0, 2:]).all()
