"""Stages ``evaluate@<method>``, ``fuse@<row>`` and ``rerank@<row>``: search, score and save a row."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from fashionbench.core import config
from fashionbench.core.artifacts import (
    Ranking,
    load_embeddings,
    save_metrics,
    save_ranking,
)
from fashionbench.core.atomic import atomic_path
from fashionbench.core.paths import (
    embeddings_path,
    metrics_path,
    per_query_path,
    protocol_metrics_path,
    ranking_path,
)
from fashionbench.data.prepared import load_card, load_dataset


def _protocol(params: Mapping[str, Any]) -> tuple[pd.DataFrame, Path, Any]:
    """(prepared manifest, images root, the dataset's RetrievalProtocol from its card)."""
    from fashionbench.retrieval.protocols.retrieval import protocol_from_card

    manifest, images_root = load_dataset(params)
    return manifest, images_root, protocol_from_card(load_card())


def score_ranking(params: Mapping[str, Any], name: str, ranking: "Ranking",
                  extra: Mapping[str, float] | None = None) -> dict[str, float]:
    """Save ``ranking`` as row ``name``'s ranking file, with its per-query scores and metrics
    (plus ``extra`` entries, e.g. an approximate index's measured recall).

    The dataset's protocol (:mod:`fashionbench.retrieval.protocols.retrieval`) is applied first: a
    ranking that crosses the gallery scope is restricted to it; the per-category scores (and,
    for DeepFashion2, the official score) go to :func:`protocol_metrics_path`.
    """
    from fashionbench.retrieval.metrics import evaluate_ranking_detailed
    from fashionbench.retrieval.protocols.retrieval import apply_scope, protocol_scores

    ev = config.profile_settings(params).get("eval", {})
    manifest, images_root, proto = _protocol(params)
    ranking = apply_scope(ranking, manifest, proto)
    save_ranking(ranking_path(name), ranking)
    metrics, per_query = evaluate_ranking_detailed(ranking, ks=tuple(ev.get("ks", (1, 5, 10, 20, 30, 40, 50))),
                                                   gallery_sizes=_scope_sizes(ranking, manifest, proto))
    metrics = {**metrics, **(extra or {})}
    with atomic_path(per_query_path(name)) as tmp:
        per_query.to_csv(tmp, index=False)
    save_metrics(metrics_path(name), metrics)
    # the crops matter only to DeepFashion2's official score (its query/gallery boxes)
    qcrop, gcrop = config.crop_settings(params, name) if proto.official else ("given", "given")
    save_metrics(protocol_metrics_path(name), protocol_scores(ranking, per_query, manifest, proto, images_root,
                                                              qcrop, gcrop))
    return metrics


def _scope_sizes(ranking: "Ranking", manifest: pd.DataFrame, proto: Any) -> Any:
    """Gallery size of each query's scope (None: the whole gallery), for the chance levels."""
    if proto.gallery_scope is None:
        return None
    from fashionbench.retrieval.protocols.retrieval import column_of

    qg = pd.Series(column_of(manifest, ranking.query_ids, proto.gallery_scope, "prepared manifest")).astype(str)
    gg = pd.Series(column_of(manifest, ranking.gallery_ids, proto.gallery_scope, "prepared manifest")).astype(str)
    return qg.map(gg.value_counts()).fillna(0).to_numpy(int)


def evaluate(params: Mapping[str, Any], method: str) -> dict[str, float]:
    """Search ``method``'s embedding file (within the protocol's gallery scope), then score and
    save (see :func:`score_ranking`). Exact unless ``eval.index`` names an approximate index;
    then its recall@k against exact search is measured and written with the metrics."""
    from fashionbench.retrieval.search import index_metrics, index_spec

    from fashionbench.retrieval.protocols.retrieval import rank_embeddings

    ev = config.profile_settings(params).get("eval", {})
    emb = load_embeddings(embeddings_path(method, params=params))
    manifest, _, proto = _protocol(params)
    spec = index_spec(ev.get("index"), f"profiles.{params['profile']}.eval.index")
    ranking = rank_embeddings(emb, int(ev.get("top_k", 100)), manifest, proto, index=spec)
    return score_ranking(params, method, ranking, extra=index_metrics(emb.query, emb.gallery, ranking.indices, spec))


def fuse(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Build fusion row ``name`` and score it; its extra numbers go to ``metrics/<name>.extra.json``
    (:func:`fashionbench.retrieval.compose.run_fusion`'s ``stats``: ``n_inputs``, routing accuracy, ...)."""
    from fashionbench.core.paths import extra_metrics_path
    from fashionbench.retrieval.compose import run_fusion
    from fashionbench.retrieval.protocols.retrieval import rank_embeddings

    ev = config.profile_settings(params).get("eval", {})
    stats: dict[str, float] = {}
    out = run_fusion(params, name, stats=stats)
    save_metrics(extra_metrics_path(name), stats)
    manifest, _, proto = _protocol(params)
    from fashionbench.retrieval.search import index_metrics, index_spec
    spec = index_spec(ev.get("index"), f"profiles.{params['profile']}.eval.index")
    ranking = out if isinstance(out, Ranking) else rank_embeddings(out, int(ev.get("top_k", 100)), manifest, proto,
                                                                    index=spec)
    ranking.model = name
    extra = {} if isinstance(out, Ranking) else index_metrics(out.query, out.gallery, ranking.indices, spec)
    return score_ranking(params, name, ranking, extra=extra)


def rerank(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Apply rerank row ``name``'s steps and score the result."""
    from fashionbench.retrieval.compose import run_rerank

    ev = config.profile_settings(params).get("eval", {})
    return score_ranking(params, name, run_rerank(params, name, int(ev.get("top_k", 100))))
