"""Category-routed multi-model distance fusion and its top-1 re-rank (paper ``shang``, section III).

A ``route`` fusion row (``fusions:`` in params.yaml, kind ``route``; registered in
:mod:`fashionbench.retrieval.compose`) describes shang's search:

.. code-block:: yaml

    shang-fusion:
      group: shang
      kind: route
      routes:                       # category -> the models that search it (one per final-layer size)
        clothes: [shang-clothes-512, shang-clothes-1024, shang-clothes-2048, shang-clothes-4096]
        shoes:   [shang-shoes-512, ...]
        bags:    [shang-bags-512, ...]
      router: shang-classifier      # a method whose embedding file holds category predictions, or oracle
      gallery_routing: router       # router (default): gallery images are classified too (sec. III.A);
                                    # labels: the gallery's own category labels

1. **Routing.** Every query goes to one category: the router's prediction
   (``extra_query_category_pred`` in its embedding file, written by the embed step when the
   model outputs ``category_logits``) or, with ``router: oracle``, its true category. Every
   gallery image is assigned a category the same way (``gallery_routing: router``: the
   router's ``extra_gallery_category_pred``; ``labels`` or an oracle row: the gallery's own
   category). A query is searched only against the gallery images of its category: gallery
   images of other categories are never listed, so a query routed to the wrong category (or
   whose item's shop images were routed elsewhere) cannot find its item.
2. **Distance fusion (eq. 4).** Within category ``c`` with models ``m = 1..M``
   (``routes[c]``), the distance is the mean of the models' cosine distances,
   ``d(q, g) = 1/M * sum_m (1 - q_m . g_m)`` (L2-normalised features, checked), computed by
   :func:`fashionbench.retrieval.fusion.fuse_search` in query chunks (no query x gallery matrix). Ties
   are ordered by ascending gallery index; a category with fewer than ``k`` gallery images
   gives lists padded with index -1 / distance inf.
3. **Top-1 re-rank** (:func:`route_top1_neighbours` +
   :func:`fashionbench.retrieval.rerank.top1_rerank_from_neighbours`, the ``top1`` step of a ``reranks:``
   row whose input is a route fusion): the neighbours of a query's top-1 gallery image ``t``
   are searched with the **same routed, fused distance** — among the gallery images of the
   query's category, with that category's models, ``d(t, n) = 1/M * sum_m (1 - t_m . n_m)``.

Memory: a category's gallery is searched in blocks of ``gallery_block`` rows (default: ~64 MB
of gathered features of its models), each block with ``fuse_search`` (query chunks, ~64 MB
working set), and the per-block top-k lists are merged by (distance, gallery index) — the same
order as one search of the whole category, so the result does not depend on the block size.
Neither a query x gallery matrix nor a copy of a category's whole gallery is held; see
``benchmarks/shang_fusion_memory.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from fashionbench.core.artifacts import Embeddings, Ranking, fingerprint
from fashionbench.core.errors import ConfigError, ContractError

ORACLE = "oracle"
_BLOCK_BYTES = 64 << 20  # gathered gallery features per block (all models of a category)
GALLERY_ROUTINGS = ("router", "labels")
_ROW_KEYS = {"group", "kind", "routes", "router", "gallery_routing", "inputs", "description", "top_k"}


@dataclass(frozen=True)
class RouteSpec:
    """A parsed ``route`` fusion row (see the module docstring)."""

    routes: dict[str, tuple[str, ...]]
    router: str
    gallery_routing: str = "router"

    @property
    def oracle(self) -> bool:
        """True when queries (and gallery images) are routed by their true category."""
        return self.router == ORACLE

    def inputs(self) -> list[str]:
        """Every method the row reads, each once: the routes' models in order, then the router."""
        out: list[str] = []
        for models in self.routes.values():
            out += [m for m in models if m not in out]
        if not self.oracle and self.router not in out:
            out.append(self.router)
        return out


def parse_route_row(row: Mapping[str, Any], where: str = "fusions.<row>") -> RouteSpec:
    """Check a ``route`` row (errors name ``where`` and the key) and return its :class:`RouteSpec`.

    If the row also lists ``inputs``, they must be exactly the methods it reads
    (:meth:`RouteSpec.inputs`, any order).
    """
    unknown = sorted(set(row) - _ROW_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for kind 'route'; valid: {sorted(_ROW_KEYS)}")
    routes = row.get("routes")
    if not isinstance(routes, Mapping) or not routes:
        raise ConfigError(f"{where}.routes: expected a mapping category -> list of methods, got {routes!r}")
    parsed: dict[str, tuple[str, ...]] = {}
    for cat, models in routes.items():
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, Sequence) or not models or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{where}.routes.{cat}: expected a non-empty list of method names, got {models!r}")
        if len(set(models)) != len(models):
            raise ConfigError(f"{where}.routes.{cat}: a method is listed twice: {list(models)}")
        parsed[str(cat)] = tuple(models)
    router = row.get("router", ORACLE)
    if not isinstance(router, str) or not router:
        raise ConfigError(f"{where}.router: expected a method name or 'oracle', got {router!r}")
    gr = row.get("gallery_routing", "router")
    if gr not in GALLERY_ROUTINGS:
        raise ConfigError(f"{where}.gallery_routing: expected one of {list(GALLERY_ROUTINGS)}, got {gr!r}")
    spec = RouteSpec(parsed, router, "labels" if router == ORACLE else gr)
    listed = row.get("inputs")
    if listed is not None and sorted(listed) != sorted(spec.inputs()):
        raise ConfigError(f"{where}.inputs: {sorted(listed)} differ from the methods named by routes/router "
                          f"{sorted(spec.inputs())} (leave 'inputs' out for kind 'route')")
    return spec


def _by_name(embs: Sequence[Embeddings], names: Sequence[str]) -> dict[str, Embeddings]:
    if len(embs) != len(names):
        raise ContractError(f"route fusion: {len(embs)} embedding files for {len(names)} inputs {list(names)}")
    out = dict(zip(names, embs))
    ref_name, ref = names[0], embs[0]
    for name, e in out.items():
        for key in ("query_ids", "gallery_ids", "query_labels", "gallery_labels",
                    "query_categories", "gallery_categories"):
            a, b = getattr(ref, key), getattr(e, key)
            if len(a) != len(b) or not np.array_equal(a, b):
                raise ContractError(f"route fusion: the embedding file of {name!r} has other {key} (or order) "
                                    f"than that of {ref_name!r}: they were not embedded on the same split")
    return out


def assignments(embs: Mapping[str, Embeddings], spec: RouteSpec) -> tuple[np.ndarray, np.ndarray]:
    """(query categories [Q], gallery categories [G]) as routed by ``spec`` (strings)."""
    ref = next(iter(embs.values()))
    if spec.oracle:
        return ref.query_categories.astype(str), ref.gallery_categories.astype(str)
    if spec.router not in embs:
        raise ContractError(f"route fusion: router {spec.router!r} is not among the loaded inputs")
    extra = embs[spec.router].extra
    need = ["query_category_pred"] + (["gallery_category_pred"] if spec.gallery_routing == "router" else [])
    missing = [k for k in need if k not in extra]
    if missing:
        raise ContractError(f"route fusion: the embedding file of router {spec.router!r} has no "
                            f"{['extra_' + k for k in missing]}: the router must be a model with category "
                            "logits (model arch 'classifier'), embedded by the embed stage")
    q = np.asarray(extra["query_category_pred"]).astype(str)
    g = (np.asarray(extra["gallery_category_pred"]).astype(str) if spec.gallery_routing == "router"
         else ref.gallery_categories.astype(str))
    if len(q) != len(ref.query_ids) or len(g) != len(ref.gallery_ids):
        raise ContractError(f"route fusion: router {spec.router!r} predictions do not match the query/gallery sizes")
    return q, g


def _check_categories(q_route: np.ndarray, spec: RouteSpec) -> None:
    unknown = sorted(set(np.unique(q_route)) - set(spec.routes))
    if unknown:
        raise ConfigError(f"route fusion: queries are routed to categor(ies) {unknown} that have no models in "
                          f"'routes' (defined: {sorted(spec.routes)})")


def _merge(idx_a: np.ndarray, d_a: np.ndarray, idx_b: np.ndarray, d_b: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of two ranked lists per row, by (distance, gallery index); -1/inf pads last."""
    idx = np.concatenate([idx_a, idx_b], axis=1)
    d = np.concatenate([d_a, d_b], axis=1)
    key = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key, d), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(d, order, axis=1)


def fused_topk(queries: Sequence[np.ndarray], galleries: Sequence[np.ndarray], rows: np.ndarray, k: int, *,
               gallery_block: int | None = None, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``galleries[m][rows]`` for each query by the mean of the models' cosine distances.

    ``queries[m]`` [n, D_m] and ``galleries[m]`` [G, D_m] are model m's L2-normalised features;
    ``rows`` (sorted gallery indices) is the searched subset. The subset is searched in blocks of
    ``gallery_block`` rows (default: ~64 MB of gathered features) with
    :func:`fashionbench.retrieval.fusion.fuse_search`, and the block lists are merged by (distance, index).
    Returns ``(indices into the full gallery int64 [n, k], distances float32 [n, k])``, ascending,
    ties by gallery index, padded with -1 / inf when ``rows`` has fewer than ``k`` entries.
    """
    from fashionbench.retrieval.fusion import fuse_search

    n = len(queries[0])
    best_i = np.full((n, k), -1, np.int64)
    best_d = np.full((n, k), np.inf, np.float32)
    if len(rows) == 0 or n == 0:
        return best_i, best_d
    dims = sum(g.shape[1] for g in galleries)
    block = int(gallery_block) if gallery_block else max(1024, _BLOCK_BYTES // (4 * dims))
    for start in range(0, len(rows), block):
        sub = rows[start:start + block]
        idx, dist = fuse_search(queries, [g[sub] for g in galleries], min(k, len(sub)), chunk_size=chunk_size)
        best_i, best_d = _merge(best_i, best_d, np.where(idx >= 0, sub[np.maximum(idx, 0)], -1), dist, k)
    return best_i, best_d


def route_search(embs: Mapping[str, Embeddings], spec: RouteSpec, k: int, *, chunk_size: int | None = None,
                 gallery_block: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Routed, fused top-``k`` of every query (module docstring, steps 1-2).

    Returns ``(indices int64 [Q, k], distances float32 [Q, k], query routes [Q] str)``; indices
    point into the full gallery order of the embedding files.
    """
    from fashionbench.core.validate import check_positive_int

    k = check_positive_int(k, "top_k")
    q_route, g_route = assignments(embs, spec)
    _check_categories(q_route, spec)
    ref = next(iter(embs.values()))
    n_q = len(ref.query_ids)
    indices = np.full((n_q, k), -1, np.int64)
    distances = np.full((n_q, k), np.inf, np.float32)
    for cat, models in spec.routes.items():
        qi = np.flatnonzero(q_route == cat)
        gi = np.flatnonzero(g_route == cat)
        if len(qi) == 0 or len(gi) == 0:
            continue
        indices[qi], distances[qi] = fused_topk([embs[m].query[qi] for m in models],
                                                [embs[m].gallery for m in models], gi, k,
                                                gallery_block=gallery_block, chunk_size=chunk_size)
    return indices, distances, q_route


def route_fusion(embs: Sequence[Embeddings], row: Mapping[str, Any], *, where: str = "fusions.<row>") -> Ranking:
    """The ``route`` fusion kind: a :class:`Ranking` of every query (module docstring).

    ``row["inputs"]`` names ``embs`` in order (set by :func:`fashionbench.retrieval.compose.run_fusion`),
    ``row["top_k"]`` is the list length.
    """
    spec = parse_route_row({k: v for k, v in row.items() if k != "inputs"}, where)
    names = list(row.get("inputs") or spec.inputs())
    by_name = _by_name(embs, names)
    k = row.get("top_k", 100)
    idx, dist, _ = route_search(by_name, spec, k)
    ref = by_name[names[0]]
    fp = fingerprint("route", {"inputs": {n: by_name[n].fingerprint for n in spec.inputs()},
                               "routes": {c: list(m) for c, m in spec.routes.items()}, "router": spec.router,
                               "gallery_routing": spec.gallery_routing, "top_k": int(k)})
    return Ranking(indices=idx, distances=dist, query_ids=ref.query_ids, gallery_ids=ref.gallery_ids,
                   query_labels=ref.query_labels, gallery_labels=ref.gallery_labels,
                   query_categories=ref.query_categories, gallery_categories=ref.gallery_categories,
                   model="route(" + ",".join(spec.inputs()) + ")", fingerprint=fp).validate("<route fusion>")


def route_top1_neighbours(embs: Sequence[Embeddings], row: Mapping[str, Any], ranking: Ranking, depth: int, *,
                          chunk_size: int | None = None, gallery_block: int | None = None,
                          where: str = "fusions.<row>") -> tuple[np.ndarray, np.ndarray]:
    """Neighbours of each query's top-1 under the route's own fused distance (module docstring, 3).

    For query ``q`` routed to category ``c`` with top-1 ``t = ranking.indices[q, 0]``: the
    ``min(depth, G_c)`` gallery images of category ``c`` nearest to ``t`` by
    ``1/M * sum_m (1 - t_m . n_m)`` over ``routes[c]`` (``t`` itself included, normally first),
    ascending, ties by gallery index. Returns ``(neighbours int64 [Q, depth], distances float64
    [Q, depth])``, padded with -1 / inf; rows whose top-1 is -1 are all padding. Each distinct
    (category, top-1) pair is searched once. ``t`` must be a gallery image of ``c`` (true for a
    ranking made by the same route), else :class:`ContractError`.
    """
    from fashionbench.core.validate import check_positive_int

    depth = check_positive_int(depth, "depth")
    spec = parse_route_row({k: v for k, v in row.items() if k != "inputs"}, where)
    names = list(row.get("inputs") or spec.inputs())
    by_name = _by_name(embs, names)
    q_route, g_route = assignments(by_name, spec)
    _check_categories(q_route, spec)
    ref = by_name[names[0]]
    if len(ranking.query_ids) != len(ref.query_ids) or not np.array_equal(ranking.query_ids, ref.query_ids) \
            or not np.array_equal(ranking.gallery_ids, ref.gallery_ids):
        raise ContractError("route re-rank: the ranking's query/gallery ids differ from the route's embedding files")
    top1 = np.asarray(ranking.indices)[:, 0]
    n_q = len(top1)
    nbrs = np.full((n_q, depth), -1, np.int64)
    nbr_d = np.full((n_q, depth), np.inf, np.float64)
    for cat, models in spec.routes.items():
        qi = np.flatnonzero((q_route == cat) & (top1 >= 0))
        if len(qi) == 0:
            continue
        gi = np.flatnonzero(g_route == cat)
        t = np.unique(top1[qi])
        outside = ~np.isin(t, gi)
        if outside.any():
            raise ContractError(f"route re-rank: gallery row {int(t[outside][0])} is the top-1 of a query routed to "
                                f"{cat!r} but is not a gallery image of {cat!r}: the ranking was not made by this route")
        idx, dist = fused_topk([by_name[m].gallery[t] for m in models], [by_name[m].gallery for m in models],
                               gi, depth, gallery_block=gallery_block, chunk_size=chunk_size)
        at = np.searchsorted(t, top1[qi])
        nbrs[qi] = idx[at]
        nbr_d[qi] = dist[at]
    return nbrs, nbr_d


def route_stats(embs: Sequence[Embeddings], row: Mapping[str, Any], *, where: str = "fusions.<row>"
                ) -> dict[str, float]:
    """Flat routing numbers of a route row (for ``metrics/<row>.extra.json``).

    ``router_query_accuracy`` / ``router_gallery_accuracy``: share of queries / gallery images
    routed to their true category (1.0 for an oracle row); per category ``c`` (true category):
    ``router_query_accuracy/<c>``, ``n_queries/<c>``, ``n_queries_routed_to/<c>``;
    ``n_queries_misrouted``, ``n_gallery_misrouted``; ``oracle`` (1 or 0); ``n_models`` (per
    category, the largest); the query confusion counts ``query_confusion/<true>/<routed>``. A
    category with no queries has only its counts.
    """
    spec = parse_route_row({k: v for k, v in row.items() if k != "inputs"}, where)
    names = list(row.get("inputs") or spec.inputs())
    by_name = _by_name(embs, names)
    q_route, g_route = assignments(by_name, spec)
    ref = by_name[names[0]]
    q_true, g_true = ref.query_categories.astype(str), ref.gallery_categories.astype(str)
    out: dict[str, float] = {
        "oracle": int(spec.oracle),
        "n_models": int(max(len(m) for m in spec.routes.values())),
        "router_query_accuracy": float(np.mean(q_route == q_true)) if len(q_true) else 0.0,
        "router_gallery_accuracy": float(np.mean(g_route == g_true)) if len(g_true) else 0.0,
        "n_queries_misrouted": int(np.sum(q_route != q_true)),
        "n_gallery_misrouted": int(np.sum(g_route != g_true)),
    }
    for cat in sorted(set(q_true) | set(spec.routes)):
        sel = q_true == cat
        out[f"n_queries/{cat}"] = int(sel.sum())
        out[f"n_queries_routed_to/{cat}"] = int(np.sum(q_route == cat))
        if sel.any():
            out[f"router_query_accuracy/{cat}"] = float(np.mean(q_route[sel] == cat))
    for true in sorted(set(q_true)):
        for routed in sorted(set(q_true) | set(spec.routes)):
            out[f"query_confusion/{true}/{routed}"] = int(np.sum((q_true == true) & (q_route == routed)))
    return out
