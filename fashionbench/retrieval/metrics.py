"""Retrieval metrics: top-k hit rate, mAP and mAP@k (JD form), from embeddings or a ranking.

Notation, for one query ``q``: the gallery is ranked by similarity ``s(q, g) = q . g``
(higher is closer); ``rel(i) = 1`` when the item at 1-based rank ``i`` has the query's label
(item id); ``R`` = number of relevant gallery items; ``P(i) = (1/i) * sum_{j<=i} rel(j)``.

``top{k}`` (top-k accuracy, Acc@k, hit rate)
    ``1`` if ``sum_{i<=k} rel(i) >= 1`` else ``0``; ``top1`` is rank-1 accuracy.
``AP`` (full ranking)
    ``AP = (1/R) * sum_{i=1..G} P(i) * rel(i)``: the mean, over all relevant items, of the
    precision at their rank. Equals ``sklearn.metrics.average_precision_score`` when no two
    gallery items tie in similarity.
``AP@k`` (JD / Street2Shop form)
    ``AP@k = 1/min(R, k) * sum_{i<=k} P(i) * rel(i)``.
``mAP``, ``mAP@k``, ``top{k}`` in the summary
    means over the *scored* queries: those with ``R >= 1``. Queries with no relevant gallery
    item are excluded from every mean and counted in ``n_without_match``; ``n_queries``
    counts the scored ones.

Tie rule: gallery items with equal similarity are ranked by ascending gallery index (a stable
sort of ``-s``), the same rule as :mod:`fashionbench.retrieval.search`. So the 0-based rank of gallery
item ``r`` is ``#{j : s_j > s_r} + #{j < r : s_j == s_r}``. Similarities are ``query @ gallery.T``
accumulated in float64 and rounded to float32 (:mod:`fashionbench.retrieval.similarity`: the same
bits on every CPU, so the same ranks on every machine) and compared exactly.

Memory: a Q x G similarity matrix is never held. Queries are processed in chunks of
``chunk_size`` rows (default: a ~64 MB float32 block of similarities); the relevant pairs of a
chunk are ranked ``chunk_size`` pairs at a time against their gathered rows, so the working set
is about 2.5 blocks (~170 MB at In-Shop size), whatever Q. Only the ranks of the relevant items
are kept, from which every metric above follows (AP needs the sorted ranks of the relevant
items, top-k the smallest one).

Chance level (:func:`chance_levels`): the expected score of a ranking drawn uniformly at random,
from each query's ``R`` and gallery size ``N`` alone. With ``p1 = 1/N`` and
``p2 = (R-1)/(N(N-1))`` (the probability that a given other rank is also relevant, given that
rank ``i`` is): ``E[AP] = sum_{i<=K'} (1/i) (p1 + (i-1) p2)`` with ``K' = min(K, N)`` (``K`` = the
ranking's list length; the full-ranking value ``H_N/N + p2 (N - H_N)`` for ``K >= N``);
``E[AP@k] = R/min(R,k) * sum_{i<=k} (1/i)(p1 + (i-1) p2)``; ``E[top{k}] = 1 - C(N-R, k)/C(N, k)``.
Every metrics file carries them (``chance_mAP``, ``chance_top{k}``, ``chance_mAP@k``): a row whose
mAP is under :data:`LEARNED_FACTOR` x chance did not learn (:func:`learned`).

From a ranking file (:func:`evaluate_ranking`): the list is truncated at ``K``. ``R`` is still
counted from the gallery labels, and relevant items beyond ``K`` count as not retrieved, so the
mAP of a top-K list is a lower bound of the full mAP; it equals it when every relevant item is
within ``K`` (always when ``K >= G``). ``top{k}`` and ``mAP@k`` are exact for ``k <= K``; asking
for ``k > K`` from a list shorter than the gallery raises :class:`ConfigError`.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from fashionbench.retrieval.search import check_pair
from fashionbench.retrieval.similarity import inner_products

from fashionbench.core.artifacts import Ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import check_positive_int

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20, 30, 40, 50)
DEFAULT_MAP_KS: tuple[int, ...] = (10,)
_CHUNK_BYTES = 64 << 20  # target size of one float32 similarity block


#: a row whose mAP is below this multiple of its chance mAP "did not learn"
LEARNED_FACTOR = 5.0


def chance_levels(n_relevant: Any, n_gallery: Any, list_length: int | None = None,
                  ks: Iterable[int] = (), map_ks: Iterable[int] = ()) -> dict[str, float]:
    """Mean chance scores over queries (module docstring): ``mAP``, ``top{k}``, ``mAP@{k}``.

    ``n_relevant``: R per scored query (>= 1); ``n_gallery``: N per query (or one int for all);
    ``list_length``: K of the ranked lists (None: full ranking).
    """
    from scipy.special import gammaln

    r = np.asarray(n_relevant, dtype=np.float64).reshape(-1)
    n = np.broadcast_to(np.asarray(n_gallery, dtype=np.float64), r.shape).astype(np.float64)
    if not len(r):
        raise ContractError("chance_levels: no scored query")
    if (r < 1).any() or (r > n).any():
        raise ContractError("chance_levels: every query needs 1 <= R <= N")
    n_max = int(n.max())
    k_cap = n_max if list_length is None else min(int(list_length), n_max)
    i = np.arange(1, n_max + 1, dtype=np.float64)
    harm = np.concatenate([[0.0], np.cumsum(1.0 / i)])          # H_0..H_nmax
    p1 = 1.0 / n
    p2 = np.where(n > 1, (r - 1) / np.maximum(n * (n - 1), 1.0), 0.0)

    def partial(k: np.ndarray) -> np.ndarray:  # sum_{i<=k} (1/i)(p1 + (i-1) p2)
        return harm[k] * p1 + p2 * (k - harm[k])

    kp = np.minimum(k_cap, n).astype(np.int64)
    out = {"mAP": float(partial(kp).mean())}
    for k in ks:
        k = int(k)
        kk = np.minimum(k, n)
        miss = np.where(n - r >= kk, gammaln(n - r + 1) - gammaln(n - r - kk + 1)
                        - gammaln(n + 1) + gammaln(n - kk + 1), -np.inf)
        out[f"top{k}"] = float((1.0 - np.exp(miss)).mean())
    for k in map_ks:
        kk = np.minimum(int(k), n).astype(np.int64)
        out[f"mAP@{int(k)}"] = float((partial(kk) * r / np.minimum(r, int(k))).mean())
    return out


def learned(metrics: Any, factor: float = LEARNED_FACTOR) -> bool | None:
    """Whether a metrics dict's ``mAP`` is at least ``factor`` x its ``chance_mAP`` (None: no chance level)."""
    try:
        m, c = float(metrics["mAP"]), float(metrics["chance_mAP"])
    except (KeyError, TypeError, ValueError):
        return None
    return bool(m >= factor * c)


def _check_ks(ks: Iterable[int], name: str) -> tuple[int, ...]:
    try:
        vals = [check_positive_int(k, f"{name} entry") for k in ks]
    except TypeError as exc:
        raise ConfigError(f"{name} must be an iterable of integers >= 1, got {ks!r}") from exc
    return tuple(sorted(set(vals)))


def encode_labels(query_labels: Any, gallery_labels: Any, n_query: int, n_gallery: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Map query and gallery labels to shared integer codes (equal label <=> equal code).

    Raises :class:`ContractError` when a side is not 1-D, has the wrong length, or when one
    side holds numbers and the other strings (they would never match).
    """
    arrays = []
    for name, lab, n in (("query_labels", query_labels, n_query),
                         ("gallery_labels", gallery_labels, n_gallery)):
        arr = np.asarray(lab)
        if arr.ndim != 1:
            raise ContractError(f"{name}: must be 1-D, got shape {arr.shape}")
        if len(arr) != n:
            raise ContractError(f"{name}: has {len(arr)} entries for {n} rows")
        if arr.dtype.kind == "O":
            arr = arr.astype(str)
        arrays.append(arr)
    kinds = {"U" if a.dtype.kind in "US" else "num" if a.dtype.kind in "biuf" else a.dtype.kind
             for a in arrays if len(a)}
    if len(kinds) > 1:
        raise ContractError(f"query_labels ({arrays[0].dtype}) and gallery_labels "
                            f"({arrays[1].dtype}) have different kinds: numbers never equal strings")
    _, codes = np.unique(np.concatenate(arrays), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    return codes[:n_query], codes[n_query:]


def _scores_from_ranks(n_query: int, pair_q: np.ndarray, pair_rank: np.ndarray,
                       n_rel: np.ndarray, ks: tuple[int, ...], map_ks: tuple[int, ...]
                       ) -> dict[str, np.ndarray]:
    """Per-query metrics from the 0-based ranks of (retrieved) relevant items.

    ``pair_q[p]`` is the query of relevant pair ``p`` and ``pair_rank[p]`` the rank of its
    gallery item; relevant items not listed (beyond a truncated list) simply contribute no
    precision term. ``n_rel`` is R per query (>= the number of listed pairs).
    """
    order = np.lexsort((pair_rank, pair_q))
    q = pair_q[order]
    r = pair_rank[order].astype(np.int64)
    counts = np.bincount(q, minlength=n_query)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(q)) - starts[q]          # 0-based position among the query's hits
    prec = (pos + 1) / (r + 1.0)                  # P(i) at each relevant item's rank (float64)
    first = np.full(n_query, -1, np.int64)        # rank of the first hit, -1: none listed
    first[q[pos == 0]] = r[pos == 0]
    scored = n_rel > 0
    denom = np.where(scored, n_rel, 1).astype(np.float64)
    out: dict[str, np.ndarray] = {
        "n_relevant": n_rel.astype(np.int64),
        "first_match_rank": np.where(first >= 0, first + 1, -1),  # 1-based, -1: not found
        "AP": np.bincount(q, weights=prec, minlength=n_query) / denom,
    }
    for k in map_ks:
        num = np.bincount(q, weights=prec * (r < k), minlength=n_query)
        out[f"AP@{k}"] = num / np.minimum(denom, k)
    for k in ks:
        out[f"top{k}"] = ((first >= 0) & (first < k)).astype(np.int8)
    return out


def _summarise(per: dict[str, np.ndarray], ks: tuple[int, ...], map_ks: tuple[int, ...]
               ) -> tuple[dict[str, float | int], pd.DataFrame]:
    scored = per["n_relevant"] > 0
    n_scored = int(scored.sum())
    if n_scored == 0:
        raise ContractError("no query has a relevant gallery item (no label is shared): "
                            "the metrics are undefined")
    table = pd.DataFrame({"query": np.flatnonzero(scored),
                          **{k: v[scored] for k, v in per.items()}})
    summary: dict[str, float | int] = {"mAP": float(table["AP"].mean())}
    for k in map_ks:
        summary[f"mAP@{k}"] = float(table[f"AP@{k}"].mean())
    for k in ks:
        summary[f"top{k}"] = float(table[f"top{k}"].mean())
    summary["n_queries"] = n_scored
    summary["n_without_match"] = int(len(scored) - n_scored)
    return summary, table.reset_index(drop=True)


def _relevant_pairs(q_codes: np.ndarray, g_order: np.ndarray, g_starts: np.ndarray,
                    g_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local query index, gallery index) of every relevant pair of a chunk of queries."""
    n_rel = g_counts[q_codes]
    pair_q = np.repeat(np.arange(len(q_codes)), n_rel)
    offset = np.arange(len(pair_q)) - np.repeat(np.cumsum(n_rel) - n_rel, n_rel)
    pair_g = g_order[np.repeat(g_starts[q_codes], n_rel) + offset]
    return pair_q, pair_g


def _ranks_of(sims: np.ndarray, pair_q: np.ndarray, pair_g: np.ndarray, block: int) -> np.ndarray:
    """0-based rank of gallery item ``pair_g[p]`` in the row ``sims[pair_q[p]]`` (tie rule:
    equal similarity ranks by ascending index), ``block`` pairs at a time."""
    ranks = np.empty(len(pair_q), np.int64)
    for a in range(0, len(pair_q), block):
        pq, pg = pair_q[a:a + block], pair_g[a:a + block]
        rows = sims[pq]                                    # [block, G] gathered rows
        s = rows[np.arange(len(pq)), pg][:, None]
        ranks[a:a + block] = np.count_nonzero(rows > s, axis=1)
        n_eq = np.count_nonzero(rows == s, axis=1)         # includes the item itself
        tied = np.flatnonzero(n_eq > 1)
        if tied.size:                                      # rare: count equal ones before it
            before = np.arange(rows.shape[1]) < pg[tied, None]
            ranks[a + tied] += np.count_nonzero((rows[tied] == s[tied]) & before, axis=1)
    return ranks


def _evaluate_per_query(query: np.ndarray, gallery: np.ndarray, query_labels: Any,
                        gallery_labels: Any, ks: Iterable[int], map_ks: Iterable[int],
                        chunk_size: int | None
                        ) -> tuple[dict[str, np.ndarray], tuple[int, ...], tuple[int, ...]]:
    q, g = check_pair(query, gallery)
    ks, map_ks = _check_ks(ks, "ks"), _check_ks(map_ks, "map_ks")
    n_q, n_g = q.shape[0], g.shape[0]
    chunk = (max(1, _CHUNK_BYTES // (12 * n_g)) if chunk_size is None  # float64 product + float32
             else check_positive_int(chunk_size, "chunk_size"))
    q_codes, g_codes = encode_labels(query_labels, gallery_labels, n_q, n_g)
    n_codes = int(max(q_codes.max(initial=-1), g_codes.max(initial=-1))) + 1
    g_order = np.argsort(g_codes, kind="stable")          # gallery grouped by label
    g_counts = np.bincount(g_codes, minlength=n_codes)
    g_starts = np.cumsum(g_counts) - g_counts
    g64 = g.astype(np.float64)                            # once, for exact products
    pair_q_all, rank_all = [], []
    for start in range(0, n_q, chunk):
        stop = min(start + chunk, n_q)
        pair_q, pair_g = _relevant_pairs(q_codes[start:stop], g_order, g_starts, g_counts)
        if len(pair_q) == 0:
            continue
        sims = inner_products(q[start:stop], g64)         # [chunk, G] float32, exact
        rank_all.append(_ranks_of(sims, pair_q, pair_g, chunk))
        pair_q_all.append(pair_q + start)
    pair_q = np.concatenate(pair_q_all) if pair_q_all else np.zeros(0, np.int64)
    ranks = np.concatenate(rank_all) if rank_all else np.zeros(0, np.int64)
    per = _scores_from_ranks(n_q, pair_q, ranks, g_counts[q_codes], ks, map_ks)
    return per, ks, map_ks


def evaluate_detailed(query: np.ndarray, gallery: np.ndarray, query_labels: Any,
                      gallery_labels: Any, ks: Iterable[int] = DEFAULT_KS, *,
                      map_ks: Iterable[int] = DEFAULT_MAP_KS, chunk_size: int | None = None
                      ) -> tuple[dict[str, float | int], pd.DataFrame]:
    """Like :func:`evaluate`, plus a per-query table for bootstrap confidence intervals.

    Returns ``(summary, table)``. ``table`` has one row per *scored* query (R >= 1), in query
    order, with columns ``query`` (row index into ``query``), ``n_relevant`` (R),
    ``first_match_rank`` (1-based rank of the first relevant item), ``AP``, ``AP@k`` for each
    ``map_ks``, and ``top{k}`` (0/1) for each ``ks``. ``table[c].mean()`` is the summary's
    ``mAP`` / ``mAP@k`` / ``top{k}``.
    """
    per, ks, map_ks = _evaluate_per_query(query, gallery, query_labels, gallery_labels, ks,
                                          map_ks, chunk_size)
    return _summarise(per, ks, map_ks)


def evaluate(query: np.ndarray, gallery: np.ndarray, query_labels: Any, gallery_labels: Any,
             ks: Iterable[int] = DEFAULT_KS, *, map_ks: Iterable[int] = DEFAULT_MAP_KS,
             chunk_size: int | None = None) -> dict[str, float | int]:
    """Retrieval metrics of ``query`` [Q, D] against ``gallery`` [G, D] (float32, similarity =
    inner product, higher is closer) with 1-D item-id label arrays.

    Returns a flat dict: ``mAP``, ``mAP@k`` for each ``map_ks``, ``top{k}`` for each ``ks``
    (floats in [0, 1]), ``n_queries`` (scored queries) and ``n_without_match`` (ints). See the
    module docstring for the formulas and the tie rule. ``chunk_size`` = queries per block
    (default: a ~64 MB float32 block); the result does not depend on it.
    """
    return evaluate_detailed(query, gallery, query_labels, gallery_labels, ks,
                             map_ks=map_ks, chunk_size=chunk_size)[0]


def evaluate_ranking_detailed(ranking: Ranking, ks: Iterable[int] = DEFAULT_KS, *,
                              map_ks: Iterable[int] = DEFAULT_MAP_KS, gallery_sizes: Any = None
                              ) -> tuple[dict[str, float | int], pd.DataFrame]:
    """Metrics of a ranking file's top-K lists, plus the per-query table.

    The table is that of :func:`evaluate_detailed` with a ``query_id`` column added;
    ``first_match_rank`` is ``-1`` when no relevant item is within ``K``. ``R`` counts every
    relevant gallery item, so ``mAP`` is a lower bound of the full-ranking mAP (equal when all
    relevant items are within ``K``, e.g. ``K >= G``). The summary adds the chance levels of
    :func:`chance_levels` for the same ``K`` (``gallery_sizes``: N per query where a protocol
    scopes the gallery; default every gallery item), and the table the query's ``item_id``
    (the unit a cluster bootstrap resamples). Raises :class:`ConfigError` for a
    ``k > K`` in ``ks``/``map_ks`` when ``K < G`` (the list cannot answer it) and
    :class:`ContractError` when a row lists a gallery item twice.
    """
    ranking.validate()
    ks, map_ks = _check_ks(ks, "ks"), _check_ks(map_ks, "map_ks")
    idx = ranking.indices
    n_q, k_list = idx.shape
    n_g = len(ranking.gallery_labels)
    too_long = [k for k in (*ks, *map_ks) if k > k_list]
    if too_long and k_list < n_g:
        raise ConfigError(f"ks/map_ks {too_long} exceed the ranking's list length K={k_list} "
                          f"(gallery has {n_g} items): re-rank with a larger K")
    srt = np.sort(idx, axis=1)
    dup = ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any(axis=1)
    if dup.any():
        raise ContractError(f"ranking: query row {int(np.flatnonzero(dup)[0])} lists a gallery "
                            "index twice")
    q_codes, g_codes = encode_labels(ranking.query_labels, ranking.gallery_labels, n_q, n_g)
    n_codes = int(max(q_codes.max(initial=-1), g_codes.max(initial=-1))) + 1
    n_rel = np.bincount(g_codes, minlength=n_codes)[q_codes]
    listed = idx >= 0
    rel = listed & (g_codes[np.where(listed, idx, 0)] == q_codes[:, None])
    pair_q, pair_rank = np.nonzero(rel)                    # position in the list = rank
    per = _scores_from_ranks(n_q, pair_q, pair_rank, n_rel, ks, map_ks)
    summary, table = _summarise(per, ks, map_ks)
    rows = table["query"].to_numpy()
    table.insert(1, "query_id", ranking.query_ids[rows])
    table.insert(2, "item_id", np.asarray(ranking.query_labels).astype(str)[rows])
    sizes = np.full(n_q, n_g) if gallery_sizes is None else np.asarray(gallery_sizes).reshape(-1)
    if len(sizes) != n_q:
        raise ContractError(f"gallery_sizes: {len(sizes)} values for {n_q} queries")
    chance = chance_levels(table["n_relevant"].to_numpy(), sizes[rows],
                           None if k_list >= n_g else k_list, ks, map_ks)
    summary.update({f"chance_{k}": v for k, v in chance.items()})
    return summary, table


def evaluate_ranking(ranking: Ranking, ks: Iterable[int] = DEFAULT_KS, *,
                     map_ks: Iterable[int] = DEFAULT_MAP_KS) -> dict[str, float | int]:
    """The :func:`evaluate` metrics from a ranking file (see
    :func:`evaluate_ranking_detailed` for the truncation rules)."""
    return evaluate_ranking_detailed(ranking, ks, map_ks=map_ks)[0]
