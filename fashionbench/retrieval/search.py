"""Exact nearest-neighbour search by inner product (faiss), with a deterministic tie rule.

Similarity is the inner product ``q . g``; higher is closer. The search is exact
(``faiss.IndexFlatIP``; a GPU copy of it when ``faiss.get_num_gpus() > 0``).

Tie rule (shared with :mod:`fashionbench.retrieval.metrics` and :mod:`fashionbench.retrieval.fusion`): gallery items
with equal similarity are ranked by ascending gallery index, as a stable sort of ``-similarity``
would rank them. faiss does not promise this, neither inside the returned list nor at its end
(a group of equal similarities cut by ``k``), so :func:`search` asks faiss for a few more
candidates than ``k``, re-scores them exactly (:mod:`fashionbench.retrieval.similarity`: float64
accumulation rounded to float32, the same bits on every CPU), re-sorts them by
``(-similarity, index)`` and, for the rare rows whose candidates may miss an item tied with or
above the k-th (faiss's own float32 sums are off by up to ``D * 2**-24 * |q| * max|g|``), searches
again with twice as many. "Equal" means equal re-scored float32 values, so the order, near-ties
included, is the same on every machine and the same as :mod:`fashionbench.retrieval.metrics` gives.

Padding: when ``k`` is larger than the gallery, each row holds the whole gallery followed by
index ``-1`` with similarity ``-inf`` (``1 - sim = +inf`` as a ranking distance).

Scale (see README "Scaling"):

- GPUs: with ``faiss.get_num_gpus() > 1`` the exact index is sharded over all GPUs
  (``index_cpu_to_all_gpus`` with ``shard=True``: an ``IndexShards`` whose results faiss merges);
  one GPU gets a plain GPU copy. Approximate IVF indexes are cloned the same way; HNSW stays on
  the CPU (faiss has no GPU HNSW).
- Approximate search (:func:`approximate_search`, parameter ``eval.index``): ``ivf_flat``,
  ``ivf_pq`` (compressed codes: a gallery of millions fits in memory) or ``hnsw``. Never silent:
  the evaluate stage measures the approximate ranking's recall@k against exact search
  (:func:`index_metrics`) and writes it into the metrics file (``index_recall@10``, ...).
- Memory-mapped galleries (``storage="memmap"`` embedding files) are validated and added to an
  approximate index block by block; :func:`exact_search_blocked` is an exact search whose
  memory is bounded by a gallery block (used to measure recall on galleries beyond RAM).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any, Iterator, Mapping, Sequence

import faiss
import numpy as np

from fashionbench.core.artifacts import Embeddings, Ranking
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import check_positive_int
from fashionbench.retrieval.similarity import candidate_products, inner_products

DEFAULT_CHUNK_SIZE = 4096
# Extra candidates fetched beyond k so that a tie group at the cut is usually complete.
_TIE_MARGIN = 8
# faiss GPU flat search supports k up to 2048; larger k runs on the CPU index.
_GPU_MAX_K = 2048
# Rows per block when validating or adding a (possibly memory-mapped) matrix.
_CHECK_BLOCK_ROWS = 65536


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
    n_bad, row = 0, -1
    for start in range(0, arr.shape[0], _CHECK_BLOCK_ROWS):  # blocks: no full-size temporary
        finite = np.isfinite(arr[start:start + _CHECK_BLOCK_ROWS]).all(axis=1)
        if not finite.all():
            n_bad += int((~finite).sum())
            row = row if row >= 0 else start + int(np.flatnonzero(~finite)[0])
    if n_bad:
        raise ContractError(f"{name}: {n_bad} row(s) hold NaN/inf (first: row {row})")
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
        self.gpu = _to_gpu(self.cpu) if use_gpu else None

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss convention: returns (similarities [n, k], indices [n, k])."""
        index = self.gpu if self.gpu is not None and k <= _GPU_MAX_K else self.cpu
        return index.search(np.ascontiguousarray(x), k)


def _to_gpu(cpu_index: Any) -> Any:
    """A GPU copy of ``cpu_index``: sharded over all GPUs (``IndexShards``) when there are
    several, a plain GPU index on one. Not exercised on a real GPU by the test suite (no GPU in
    CI); the call sequence is tested with a stand-in faiss."""
    n_gpus = int(faiss.get_num_gpus())
    if n_gpus > 1:
        co = faiss.GpuMultipleClonerOptions()
        co.shard = True  # each GPU holds 1/n of the gallery; faiss merges the shards' results
        return faiss.index_cpu_to_all_gpus(cpu_index, co=co)
    res = faiss.StandardGpuResources()
    gpu = faiss.index_cpu_to_gpu(res, 0, cpu_index)
    gpu.referenced_resources = res  # the resources must outlive the GPU index
    return gpu


def _make_index(gallery: np.ndarray, use_gpu: bool) -> _FlatIP:
    return _FlatIP(gallery, use_gpu)


def _order(sims: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort candidate rows by (-similarity, index) and keep the first ``k``."""
    order = np.lexsort((idx, -sims), axis=1)[:, :k]
    return (np.take_along_axis(idx, order, axis=1).astype(np.int64, copy=False),
            np.take_along_axis(sims, order, axis=1).astype(np.float32, copy=False))


def _search_chunk(index: _FlatIP, qc: np.ndarray, k: int, gallery: np.ndarray, g_max_norm: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (k <= n_gallery) of one query chunk under the tie rule, exactly re-scored."""
    n_gallery, dim = gallery.shape
    out_i = np.empty((len(qc), k), np.int64)
    out_s = np.empty((len(qc), k), np.float32)
    # bound on |faiss's float32 inner product - the exact one| per query (module docstring)
    tol = 1.01 * dim * 2.0 ** -24 * np.linalg.norm(qc.astype(np.float64), axis=1) * g_max_norm
    rows = np.arange(len(qc))
    kk = min(n_gallery, k + _TIE_MARGIN)
    while rows.size:
        if 4 * kk >= n_gallery:   # most of the gallery: score all of it exactly
            out_i[rows], out_s[rows] = _exact_top_k(qc[rows], gallery, k)
            break
        approx, idx = index.search(qc[rows], kk)
        sims = candidate_products(qc[rows], gallery, idx)
        top_i, top_s = _order(sims, idx, k)
        # The candidates hold every item tied with or above the k-th one when even the weakest
        # candidate, allowing for faiss's rounding, is strictly below it; otherwise those rows are
        # searched again with more candidates.
        done = approx.min(axis=1) + 2.0 * tol[rows] < top_s[:, k - 1]
        out_i[rows[done]] = top_i[done]
        out_s[rows[done]] = top_s[done]
        rows = rows[~done]
        kk = min(n_gallery, 2 * kk)
    return out_i, out_s


def _exact_top_k(qc: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``qc`` against the whole gallery from exact products, in row blocks of ~64 MB."""
    n_gallery = gallery.shape[0]
    out_i = np.empty((len(qc), k), np.int64)
    out_s = np.empty((len(qc), k), np.float32)
    step = max(1, (64 << 20) // (16 * n_gallery))
    all_idx = np.arange(n_gallery, dtype=np.int64)
    for s in range(0, len(qc), step):
        sims = inner_products(qc[s:s + step], gallery)
        idx = np.broadcast_to(all_idx, sims.shape)
        out_i[s:s + step], out_s[s:s + step] = _order(sims, idx, k)
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
    g_max_norm = float(np.sqrt(float(np.einsum("ij,ij->i", g, g, dtype=np.float64).max())))
    for start in range(0, q.shape[0], chunk):
        stop = min(start + chunk, q.shape[0])
        indices[start:stop, :k_eff], sims[start:stop, :k_eff] = _search_chunk(
            index, q[start:stop], k_eff, g, g_max_norm)
    return indices, sims


def to_ranking(emb: Embeddings, k: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
               use_gpu: bool | None = None, index: Mapping[str, Any] | None = None) -> Ranking:
    """Search an embedding file's queries against its gallery and return a :class:`Ranking`.

    Distances are ``1 - similarity`` (ascending; ``+inf`` on ``-1`` padding); ids, labels,
    categories, ``model`` and ``fingerprint`` are copied from ``emb``. The order is the one
    :func:`search` returns (ties by ascending gallery index) and is kept even where two
    different similarities round to the same float32 distance.
    """
    emb.validate()
    if index_spec(index).approximate:  # an ``eval.index`` block; report its recall (index_metrics)
        indices, sims = approximate_search(emb.query, emb.gallery, k, index, chunk_size=chunk_size, use_gpu=use_gpu)
    else:
        indices, sims = search(emb.query, emb.gallery, k, chunk_size=chunk_size, use_gpu=use_gpu)
    distances = (np.float32(1.0) - sims).astype(np.float32)
    ranking = Ranking(
        indices=indices, distances=distances,
        query_ids=emb.query_ids, gallery_ids=emb.gallery_ids,
        query_labels=emb.query_labels, gallery_labels=emb.gallery_labels,
        query_categories=emb.query_categories, gallery_categories=emb.gallery_categories,
        model=emb.model, fingerprint=emb.fingerprint)
    return ranking.validate()


# --------------------------------------------------------------------------------------------
# Approximate search and its measured recall

INDEX_TYPES: tuple[str, ...] = ("exact", "ivf_flat", "ivf_pq", "hnsw")


@dataclass(frozen=True)
class IndexSpec:
    """An ``eval.index`` block. ``type``: ``exact`` | ``ivf_flat`` | ``ivf_pq`` | ``hnsw``.

    IVF: ``nlist`` inverted lists (default ``round(sqrt(G))``, at most ``G // 39``), ``nprobe``
    lists searched per query (16), ``train_size`` vectors to train the coarse quantizer (and PQ)
    on (default ``min(G, 64 * nlist)``, at least ``2**nbits`` for PQ), a seeded sample.
    IVF-PQ: ``m`` sub-quantizers (default ``D / 8``; must divide D), ``nbits`` per code (8).
    HNSW: ``hnsw_m`` links per node (32), ``ef_construction`` (200), ``ef_search`` (128); built
    single-threaded so that the graph (and the result) is deterministic.
    ``rescore``: re-score the candidates with exact inner products read from the gallery (for
    ``ivf_pq``, whose similarities are approximate), fetching ``k * k_factor`` candidates.
    ``recall_queries``: number of queries (a seeded sample; ``null`` = all) on which the recall
    against exact search is measured. ``seed``: sampling and k-means seed.
    """

    type: str = "exact"
    nlist: int | None = None
    nprobe: int = 16
    m: int | None = None
    nbits: int = 8
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    train_size: int | None = None
    rescore: bool = False
    k_factor: int = 1
    recall_queries: int | None = None
    seed: int = 0

    @property
    def approximate(self) -> bool:
        """True for every type but ``exact``."""
        return self.type != "exact"

    def describe(self) -> str:
        """One line naming the index and its non-default settings."""
        if not self.approximate:
            return "exact inner-product search (faiss IndexFlatIP)"
        keys = {"ivf_flat": ("nlist", "nprobe"), "ivf_pq": ("nlist", "nprobe", "m", "nbits"),
                "hnsw": ("hnsw_m", "ef_construction", "ef_search")}[self.type]
        opts = ", ".join(f"{k}={getattr(self, k) if getattr(self, k) is not None else 'auto'}" for k in keys)
        return f"approximate {self.type} ({opts}{', rescored exactly' if self.rescore else ''})"


def index_spec(cfg: Mapping[str, Any] | IndexSpec | None, where: str = "eval.index") -> IndexSpec:
    """Validate an ``eval.index`` block (``None`` = exact); errors name ``where.<key>``."""
    if isinstance(cfg, IndexSpec):
        return cfg
    if cfg is None:
        return IndexSpec()
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where}: expected a mapping like {{type: ivf_flat, nprobe: 16}}, got {cfg!r}")
    known = [f.name for f in fields(IndexSpec)]
    unknown = sorted(set(cfg) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {known}")
    if cfg.get("type", "exact") not in INDEX_TYPES:
        raise ConfigError(f"{where}.type: {cfg.get('type')!r} is not one of {list(INDEX_TYPES)}")
    for key in ("nlist", "m", "train_size", "recall_queries"):
        if cfg.get(key) is not None:
            check_positive_int(cfg[key], f"{where}.{key}")
    for key in ("nprobe", "nbits", "hnsw_m", "ef_construction", "ef_search", "k_factor"):
        if key in cfg:
            check_positive_int(cfg[key], f"{where}.{key}")
    if "seed" in cfg and (isinstance(cfg["seed"], bool) or not isinstance(cfg["seed"], int)):
        raise ConfigError(f"{where}.seed: expected an integer, got {cfg['seed']!r}")
    if "rescore" in cfg and not isinstance(cfg["rescore"], bool):
        raise ConfigError(f"{where}.rescore: expected true or false, got {cfg['rescore']!r}")
    if cfg.get("nbits", 8) > 16:
        raise ConfigError(f"{where}.nbits: at most 16 bits per PQ code, got {cfg['nbits']}")
    return IndexSpec(**dict(cfg))


def _blocks(x: np.ndarray, rows: int = _CHECK_BLOCK_ROWS) -> Iterator[np.ndarray]:
    for start in range(0, len(x), rows):
        yield np.ascontiguousarray(x[start:start + rows], dtype=np.float32)


class ApproximateIndex:
    """A faiss approximate inner-product index over a gallery, built deterministically.

    ``build`` trains on a seeded sample of the gallery and adds it block by block (a
    memory-mapped gallery is read in blocks; only the index stays in memory).
    """

    def __init__(self, spec: IndexSpec, index: Any, n: int, d: int, gpu: Any = None):
        self.spec, self.cpu, self.n, self.d, self.gpu = spec, index, n, d, gpu

    @classmethod
    def build(cls, spec: IndexSpec, gallery: np.ndarray, *, use_gpu: bool | None = None,
              where: str = "eval.index") -> "ApproximateIndex":
        """Train and fill the index of ``spec`` over ``gallery`` [G, D] float32 (finite)."""
        if not spec.approximate:
            raise ConfigError(f"{where}.type: 'exact' is not an approximate index (use search())")
        n, d = gallery.shape
        if spec.type == "hnsw":
            index = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = spec.ef_construction
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)  # parallel insertion makes the graph depend on thread timing
            try:
                for block in _blocks(gallery):
                    index.add(block)
            finally:
                faiss.omp_set_num_threads(threads)
            index.hnsw.efSearch = spec.ef_search
            return cls(spec, index, n, d)
        nlist = spec.nlist or max(1, min(round(math.sqrt(n)), n // 39))
        if nlist > n:
            raise ConfigError(f"{where}.nlist: {nlist} lists for a gallery of {n} vectors (at most {n})")
        quantizer = faiss.IndexFlatIP(d)
        if spec.type == "ivf_flat":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            need = nlist
        else:
            m = spec.m or (d // 8 if d % 8 == 0 else 0)
            if not m or d % m:
                raise ConfigError(f"{where}.m: the {d}-d embedding does not split into {spec.m or 'D/8'} "
                                  "sub-vectors; set m to a divisor of the dimension")
            index = faiss.IndexIVFPQ(quantizer, d, nlist, m, spec.nbits, faiss.METRIC_INNER_PRODUCT)
            need = max(nlist, 2 ** spec.nbits)
        train_n = min(n, spec.train_size or max(64 * nlist, need))
        if train_n < need:
            raise ConfigError(f"{where}: {train_n} training vectors but {spec.type} needs at least {need} "
                              f"(nlist={nlist}{', 2**nbits=' + str(2 ** spec.nbits) if spec.type == 'ivf_pq' else ''})"
                              "; use a smaller nlist/nbits or an exact index")
        rows = np.sort(np.random.default_rng(spec.seed).choice(n, size=train_n, replace=False))
        index.cp.seed = spec.seed
        index.train(np.ascontiguousarray(gallery[rows], dtype=np.float32))
        for block in _blocks(gallery):
            index.add(block)
        index.nprobe = min(spec.nprobe, nlist)
        want_gpu = gpu_available() if use_gpu is None else bool(use_gpu)
        gpu = None
        if want_gpu:
            try:
                gpu = _to_gpu(index)
            except Exception as exc:  # e.g. a PQ layout the GPU kernels do not support
                warnings.warn(f"{where}: {spec.type} could not be cloned to the GPU ({exc}); searching on the CPU")
        return cls(spec, index, n, d, gpu)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss convention: (similarities [n, k], indices [n, k]); ``-1`` marks a missing result."""
        use = self.gpu if self.gpu is not None and k <= _GPU_MAX_K else self.cpu
        return use.search(np.ascontiguousarray(x, dtype=np.float32), k)


def _rescore(q: np.ndarray, gallery: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Exact inner products of each query with its candidates (``-inf`` where ``idx`` is -1)."""
    out = np.full(idx.shape, -np.inf, np.float32)
    valid = idx >= 0
    flat = np.unique(idx[valid])
    rows = np.ascontiguousarray(gallery[flat], dtype=np.float32)  # sorted reads from a memmap
    pos = np.searchsorted(flat, np.where(valid, idx, flat[0] if len(flat) else 0))
    sims = np.einsum("qd,qkd->qk", q, rows[pos]) if len(flat) else out
    out[valid] = sims[valid]
    return out


def approximate_search(query: np.ndarray, gallery: np.ndarray, k: int, index: Mapping[str, Any] | IndexSpec | None,
                       *, chunk_size: int = DEFAULT_CHUNK_SIZE, use_gpu: bool | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` by inner product with the approximate index ``index`` (an ``eval.index`` block).

    Same output as :func:`search` (``indices int64 [Q, k]``, ``similarities float32 [Q, k]``,
    descending, ties by ascending index, ``-1``/``-inf`` padding), but the lists are those of
    the approximate index: items it misses are absent, and with ``ivf_pq`` the similarities are
    the codes' approximations unless ``rescore: true``. ``type: exact`` calls :func:`search`.
    Measure what was lost with :func:`index_recall` / :func:`index_metrics`.
    """
    spec = index_spec(index)
    if not spec.approximate:
        return search(query, gallery, k, chunk_size=chunk_size, use_gpu=use_gpu)
    q, g = check_pair(query, gallery)
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk_size, "chunk_size")
    built = ApproximateIndex.build(spec, g, use_gpu=use_gpu)
    return _search_built(built, q, g, k, chunk)


def _search_built(built: ApproximateIndex, q: np.ndarray, g: np.ndarray, k: int, chunk: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    spec = built.spec
    indices = np.full((q.shape[0], k), -1, np.int64)
    sims = np.full((q.shape[0], k), -np.inf, np.float32)
    kk = min(built.n, k * (spec.k_factor if spec.rescore else 1))
    for start in range(0, q.shape[0], chunk):
        qc = q[start:start + chunk]
        s, i = built.search(qc, kk)
        i = i.astype(np.int64)
        s = _rescore(qc, g, i) if spec.rescore else np.where(i >= 0, s, -np.inf).astype(np.float32)
        # sort by (-similarity, index); missing results (-1, -inf) go last
        order = np.lexsort((np.where(i >= 0, i, np.iinfo(np.int64).max), -s), axis=1)[:, :min(k, kk)]
        indices[start:start + len(qc), :order.shape[1]] = np.take_along_axis(i, order, axis=1)
        sims[start:start + len(qc), :order.shape[1]] = np.take_along_axis(s, order, axis=1)
    sims[indices < 0] = -np.inf
    return indices, sims


def exact_search_blocked(query: np.ndarray, gallery: np.ndarray, k: int, *, block_rows: int = 1 << 20,
                         chunk_size: int = DEFAULT_CHUNK_SIZE, use_gpu: bool | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`search` over gallery blocks of ``block_rows`` rows, results merged: the same exact
    answer (tie rule included) with memory bounded by one block (for memory-mapped galleries)."""
    k = check_positive_int(k, "k")
    block = check_positive_int(block_rows, "block_rows")
    n = len(gallery)
    if n <= block:
        return search(query, np.ascontiguousarray(gallery[0:n], dtype=np.float32), k, chunk_size=chunk_size,
                      use_gpu=use_gpu)
    best_i = best_s = None
    for start in range(0, n, block):
        gb = np.ascontiguousarray(gallery[start:start + block], dtype=np.float32)
        i, s = search(query, gb, min(k, len(gb)), chunk_size=chunk_size, use_gpu=use_gpu)
        i = i + start
        if best_i is None:
            best_i, best_s = i, s
        else:  # each block's list is complete under the tie rule, so the merged top-k is too
            best_i, best_s = _order(np.concatenate([best_s, s], axis=1), np.concatenate([best_i, i], axis=1),
                                    min(k, best_i.shape[1] + i.shape[1]))
    out_i = np.full((len(query), k), -1, np.int64)
    out_s = np.full((len(query), k), -np.inf, np.float32)
    out_i[:, :best_i.shape[1]], out_s[:, :best_s.shape[1]] = best_i, best_s
    return out_i, out_s


def index_recall(approx: np.ndarray, exact: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    """recall@k of approximate lists against exact ones: the mean over queries of
    ``|approx[:k] ∩ exact[:k]| / |exact[:k]|`` (``-1`` padding ignored; queries whose exact list
    is empty are skipped). 1.0 means the approximate index returned every true neighbour."""
    a, e = np.asarray(approx), np.asarray(exact)
    if a.shape[0] != e.shape[0]:
        raise ContractError(f"index_recall: {a.shape[0]} approximate rows vs {e.shape[0]} exact rows")
    out: dict[int, float] = {}
    for k in ks:
        k = check_positive_int(k, "k")
        ak, ek = a[:, :k], e[:, :k]
        hits = np.zeros(len(a))
        for s in range(0, len(a), 1024):  # [rows, k, k] comparisons in blocks
            blk_a, blk_e = ak[s:s + 1024], ek[s:s + 1024]
            match = (blk_e[:, :, None] == blk_a[:, None, :]).any(axis=2) & (blk_e >= 0)
            hits[s:s + 1024] = match.sum(axis=1)
        n_true = (ek >= 0).sum(axis=1)
        ok = n_true > 0
        out[k] = float(np.mean(hits[ok] / n_true[ok])) if ok.any() else float("nan")
    return out


def index_metrics(query: np.ndarray, gallery: np.ndarray, approx_indices: np.ndarray,
                  index: Mapping[str, Any] | IndexSpec | None, ks: Sequence[int] = (1, 10)
                  ) -> dict[str, float]:
    """Metrics-file entries reporting an approximate ranking's recall against exact search.

    Exact top-k is computed (:func:`exact_search_blocked`) for ``recall_queries`` queries (a
    seeded sample, or all) and compared with ``approx_indices`` (the approximate ranking's
    rows). Returns ``{"index_approximate": 1, "index_recall@<k>": ..., "index_recall_queries":
    n}`` for ``k`` in ``ks`` and the ranking depth; ``{}`` for an exact index.
    """
    spec = index_spec(index)
    if not spec.approximate:
        return {}
    n_q = len(query)
    depth = approx_indices.shape[1]
    ks = sorted({min(int(k), depth) for k in (*ks, depth)})
    if spec.recall_queries is None or spec.recall_queries >= n_q:
        rows = np.arange(n_q)
    else:
        rows = np.sort(np.random.default_rng(spec.seed).choice(n_q, size=spec.recall_queries, replace=False))
    if not len(rows):
        return {"index_approximate": 1, "index_recall_queries": 0}
    exact, _ = exact_search_blocked(np.ascontiguousarray(np.asarray(query)[rows]), gallery, max(ks))
    rec = index_recall(np.asarray(approx_indices)[rows], exact, ks)
    return {"index_approximate": 1, **{f"index_recall@{k}": v for k, v in rec.items()},
            "index_recall_queries": int(len(rows))}


def index_note(index: Mapping[str, Any] | IndexSpec | None, metrics: Mapping[str, Any]) -> str | None:
    """A Markdown line for reports: the approximate index used and its measured recall (``None``
    for exact search)."""
    spec = index_spec(index)
    if not spec.approximate or "index_approximate" not in metrics:  # exact, or a row that did not search
        return None
    rec = ", ".join(f"{k.split('@')[1]}: {float(v):.4f}" for k, v in metrics.items() if k.startswith("index_recall@"))
    return (f"**Approximate search**: {spec.describe()}. Recall@k of its ranking against exact search, measured "
            f"on {metrics.get('index_recall_queries', '?')} queries — {rec}. The metrics above are those of the "
            "approximate ranking.")
