"""Image crops for retrieval: decode, crop to the box selected by ``crop``, resize.

Crop modes name a box in the manifest: ``given`` -> ``x1..y2``, ``gt`` -> ``gt_x1..gt_y2``,
any other mode ``m`` (``detected``, ``union``, ``fused``: produced by the detect stage) ->
``m_x1..m_y2``. A row whose box for the chosen mode is missing is an error naming the row.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from fashionbench.core.errors import ConfigError, ContractError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BUILTIN_CROPS = {"given": ("x1", "y1", "x2", "y2"), "gt": ("gt_x1", "gt_y1", "gt_x2", "gt_y2"),
                 "full": ()}


def box_columns(crop: str) -> tuple[str, ...]:
    """Manifest columns holding the box of crop mode ``crop`` (empty for the whole image)."""
    if crop in BUILTIN_CROPS:
        return BUILTIN_CROPS[crop]
    if not crop.isidentifier():
        raise ConfigError(f"crop: bad crop mode {crop!r}")
    return tuple(f"{crop}_{c}" for c in ("x1", "y1", "x2", "y2"))


def crop_boxes(df: pd.DataFrame, crop: str, source: str = "<manifest>") -> np.ndarray | None:
    """The [N, 4] float boxes of crop mode ``crop`` (None for ``full``)."""
    cols = box_columns(crop)
    if not cols:
        return None
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ConfigError(f"crop={crop!r}: {source} has no column(s) {missing}; "
                          "run the stage that produces them (detect) or choose another crop")
    b = df[list(cols)].to_numpy(np.float64)
    bad = ~np.isfinite(b).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ContractError(f"{source}: row uid={df['uid'].iloc[i]!r} has no {crop!r} box")
    return b


def load_crop(path: Path, box: Sequence[float] | None, size: int) -> np.ndarray:
    """Decode ``path``, crop to ``box`` (x1, y1, x2, y2 pixels) and resize to ``size``² RGB uint8."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if box is not None:
                x1, y1, x2, y2 = (float(v) for v in box)
                w, h = im.size
                if x2 <= x1 or y2 <= y1 or x1 < -0.5 or y1 < -0.5 or x2 > w + 0.5 or y2 > h + 0.5:
                    raise ContractError(f"{path}: box {tuple(box)} is degenerate or outside the {w}x{h} image")
                im = im.crop((x1, y1, x2, y2))
            im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, np.uint8)
    except FileNotFoundError as exc:
        raise ContractError(f"{path}: image file not found") from exc
    except (UnidentifiedImageError, OSError, ModuleNotFoundError) as exc:
        # ModuleNotFoundError: once ultralytics is imported it patches PIL to retry unknown
        # formats as HEIF, which needs the optional pi_heif package
        raise ContractError(f"{path}: image cannot be decoded ({exc})") from exc


class CropDataset(Dataset):
    """Crops of manifest rows as normalised float tensors, with integer labels.

    ``labels``/``categories`` map each row's ``item_id``/``category`` to a contiguous index via
    the given vocabularies (``None`` = built from these rows, sorted). With ``cache=True`` the
    uint8 crops are decoded once and kept (small datasets); otherwise each access decodes.
    """

    def __init__(self, df: pd.DataFrame, root: str | os.PathLike, crop: str, size: int,
                 item_vocab: Sequence[str] | None = None, category_vocab: Sequence[str] | None = None,
                 cache: bool = True, progress: bool = False) -> None:
        self.df = df.reset_index(drop=True)
        self.root = Path(root)
        self.size = int(size)
        self.boxes = crop_boxes(self.df, crop)
        self.item_vocab = list(item_vocab) if item_vocab is not None else sorted(self.df["item_id"].unique())
        self.category_vocab = list(category_vocab) if category_vocab is not None else sorted(self.df["category"].unique())
        item_index = {v: i for i, v in enumerate(self.item_vocab)}
        cat_index = {v: i for i, v in enumerate(self.category_vocab)}
        # items outside the vocabulary (test items) get -1: they are never used as class targets
        self.labels = torch.tensor([item_index.get(v, -1) for v in self.df["item_id"]], dtype=torch.long)
        self.categories = torch.tensor([cat_index.get(v, -1) for v in self.df["category"]], dtype=torch.long)
        self.domains = torch.tensor((self.df["domain"] == "consumer").to_numpy(), dtype=torch.long)
        self._cache: np.ndarray | None = None
        if cache:
            from fashionbench.core.progress import progress_bar
            rows = progress_bar(range(len(self.df)), desc="decode crops", disable=not progress)
            self._cache = np.stack([self._decode(i) for i in rows]) \
                if len(self.df) else np.zeros((0, self.size, self.size, 3), np.uint8)
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def _decode(self, i: int) -> np.ndarray:
        box = None if self.boxes is None else self.boxes[i]
        return load_crop(self.root / self.df["path"].iloc[i], box, self.size)

    def __len__(self) -> int:
        return len(self.df)

    def uint8(self, i: int) -> np.ndarray:
        """The raw uint8 crop [H, W, 3] of row ``i``."""
        return self._cache[i] if self._cache is not None else self._decode(i)

    def batch(self, indices: torch.Tensor | Sequence[int]) -> tuple[torch.Tensor, ...]:
        """Normalised images [B, 3, S, S] and item, category, domain labels of ``indices``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if self._cache is not None:
            raw = torch.from_numpy(self._cache[idx.numpy()])
        else:
            raw = torch.from_numpy(np.stack([self._decode(int(i)) for i in idx]))
        x = (raw.permute(0, 3, 1, 2).float().div_(255.0) - self._mean) / self._std
        return x, self.labels[idx], self.categories[idx], self.domains[idx]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        x = torch.from_numpy(self.uint8(i)).permute(2, 0, 1).float().div_(255.0)
        x = (x - self._mean) / self._std
        return x, int(self.labels[i]), int(self.categories[i]), int(self.domains[i])


class _BatchFetch(Dataset):
    """Map-style view of a list of index batches: item ``i`` is ``ds.batch(batches[i])``."""

    def __init__(self, ds: CropDataset, batches: Sequence[torch.Tensor | Sequence[int]]) -> None:
        self.ds, self.batches = ds, list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return self.ds.batch(self.batches[i])


def batch_loader(ds: CropDataset, batches: Sequence[torch.Tensor | Sequence[int]], num_workers: int = 0,
                 prefetch_factor: int = 2) -> Iterator[tuple[torch.Tensor, ...]]:
    """``ds.batch(b)`` for each index batch ``b``, in order.

    ``num_workers = 0``: in this process (the in-memory cache path). ``num_workers > 0``: a
    ``torch.utils.data.DataLoader`` whose workers decode and crop whole batches in parallel
    (use with ``CropDataset(cache=False)`` for datasets too large to cache). Decoding draws no
    random numbers and the loader keeps the batch order, so the output does not depend on
    ``num_workers`` (tested).
    """
    if num_workers == 0:
        return (ds.batch(b) for b in batches)
    from torch.utils.data import DataLoader
    return iter(DataLoader(_BatchFetch(ds, batches), batch_size=None, shuffle=False, num_workers=num_workers,
                           prefetch_factor=prefetch_factor, persistent_workers=False))


def loader_settings(cfg: Mapping[str, Any], where: str = "train") -> tuple[bool, int]:
    """``(cache, num_workers)`` from ``cfg['loader']`` (defaults: the in-memory cache, no workers).

    ``cache: true`` decodes every crop once into memory (small datasets); ``cache: false``
    decodes on access, with ``num_workers`` DataLoader worker processes (large datasets).
    """
    block = cfg.get("loader") or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}.loader: expected a mapping like {{cache: true, num_workers: 0}}, got {block!r}")
    unknown = sorted(set(block) - {"cache", "num_workers"})
    if unknown:
        raise ConfigError(f"{where}.loader: unknown key(s) {unknown}; known: ['cache', 'num_workers']")
    cache, workers = block.get("cache", True), block.get("num_workers", 0)
    if not isinstance(cache, bool):
        raise ConfigError(f"{where}.loader.cache: expected true or false, got {cache!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"{where}.loader.num_workers: expected an integer >= 0, got {workers!r}")
    return cache, workers
