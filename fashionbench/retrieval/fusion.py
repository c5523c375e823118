"""Distance fusion of several models (paper ``shang``, eq. 4: the mean of the models' distances).

Every model's query and gallery embeddings must be L2-normalised (checked: a row norm off by
more than ``norm_tol`` raises :class:`ContractError`). The per-model distance is the cosine
distance ``d_m = 1 - q_m . g_m`` in [0, 2], and the fused distance is the weighted mean

    ``d(q, g) = sum_m w_m * d_m(q, g) = 1 - sum_m w_m * (q_m . g_m)``,  ``sum_m w_m = 1``

(equal weights by default, so ``d`` is the plain mean of eq. 4). The squared Euclidean form
``||q_m - g_m||^2 = 2 - 2 q_m . g_m`` gives ``2 d``: a positive multiple, so both choices rank
the gallery identically; this module reports the cosine form.

Memory: queries are processed in chunks (default: a working set of about 64 MB: the fused
distance block, one model's similarity block and argpartition's index block). For each chunk
every model's chunk x G similarities are accumulated into one block and the k smallest
distances are taken with ``numpy.argpartition``; a Q x G matrix is never held.

Tie rule (as :mod:`fashionbench.retrieval.search`): equal fused distances are ordered by ascending
gallery index, also where the cut at ``k`` splits a group of equal distances. When ``k > G``
the rows end in index ``-1`` with distance ``+inf``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from fashionbench.retrieval.search import check_matrix

from fashionbench.core.artifacts import Embeddings, Ranking, fingerprint
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import check_positive_int

_CHUNK_BYTES = 64 << 20
_BYTES_PER_CELL = 36  # fused float64 + model float64 + float32 + argpartition int64 + masks, per (q, g)
DEFAULT_NORM_TOL = 1e-3


def _check_unit_rows(x: np.ndarray, name: str, tol: float) -> None:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    bad = np.abs(norms - 1.0) > tol
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ContractError(f"{name}: {int(bad.sum())} row(s) are not L2-normalised "
                            f"(row {row} has norm {norms[row]:.6f}); normalise the embeddings")


def _check_weights(weights: Sequence[float] | None, n_models: int) -> np.ndarray:
    if weights is None:
        return np.full(n_models, 1.0 / n_models)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"weights must be {n_models} numbers, got {weights!r}") from exc
    if w.shape != (n_models,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"weights must be {n_models} finite numbers >= 0 with a positive sum, "
                          f"got {weights!r}")
    return w / w.sum()


def _check_models(queries: Sequence[Any], galleries: Sequence[Any], norm_tol: float
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if len(queries) == 0 or len(queries) != len(galleries):
        raise ContractError(f"need one query and one gallery matrix per model, got "
                            f"{len(queries)} query and {len(galleries)} gallery matrices")
    qs, gs = [], []
    for m, (q, g) in enumerate(zip(queries, galleries)):
        q, g = check_matrix(q, f"queries[{m}]"), check_matrix(g, f"galleries[{m}]")
        if q.shape[1] != g.shape[1]:
            raise ContractError(f"model {m}: query dim {q.shape[1]} != gallery dim {g.shape[1]}")
        for name, x, seen in (("queries", q, qs), ("galleries", g, gs)):
            if seen and x.shape[0] != seen[0].shape[0]:
                raise ContractError(f"{name}[{m}] has {x.shape[0]} rows, {name}[0] has "
                                    f"{seen[0].shape[0]}")
        _check_unit_rows(q, f"queries[{m}]", norm_tol)
        _check_unit_rows(g, f"galleries[{m}]", norm_tol)
        qs.append(q)
        gs.append(g)
    if gs[0].shape[0] == 0:
        raise ContractError("galleries: are empty (0 rows)")
    return qs, gs


def smallest_k(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` (<= columns) smallest entries of each row of ``dist``, ascending, ties by
    ascending column index (also where the cut at ``k`` splits a tie group).

    Returns ``(indices int64 [n, k], values float32 [n, k])``.
    """
    n, g = dist.shape
    if k < g:
        idx = np.argpartition(dist, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(dist, idx, axis=1)
        kth = vals.max(axis=1)
        # argpartition keeps an arbitrary subset of a tie group cut by k: rows with more
        # entries <= the k-th value than k re-select the lowest indices of that group.
        cut = np.flatnonzero(np.count_nonzero(dist <= kth[:, None], axis=1) > k)
        if cut.size:
            sub, kb = dist[cut], kth[cut, None]
            eq = sub == kb
            need = k - np.count_nonzero(sub < kb, axis=1)
            take = (sub < kb) | (eq & (np.cumsum(eq, axis=1, dtype=np.int32) <= need[:, None]))
            idx[cut] = np.nonzero(take)[1].reshape(len(cut), k)
            vals[cut] = np.take_along_axis(sub, idx[cut], axis=1)
    else:
        idx = np.broadcast_to(np.arange(g), (n, g))
        vals = dist
    order = np.lexsort((idx, vals), axis=1)
    return (np.take_along_axis(idx, order, axis=1).astype(np.int64),
            np.take_along_axis(vals, order, axis=1).astype(np.float32))


def fuse_search(queries: Sequence[np.ndarray], galleries: Sequence[np.ndarray], k: int, *,
                weights: Sequence[float] | None = None, chunk_size: int | None = None,
                norm_tol: float = DEFAULT_NORM_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items by fused distance (weighted mean of per-model ``1 - ip``).

    Args:
        queries: one [Q, D_m] float32 L2-normalised matrix per model (same Q).
        galleries: one [G, D_m] float32 L2-normalised matrix per model (same G, same row
            order across models).
        k: list length (>= 1); ``k > G`` pads with index ``-1`` / distance ``+inf``.
        weights: per-model weights (>= 0, normalised to sum 1); ``None`` = equal.
        chunk_size: queries per block; default keeps the block's working set near 64 MB
            (about ``20 * chunk_size * G`` bytes).
        norm_tol: allowed deviation of a row's L2 norm from 1.

    Returns:
        ``(indices int64 [Q, k], distances float32 [Q, k])``, distances ascending, equal
        distances by ascending gallery index.
    """
    qs, gs = _check_models(queries, galleries, norm_tol)
    w = _check_weights(weights, len(qs))
    k = check_positive_int(k, "k")
    n_q, n_g = qs[0].shape[0], gs[0].shape[0]
    chunk = (max(1, _CHUNK_BYTES // (_BYTES_PER_CELL * n_g)) if chunk_size is None
             else check_positive_int(chunk_size, "chunk_size"))
    k_eff = min(k, n_g)
    indices = np.full((n_q, k), -1, np.int64)
    distances = np.full((n_q, k), np.inf, np.float32)
    gs = [g.astype(np.float64) for g in gs]
    for start in range(0, n_q, chunk):
        stop = min(start + chunk, n_q)
        # float64 sums rounded once to float32: the same bits on every CPU (retrieval.similarity)
        acc = np.zeros((stop - start, n_g), np.float64)
        for wm, q, g in zip(w, qs, gs):
            if wm == 0:
                continue
            acc += float(wm) * (q[start:stop].astype(np.float64) @ g.T)
        acc = (1.0 - acc).astype(np.float32)                        # fused distance
        indices[start:stop, :k_eff], distances[start:stop, :k_eff] = smallest_k(acc, k_eff)
    return indices, distances


def fuse_embeddings(embs: Sequence[Embeddings], k: int, *,
                    weights: Sequence[float] | None = None, chunk_size: int | None = None,
                    norm_tol: float = DEFAULT_NORM_TOL) -> Ranking:
    """Fuse several models' embedding files into one :class:`Ranking` (see :func:`fuse_search`).

    All files must list the same query ids and the same gallery ids in the same order (and
    agree on their labels and categories); :class:`ContractError` names the first file and
    row that differ. The ranking's ``model`` is ``fusion(<m1>+<m2>+...)`` and its
    ``fingerprint`` hashes the input fingerprints, weights and ``k``.
    """
    if len(embs) == 0:
        raise ContractError("fuse_embeddings: no embedding files given")
    for e in embs:
        e.validate(f"<embeddings of {e.model}>")
    ref = embs[0]
    for m, e in enumerate(embs[1:], start=1):
        for key in ("query_ids", "gallery_ids", "query_labels", "gallery_labels",
                    "query_categories", "gallery_categories"):
            a, b = getattr(ref, key), getattr(e, key)
            if len(a) != len(b):
                raise ContractError(f"embeddings {m} ({e.model}): '{key}' has {len(b)} rows, "
                                    f"embeddings 0 ({ref.model}) has {len(a)}")
            diff = np.flatnonzero(a != b)
            if diff.size:
                i = int(diff[0])
                raise ContractError(f"embeddings {m} ({e.model}): '{key}' differs from embeddings "
                                    f"0 ({ref.model}) at row {i}: {b[i]!r} != {a[i]!r} "
                                    "(all models must list the same items in the same order)")
    w = _check_weights(weights, len(embs))
    indices, distances = fuse_search([e.query for e in embs], [e.gallery for e in embs], k,
                                     weights=w, chunk_size=chunk_size, norm_tol=norm_tol)
    fp = fingerprint("fusion", {"models": [e.fingerprint for e in embs],
                                "weights": [float(x) for x in w], "k": int(k)})
    ranking = Ranking(
        indices=indices, distances=distances,
        query_ids=ref.query_ids, gallery_ids=ref.gallery_ids,
        query_labels=ref.query_labels, gallery_labels=ref.gallery_labels,
        query_categories=ref.query_categories, gallery_categories=ref.gallery_categories,
        model="fusion(" + "+".join(e.model for e in embs) + ")", fingerprint=fp)
    return ranking.validate()
