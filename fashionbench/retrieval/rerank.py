"""Re-ranking of ranked lists: k-reciprocal encoding (paper ``ji``) and the top-1 re-rank (``shang``).

k-reciprocal re-ranking
    :func:`k_reciprocal` is Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
    Encoding" (CVPR 2017), computed without any N x N matrix (N = queries + gallery).
    :func:`k_reciprocal_dense` is the dense float64 port of the authors' public ``re_ranking``
    code; it is the *reference* used by the tests and the benchmark, O(N^2) memory, small N only.

Top-1 re-rank
    :func:`top1_rerank` / :func:`top1_rerank_with_distances` / :func:`top1_rerank_ranking`: keep
    the query's top-1 gallery image, fill ranks 2..depth with that image's own nearest gallery
    neighbours, then the rest of the query's list (paper ``shang``, section III.C).
    :func:`top1_rerank_from_neighbours` applies the same rule with the top-1's neighbours given
    per query (a routed fusion's neighbours depend on the query's category:
    :mod:`fashionbench.retrieval.routing`).
"""

from __future__ import annotations

import hashlib
from typing import Literal

import faiss
import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from fashionbench.core.artifacts import Ranking, fingerprint
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import as_features as _as_features
from fashionbench.core.validate import check_int as _check_int

# The faiss k-NN search returns this many extra neighbours per row; they are re-sorted by the
# float64 distance so that float32 rounding in faiss does not change the neighbour order.
_KNN_MARGIN = 8

Metric = Literal["sqeuclidean", "cosine"]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _check_unit_interval(name: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"parameter '{name}' must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"parameter '{name}' must be in [0, 1], got {value}")
    return float(value)


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


# --------------------------------------------------------------------------------------------
# k-reciprocal re-ranking: dense reference
# --------------------------------------------------------------------------------------------
def k_reciprocal_dense(query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6,
                       lambda_value: float = 0.3) -> np.ndarray:
    """REFERENCE ONLY: dense float64 port of Zhong et al.'s ``re_ranking``; O((Q+G)^2) memory.

    Follows the public reference code (zhunzhong07/person-re-ranking, python-version) step by
    step, with the features' squared Euclidean distance as the original distance:
    ``original = (d2 / d2.max(axis=0)).T``; ``initial_rank = argsort(original)`` (stable, so
    ties go to the lower index); k-reciprocal sets from the first ``k1 + 1`` ranks, expanded by
    every candidate's ``round(k1 / 2)``-reciprocal set that shares more than 2/3 of its members;
    ``V[i, set] = softmax(-original[i, set])``; local query expansion (mean of ``V`` over the
    first ``k2`` ranks, skipped when ``k2 == 1``); Jaccard distance via the inverted index;
    ``final = jaccard * (1 - lambda) + original * lambda``.

    Returns the final distance [Q, G] (float64). Use :func:`k_reciprocal` for real data.
    """
    q = _as_features(query, "query").astype(np.float64)
    g = _as_features(gallery, "gallery").astype(np.float64)
    x = np.concatenate([q, g])
    n_q, n = len(q), len(x)
    # squared Euclidean distance in the difference form (d2[i, i] == 0 exactly)
    d2 = cdist(x, x, "sqeuclidean")
    d2 /= d2.max(axis=0)
    original = d2.T  # the reference transposes after the column-max normalisation
    initial_rank = np.argsort(original, axis=1, kind="stable")
    k_half = int(np.around(k1 / 2.0))

    def reciprocal(i: int, k: int) -> np.ndarray:
        forward = initial_rank[i, :k + 1]
        backward = initial_rank[forward, :k + 1]
        return forward[np.where(backward == i)[0]]

    v = np.zeros((n, n))
    for i in range(n):
        recip = reciprocal(i, k1)
        expansion = recip
        for candidate in recip:
            cand_recip = reciprocal(int(candidate), k_half)
            if len(np.intersect1d(cand_recip, recip)) > 2.0 / 3.0 * len(cand_recip):
                expansion = np.append(expansion, cand_recip)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        v[i, expansion] = weight / weight.sum()
    original = original[:n_q]
    if k2 != 1:
        v_qe = np.empty_like(v)
        for i in range(n):
            v_qe[i] = v[initial_rank[i, :k2]].mean(axis=0)
        v = v_qe
    del initial_rank
    inv_index = [np.where(v[:, col] != 0)[0] for col in range(n)]
    jaccard = np.zeros((n_q, n))
    for i in range(n_q):
        temp_min = np.zeros(n)
        for col in np.where(v[i] != 0)[0]:
            rows = inv_index[col]
            temp_min[rows] += np.minimum(v[i, col], v[rows, col])
        jaccard[i] = 1.0 - temp_min / (2.0 - temp_min)
    final = jaccard * (1.0 - lambda_value) + original * lambda_value
    return final[:, n_q:]


# --------------------------------------------------------------------------------------------
# k-reciprocal re-ranking: sparse production version
# --------------------------------------------------------------------------------------------
def _pair_sqdist(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, chunk: int) -> np.ndarray:
    """Squared Euclidean distance of the pairs (x[rows], x[cols]) in float64, in chunks."""
    out = np.empty(len(rows), dtype=np.float64)
    for s in _chunks(len(rows), chunk):
        diff = x[rows[s]].astype(np.float64)
        diff -= x[cols[s]]
        out[s] = np.einsum("ij,ij->i", diff, diff)
    return out


def _knn_graph(x: np.ndarray, k: int, row_chunk: int, pair_chunk: int) -> np.ndarray:
    """The first ``k`` entries of every row's ranking by squared distance, [N, k] int64.

    faiss (exact flat search, float32) proposes ``k + margin`` neighbours; they are re-sorted by
    the float64 distance with ties broken by the lower index, as a stable argsort of the dense
    float64 matrix would. The result equals the dense ranking unless float32 rounding (~1e-6)
    moved an item across the margin, which needs ``margin`` near-ties at the k-th neighbour.
    """
    n, d = x.shape
    k_search = min(k + _KNN_MARGIN, n)
    index = faiss.IndexFlatL2(d)
    index.add(x)
    out = np.empty((n, k), dtype=np.int64)
    for s in _chunks(n, row_chunk):
        _, cand = index.search(x[s], k_search)
        rows = np.repeat(np.arange(s.start, s.stop), k_search)
        d2 = _pair_sqdist(x, rows, cand.ravel(), pair_chunk).reshape(cand.shape)
        order = np.lexsort((cand, d2), axis=1)
        out[s] = np.take_along_axis(cand, order, axis=1)[:, :k]
    return out


def _farthest_sqdist(x: np.ndarray, row_chunk: int, pair_chunk: int) -> np.ndarray:
    """max_j ||x_i - x_j||^2 for every row i, [N] float64, without an N x N matrix.

    ||x_i - x_j||^2 = |x_i|^2 + (|x_j|^2 - 2 x_i.x_j), so the farthest point is an exact
    maximum-inner-product search of [x_i, 1] against [-2 x_j, |x_j|^2] (faiss flat index).
    """
    n, d = x.shape
    norms = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    index = faiss.IndexFlatIP(d + 1)
    index.add(np.hstack([-2.0 * x, norms[:, None]]).astype(np.float32))
    far = np.empty(n, dtype=np.int64)
    for s in _chunks(n, row_chunk):
        qry = np.hstack([x[s], np.ones((s.stop - s.start, 1), np.float32)])
        far[s] = index.search(qry, 1)[1][:, 0]
    return _pair_sqdist(x, np.arange(n), far, pair_chunk)


def _reciprocal_mask(knn: np.ndarray, k: int, row_chunk: int) -> np.ndarray:
    """mask[i, t] = row i appears in the first k ranks of its own t-th neighbour (t < k)."""
    forward = knn[:, :k]
    mask = np.empty(forward.shape, dtype=bool)
    for s in _chunks(len(knn), row_chunk):
        backward = forward[forward[s]]  # [B, k, k]
        mask[s] = (backward == np.arange(s.start, s.stop)[:, None, None]).any(axis=2)
    return mask


def _k_reciprocal_support(knn: np.ndarray, k1: int, row_chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Support of V: (rows, cols) of every row's expanded k-reciprocal set, in CSR order.

    ``knn`` holds each row's ranking (itself first) for at least the first ``k1 + 1`` ranks
    (fewer only when N is smaller). R(i) = {j in the first k1+1 ranks of i : i in the first k1+1
    ranks of j}; each c in R(i) adds its round(k1/2)-reciprocal set R'(c) when
    |R'(c) & R(i)| > 2/3 |R'(c)| (the rule of the reference code, float comparison included).
    """
    n = len(knn)
    f = knn[:, :k1 + 1]
    r = _reciprocal_mask(knn, k1 + 1, row_chunk)
    k_half = int(np.around(k1 / 2.0))  # numpy rounds half to even, as the reference does
    fh = knn[:, :k_half + 1]
    rh = _reciprocal_mask(knn, k_half + 1, row_chunk)
    # the membership test below holds B * K1 * Kh * K1 booleans: cap B to keep it ~16 MB
    block = max(1, min(row_chunk, (1 << 24) // (f.shape[1] ** 2 * fh.shape[1])))
    rows_out, cols_out = [], []
    for s in _chunks(n, block):
        rows = np.arange(s.start, s.stop)
        fc, rc = f[s], r[s]                      # [B, K1]
        hc, rhc = fh[fc], rh[fc]                 # [B, K1, Kh]: each candidate's half-set
        # is the candidate's half-neighbour in R(i)?
        in_r = ((hc[..., None] == fc[:, None, None, :]) & rc[:, None, None, :]).any(axis=3)
        count = (in_r & rhc).sum(axis=2)
        size = rhc.sum(axis=2)
        accept = rc & (count > 2.0 / 3.0 * size)
        take = accept[..., None] & rhc
        key = np.concatenate([
            np.broadcast_to(rows[:, None], fc.shape)[rc] * n + fc[rc],
            np.broadcast_to(rows[:, None, None], hc.shape)[take] * n + hc[take]])
        key = np.unique(key)  # sorted by (row, col): CSR order
        rows_out.append(key // n)
        cols_out.append(key % n)
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _expansion_triples(vq: sp.csr_matrix, vg_csc: sp.csc_matrix) -> tuple[np.ndarray, ...]:
    """(query row, gallery row, min(vq, vg)) for every shared support column (inverted index)."""
    col_nnz = np.diff(vg_csc.indptr)
    ent_row = np.repeat(np.arange(vq.shape[0]), np.diff(vq.indptr))
    counts = col_nnz[vq.indices]
    rep = np.repeat(np.arange(len(counts)), counts)
    # ragged arange: the positions of each entry's gallery column inside vg_csc
    offsets = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = vg_csc.indptr[vq.indices][rep] + offsets
    return ent_row[rep], vg_csc.indices[pos], np.minimum(vq.data[rep], vg_csc.data[pos])


def k_reciprocal(query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6,
                 lambda_value: float = 0.3, top_k: int = 100, *, row_chunk: int = 2048,
                 pair_chunk: int = 16384, triple_budget: int = 2_000_000
                 ) -> tuple[np.ndarray, np.ndarray]:
    """k-reciprocal re-ranking (Zhong et al. 2017) of the gallery for every query, memory-bounded.

    Parameters
    ----------
    query, gallery
        [Q, D] and [G, D] float features (L2-normalised float32 in the pipeline; any finite
        floats work). The original distance is the squared Euclidean distance over all
        N = Q + G items, each row divided by its largest distance to any of the N items (the
        reference code's column-max normalisation followed by a transpose).
    k1, k2, lambda_value
        as in the paper: k-reciprocal depth, local query expansion depth (1 = off), weight of
        the original distance in ``final = (1 - lambda) * jaccard + lambda * original``.
    top_k
        length of the returned lists. If G < top_k, rows are padded with index -1 / distance inf.
    row_chunk, pair_chunk, triple_budget
        work sizes (rows per faiss/graph block, pairs per float64 distance block, inverted-index
        triples and query x gallery cells per query block); they bound memory and do not change
        the result.

    Returns
    -------
    (indices [Q, top_k] int64, distances [Q, top_k] float32), distances ascending; equal
    distances are ordered by original distance, then gallery index.

    What is exact
    -------------
    No N x N matrix is formed. Nearest neighbours come from a faiss flat (exact) search of depth
    ``max(k1 + 1, k2)`` (+8 re-sorted in float64); the algorithm only ever reads the first
    ``k1 + 1`` ranks (k-reciprocal sets; the round(k1/2) sets are a prefix) and the first ``k2``
    ranks (query expansion), so this truncation is exact. The row maximum distance comes from an
    exact farthest-point search. V is a scipy CSR matrix; distances entering V and the final
    distance are recomputed in float64 from the features. Queries are processed in blocks of
    b rows (b x G <= ``triple_budget`` cells): the Jaccard distance of every (query, gallery)
    pair sharing support in V comes from the inverted index (every other pair has Jaccard
    distance exactly 1), the original distance from a float64 [b, G] product, and the top_k of
    each row from the whole [b, G] final distance, so the returned lists are exact. Memory is
    O(triple_budget + N * (k1 + k2)), time O(Q * G * D) like one exact search. The only approximation
    is float32 rounding inside the faiss searches (ties within ~1e-6 may be ordered
    differently from a float64 computation), so results match :func:`k_reciprocal_dense` to
    ~1e-6. With ``lambda_value == 0`` the items with no shared support tie at distance 1 and are
    ordered by original distance (the dense reference orders such ties by gallery index).
    """
    q = _as_features(query, "query")
    g = _as_features(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ContractError(f"query dim {q.shape[1]} != gallery dim {g.shape[1]}")
    k1 = _check_int("k1", k1, 1)
    k2 = _check_int("k2", k2, 1)
    top_k = _check_int("top_k", top_k, 1)
    lam = _check_unit_interval("lambda_value", lambda_value)
    row_chunk = _check_int("row_chunk", row_chunk, 1)
    pair_chunk = _check_int("pair_chunk", pair_chunk, 1)
    triple_budget = _check_int("triple_budget", triple_budget, 1)

    x = np.concatenate([q, g])
    n_q, n_g, n = len(q), len(g), len(q) + len(g)
    knn = _knn_graph(x, min(max(k1 + 1, k2), n), row_chunk, pair_chunk)
    row_max = _farthest_sqdist(x, row_chunk, pair_chunk)
    if (row_max <= 0).any():
        raise ContractError("all query and gallery vectors are identical: distances cannot be "
                            "normalised")

    # V: exp(-original) over each row's expanded k-reciprocal set, rows summing to 1
    rows, cols = _k_reciprocal_support(knn, k1, row_chunk)
    w = np.exp(-_pair_sqdist(x, rows, cols, pair_chunk) / row_max[rows])
    w /= np.bincount(rows, weights=w, minlength=n)[rows]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    v = sp.csr_matrix((w, cols, indptr), shape=(n, n))
    del rows, cols, w
    if k2 != 1:  # local query expansion: mean of V over each row's first k2 ranks
        k2n = min(k2, n)
        avg = sp.csr_matrix((np.full(n * k2n, 1.0 / k2n), knn[:, :k2n].ravel(),
                             np.arange(0, n * k2n + 1, k2n)), shape=(n, n))
        v = (avg @ v).tocsr()
    del knn
    v.sort_indices()
    vq = v[:n_q]
    vg = v[n_q:].tocsc()
    vg.sort_indices()
    del v

    # Query blocks bounded by the inverted-index triples they expand to and by b x G cells
    # (each block holds a few dense [b, G] float64 arrays: memory O(triple_budget), not O(N^2)).
    cost = np.bincount(np.repeat(np.arange(n_q), np.diff(vq.indptr)),
                       weights=np.diff(vg.indptr)[vq.indices], minlength=n_q)
    cum = np.cumsum(cost)
    max_rows = max(1, min(row_chunk, triple_budget // max(1, n_g)))
    g64 = g.astype(np.float64)
    g_sq = np.einsum("ij,ij->i", g64, g64)
    k_out = min(top_k, n_g)
    out_idx = np.full((n_q, top_k), -1, dtype=np.int64)
    out_dist = np.full((n_q, top_k), np.inf, dtype=np.float32)
    start = 0
    while start < n_q:
        done = cum[start - 1] if start else 0.0
        stop = int(np.searchsorted(cum, done + triple_budget, side="right"))
        stop = min(max(stop, start + 1), start + max_rows, n_q)
        b = stop - start
        # shared[i, j] = sum_l min(V[i, l], V[j, l]) over shared support columns l (0 elsewhere:
        # Jaccard distance exactly 1)
        t_row, t_col, t_min = _expansion_triples(vq[start:stop], vg)
        shared = np.bincount(t_row * n_g + t_col, weights=t_min, minlength=b * n_g).reshape(b, n_g)
        del t_row, t_col, t_min
        xb = x[start:stop].astype(np.float64)
        original = np.einsum("ij,ij->i", xb, xb)[:, None] + g_sq[None, :]
        original -= 2.0 * (xb @ g64.T)
        np.maximum(original, 0.0, out=original)
        original /= row_max[start:stop, None]
        final = (1.0 - lam) * (1.0 - shared / (2.0 - shared)) + lam * original
        del shared
        # the top k_out of each row, ties at the cut included, ordered by (final, original, index)
        if k_out < n_g:
            kth = np.partition(final, k_out - 1, axis=1)[:, k_out - 1]
            pr, pj = np.nonzero(final <= kth[:, None])
        else:
            pr, pj = np.divmod(np.arange(b * n_g), n_g)
        f_sel, o_sel = final[pr, pj], original[pr, pj]
        order = np.lexsort((pj, o_sel, f_sel, pr))
        pr, pj, f_sel = pr[order], pj[order], f_sel[order]
        rank = np.arange(len(pr)) - np.searchsorted(pr, np.arange(b))[pr]
        keep = rank < k_out
        out_idx[start + pr[keep], rank[keep]] = pj[keep]
        out_dist[start + pr[keep], rank[keep]] = f_sel[keep]
        start = stop
    return out_idx, out_dist


# --------------------------------------------------------------------------------------------
# top-1 re-rank (paper shang)
# --------------------------------------------------------------------------------------------
def _earlier_duplicate(a: np.ndarray) -> np.ndarray:
    """dup[q, m] = a[q, m] equals some a[q, m'] with m' < m (row-wise, vectorised)."""
    order = np.argsort(a, axis=1, kind="stable")
    srt = np.take_along_axis(a, order, axis=1)
    dup_sorted = np.zeros(a.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.empty_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def _check_index_matrix(a: np.ndarray, name: str, n_gallery: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ContractError(f"'{name}' must be a 2-D matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ContractError(f"'{name}' must hold integers, got dtype {arr.dtype}")
    bad = (arr < -1) | (arr >= n_gallery)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ContractError(f"'{name}' row {row} holds an index outside [-1, {n_gallery})")
    return arr.astype(np.int64, copy=False)


def _check_ranked_list(indices: np.ndarray, n_gallery: int) -> np.ndarray:
    idx = _check_index_matrix(indices, "indices", n_gallery)
    if idx.shape[1] == 0:
        raise ContractError("'indices' must hold at least one column (K >= 1)")
    dup = _earlier_duplicate(idx) & (idx >= 0)
    if dup.any():
        row = int(np.argwhere(dup)[0][0])
        raise ContractError(f"'indices' row {row} lists a gallery item twice")
    return idx


def _top1_core(indices: np.ndarray, distances: np.ndarray | None, nbrs: np.ndarray,
               nbr_dist: np.ndarray | None, depth: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Re-rank every row; ``nbrs[q]`` are the gallery neighbours of ``indices[q, 0]``."""
    n_q, k = indices.shape
    top1 = indices[:, 0]
    has = top1 >= 0
    # ranks 2..depth: the top-1's neighbours, skipping itself, -1 and repeated entries
    valid = (nbrs >= 0) & (nbrs != top1[:, None]) & has[:, None] & ~_earlier_duplicate(nbrs)
    rank = np.cumsum(valid, axis=1)
    take = valid & (rank <= depth - 1)
    block = np.full((n_q, depth - 1), -1, dtype=np.int64)
    qi, mi = np.nonzero(take)
    block[qi, rank[qi, mi] - 1] = nbrs[qi, mi]
    # then the query's own list without the items already placed, in its original order
    placed = indices == top1[:, None]
    for r in range(depth - 1):  # loop over depth only, vectorised over queries
        placed |= (indices == block[:, r:r + 1]) & (block[:, r:r + 1] >= 0)
    cand = np.concatenate([top1[:, None], block, indices], axis=1)
    keep = np.concatenate([has[:, None], block >= 0, (indices >= 0) & ~placed], axis=1)
    # stable compaction of the kept entries to the front, cut to the input length
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(keep, order, axis=1)
    out = np.where(kept, np.take_along_axis(cand, order, axis=1), -1)
    out[~has] = indices[~has]
    if distances is None or nbr_dist is None:
        return out, None
    d0 = distances[:, :1].astype(np.float64)
    block_d = np.full((n_q, depth - 1), np.inf)
    block_d[qi, rank[qi, mi] - 1] = d0[qi, 0] + nbr_dist[qi, mi]
    raw = np.concatenate([d0, block_d, distances.astype(np.float64)], axis=1)
    raw = np.take_along_axis(raw, order, axis=1)
    # kept entries form a prefix; the running maximum keeps the list ascending
    dist = np.where(kept, np.maximum.accumulate(np.where(kept, raw, -np.inf), axis=1), np.inf)
    dist[~has] = distances[~has]
    return out, dist.astype(np.float32)


def top1_rerank(indices: np.ndarray, gallery_gallery_neighbours: np.ndarray, *,
                depth: int = 10) -> np.ndarray:
    """Top-1 re-rank of paper ``shang``: [Q, K] gallery indices -> re-ranked [Q, K].

    For each query with top-1 gallery item t = ``indices[q, 0]``:

    * rank 1 stays t;
    * ranks 2..depth are t's nearest gallery neighbours, read in order from
      ``gallery_gallery_neighbours[t]`` (row t: gallery indices, nearest first, -1 padding).
      t itself, -1 and an item already placed are skipped and the next neighbour is taken. If
      the row runs out first, the next rule starts earlier;
    * then the query's own list, with every item already placed removed, in its original order.

    The output keeps the input length K (items pushed past rank K are dropped; a short list is
    padded with -1). ``depth = 1`` returns the input. Rows whose top-1 is -1 are returned as is.
    """
    idx, nbrs = _top1_inputs(indices, gallery_gallery_neighbours, depth)
    if len(nbrs) == 0:  # empty gallery: every list is all -1
        return idx.copy()
    out, _ = _top1_core(idx, None, nbrs[np.maximum(idx[:, 0], 0)], None, depth)
    return out


def _top1_inputs(indices: np.ndarray, gg: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    depth = _check_int("depth", depth, 1)
    gg_arr = np.asarray(gg)
    if gg_arr.ndim != 2:
        raise ContractError(f"'gallery_gallery_neighbours' must be a 2-D [G, M] matrix, "
                            f"got shape {gg_arr.shape}")
    nbrs = _check_index_matrix(gg_arr, "gallery_gallery_neighbours", len(gg_arr))
    return _check_ranked_list(indices, len(gg_arr)), nbrs


def top1_rerank_with_distances(indices: np.ndarray, distances: np.ndarray,
                               gallery_gallery_neighbours: np.ndarray,
                               gallery_gallery_distances: np.ndarray, *, depth: int = 10
                               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top1_rerank` that also returns ascending distances [Q, K] (float32).

    Distance convention: rank 1 keeps the query's distance d(q, t); a neighbour n placed at
    ranks 2..depth gets d(q, t) + d(t, n) (query -> top-1 -> neighbour, the path it was found
    by); the rest keep their own d(q, j). A running maximum is then taken along the list, so an
    item that follows a larger distance gets that distance: the list is ascending, a tie means
    "ranked after, no closer than". -1 padding gets inf. ``distances`` and
    ``gallery_gallery_distances`` must be in the same units (e.g. both squared Euclidean).
    """
    idx, nbrs = _top1_inputs(indices, gallery_gallery_neighbours, depth)
    dist = np.asarray(distances, dtype=np.float64)
    gg_d = np.asarray(gallery_gallery_distances, dtype=np.float64)
    if dist.shape != idx.shape:
        raise ContractError(f"'distances' {dist.shape} must have the shape of 'indices' {idx.shape}")
    if gg_d.shape != nbrs.shape:
        raise ContractError(f"'gallery_gallery_distances' {gg_d.shape} must have the shape of "
                            f"'gallery_gallery_neighbours' {nbrs.shape}")
    if not np.isfinite(dist[idx >= 0]).all() or not np.isfinite(gg_d[nbrs >= 0]).all():
        raise ContractError("NaN/inf distance for a listed gallery item")
    if len(nbrs) == 0:  # empty gallery: every list is all -1
        return idx.copy(), dist.astype(np.float32)
    rows = np.maximum(idx[:, 0], 0)
    out, out_d = _top1_core(idx, dist, nbrs[rows], gg_d[rows], depth)
    assert out_d is not None
    return out, out_d


def gallery_neighbours(gallery: np.ndarray, k: int, *, rows: np.ndarray | None = None,
                       metric: Metric = "sqeuclidean") -> tuple[np.ndarray, np.ndarray]:
    """Nearest gallery neighbours (itself included) of ``gallery[rows]`` by exact faiss search.

    Returns (indices [R, k'] int64, distances [R, k'] float32), k' = min(k, G); distances are
    squared Euclidean (``metric="sqeuclidean"``) or 1 - inner product (``"cosine"``).
    """
    g = _as_features(gallery, "gallery")
    k = min(_check_int("k", k, 1), len(g))
    sel = np.arange(len(g)) if rows is None else np.asarray(rows, dtype=np.int64)
    if metric == "sqeuclidean":
        index = faiss.IndexFlatL2(g.shape[1])
    elif metric == "cosine":
        index = faiss.IndexFlatIP(g.shape[1])
    else:
        raise ConfigError(f"parameter 'metric' must be 'sqeuclidean' or 'cosine', got {metric!r}")
    index.add(g)
    dist, idx = index.search(g[sel], k)
    dist = np.maximum(dist, 0.0) if metric == "sqeuclidean" else 1.0 - dist
    return idx.astype(np.int64), dist.astype(np.float32)


def top1_rerank_ranking(ranking: Ranking, gallery_emb: np.ndarray, depth: int = 10, *,
                        metric: Metric = "sqeuclidean") -> Ranking:
    """:func:`top1_rerank_with_distances` on a :class:`Ranking`, neighbours from ``gallery_emb``.

    ``gallery_emb`` [G, D] must be the gallery in the ranking's gallery order. The top-1 items'
    ``depth`` nearest gallery neighbours are searched with faiss (``metric`` should match the
    units of the ranking's distances). The result keeps the ranking's ids/labels/categories;
    ``model`` gets the suffix ``+top1_rerank`` and ``fingerprint`` hashes the input fingerprint,
    depth and metric.
    """
    ranking.validate("<ranking>")
    depth = _check_int("depth", depth, 1)
    g = _as_features(gallery_emb, "gallery_emb")
    if len(g) != len(ranking.gallery_ids):
        raise ContractError(f"'gallery_emb' has {len(g)} rows, the ranking's gallery has "
                            f"{len(ranking.gallery_ids)}")
    idx = _check_ranked_list(ranking.indices, len(g))
    top1 = idx[:, 0]
    uniq = np.unique(top1[top1 >= 0])
    k = min(depth, len(g))
    nbrs = np.full((len(idx), k), -1, dtype=np.int64)
    nbr_d = np.zeros((len(idx), k))
    if len(uniq):
        u_idx, u_dist = gallery_neighbours(g, k, rows=uniq, metric=metric)
        has = top1 >= 0
        at = np.searchsorted(uniq, top1[has])
        nbrs[has], nbr_d[has] = u_idx[at], u_dist[at]
    return _top1_ranking(ranking, idx, nbrs, nbr_d, depth,
                         fingerprint("top1_rerank", {"base": ranking.fingerprint, "depth": depth, "metric": metric}))


def top1_rerank_from_neighbours(ranking: Ranking, neighbours: np.ndarray, neighbour_distances: np.ndarray,
                                depth: int = 10) -> Ranking:
    """:func:`top1_rerank_with_distances` with the top-1's neighbours given per query.

    ``neighbours[q]`` [Q, M] lists the gallery neighbours (nearest first, -1 padding; the top-1
    itself may be among them and is skipped) of ``ranking.indices[q, 0]`` under whatever
    distance the caller's ranking uses — e.g. the routed, fused distance of a ``route`` fusion
    (:func:`fashionbench.retrieval.routing.route_top1_neighbours`), where the neighbours of the same
    gallery image can differ between queries routed to different categories.
    ``neighbour_distances`` [Q, M] are in the ranking's distance units. Same rules as
    :func:`top1_rerank`: rank 1 stays the top-1; ranks 2..``depth`` take the neighbours in
    order, skipping the top-1, -1 and repeats; then the query's own list without the items
    already placed, in its original order, cut to the ranking's length K. Distances: d(q, t) at
    rank 1, d(q, t) + d(t, n) for a placed neighbour, the item's own d(q, j) after that, made
    ascending by a running maximum. ``model`` gets ``+top1_rerank``.
    """
    ranking.validate("<ranking>")
    depth = _check_int("depth", depth, 1)
    n_g = len(ranking.gallery_ids)
    idx = _check_ranked_list(ranking.indices, n_g)
    nbrs = _check_index_matrix(neighbours, "neighbours", n_g)
    nd = np.asarray(neighbour_distances, dtype=np.float64)
    if nbrs.shape[0] != idx.shape[0] or nd.shape != nbrs.shape:
        raise ContractError(f"'neighbours' {nbrs.shape} and 'neighbour_distances' {nd.shape} must be "
                            f"[{idx.shape[0]}, M]")
    if not np.isfinite(nd[nbrs >= 0]).all():
        raise ContractError("NaN/inf distance for a listed neighbour")
    return _top1_ranking(ranking, idx, nbrs, nd, depth, fingerprint(
        "top1_rerank_from_neighbours", {"base": ranking.fingerprint, "depth": depth,
                                        "neighbours": hashlib.sha256(np.ascontiguousarray(nbrs).tobytes()).hexdigest()}))


def _top1_ranking(ranking: Ranking, idx: np.ndarray, nbrs: np.ndarray, nbr_d: np.ndarray, depth: int,
                  fp: str) -> Ranking:
    """The top-1 re-rank of ``ranking`` (``idx``: its checked indices) as a Ranking with fingerprint ``fp``."""
    out, out_d = _top1_core(idx, ranking.distances.astype(np.float64), nbrs, nbr_d, depth)
    assert out_d is not None
    return Ranking(
        indices=out, distances=out_d, query_ids=ranking.query_ids,
        gallery_ids=ranking.gallery_ids, query_labels=ranking.query_labels,
        gallery_labels=ranking.gallery_labels, query_categories=ranking.query_categories,
        gallery_categories=ranking.gallery_categories, model=f"{ranking.model}+top1_rerank",
        fingerprint=fp,
    ).validate("<top1_rerank>")
