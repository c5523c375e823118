"""Each dataset's retrieval protocol: which gallery a query is ranked against, and the breakdown.

The manifest already encodes *who* is a query and *who* is in the gallery (the readers apply
each dataset's official split rule, see :mod:`fashionbench.data.datasets`), and a hit is always
"same ``item_id``". Two things remain that differ between the papers' protocols, and they are
described here per dataset name (:data:`PROTOCOLS`):

``gallery_scope``
    ``None``: every query is ranked against the whole gallery (In-Shop, Consumer-to-Shop,
    DeepFashion2, fmnist-c2s). A manifest column name (Street2Shop: ``subcategory``): a query
    is ranked only against the gallery rows with the same value of that column ("the gallery
    is the same category's shop photos", Kiapour et al. 2015). The evaluate and fuse stages
    search each group exactly (:func:`scoped_ranking`); a ranking produced elsewhere (the
    rerank stage) is filtered to the query's group (:func:`restrict_ranking`), which is exact
    for every ``k`` up to the number of same-group entries left in its top-``K`` list.
``category_column``
    the manifest column whose values the per-category scores are grouped by
    (:func:`per_category_scores`): Street2Shop reports top-k accuracy per category; every other
    dataset gets the same breakdown (super-category for fmnist-c2s and generic manifests, the
    fine category for the DeepFashion sets).

Per-category scores go to ``metrics/protocol/<row>.json`` (flat, numeric, ``dvc metrics
show`` reads it) under keys ``<metric>/<category>``: ``top10/dresses``, ``mAP/dresses``,
``mAP@10/dresses``, ``n_queries/dresses``, ``n_without_match/dresses`` (category values with
characters outside ``[A-Za-z0-9_.-]`` have them replaced by ``_``: ``WOMEN/Dresses`` ->
``WOMEN_Dresses``). A category whose queries all lack a gallery match has only the two counts.
For DeepFashion2 the same file also holds the official Track-2 score under ``official/...``
(:func:`fashionbench.retrieval.protocols.deepfashion2.score_ranking`).

A generic manifest (``dataset.name: manifest``) may set both fields with
``dataset.protocol: {gallery_scope: category, category_column: subcategory}`` in params.yaml
(JD-style data evaluated per category, as ``chen`` and ``shang`` do).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.core.artifacts import Embeddings, Ranking
from fashionbench.core.errors import ConfigError, ContractError


@dataclass(frozen=True)
class RetrievalProtocol:
    """How a dataset's queries are scored (see the module docstring)."""

    dataset: str
    queries: str
    gallery: str
    hit: str
    gallery_scope: str | None = None
    category_column: str = "category"
    official: str | None = None
    reference: str = ""

    def card(self) -> dict[str, Any]:
        """The protocol as a JSON-able dict (stored in the dataset card)."""
        return dataclasses.asdict(self)


PROTOCOLS: dict[str, RetrievalProtocol] = {
    "fmnist-c2s": RetrievalProtocol(
        "fmnist-c2s", "test consumer photos", "the test items' shop images plus distractor items",
        "same item_id", None, "category", None, "README: The embedded dataset"),
    "inshop": RetrievalProtocol(
        "inshop", "'query' images of Eval/list_eval_partition.txt", "'gallery' images of the same file",
        "same item_id", None, "subcategory", None,
        "DeepFashion (CVPR 2016); Proxy-Anchor evaluate_cos_Inshop"),
    "consumer2shop": RetrievalProtocol(
        "consumer2shop", "consumer images of 'test' pairs", "shop images of 'val' and 'test' pairs",
        "same item_id", None, "subcategory", None,
        "official note 'the gallery set here are all the shop images in val + test'; centroids-reid"),
    "deepfashion2": RetrievalProtocol(
        "deepfashion2", "validation user items with style > 0 (one per ground-truth box)",
        "validation shop items", "same pair_id and style (item_id); official score: detections, IoU >= 0.5",
        None, "subcategory", "deepfashion2",
        "DeepFashion2 Challenge 2019 Track 2, deepfashion2_retrieval_test.py"),
    "street2shop": RetrievalProtocol(
        "street2shop", "test street photos cropped to their box (test_pairs_<cat>.json)",
        "the same category's downloaded shop photos (retrieval_<cat>.json)", "same product",
        "subcategory", "subcategory", None, "Kiapour et al., ICCV 2015; fk-visual-search compute_recall.py"),
    "manifest": RetrievalProtocol(
        "manifest", "'query' rows", "'gallery' rows", "same item_id", None, "category", None,
        "generic manifest (e.g. JD AI Fashion 2018): set dataset.protocol to change"),
}
#: keys of ``dataset.protocol`` a params file may set
OVERRIDABLE: tuple[str, ...] = ("gallery_scope", "category_column")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def resolve_protocol(name: str, overrides: Mapping[str, Any] | None = None) -> RetrievalProtocol:
    """The protocol of dataset ``name`` with ``dataset.protocol`` ``overrides`` applied."""
    if name not in PROTOCOLS:
        raise ConfigError(f"dataset.name: no evaluation protocol for {name!r}; known: {sorted(PROTOCOLS)}")
    proto = PROTOCOLS[name]
    if not overrides:
        return proto
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"dataset.protocol: must be a mapping, got {overrides!r}")
    for key, value in overrides.items():
        if key not in OVERRIDABLE:
            raise ConfigError(f"dataset.protocol.{key}: unknown key; allowed: {list(OVERRIDABLE)}")
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"dataset.protocol.{key}: must be a manifest column name or null, got {value!r}")
        if key == "category_column" and value is None:
            raise ConfigError("dataset.protocol.category_column: must name a manifest column")
    return dataclasses.replace(proto, **dict(overrides))


def protocol_from_card(card: Mapping[str, Any]) -> RetrievalProtocol:
    """The protocol recorded in a dataset card (older cards: the registry's, by name)."""
    if isinstance(card.get("protocol"), Mapping):
        fields = {f.name for f in dataclasses.fields(RetrievalProtocol)}
        return RetrievalProtocol(**{k: v for k, v in card["protocol"].items() if k in fields})
    return resolve_protocol(str(card.get("name")))


def check_columns(manifest: pd.DataFrame, proto: RetrievalProtocol, source: str = "<manifest>") -> None:
    """Raise :class:`ConfigError` if the manifest lacks a column the protocol groups by."""
    for what, col in (("gallery_scope", proto.gallery_scope), ("category_column", proto.category_column)):
        if col is None:
            continue
        if col not in manifest.columns:
            raise ConfigError(f"dataset.protocol.{what}: {source} has no column {col!r} "
                              f"(columns: {list(manifest.columns)})")
        rows = manifest[manifest["split"].isin(("query", "gallery"))]
        if rows[col].isna().any() or (rows[col].astype(str) == "").any():
            uid = rows.loc[rows[col].isna() | (rows[col].astype(str) == ""), "uid"].iloc[0]
            raise ContractError(f"{source}: query/gallery row uid={uid!r} has an empty {col!r}, which "
                                f"dataset.protocol.{what} groups by")


def column_of(manifest: pd.DataFrame, ids: Sequence[str], column: str, source: str = "<manifest>") -> np.ndarray:
    """Values (as str) of manifest ``column`` for the rows with uid ``ids``, in that order."""
    if column not in manifest.columns:
        raise ConfigError(f"{source} has no column {column!r} (columns: {list(manifest.columns)})")
    lookup = pd.Series(manifest[column].astype(str).to_numpy(), index=manifest["uid"].to_numpy())
    ids = np.asarray(ids).astype(str)
    missing = ~pd.Index(ids).isin(lookup.index)
    if missing.any():
        raise ContractError(f"{source}: uid {str(ids[missing][0])!r} of the ranking is not in the manifest; "
                            "re-run the embed stage on the current prepared dataset")
    return lookup.loc[ids].to_numpy().astype(str)


# ----------------------------------------------------------------------------- gallery scope

def scoped_ranking(emb: Embeddings, k: int, query_groups: Sequence[str], gallery_groups: Sequence[str],
                   **search_kw: Any) -> Ranking:
    """Exact top-``k`` of each query among the gallery rows of its own group.

    Indices refer to the full gallery (the embedding file's order); a query whose group has
    fewer than ``k`` gallery rows gets a list padded with ``-1`` (distance ``+inf``). Ties
    follow :mod:`fashionbench.retrieval.search` (ascending gallery index), so the result equals a full
    ranking with the other groups' rows removed (:func:`restrict_ranking`).
    """
    from fashionbench.retrieval.search import search

    from fashionbench.core.validate import check_positive_int

    emb.validate()
    k = check_positive_int(k, "k")
    qg, gg = np.asarray(query_groups).astype(str), np.asarray(gallery_groups).astype(str)
    if len(qg) != len(emb.query) or len(gg) != len(emb.gallery):
        raise ContractError(f"scoped_ranking: {len(qg)} query / {len(gg)} gallery groups for "
                            f"{len(emb.query)} queries / {len(emb.gallery)} gallery rows")
    indices = np.full((len(qg), k), -1, np.int64)
    sims = np.full((len(qg), k), -np.inf, np.float32)
    for value in np.unique(qg):
        qi, gi = np.flatnonzero(qg == value), np.flatnonzero(gg == value)
        if not len(gi):
            continue
        idx, s = search(emb.query[qi], emb.gallery[gi], k, **search_kw)
        indices[qi] = np.where(idx >= 0, gi[np.maximum(idx, 0)], -1)
        sims[qi] = s
    with np.errstate(over="ignore"):
        distances = (np.float32(1.0) - sims).astype(np.float32)
    return Ranking(indices=indices, distances=distances, query_ids=emb.query_ids, gallery_ids=emb.gallery_ids,
                   query_labels=emb.query_labels, gallery_labels=emb.gallery_labels,
                   query_categories=emb.query_categories, gallery_categories=emb.gallery_categories,
                   model=emb.model, fingerprint=emb.fingerprint).validate()


def restrict_ranking(ranking: Ranking, query_groups: Sequence[str], gallery_groups: Sequence[str]) -> Ranking:
    """Drop the entries of other groups from each list (order kept, ``-1``/``+inf`` padding at the end).

    Returns ``ranking`` itself when no entry crosses a group.
    """
    ranking.validate()
    qg, gg = np.asarray(query_groups).astype(str), np.asarray(gallery_groups).astype(str)
    if len(qg) != ranking.indices.shape[0] or len(gg) != len(ranking.gallery_ids):
        raise ContractError(f"restrict_ranking: {len(qg)} query / {len(gg)} gallery groups for "
                            f"{ranking.indices.shape[0]} queries / {len(ranking.gallery_ids)} gallery rows")
    idx = ranking.indices
    listed = idx >= 0
    keep = listed & (gg[np.where(listed, idx, 0)] == qg[:, None])
    if (keep == listed).all():
        return ranking
    order = np.argsort(~keep, axis=1, kind="stable")  # kept entries first, in their order
    new_idx = np.take_along_axis(np.where(keep, idx, -1), order, axis=1)
    new_dist = np.take_along_axis(np.where(keep, ranking.distances, np.inf), order, axis=1).astype(np.float32)
    return dataclasses.replace(ranking, indices=new_idx, distances=new_dist).validate()


# ----------------------------------------------------------------------------- per category

def category_key(value: Any) -> str:
    """A category value as used in metric keys (``[A-Za-z0-9_.-]`` kept, anything else -> ``_``)."""
    return _SAFE.sub("_", str(value))


def per_category_scores(per_query: pd.DataFrame, query_ids: Sequence[str],
                        query_groups: Sequence[str]) -> dict[str, float | int]:
    """Per-category means of the per-query scores, as flat ``<metric>/<category>`` keys.

    ``per_query`` is the table of :func:`fashionbench.retrieval.metrics.evaluate_ranking_detailed` (one
    row per *scored* query, column ``query_id``); ``query_ids``/``query_groups`` list *every*
    query of the ranking with its category, so that queries without a gallery match are
    counted per category (``n_without_match/<cat>``). ``AP`` becomes ``mAP``, ``AP@k``
    ``mAP@k``; ``top{k}`` keeps its name. Raises :class:`ContractError` when two categories
    map to the same key.
    """
    ids = np.asarray(query_ids).astype(str)
    groups = np.asarray(query_groups).astype(str)
    if len(ids) != len(groups):
        raise ContractError(f"per_category_scores: {len(ids)} query ids but {len(groups)} categories")
    keys: dict[str, str] = {}
    for g in np.unique(groups):
        k = category_key(g)
        if k in keys:
            raise ContractError(f"categories {keys[k]!r} and {g!r} both map to the metric key suffix {k!r}")
        keys[k] = g
    group_of = pd.Series(groups, index=ids)
    table = per_query.assign(_group=group_of.loc[per_query["query_id"].astype(str)].to_numpy())
    cols = [c for c in per_query.columns if c == "AP" or c.startswith("AP@") or re.fullmatch(r"top\d+", c)]
    out: dict[str, float | int] = {}
    totals = pd.Series(groups).value_counts()
    for key, g in sorted(keys.items()):
        rows = table[table["_group"] == g]
        for c in cols:
            if len(rows):
                out[f"{'m' + c if c.startswith('AP') else c}/{key}"] = float(rows[c].mean())
        out[f"n_queries/{key}"] = int(len(rows))
        out[f"n_without_match/{key}"] = int(totals[g] - len(rows))
    return out


def per_category_table(names: Sequence[str], folder: str | Path, metric: str = "top10") -> pd.DataFrame:
    """``metric`` per category (columns) for each evaluated row in ``names`` (index), read from
    ``folder/<name>.json`` (the protocol metrics files); rows without a file are left out."""
    from fashionbench.core.artifacts import load_metrics

    rows = {}
    for n in names:
        p = Path(folder) / f"{n}.json"
        if p.is_file():
            m = load_metrics(p)
            rows[n] = {k[len(metric) + 1:]: v for k, v in m.items() if k.startswith(metric + "/")}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index(axis=1)


# ----------------------------------------------------------------------------- stage glue

def rank_embeddings(emb: Embeddings, k: int, manifest: pd.DataFrame, proto: RetrievalProtocol,
                    index: Any = None) -> Ranking:
    """Top-``k`` ranking of an embedding file under ``proto`` (scoped search when it has a scope).

    ``index``: an ``eval.index`` block (``fashionbench.retrieval.search.index_spec``); an approximate
    index is used for unscoped search only (a scoped search is exact; asking for both is an error).
    """
    from fashionbench.retrieval.search import index_spec, to_ranking

    if proto.gallery_scope is None:
        return to_ranking(emb, k, index=index)
    if index_spec(index).approximate:
        from fashionbench.core.errors import ConfigError
        raise ConfigError(f"eval.index: approximate search is not available with the dataset's gallery scope "
                          f"({proto.gallery_scope!r}); use index type 'exact'")
    col = proto.gallery_scope
    return scoped_ranking(emb, k, column_of(manifest, emb.query_ids, col, "prepared manifest"),
                          column_of(manifest, emb.gallery_ids, col, "prepared manifest"))


def apply_scope(ranking: Ranking, manifest: pd.DataFrame, proto: RetrievalProtocol) -> Ranking:
    """``ranking`` restricted to each query's gallery scope (unchanged without a scope)."""
    if proto.gallery_scope is None:
        return ranking
    col = proto.gallery_scope
    return restrict_ranking(ranking, column_of(manifest, ranking.query_ids, col, "prepared manifest"),
                            column_of(manifest, ranking.gallery_ids, col, "prepared manifest"))


def protocol_scores(ranking: Ranking, per_query: pd.DataFrame, manifest: pd.DataFrame, proto: RetrievalProtocol,
                    images_root: str | Path | None = None, query_crop: str = "given",
                    gallery_crop: str = "given") -> dict[str, float | int]:
    """The protocol metrics file's content: per-category scores, plus the official DeepFashion2
    score (``official/...``) when ``proto.official == 'deepfashion2'``."""
    out: dict[str, float | int] = dict(per_category_scores(
        per_query, ranking.query_ids, column_of(manifest, ranking.query_ids, proto.category_column,
                                                "prepared manifest")))
    if proto.official == "deepfashion2":
        from fashionbench.retrieval.protocols import deepfashion2

        official, _ = deepfashion2.score_ranking(ranking, manifest, images_root, query_crop, gallery_crop)
        out.update(official)
    return out


def protocol_frame(path: str | Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """A protocol metrics file as (per-category table: one row per category, one column per
    metric; the ``official/...`` entries, if any, without their prefix)."""
    from fashionbench.core.artifacts import load_metrics

    m = load_metrics(path)
    official = {k.split("/", 1)[1]: v for k, v in m.items() if k.startswith("official/")}
    cells: dict[str, dict[str, float]] = {}
    for k, v in m.items():
        if "/" in k and not k.startswith("official/"):
            metric, cat = k.split("/", 1)
            cells.setdefault(cat, {})[metric] = v
    table = pd.DataFrame.from_dict(cells, orient="index").sort_index()
    return table[sorted(table.columns, key=_metric_order)], official


def _metric_order(name: str) -> tuple[int, int]:
    """Column order: counts, mAP, mAP@k (by k), top-k (by k), anything else."""
    digits = re.sub(r"\D", "", name)
    k = int(digits) if digits else 0
    if name in ("n_queries", "n_without_match"):
        return (0 if name == "n_queries" else 1), 0
    if name == "mAP":
        return 2, 0
    if name.startswith("mAP@"):
        return 3, k
    if re.fullmatch(r"top\d+", name):
        return 4, k
    return 9, 0


def describe(proto: RetrievalProtocol) -> str:
    """One sentence on ``proto`` for the reports."""
    scope = f", each query ranked only against those with its `{proto.gallery_scope}`" if proto.gallery_scope else ""
    return (f"Protocol of `{proto.dataset}`: queries = {proto.queries}; gallery = {proto.gallery}{scope}; "
            f"hit = {proto.hit} ({proto.reference}). Per-category scores by `{proto.category_column}`.")
