"""Feature post-processing studied by paper ``ji``: concatenation, PCA whitening, QE and DBA.

Every step is a pure function over float arrays (similarity = inner product, as in the
embedding file contract) and returns new L2-normalised float32 arrays. :func:`apply_steps`
runs a list of named steps, as written in ``params.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import as_features as _as_features
from fashionbench.core.validate import check_int as _check_int
from fashionbench.retrieval.search import search


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_float(name: str, value: object, minimum: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"parameter '{name}' must be a number, got {value!r}")
    if not np.isfinite(value) or value < minimum:
        raise ConfigError(f"parameter '{name}' must be a finite number >= {minimum}, got {value}")
    return float(value)


def _check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ContractError(f"'{name_a}' dim {a.shape[1]} != '{name_b}' dim {b.shape[1]}")


def l2_normalize(x: np.ndarray, name: str = "features", keep_zero: bool = False) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm (float32).

    A zero row is a ContractError naming it, unless ``keep_zero``: then it stays zero (QE and DBA,
    whose input may hold an image a barely trained ReLU head maps to all zeros; such a row has
    similarity 0 to everything and is ranked by the tie rule).
    """
    arr = _as_features(x, name).astype(np.float64)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    if zero.any() and not keep_zero:
        raise ContractError(f"'{name}' row {int(np.flatnonzero(zero)[0])} has zero norm")
    return (arr / np.where(zero[:, None], 1.0, norms)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# feature concatenation
# --------------------------------------------------------------------------------------------
def concat_features(features: Sequence[np.ndarray], weights: Sequence[float] | None = None
                    ) -> np.ndarray:
    """Concatenate several models' features of the same N images: [N, D_i] -> [N, sum D_i].

    Each block is L2-normalised, scaled by sqrt(w_i / sum(w)) and concatenated; the result is
    re-normalised (a no-op up to rounding, since the squared block norms sum to 1). The inner
    product of two outputs is then sum_i w_i cos_i / sum(w): the weighted mean of the
    per-model cosine similarities (equal weights by default: their plain mean).
    """
    if isinstance(features, np.ndarray) or len(features) == 0:
        raise ContractError("'features' must be a non-empty list of [N, D_i] matrices")
    blocks = [l2_normalize(f, f"features[{i}]") for i, f in enumerate(features)]
    n = len(blocks[0])
    for i, b in enumerate(blocks):
        if len(b) != n:
            raise ContractError(f"'features[{i}]' has {len(b)} rows, 'features[0]' has {n}")
    if weights is None:
        w = np.ones(len(blocks))
    else:
        w = np.asarray([_check_float(f"weights[{i}]", v, 0.0) for i, v in enumerate(weights)])
        if len(w) != len(blocks):
            raise ConfigError(f"parameter 'weights' has {len(w)} values for {len(blocks)} features")
        if w.sum() <= 0:
            raise ConfigError("parameter 'weights' must not be all zero")
    scale = np.sqrt(w / w.sum())
    out = np.concatenate([b * np.float32(s) for b, s in zip(blocks, scale)], axis=1)
    return l2_normalize(out, "concatenated features")


# --------------------------------------------------------------------------------------------
# PCA whitening
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PCAWhiten:
    """Learned PCA-whitening parameters (float64).

    ``components`` [dim, D] are the principal axes by decreasing variance (sign fixed so that
    each axis' largest-magnitude loading is positive, as scikit-learn does);
    ``explained_variance`` [dim] the variances along them (divided by N - 1, as scikit-learn).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    eps: float

    @property
    def dim(self) -> int:
        """Output dimension."""
        return int(self.components.shape[0])


def pca_whiten_fit(x: np.ndarray, dim: int | None = None, eps: float = 1e-6,
                   chunk_size: int = 8192) -> PCAWhiten:
    """Learn PCA whitening on ``x`` [N, D] (the caller picks the gallery or the train split).

    ``dim`` (default: min(N - 1, D), every axis a centred sample can have variance on) must be
    in [1, min(N, D)]. ``eps`` is added to each variance before whitening; ``eps = 0`` matches
    ``sklearn.decomposition.PCA(n_components=dim, whiten=True)``. The covariance is accumulated
    in float64 chunks of ``chunk_size`` rows: memory O(D^2), not O(N * D) beyond the input.
    """
    arr = _as_features(x, "x")
    n, d = arr.shape
    if n < 2:
        raise ContractError(f"'x' needs at least 2 rows to fit PCA, got {n}")
    dim = min(n - 1, d) if dim is None else _check_int("dim", dim, 1)
    if dim > min(n, d):
        raise ConfigError(f"parameter 'dim' must be <= min(N, D) = {min(n, d)}, got {dim}")
    eps = _check_float("eps", eps, 0.0)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    mean = arr.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d))
    for s in range(0, n, chunk_size):
        c = arr[s:s + chunk_size].astype(np.float64) - mean
        cov += c.T @ c
    cov /= n - 1
    var, vecs = np.linalg.eigh(cov)              # ascending
    var, comps = var[::-1][:dim], vecs[:, ::-1][:, :dim].T
    var = np.maximum(var, 0.0)                   # eigh may return -1e-17 for null directions
    flip = np.sign(comps[np.arange(dim), np.abs(comps).argmax(axis=1)])
    comps = comps * flip[:, None]
    if eps == 0 and (var <= 0).any():
        raise ConfigError(f"PCA axis {int(np.argmax(var <= 0))} has zero variance: lower 'dim' "
                          f"or set 'eps' > 0")
    return PCAWhiten(mean=mean, components=comps, explained_variance=var, eps=eps)


def pca_whiten_apply(params: PCAWhiten, x: np.ndarray, chunk_size: int = 8192) -> np.ndarray:
    """Project ``x`` [N, D] on the learned axes, divide by sqrt(variance + eps), L2-normalise.

    Returns [N, dim] float32. A row equal to the mean (projection exactly zero) stays zero.
    """
    arr = _as_features(x, "x")
    if arr.shape[1] != params.mean.shape[0]:
        raise ContractError(f"'x' dim {arr.shape[1]} != PCA input dim {params.mean.shape[0]}")
    scale = 1.0 / np.sqrt(params.explained_variance + params.eps)
    out = np.empty((len(arr), params.dim), dtype=np.float32)
    for s in range(0, len(arr), _check_int("chunk_size", chunk_size, 1)):
        y = ((arr[s:s + chunk_size].astype(np.float64) - params.mean) @ params.components.T) * scale
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        out[s:s + chunk_size] = y / np.where(norms > 0, norms, 1.0)
    return out


# --------------------------------------------------------------------------------------------
# query expansion and database-side augmentation
# --------------------------------------------------------------------------------------------
def _weighted_neighbour_sum(x: np.ndarray, sims: np.ndarray, nbr_idx: np.ndarray,
                            pool: np.ndarray, alpha: float) -> np.ndarray:
    """x + sum_r max(sim_r, 0)^alpha * pool[nbr_r], L2-normalised (float32)."""
    w = np.power(np.maximum(sims.astype(np.float64), 0.0), alpha)  # 0^0 = 1: alpha=0 is AQE
    acc = x.astype(np.float64) + np.einsum("bk,bkd->bd", w, pool[nbr_idx].astype(np.float64))
    return l2_normalize(acc, "expanded features", keep_zero=True)


def query_expansion(query: np.ndarray, gallery: np.ndarray, top_k: int = 5, alpha: float = 0.0,
                    chunk_size: int = 512) -> np.ndarray:
    """alpha-weighted query expansion (alpha-QE; alpha = 0 is average QE, Chum et al. 2007).

    Each query q becomes normalise(q + sum_{r<=top_k} max(q.g_r, 0)^alpha g_r), g_r its top_k
    gallery items by inner product (exact search, :func:`fashionbench.retrieval.search.search`). With alpha = 0 every weight is 1:
    the mean of the query and its top_k. Queries go in blocks of ``chunk_size`` rows, so memory
    is O(chunk_size * top_k * D). ``top_k = 0`` returns the normalised queries.
    """
    q = _as_features(query, "query")
    g = _as_features(gallery, "gallery")
    _check_same_dim(q, g, "query", "gallery")
    top_k = _check_int("top_k", top_k, 0)
    alpha = _check_float("alpha", alpha, 0.0)
    if top_k > len(g):
        raise ConfigError(f"parameter 'top_k' = {top_k} exceeds the gallery size {len(g)}")
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    if top_k == 0:
        return l2_normalize(q, "query", keep_zero=True)
    nbrs, sims = search(q, g, top_k, chunk_size=chunk_size)   # exact, machine-independent order
    out = np.empty_like(q)
    for s in range(0, len(q), chunk_size):
        out[s:s + chunk_size] = _weighted_neighbour_sum(
            q[s:s + chunk_size], sims[s:s + chunk_size], nbrs[s:s + chunk_size], g, alpha)
    return out


def database_augmentation(gallery: np.ndarray, top_k: int = 5, alpha: float = 0.0,
                          chunk_size: int = 512) -> np.ndarray:
    """Database-side augmentation (DBA): the same expansion applied to the gallery itself.

    Each gallery vector g becomes normalise(g + sum_{r<=top_k} max(g.n_r, 0)^alpha n_r) over
    its top_k *other* gallery items n_r by inner product (all from the input gallery, not the
    partly augmented one). When g is missing from its own top_k + 1 search results (exact
    duplicates, or unnormalised vectors where g.g < g.n), the last result is dropped instead. ``top_k = 0`` returns the normalised gallery.
    """
    g = _as_features(gallery, "gallery")
    top_k = _check_int("top_k", top_k, 0)
    alpha = _check_float("alpha", alpha, 0.0)
    if top_k > len(g) - 1:
        raise ConfigError(f"parameter 'top_k' = {top_k} exceeds the gallery size - 1 = {len(g) - 1}")
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    if top_k == 0:
        return l2_normalize(g, "gallery", keep_zero=True)
    all_nbrs, all_sims = search(g, g, top_k + 1, chunk_size=chunk_size)
    out = np.empty_like(g)
    for s in range(0, len(g), chunk_size):
        block = g[s:s + chunk_size]
        sims, nbrs = all_sims[s:s + chunk_size], all_nbrs[s:s + chunk_size]
        is_self = nbrs == np.arange(s, s + len(block))[:, None]
        is_self[~is_self.any(axis=1), -1] = True  # exactly one entry dropped per row
        keep = ~is_self
        out[s:s + chunk_size] = _weighted_neighbour_sum(
            block, sims[keep].reshape(len(block), top_k), nbrs[keep].reshape(len(block), top_k),
            g, alpha)
    return out


# --------------------------------------------------------------------------------------------
# step runner
# --------------------------------------------------------------------------------------------
def _step_pca_whiten(query: np.ndarray, gallery: np.ndarray, train: np.ndarray | None,
                     fit_on: str = "gallery", dim: int | None = None, eps: float = 1e-6):
    if fit_on == "gallery":
        fit_x = gallery
    elif fit_on == "train":
        if train is None:
            raise ConfigError("step 'pca_whiten' has fit_on: train but no train features were given")
        fit_x = train
    else:
        raise ConfigError(f"step 'pca_whiten': parameter 'fit_on' must be 'gallery' or 'train', "
                          f"got {fit_on!r}")
    p = pca_whiten_fit(fit_x, dim=dim, eps=eps)
    new_train = None if train is None else pca_whiten_apply(p, train)
    return pca_whiten_apply(p, query), pca_whiten_apply(p, gallery), new_train


def _step_query_expansion(query, gallery, train, top_k: int = 5, alpha: float = 0.0):
    return query_expansion(query, gallery, top_k=top_k, alpha=alpha), gallery, train


def _step_dba(query, gallery, train, top_k: int = 5, alpha: float = 0.0):
    return query, database_augmentation(gallery, top_k=top_k, alpha=alpha), train


STEPS: dict[str, tuple[Callable[..., tuple], tuple[str, ...]]] = {
    "pca_whiten": (_step_pca_whiten, ("fit_on", "dim", "eps")),
    "query_expansion": (_step_query_expansion, ("top_k", "alpha")),
    "dba": (_step_dba, ("top_k", "alpha")),
}


def apply_steps(query: np.ndarray, gallery: np.ndarray, steps: Sequence[Mapping[str, Any]],
                train: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply post-processing steps in order; returns the new (query, gallery).

    ``steps`` is a list of mappings ``{"name": ..., <parameters>}``, e.g.
    ``[{"name": "pca_whiten", "fit_on": "gallery", "dim": 64}, {"name": "dba", "top_k": 3}]``.
    Steps: ``pca_whiten`` (fit_on: gallery | train, dim, eps), ``query_expansion`` (top_k,
    alpha), ``dba`` (top_k, alpha). ``train`` features are needed only for ``fit_on: train``;
    they are carried through every ``pca_whiten`` step (so a later PCA fits in the same space)
    and left untouched by QE/DBA. An unknown step name or parameter raises ConfigError.
    """
    q = _as_features(query, "query")
    g = _as_features(gallery, "gallery")
    _check_same_dim(q, g, "query", "gallery")
    t = None if train is None else _as_features(train, "train")
    if t is not None:
        _check_same_dim(t, g, "train", "gallery")
    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Sequence):
        raise ConfigError(f"post-processing 'steps' must be a list of steps, got {type(steps).__name__}")
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping) or "name" not in step:
            raise ConfigError(f"post-processing step {i} must be a mapping with a 'name', got {step!r}")
        name = step["name"]
        if name not in STEPS:
            raise ConfigError(f"unknown post-processing step {name!r} (step {i}); valid steps: "
                              f"{', '.join(sorted(STEPS))}")
        fn, allowed = STEPS[name]
        params = {k: v for k, v in step.items() if k != "name"}
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ConfigError(f"post-processing step {i} ({name}): unknown parameter(s) {unknown}; "
                              f"valid: {list(allowed)}")
        try:
            q, g, t = fn(q, g, t, **params)
        except ConfigError as exc:
            raise ConfigError(f"post-processing step {i} ({name}): {exc}") from exc
    return q, g
