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

Rerank steps (``steps:`` list of ``{name: ..., **parameters}``), applied in order; feature steps
(``pca_whiten``, ``query_expansion``, ``dba``) transform embeddings, and the last step may be a
ranking step (``k_reciprocal``, ``top1``) that produces the final ranking; without one, the
ranking is a plain exact search.

DVC granularity: the stages depend on ``artifacts/embeddings/<group>/`` (and
``artifacts/fused/<group>/``), so a change to one method re-runs the fusions and reranks of its
group only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import config
from .artifacts import Embeddings, Ranking, fingerprint, load_embeddings, load_ranking, save_embeddings
from .errors import ConfigError, ContractError

FeatureFusion = Callable[[Sequence[Embeddings], Mapping[str, Any]], "Embeddings | Ranking"]
FUSIONS: dict[str, FeatureFusion] = {}
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
    from .postprocess import concat_features

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
                      fingerprint=fingerprint("concat", {"inputs": [e.fingerprint for e in embs], "weights": w}))


def fused_path(group: str, name: str, root: Path | None = None) -> Path:
    """Output of the fuse stage for row ``name``."""
    return (root or config.project_root()) / "artifacts" / "fused" / group / f"{name}.npz"


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
    from .stages import embeddings_path

    if name in (params.get("methods") or {}):
        return load_embeddings(embeddings_path(name, params=params))
    if name in (params.get("fusions") or {}):
        row = params["fusions"][name]
        path = fused_path(row["group"], name)
        with np.load(path, allow_pickle=False) as z:
            is_ranking = "indices" in z.files
        return load_ranking(path) if is_ranking else load_embeddings(path)
    raise ConfigError(f"input {name!r} is neither a method nor a fusion in params.yaml")


def run_fusion(params: Mapping[str, Any], name: str) -> Embeddings | Ranking:
    """Build fusion row ``name``; writes ``artifacts/fused/<group>/<name>.npz`` and returns it."""
    from .artifacts import save_ranking

    row = _row(params, "fusions", name)
    kind = row.get("kind", "concat")
    if kind not in FUSIONS:
        raise ConfigError(f"fusions.{name}.kind: unknown fusion {kind!r}; known: {sorted(FUSIONS)}")
    inputs = row.get("inputs") or []
    if len(inputs) < 1:
        raise ConfigError(f"fusions.{name}.inputs: list at least one method")
    for i in inputs:
        grp = (params.get("methods") or {}).get(i, {}).get("group")
        if grp != row["group"]:
            raise ConfigError(f"fusions.{name}: input {i!r} must be a method of group {row['group']!r} "
                              f"(its group: {grp!r}); the stage only depends on that group's embeddings")
    out = FUSIONS[kind]([load_output(params, i) for i in inputs], row)
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
    from .postprocess import apply_steps
    from .search import to_ranking

    row = _row(params, "reranks", name)
    src = load_output(params, row.get("input", ""))
    steps = list(row.get("steps") or [])
    for i, s in enumerate(steps):
        if not isinstance(s, Mapping) or "name" not in s:
            raise ConfigError(f"reranks.{name}.steps[{i}]: each step is a mapping with a 'name'")
        if s["name"] in RANKING_STEPS and i != len(steps) - 1:
            raise ConfigError(f"reranks.{name}.steps[{i}]: ranking step {s['name']!r} must be the last step")
    fp = fingerprint(name, {"input": getattr(src, "fingerprint", ""), "steps": steps, "top_k": top_k})
    if isinstance(src, Ranking):
        raise ConfigError(f"reranks.{name}: input {row.get('input')!r} is a ranking; rerank steps need embeddings")
    feature_steps = [s for s in steps if s["name"] not in RANKING_STEPS]
    last = steps[-1] if steps and steps[-1]["name"] in RANKING_STEPS else None
    q, g = apply_steps(src.query, src.gallery, feature_steps) if feature_steps else (src.query, src.gallery)
    emb = Embeddings(query=np.ascontiguousarray(q, np.float32), gallery=np.ascontiguousarray(g, np.float32),
                     query_ids=src.query_ids, gallery_ids=src.gallery_ids, query_labels=src.query_labels,
                     gallery_labels=src.gallery_labels, query_categories=src.query_categories,
                     gallery_categories=src.gallery_categories, model=name, fingerprint=fp)
    if last is None:
        return to_ranking(emb, top_k)
    kw = {k: v for k, v in last.items() if k != "name"}
    if last["name"] == "k_reciprocal":
        from .rerank import k_reciprocal
        idx, dist = k_reciprocal(emb.query, emb.gallery, top_k=min(top_k, len(emb.gallery)), **kw)
        return _ranking_from(emb, emb.query, emb.gallery, idx, dist, name, fp)
    from .rerank import top1_rerank_ranking
    base = to_ranking(emb, top_k)
    out = top1_rerank_ranking(base, emb.gallery, **{"metric": "cosine", **kw})
    out.model, out.fingerprint = name, fp
    return out
