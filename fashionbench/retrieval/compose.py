"""The fuse and rerank stages: new evaluated rows built from existing methods' outputs.

``fusions:`` rows (fuse stage) combine the embedding files of several methods of one ``group``
into one output; ``reranks:`` rows (rerank stage) apply post-processing and re-ranking steps, in
order, to one method's or fusion's output. Both kinds are evaluated exactly like a method (a
ranking file, per-query scores, a metrics file) and appear in every report under their name.

Fusion kinds (``kind:``), each a function registered in :data:`FUSIONS`:

- ``concat`` — L2-normalised features concatenated (optional ``weights``), then re-normalised.
  With equal weights the inner product of the result is the mean of the models' inner
  products, so ranking by it is exactly the mean-distance fusion of paper ``shang`` (eq. 4)
  and the feature concatenation of paper ``ji``.
- ``route`` — paper ``shang``: each query is routed to a category (a classifier method's
  predictions, or ``router: oracle``) and searched only against that category's gallery with
  that category's models, by the mean of their cosine distances (eq. 4). The row names
  ``routes: {category: [methods]}``, ``router`` and ``gallery_routing`` instead of ``inputs``;
  its output is a ranking (:mod:`fashionbench.retrieval.routing`).

Every fusion row also writes ``metrics/<row>.extra.json`` (flat numbers, :func:`run_fusion`'s
``stats``): ``n_inputs``, plus the kind's own numbers (``route``: the router's accuracy on
queries and gallery, per category, and the misrouted counts).

Rerank steps (``steps:`` list of ``{name: ..., **parameters}``), applied in order; feature steps
(``pca_whiten``, ``query_expansion``, ``dba``) transform embeddings, and the last step may be a
ranking step (``k_reciprocal``, ``top1``) that produces the final ranking; without one, the
ranking is a plain exact search. A fusion whose output is a ranking (``route``) accepts exactly
one step, ``top1``: the top-1's gallery neighbours are then searched with the fusion's own
distance (registered in :data:`TOP1_NEIGHBOURS`; for ``route``: within the query's routed
category, with that category's models, mean cosine distance).

DVC granularity: the stages depend on ``artifacts/embeddings/<group>/`` (and
``artifacts/fused/<group>/``), so a change to one method re-runs the fusions and reranks of its
group only.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from fashionbench.core import config
from fashionbench.core.artifacts import (
    Embeddings,
    Ranking,
    fingerprint,
    load_embeddings,
    load_ranking,
    save_embeddings,
)
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.paths import fused_path

FeatureFusion = Callable[[Sequence[Embeddings], Mapping[str, Any]], "Embeddings | Ranking"]
FUSIONS: dict[str, FeatureFusion] = {}
#: fusion kinds whose output is a ranking: kind -> (inputs, row, ranking, depth) -> per-query
#: neighbours [Q, M] and their distances of each query's top-1 under the fusion's own distance
TOP1_NEIGHBOURS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {}
#: kind -> (inputs, row) -> flat extra numbers for metrics/<row>.extra.json
FUSION_STATS: dict[str, Callable[[Sequence[Embeddings], Mapping[str, Any]], dict[str, float]]] = {}
FEATURE_STEPS = ("pca_whiten", "query_expansion", "dba")
RANKING_STEPS = ("k_reciprocal", "top1")


def register_fusion(name: str) -> Callable[[FeatureFusion], FeatureFusion]:
    """Decorator registering a fusion kind under ``name``."""
    def deco(fn: FeatureFusion) -> FeatureFusion:
        FUSIONS[name] = fn
        return fn
    return deco


def _check_aligned(embs: Sequence[Embeddings]) -> None:
    first = embs[0]
    for e in embs[1:]:
        for side in ("query", "gallery"):
            if not np.array_equal(getattr(first, f"{side}_ids"), getattr(e, f"{side}_ids")):
                raise ContractError(f"fusion: {e.model} and {first.model} have different {side} ids "
                                    "(or order): they were not embedded on the same split")


@register_fusion("concat")
def concat(embs: Sequence[Embeddings], row: Mapping[str, Any]) -> Embeddings:
    """Weighted concatenation of L2-normalised features (see the module docstring)."""
    from fashionbench.retrieval.postprocess import concat_features

    _check_aligned(embs)
    w = row.get("weights")
    if w is not None and len(w) != len(embs):
        raise ConfigError(f"fusion weights: {len(w)} weights for {len(embs)} inputs")
    q = concat_features([e.query for e in embs], w)
    g = concat_features([e.gallery for e in embs], w)
    first = embs[0]
    return Embeddings(query=q, gallery=g, query_ids=first.query_ids, gallery_ids=first.gallery_ids,
                      query_labels=first.query_labels, gallery_labels=first.gallery_labels,
                      query_categories=first.query_categories, gallery_categories=first.gallery_categories,
                      model="+".join(e.model for e in embs),
                      fingerprint=fingerprint("concat", {"inputs": [e.fingerprint for e in embs], "weights": w}),
                      extra=_concat_train(embs, w))


def _concat_train(embs: Sequence[Embeddings], weights: Sequence[float] | None) -> dict[str, np.ndarray]:
    """The inputs' train-split features (``extra_train``, see ``methods.<m>.embed_train``),
    concatenated like the query/gallery features, when every input has them for the same ids."""
    from fashionbench.retrieval.postprocess import concat_features

    if not all("train" in e.extra and "train_ids" in e.extra for e in embs):
        return {}
    ids = embs[0].extra["train_ids"]
    for e in embs[1:]:
        if not np.array_equal(e.extra["train_ids"], ids):
            raise ContractError(f"fusion: {e.model} and {embs[0].model} have different train ids (or order)")
    out = {"train": concat_features([e.extra["train"] for e in embs], weights), "train_ids": ids}
    if "train_labels" in embs[0].extra:
        out["train_labels"] = embs[0].extra["train_labels"]
    return out


@register_fusion("route")
def route(embs: Sequence[Embeddings], row: Mapping[str, Any]) -> Ranking:
    """Category-routed mean-distance fusion (paper ``shang``; :func:`fashionbench.retrieval.routing.route_fusion`)."""
    from fashionbench.retrieval.routing import route_fusion

    return route_fusion(embs, row)


def _route_neighbours(embs: Sequence[Embeddings], row: Mapping[str, Any], ranking: Ranking,
                      depth: int) -> tuple[np.ndarray, np.ndarray]:
    from fashionbench.retrieval.routing import route_top1_neighbours

    return route_top1_neighbours(embs, row, ranking, depth)


def _route_stats(embs: Sequence[Embeddings], row: Mapping[str, Any]) -> dict[str, float]:
    from fashionbench.retrieval.routing import route_stats

    return route_stats(embs, row)


TOP1_NEIGHBOURS["route"] = _route_neighbours
FUSION_STATS["route"] = _route_stats


def fusion_inputs(row: Mapping[str, Any], name: str) -> list[str]:
    """The methods fusion row ``name`` reads: ``inputs``, or for kind ``route`` the methods
    named by its ``routes`` and ``router`` (checked; ConfigError naming the row)."""
    if row.get("kind", "concat") == "route":
        from fashionbench.retrieval.routing import parse_route_row
        return parse_route_row(row, f"fusions.{name}").inputs()
    return list(row.get("inputs") or [])


def _row(params: Mapping[str, Any], section: str, name: str) -> dict[str, Any]:
    rows = params.get(section) or {}
    if name not in rows:
        raise ConfigError(f"{section}: unknown row {name!r}; defined: {sorted(rows)}")
    row = dict(rows[name])
    for key in ("group",):
        if key not in row:
            raise ConfigError(f"{section}.{name}: missing '{key}'")
    return row


def load_output(params: Mapping[str, Any], name: str) -> Embeddings | Ranking:
    """The output of method or fusion ``name`` (embedding file, or a fusion's ranking file)."""
    from fashionbench.core.paths import embeddings_path

    if name in (params.get("methods") or {}):
        return load_embeddings(embeddings_path(name, params=params))
    if name in (params.get("fusions") or {}):
        row = params["fusions"][name]
        path = fused_path(row["group"], name)
        with np.load(path, allow_pickle=False) as z:
            is_ranking = "indices" in z.files
        return load_ranking(path) if is_ranking else load_embeddings(path)
    raise ConfigError(f"input {name!r} is neither a method nor a fusion in params.yaml")


def run_fusion(params: Mapping[str, Any], name: str, stats: dict[str, float] | None = None
               ) -> Embeddings | Ranking:
    """Build fusion row ``name``; writes ``artifacts/fused/<group>/<name>.npz`` and returns it.

    A ``stats`` dict, when given, is filled with the row's extra numbers (``n_inputs`` and the
    kind's :data:`FUSION_STATS`). A kind that returns a ranking gets ``top_k`` (the profile's
    ``eval.top_k``, default 100) in its row unless the row sets it.
    """
    from fashionbench.core.artifacts import save_ranking

    row = _row(params, "fusions", name)
    kind = row.get("kind", "concat")
    if kind not in FUSIONS:
        raise ConfigError(f"fusions.{name}.kind: unknown fusion {kind!r}; known: {sorted(FUSIONS)}")
    inputs = fusion_inputs(row, name)
    if len(inputs) < 1:
        raise ConfigError(f"fusions.{name}.inputs: list at least one method")
    for i in inputs:
        grp = (params.get("methods") or {}).get(i, {}).get("group")
        if grp != row["group"]:
            raise ConfigError(f"fusions.{name}: input {i!r} must be a method of group {row['group']!r} "
                              f"(its group: {grp!r}); the stage only depends on that group's embeddings")
    embs = [load_output(params, i) for i in inputs]
    ctx = {**row, "inputs": inputs}
    if kind in TOP1_NEIGHBOURS:
        ctx.setdefault("top_k", int(config.profile_settings(params).get("eval", {}).get("top_k", 100)))
    out = FUSIONS[kind](embs, ctx)
    if stats is not None:
        stats.update({"n_inputs": len(inputs), **(FUSION_STATS[kind](embs, ctx) if kind in FUSION_STATS else {})})
    out.model = name
    path = fused_path(row["group"], name)
    if isinstance(out, Ranking):
        save_ranking(path, out)
    else:
        save_embeddings(path, out)
    return out


def _ranking_from(emb: Embeddings, query: np.ndarray, gallery: np.ndarray, idx: np.ndarray,
                  dist: np.ndarray, name: str, fp: str) -> Ranking:
    return Ranking(indices=idx.astype(np.int64), distances=dist.astype(np.float32), query_ids=emb.query_ids,
                   gallery_ids=emb.gallery_ids, query_labels=emb.query_labels, gallery_labels=emb.gallery_labels,
                   query_categories=emb.query_categories, gallery_categories=emb.gallery_categories,
                   model=name, fingerprint=fp)


def run_rerank(params: Mapping[str, Any], name: str, top_k: int) -> Ranking:
    """Apply rerank row ``name``'s steps to its input; returns the final ranking."""
    row = _row(params, "reranks", name)
    src = load_output(params, row.get("input", ""))
    if isinstance(src, Ranking):
        return _rerank_fused_ranking(params, name, row, src)
    return rank_with_steps(src, list(row.get("steps") or []), top_k, name, where=f"reranks.{name}")


def _rerank_fused_ranking(params: Mapping[str, Any], name: str, row: Mapping[str, Any], src: Ranking) -> Ranking:
    """The ``top1`` step on a fusion whose output is a ranking (module docstring).

    The top-1's neighbours come from the fusion kind's :data:`TOP1_NEIGHBOURS` (the same
    distance that made the ranking); then :func:`fashionbench.retrieval.rerank.top1_rerank_from_neighbours`
    (rank 1 kept; ranks 2..depth = the neighbours, skipping the top-1, padding and repeats; then
    the rest of the query's list without the placed items, in order, cut to its length K).
    """
    from fashionbench.retrieval.rerank import top1_rerank_from_neighbours

    where = f"reranks.{name}"
    steps = check_steps(list(row.get("steps") or []), where)
    fusion = row.get("input")
    frow = (params.get("fusions") or {}).get(fusion) or {}
    kind = frow.get("kind", "concat")
    if len(steps) != 1 or steps[0]["name"] != "top1" or kind not in TOP1_NEIGHBOURS:
        raise ConfigError(f"{where}: input {fusion!r} is a ranking (fusion kind {kind!r}); the only step such an "
                          f"input takes is a single 'top1' (for kinds {sorted(TOP1_NEIGHBOURS)}), got "
                          f"{[s['name'] for s in steps]}")
    if steps[0].get("metric") not in (None, "fused"):
        raise ConfigError(f"{where}.steps[0].metric: a ranking input's top1 uses the fusion's own distance; "
                          f"leave 'metric' out (got {steps[0]['metric']!r})")
    depth = steps[0].get("depth", 10)
    inputs = fusion_inputs(frow, fusion)
    embs = [load_output(params, i) for i in inputs]
    nbrs, nbr_d = TOP1_NEIGHBOURS[kind](embs, {**frow, "inputs": inputs}, src, depth)
    out = top1_rerank_from_neighbours(src, nbrs, nbr_d, depth)
    out.model = name
    out.fingerprint = fingerprint(name, {"input": src.fingerprint, "steps": steps, "fusion": dict(frow)})
    return out


#: parameters a ranking step accepts (checked before the call, so a typo is a ConfigError)
RANKING_STEP_KEYS: dict[str, tuple[str, ...]] = {
    "k_reciprocal": ("k1", "k2", "lambda_value"),
    "top1": ("depth", "metric"),
}


def check_steps(steps: Sequence[Any], where: str) -> list[Mapping[str, Any]]:
    """Validate a step list's shape: mappings with a known ``name``; a ranking step only last."""
    from fashionbench.retrieval.postprocess import STEPS

    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Sequence):
        raise ConfigError(f"{where}.steps: expected a list of steps, got {type(steps).__name__}")
    for i, s in enumerate(steps):
        if not isinstance(s, Mapping) or "name" not in s:
            raise ConfigError(f"{where}.steps[{i}]: each step is a mapping with a 'name'")
        if s["name"] not in STEPS and s["name"] not in RANKING_STEPS:
            raise ConfigError(f"{where}.steps[{i}]: unknown step {s['name']!r}; valid: "
                              f"{sorted(STEPS) + list(RANKING_STEPS)}")
        if s["name"] in RANKING_STEPS:
            if i != len(steps) - 1:
                raise ConfigError(f"{where}.steps[{i}]: ranking step {s['name']!r} must be the last step")
            unknown = sorted(set(s) - {"name"} - set(RANKING_STEP_KEYS[s["name"]]))
            if unknown:
                raise ConfigError(f"{where}.steps[{i}] ({s['name']}): unknown parameter(s) {unknown}; "
                                  f"valid: {list(RANKING_STEP_KEYS[s['name']])}")
    return list(steps)


def rank_with_steps(src: Embeddings, steps: Sequence[Mapping[str, Any]], top_k: int, name: str,
                    where: str = "steps") -> Ranking:
    """Apply post-processing ``steps`` (see the module docstring) to ``src``; return the ranking.

    Feature steps run in order through :func:`fashionbench.retrieval.postprocess.apply_steps` (with the
    file's train-split features, ``extra_train``, when it has them: ``pca_whiten`` ``fit_on:
    train``); a final ranking step (``k_reciprocal``, ``top1``) produces the ranking, else it is
    a plain exact search. ``name`` becomes the ranking's model name; ``where`` names the
    params.yaml entry in errors. Memory: that of the steps (none builds a Q x G matrix).
    """
    from fashionbench.retrieval.search import to_ranking

    from fashionbench.retrieval.postprocess import apply_steps

    steps = check_steps(steps, where)
    fp = fingerprint(name, {"input": getattr(src, "fingerprint", ""), "steps": list(steps), "top_k": top_k})
    feature_steps = [s for s in steps if s["name"] not in RANKING_STEPS]
    last = steps[-1] if steps and steps[-1]["name"] in RANKING_STEPS else None
    train = src.extra.get("train")
    if any(s["name"] == "pca_whiten" and s.get("fit_on") == "train" for s in feature_steps) and train is None:
        raise ConfigError(f"{where}: step pca_whiten has fit_on: train, but the embedding file of "
                          f"{src.model!r} holds no train features: set 'embed_train: true' on its "
                          "method row(s), or use fit_on: gallery")
    try:
        q, g = (apply_steps(src.query, src.gallery, feature_steps, train=train) if feature_steps
                else (src.query, src.gallery))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    emb = Embeddings(query=np.ascontiguousarray(q, np.float32), gallery=np.ascontiguousarray(g, np.float32),
                     query_ids=src.query_ids, gallery_ids=src.gallery_ids, query_labels=src.query_labels,
                     gallery_labels=src.gallery_labels, query_categories=src.query_categories,
                     gallery_categories=src.gallery_categories, model=name, fingerprint=fp)
    if last is None:
        return to_ranking(emb, top_k)
    kw = {k: v for k, v in last.items() if k != "name"}
    if last["name"] == "k_reciprocal":
        from fashionbench.retrieval.rerank import k_reciprocal
        try:
            idx, dist = k_reciprocal(emb.query, emb.gallery, top_k=min(top_k, len(emb.gallery)), **kw)
        except ConfigError as exc:
            raise ConfigError(f"{where}: step k_reciprocal: {exc}") from exc
        return _ranking_from(emb, emb.query, emb.gallery, idx, dist, name, fp)
    from fashionbench.retrieval.rerank import top1_rerank_ranking
    base = to_ranking(emb, top_k)
    out = top1_rerank_ranking(base, emb.gallery, **{"metric": "cosine", **kw})
    out.model, out.fingerprint = name, fp
    return out
