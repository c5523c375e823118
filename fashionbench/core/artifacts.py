"""The artifact contracts: embedding files, ranking files and metrics files.

See ``docs/contracts.md`` for the prose version. Every loader validates what it reads and
every writer validates what it writes, so a broken artifact is stopped at its producer.

Embedding file (``.npz``)
    ``query`` [Q, D] float32, ``gallery`` [G, D] float32 (finite; similarity is the inner
    product, higher is closer), ``query_ids`` [Q] / ``gallery_ids`` [G] (manifest ``uid``
    strings, unique), ``query_labels`` [Q] / ``gallery_labels`` [G] (item ids as strings),
    ``query_categories`` [Q] / ``gallery_categories`` [G] (strings), ``model`` (str) and
    ``fingerprint`` (str: SHA-256 of the model name and its resolved parameters).

Large embedding files (``storage="memmap"``): the two matrices live beside the ``.npz`` as
``<name>.query.npy`` / ``<name>.gallery.npy`` (plain ``.npy``, opened memory-mapped, so a
gallery of millions of rows never has to fit in RAM); the ``.npz`` keeps everything else plus
``storage`` (``"memmap"``), ``query_file``/``gallery_file`` (file names in the same folder),
``query_shape``/``gallery_shape`` and ``query_sha256``/``gallery_sha256`` (content hashes, so
the small ``.npz`` changes whenever a matrix does: DVC, which tracks the ``.npz``, sees it).

Ranking file (``.npz``)
    ``indices`` [Q, K] int64 into the embedding file's gallery order (``-1`` pads a short
    list), ``distances`` [Q, K] float32 ascending per row (lower is closer), plus the same
    ids/labels/categories arrays as the embedding file and ``model``/``fingerprint``.

Metrics file (``.json``)
    a flat JSON object of finite numbers (ints or floats), readable by ``dvc metrics``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from fashionbench.core.atomic import atomic_path, write_json
from fashionbench.core.errors import ContractError

_SIDE_KEYS = ("ids", "labels", "categories")


def fingerprint(name: str, params: Mapping[str, Any]) -> str:
    """SHA-256 of a model/method name and its parameters (key order does not matter)."""
    blob = json.dumps({"name": name, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _str_array(values: Any, key: str, path: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ContractError(f"{path}: '{key}' must be 1-D, got shape {arr.shape}")
    return arr.astype(str)


#: rows per block when checking or copying a matrix (bounded memory for memory-mapped files)
_BLOCK_ROWS = 65536
STORAGES = ("npz", "memmap")


def _check_matrix(x: np.ndarray, key: str, path: str) -> np.ndarray:
    x = np.asarray(x)  # a view, not a copy, of a memory-mapped matrix
    if x.ndim != 2:
        raise ContractError(f"{path}: '{key}' must be a 2-D matrix, got shape {x.shape}")
    if x.dtype != np.float32:
        raise ContractError(f"{path}: '{key}' must be float32, got {x.dtype}")
    n_bad, first = 0, -1
    for start in range(0, len(x), _BLOCK_ROWS):  # in blocks: no full-size temporary
        bad = ~np.isfinite(x[start:start + _BLOCK_ROWS])
        if bad.any():
            n_bad += int(bad.sum())
            first = first if first >= 0 else start + int(np.argwhere(bad)[0][0])
    if n_bad:
        raise ContractError(f"{path}: '{key}' holds {n_bad} NaN/inf values (first in row {first})")
    return x


def memmap_paths(path: str | os.PathLike) -> dict[str, Path]:
    """The matrix files of a ``storage="memmap"`` embedding file ``<name>.npz``:
    ``{"query": <name>.query.npy, "gallery": <name>.gallery.npy}``."""
    p = Path(path)
    stem = p.name[:-4] if p.name.endswith(".npz") else p.name
    return {side: p.with_name(f"{stem}.{side}.npy") for side in ("query", "gallery")}


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _whole_memmap_of(x: np.ndarray, file: Path) -> bool:
    """True when ``x`` is the whole of the memory-mapped ``.npy`` file ``file`` (not a slice or copy)."""
    a: Any = x
    while isinstance(a, np.ndarray):
        if isinstance(a, np.memmap):
            return (a.filename is not None and Path(a.filename).resolve() == file.resolve()
                    and a.shape == x.shape and a.dtype == x.dtype and x.flags.c_contiguous
                    and a.__array_interface__["data"][0] == x.__array_interface__["data"][0])
        a = a.base
    return False


def write_npy_blocks(path: str | os.PathLike, x: np.ndarray) -> None:
    """Write matrix ``x`` to a ``.npy`` file atomically, block by block (``x`` may be memory-mapped)."""
    with atomic_path(path, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=x.shape)
        for start in range(0, len(x), _BLOCK_ROWS):
            out[start:start + _BLOCK_ROWS] = x[start:start + _BLOCK_ROWS]
        out.flush()
        del out


@dataclass
class Embeddings:
    """Query and gallery embeddings of one model, with their ids, labels and categories."""

    query: np.ndarray
    gallery: np.ndarray
    query_ids: np.ndarray
    gallery_ids: np.ndarray
    query_labels: np.ndarray
    gallery_labels: np.ndarray
    query_categories: np.ndarray
    gallery_categories: np.ndarray
    model: str
    fingerprint: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def validate(self, path: str = "<embeddings>") -> "Embeddings":
        """Check the contract; raise :class:`ContractError` naming ``path`` on a breach."""
        self.query = _check_matrix(self.query, "query", path)
        self.gallery = _check_matrix(self.gallery, "gallery", path)
        if self.query.shape[1] != self.gallery.shape[1]:
            raise ContractError(
                f"{path}: query dim {self.query.shape[1]} != gallery dim {self.gallery.shape[1]}"
            )
        for side, n in (("query", len(self.query)), ("gallery", len(self.gallery))):
            for k in _SIDE_KEYS:
                key = f"{side}_{k}"
                arr = _str_array(getattr(self, key), key, path)
                if len(arr) != n:
                    raise ContractError(f"{path}: '{key}' has {len(arr)} rows, '{side}' has {n}")
                setattr(self, key, arr)
            ids = getattr(self, f"{side}_ids")
            uniq, counts = np.unique(ids, return_counts=True)
            if (counts > 1).any():
                raise ContractError(f"{path}: duplicate {side} id '{uniq[counts > 1][0]}'")
        if not self.model or not self.fingerprint:
            raise ContractError(f"{path}: 'model' and 'fingerprint' must be non-empty")
        return self


def save_embeddings(path: str | os.PathLike, emb: Embeddings, storage: str = "npz") -> None:
    """Validate and write an embedding file atomically.

    ``storage="npz"``: everything in the ``.npz`` (normal sizes). ``storage="memmap"``: the
    matrices go to ``<name>.query.npy`` / ``<name>.gallery.npy`` (see :func:`memmap_paths`;
    a matrix that already *is* that memory-mapped file, as written by
    ``fashionbench.engine.embedding.embed_dataset(out=...)``, is not copied), then the ``.npz`` with
    the rest and the matrices' shapes and SHA-256.
    """
    if storage not in STORAGES:
        raise ContractError(f"{path}: unknown embedding storage {storage!r}; known: {list(STORAGES)}")
    emb.validate(str(path))
    arrays = {k: getattr(emb, k) for k in (
        "query", "gallery", *(f"{s}_{k}" for s in ("query", "gallery") for k in _SIDE_KEYS))}
    if storage == "memmap":
        for side, file in memmap_paths(path).items():
            x = arrays.pop(side)
            if not _whole_memmap_of(x, file):
                write_npy_blocks(file, x)
            arrays.update({f"{side}_file": np.array(file.name), f"{side}_shape": np.array(x.shape, np.int64),
                           f"{side}_sha256": np.array(file_sha256(file))})
        arrays["storage"] = np.array("memmap")
    arrays["model"] = np.array(emb.model)
    arrays["fingerprint"] = np.array(emb.fingerprint)
    for k, v in emb.extra.items():
        arrays[f"extra_{k}"] = np.asarray(v)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def _open_npz(path: str | os.PathLike, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise ContractError(f"{p}: file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/ValueError: not an npz at all
        raise ContractError(f"{p}: not a readable .npz file ({exc})") from exc
    missing = [k for k in required if k not in data]
    if missing:
        raise ContractError(f"{p}: missing keys {missing}")
    return data


def _open_memmaps(path: str | os.PathLike, d: dict[str, np.ndarray], verify: bool) -> None:
    """Replace the ``*_file`` entries of a ``storage="memmap"`` file by the memory-mapped matrices."""
    p = Path(path)
    if str(d["storage"]) != "memmap":
        raise ContractError(f"{p}: unknown storage {str(d['storage'])!r}; known: ['memmap']")
    for side in ("query", "gallery"):
        missing = [k for k in (f"{side}_file", f"{side}_shape", f"{side}_sha256") if k not in d]
        if missing:
            raise ContractError(f"{p}: memmap storage but missing keys {missing}")
        file = p.parent / str(d[f"{side}_file"])
        if not file.is_file():
            raise ContractError(f"{p}: its {side} matrix {file} is missing (memmap storage: the .npy files must sit "
                                "beside the .npz; re-run the embed stage)")
        try:
            x = np.load(file, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise ContractError(f"{file}: not a readable .npy file ({exc})") from exc
        if tuple(x.shape) != tuple(int(v) for v in d[f"{side}_shape"]):
            raise ContractError(f"{file}: shape {x.shape} but {p} says {tuple(d[f'{side}_shape'])}")
        if verify and file_sha256(file) != str(d[f"{side}_sha256"]):
            raise ContractError(f"{file}: content does not match the SHA-256 recorded in {p} "
                                "(a partial or foreign write; re-run the embed stage)")
        d[side] = x


def load_embeddings(path: str | os.PathLike, verify: bool = True) -> Embeddings:
    """Read and validate an embedding file (either storage; memmap matrices stay on disk,
    opened read-only; ``verify`` checks their SHA-256)."""
    keys = ("query", "gallery", *(f"{s}_{k}" for s in ("query", "gallery") for k in _SIDE_KEYS),
            "model", "fingerprint")
    d = _open_npz(path, tuple(k for k in keys if k not in ("query", "gallery")))
    if "storage" in d:
        _open_memmaps(path, d, verify)
    missing = [k for k in ("query", "gallery") if k not in d]
    if missing:
        raise ContractError(f"{Path(path)}: missing keys {missing}")
    extra = {k[len("extra_"):]: v for k, v in d.items() if k.startswith("extra_")}
    emb = Embeddings(**{k: d[k] for k in keys if k not in ("model", "fingerprint")},
                     model=str(d["model"]), fingerprint=str(d["fingerprint"]), extra=extra)
    return emb.validate(str(path))


@dataclass
class Ranking:
    """Top-K gallery indices and distances per query, with the query/gallery metadata."""

    indices: np.ndarray
    distances: np.ndarray
    query_ids: np.ndarray
    gallery_ids: np.ndarray
    query_labels: np.ndarray
    gallery_labels: np.ndarray
    query_categories: np.ndarray
    gallery_categories: np.ndarray
    model: str
    fingerprint: str

    @property
    def k(self) -> int:
        """Length of each ranked list."""
        return int(self.indices.shape[1])

    def validate(self, path: str = "<ranking>") -> "Ranking":
        """Check the contract; raise :class:`ContractError` naming ``path`` on a breach."""
        idx = np.asarray(self.indices)
        dist = np.asarray(self.distances)
        if idx.ndim != 2 or idx.shape != dist.shape:
            raise ContractError(
                f"{path}: 'indices' {idx.shape} and 'distances' {dist.shape} must be equal 2-D")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ContractError(f"{path}: 'indices' must be integers, got {idx.dtype}")
        self.indices = idx.astype(np.int64, copy=False)
        self.distances = dist.astype(np.float32, copy=False)
        for side, n in (("query", idx.shape[0]), ("gallery", None)):
            for k in _SIDE_KEYS:
                key = f"{side}_{k}"
                arr = _str_array(getattr(self, key), key, path)
                if n is not None and len(arr) != n:
                    raise ContractError(f"{path}: '{key}' has {len(arr)} rows, expected {n}")
                setattr(self, key, arr)
        g = len(self.gallery_ids)
        if len(self.gallery_labels) != g or len(self.gallery_categories) != g:
            raise ContractError(f"{path}: gallery ids/labels/categories lengths differ")
        valid = self.indices >= 0
        if (self.indices >= g).any() or (self.indices < -1).any():
            raise ContractError(f"{path}: 'indices' out of range [-1, {g})")
        if not np.isfinite(self.distances[valid]).all():
            raise ContractError(f"{path}: NaN/inf in 'distances'")
        d = np.where(valid, self.distances, np.inf)
        with np.errstate(invalid="ignore"):  # inf - inf between two pads is NaN, and NaN < x is False
            down = np.diff(d, axis=1) < -1e-6
        if down.any():
            row = int(np.argwhere(down)[0][0])
            raise ContractError(f"{path}: distances of query row {row} are not ascending")
        return self


def save_ranking(path: str | os.PathLike, r: Ranking) -> None:
    """Validate and write a ranking file atomically."""
    r.validate(str(path))
    arrays = {k: getattr(r, k) for k in (
        "indices", "distances", "query_ids", "gallery_ids", "query_labels", "gallery_labels",
        "query_categories", "gallery_categories")}
    arrays["model"] = np.array(r.model)
    arrays["fingerprint"] = np.array(r.fingerprint)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_ranking(path: str | os.PathLike) -> Ranking:
    """Read and validate a ranking file."""
    keys = ("indices", "distances", "query_ids", "gallery_ids", "query_labels",
            "gallery_labels", "query_categories", "gallery_categories", "model", "fingerprint")
    d = _open_npz(path, keys)
    r = Ranking(**{k: d[k] for k in keys if k not in ("model", "fingerprint")},
                model=str(d["model"]), fingerprint=str(d["fingerprint"]))
    return r.validate(str(path))


def validate_metrics(metrics: Mapping[str, Any], path: str = "<metrics>") -> dict[str, float]:
    """Check that ``metrics`` is flat and numeric (what ``dvc metrics`` reads)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if not isinstance(k, str):
            raise ContractError(f"{path}: metric key {k!r} is not a string")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ContractError(f"{path}: metric '{k}' is not a number ({type(v).__name__})")
        if not math.isfinite(float(v)):
            raise ContractError(f"{path}: metric '{k}' is not finite ({v})")
        out[k] = int(v) if isinstance(v, (int, np.integer)) else float(v)
    return out


def save_metrics(path: str | os.PathLike, metrics: Mapping[str, Any]) -> None:
    """Validate and write a metrics file atomically."""
    write_json(path, validate_metrics(metrics, str(path)))


def load_metrics(path: str | os.PathLike) -> dict[str, float]:
    """Read and validate a metrics file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ContractError(f"{p}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise ContractError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{p}: must hold a JSON object")
    return validate_metrics(data, str(p))
