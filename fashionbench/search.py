"""Exact nearest-neighbour search by inner product (faiss), with a deterministic tie rule.

Similarity is the inner product ``q . g``; higher is closer. The search is exact
(``faiss.IndexFlatIP``; a GPU copy of it when ``faiss.get_num_gpus() > 0``).

Tie rule (shared with :mod:`fashionbench.metrics` and :mod:`fashionbench.fusion`): gallery items
with equal similarity are ranked by ascending gallery index, as a stable sort of ``-similarity``
would rank them. faiss does not promise this, neither inside the returned list nor at its end
(a group of equal similarities cut by ``k``), so :func:`search` asks faiss for a few more
candidates than ``k``, re-sorts them by ``(-similarity, index)`` and, for the rare rows whose
tie group at the cut is not complete in the candidates, searches again with twice as many.
"Equal" means equal float32 values as computed by faiss; faiss may round the same product
differently from numpy's matmul in the last bit, so two libraries agree on the order of
*exact* ties (duplicate vectors, small-integer data) but not necessarily on near-ties.

Padding: when ``k`` is larger than the gallery, each row holds the whole gallery followed by
index ``-1`` with similarity ``-inf`` (``1 - sim = +inf`` as a ranking distance).
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from .artifacts import Embeddings, Ranking
from .errors import ConfigError, ContractError

DEFAULT_CHUNK_SIZE = 4096
# Extra candidates fetched beyond k so that a tie group at the cut is usually complete.
_TIE_MARGIN = 8
# faiss GPU flat search supports k up to 2048; larger k runs on the CPU index.
_GPU_MAX_K = 2048


def check_matrix(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a C-contiguous 2-D float32 array; raise :class:`ContractError` if it is
    not 2-D float32 or holds NaN/inf (the message names ``name`` and the first bad row)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ContractError(f"{name}: must be a 2-D [N, D] matrix, got shape {arr.shape}")
    if arr.dtype != np.float32:
        raise ContractError(f"{name}: must be float32, got {arr.dtype}")
    if arr.shape[1] == 0:
        raise ContractError(f"{name}: has 0 dimensions")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ContractError(f"{name}: {int((~finite).sum())} row(s) hold NaN/inf (first: row {row})")
    return np.ascontiguousarray(arr)


def check_pair(query: Any, gallery: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a query/gallery pair: both 2-D float32 and finite, same dimension, gallery
    non-empty. Returns them C-contiguous."""
    q = check_matrix(query, "query")
    g = check_matrix(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ContractError(f"query dim {q.shape[1]} != gallery dim {g.shape[1]}")
    if g.shape[0] == 0:
        raise ContractError("gallery: is empty (0 rows)")
    return q, g


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int >= 1 or raise :class:`ConfigError` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees at least one GPU."""
    get = getattr(faiss, "get_num_gpus", None)  # faiss-cpu builds may lack it
    if get is None:
        return False
    try:
        return int(get()) > 0
    except Exception:  # a broken CUDA setup must not break CPU search
        return False


class _FlatIP:
    """An exact inner-product index over ``gallery``, on the GPU when asked (CPU fallback)."""

    def __init__(self, gallery: np.ndarray, use_gpu: bool):
        self.cpu = faiss.IndexFlatIP(gallery.shape[1])
        self.cpu.add(gallery)
        self.gpu = None
        if use_gpu:
            self._res = faiss.StandardGpuResources()  # must outlive the GPU index
            self.gpu = faiss.index_cpu_to_gpu(self._res, 0, self.cpu)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss convention: returns (similarities [n, k], indices [n, k])."""
        index = self.gpu if self.gpu is not None and k <= _GPU_MAX_K else self.cpu
        return index.search(np.ascontiguousarray(x), k)


def _make_index(gallery: np.ndarray, use_gpu: bool) -> _FlatIP:
    return _FlatIP(gallery, use_gpu)


def _order(sims: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort candidate rows by (-similarity, index) and keep the first ``k``."""
    order = np.lexsort((idx, -sims), axis=1)[:, :k]
    return (np.take_along_axis(idx, order, axis=1).astype(np.int64, copy=False),
            np.take_along_axis(sims, order, axis=1).astype(np.float32, copy=False))


def _search_chunk(index: _FlatIP, qc: np.ndarray, k: int, n_gallery: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (k <= n_gallery) of one query chunk under the tie rule."""
    out_i = np.empty((len(qc), k), np.int64)
    out_s = np.empty((len(qc), k), np.float32)
    rows = np.arange(len(qc))
    kk = min(n_gallery, k + _TIE_MARGIN)
    while rows.size:
        sims, idx = index.search(qc[rows], kk)
        top_i, top_s = _order(sims, idx, k)
        # The candidates hold every item tied with the k-th one when they reach an item
        # strictly below it (or the whole gallery); otherwise faiss may have dropped a tied
        # item with a lower index, so those rows are searched again with more candidates.
        done = (sims.min(axis=1) < top_s[:, k - 1]) if kk < n_gallery else np.ones(len(rows), bool)
        out_i[rows[done]] = top_i[done]
        out_s[rows[done]] = top_s[done]
        rows = rows[~done]
        kk = min(n_gallery, 2 * kk)
    return out_i, out_s


def search(query: np.ndarray, gallery: np.ndarray, k: int, *,
           chunk_size: int = DEFAULT_CHUNK_SIZE, use_gpu: bool | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` gallery items of each query by inner product (higher is closer).

    Args:
        query: [Q, D] float32, finite.
        gallery: [G, D] float32, finite, G >= 1.
        k: list length (>= 1). When ``k > G`` the rows end in index ``-1`` / similarity
            ``-inf``.
        chunk_size: queries searched per faiss call (bounds the candidate buffers).
        use_gpu: ``None`` = use a GPU when faiss has one; ``False`` = CPU only.

    Returns:
        ``(indices int64 [Q, k], similarities float32 [Q, k])``, similarities descending per
        row, equal similarities in ascending gallery index (the module's tie rule).
    """
    q, g = check_pair(query, gallery)
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk_size, "chunk_size")
    n_gallery = g.shape[0]
    k_eff = min(k, n_gallery)
    indices = np.full((q.shape[0], k), -1, np.int64)
    sims = np.full((q.shape[0], k), -np.inf, np.float32)
    if q.shape[0] == 0:
        return indices, sims
    index = _make_index(g, gpu_available() if use_gpu is None else bool(use_gpu))
    for start in range(0, q.shape[0], chunk):
        stop = min(start + chunk, q.shape[0])
        indices[start:stop, :k_eff], sims[start:stop, :k_eff] = _search_chunk(
            index, q[start:stop], k_eff, n_gallery)
    return indices, sims


def to_ranking(emb: Embeddings, k: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
               use_gpu: bool | None = None) -> Ranking:
    """Search an embedding file's queries against its gallery and return a :class:`Ranking`.

    Distances are ``1 - similarity`` (ascending; ``+inf`` on ``-1`` padding); ids, labels,
    categories, ``model`` and ``fingerprint`` are copied from ``emb``. The order is the one
    :func:`search` returns (ties by ascending gallery index) and is kept even where two
    different similarities round to the same float32 distance.
    """
    emb.validate()
    indices, sims = search(emb.query, emb.gallery, k, chunk_size=chunk_size, use_gpu=use_gpu)
    distances = (np.float32(1.0) - sims).astype(np.float32)
    ranking = Ranking(
        indices=indices, distances=distances,
        query_ids=emb.query_ids, gallery_ids=emb.gallery_ids,
        query_labels=emb.query_labels, gallery_labels=emb.gallery_labels,
        query_categories=emb.query_categories, gallery_categories=emb.gallery_categories,
        model=emb.model, fingerprint=emb.fingerprint)
    return ranking.validate()
