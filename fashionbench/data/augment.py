"""``shang``'s "expansion" augmentation: several random large crops of each training image.

For an image (or a region) of width w and height h, one expanded crop is (eqs. 2-4)::

    x_min, y_min = U(0, 0.15) * w, U(0, 0.15) * h
    x_max, y_max = U(0.85, 1) * w, U(0.85, 1) * h
    I_new = I[y_min:y_max, x_min:x_max]

and each training image yields ``n`` (default 5) such crops. The four fractions are drawn
independently. ``expansion_boxes`` returns the boxes (float pixels, ``x1, y1, x2, y2``) from a
seeded ``numpy.random.Generator``; ``expand_boxes`` does the same inside given boxes (e.g. the
manifest's crop boxes, to expand a manifest offline); ``apply_boxes`` cuts the crops out of an
image tensor (integer slicing, or bilinear resampling to a fixed size with ``roi_align``).
``expand_manifest`` turns manifest rows into the expanded training set (what a method row's
``expansion:`` block makes ``fashionbench.pipeline.train`` train on; see ``expansion_settings``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torchvision.ops import roi_align

from fashionbench.core.errors import ConfigError, ContractError

if TYPE_CHECKING:
    import pandas as pd


def _check_ranges(min_range: Sequence[float], max_range: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        a, b = (float(v) for v in min_range)
        c, d = (float(v) for v in max_range)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"expansion: min_range and max_range must be (low, high) pairs, got "
                          f"{min_range!r}, {max_range!r}") from exc
    if not (0.0 <= a <= b <= 1.0 and 0.0 <= c <= d <= 1.0):
        raise ConfigError(f"expansion: ranges must satisfy 0 <= low <= high <= 1, got "
                          f"min_range={min_range!r}, max_range={max_range!r}")
    if b >= c:
        raise ConfigError(f"expansion: min_range high ({b}) must be below max_range low ({c}) so "
                          "that every crop has a positive size")
    return a, b, c, d


def expansion_boxes(width: float | np.ndarray, height: float | np.ndarray, n: int = 5, *,
                    rng: np.random.Generator, min_range: Sequence[float] = (0.0, 0.15),
                    max_range: Sequence[float] = (0.85, 1.0)) -> np.ndarray:
    """``n`` expansion boxes per image: [n, 4] for scalar sizes, [M, n, 4] for [M] sizes.

    Boxes are float pixel coordinates ``(x_min, y_min, x_max, y_max)`` with
    ``x_min ~ U(min_range) * w``, ``x_max ~ U(max_range) * w`` (same for y with h).
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigError(f"expansion: n (crops per image) must be a positive integer, got {n!r}")
    a, b, c, d = _check_ranges(min_range, max_range)
    w = np.asarray(width, np.float64)
    h = np.asarray(height, np.float64)
    if w.shape != h.shape or w.ndim > 1:
        raise ContractError(f"expansion: width and height must be scalars or equal-length 1-D arrays, "
                            f"got shapes {w.shape}, {h.shape}")
    if not (np.all(w > 0) and np.all(h > 0)):
        raise ContractError("expansion: image width and height must be positive")
    lo = rng.uniform(a, b, size=w.shape + (int(n), 2))  # (x_min, y_min) fractions
    hi = rng.uniform(c, d, size=w.shape + (int(n), 2))  # (x_max, y_max) fractions
    size = np.stack([w, h], axis=-1)[..., None, :]  # [..., 1, 2]
    return np.concatenate([lo * size, hi * size], axis=-1)


def expand_boxes(boxes: np.ndarray, n: int = 5, *, rng: np.random.Generator,
                 min_range: Sequence[float] = (0.0, 0.15),
                 max_range: Sequence[float] = (0.85, 1.0)) -> np.ndarray:
    """Expansion boxes inside each of ``boxes`` [M, 4] (x1, y1, x2, y2): [M, n, 4], same frame."""
    b = np.asarray(boxes, np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ContractError(f"expand_boxes: boxes must be [M, 4], got shape {b.shape}")
    rel = expansion_boxes(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1], n, rng=rng,
                          min_range=min_range, max_range=max_range)
    return rel + np.concatenate([b[:, :2], b[:, :2]], axis=1)[:, None, :]


def _pixel_box(box: Sequence[float], w: int, h: int) -> tuple[int, int, int, int]:
    """Float box -> integer slice bounds: floor the minima, ceil the maxima, at least 1 px."""
    x1 = int(np.clip(np.floor(box[0]), 0, w - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, h - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, w))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, h))
    return x1, y1, x2, y2


def apply_boxes(image: torch.Tensor, boxes: np.ndarray | torch.Tensor,
                size: int | tuple[int, int] | None = None) -> list[torch.Tensor] | torch.Tensor:
    """Crops of ``image`` [C, H, W] at ``boxes`` [n, 4] (float pixels x1, y1, x2, y2).

    ``size=None``: a list of integer-sliced crops ``image[:, y1:y2, x1:x2]`` (minima floored,
    maxima ceiled, clipped to the image). ``size=s`` or ``(sh, sw)``: one float tensor
    [n, C, sh, sw], each crop bilinearly resampled at the exact float box (``roi_align`` with
    ``aligned=True``, pixel centres at +0.5, and an adaptive number of samples per output
    pixel, so shrinking averages instead of aliasing).
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ContractError(f"apply_boxes: image must be a [C, H, W] tensor, got "
                            f"{getattr(image, 'shape', type(image))}")
    b = torch.as_tensor(np.asarray(boxes, np.float64) if not isinstance(boxes, torch.Tensor) else boxes)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ContractError(f"apply_boxes: boxes must be [n, 4], got shape {tuple(b.shape)}")
    _, h, w = image.shape
    if size is None:
        out = []
        for box in b.tolist():
            x1, y1, x2, y2 = _pixel_box(box, w, h)
            out.append(image[:, y1:y2, x1:x2])
        return out
    out_size = (size, size) if isinstance(size, int) else tuple(size)
    img = image.unsqueeze(0)
    if not img.is_floating_point():
        img = img.float()
    rois = torch.cat([torch.zeros(len(b), 1, dtype=img.dtype), b.to(img.dtype)], dim=1)
    return roi_align(img, rois, output_size=out_size, spatial_scale=1.0, sampling_ratio=0, aligned=True)


def expand_image(image: torch.Tensor, n: int = 5, *, rng: np.random.Generator,
                 size: int | tuple[int, int] | None = None, min_range: Sequence[float] = (0.0, 0.15),
                 max_range: Sequence[float] = (0.85, 1.0)) -> list[torch.Tensor] | torch.Tensor:
    """``n`` expansion crops of ``image`` [C, H, W] (``apply_boxes`` of ``expansion_boxes``)."""
    _, h, w = image.shape
    return apply_boxes(image, expansion_boxes(w, h, n, rng=rng, min_range=min_range,
                                              max_range=max_range), size)


#: crop mode of the rows written by :func:`expand_manifest` (columns ``expanded_x1..y2``)
EXPANDED_CROP = "expanded"


def expansion_settings(spec: object, where: str = "expansion") -> dict[str, object]:
    """A method row's ``expansion:`` block, checked and completed with the paper's defaults.

    Accepted keys: ``n`` (crops per image, default 5), ``min`` (x_min, y_min ~ U(0, min) of the
    side, default 0.15; or a ``[low, high]`` pair), ``max`` (x_max, y_max ~ U(max, 1), default
    0.85; or a ``[low, high]`` pair), ``keep_original`` (also train on the un-expanded crop,
    default true: the paper "expands" the training set with five new images per image).
    Returns ``{"n", "min_range", "max_range", "keep_original"}``.
    """
    if spec is None or spec is False:
        return {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{n: 5, min: 0.15, max: 0.85}}, got {spec!r}")
    unknown = sorted(set(spec) - {"n", "min", "max", "keep_original"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: ['keep_original', 'max', 'min', 'n']")
    n = spec.get("n", 5)
    if isinstance(n, bool) or not isinstance(n, (int, float)) or int(n) != n or n < 1:
        raise ConfigError(f"{where}.n: crops per image must be a positive integer, got {n!r}")
    lo, hi = spec.get("min", 0.15), spec.get("max", 0.85)
    min_range = (0.0, lo) if isinstance(lo, (int, float)) and not isinstance(lo, bool) else lo
    max_range = (hi, 1.0) if isinstance(hi, (int, float)) and not isinstance(hi, bool) else hi
    try:
        _check_ranges(min_range, max_range)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    keep = spec.get("keep_original", True)
    if not isinstance(keep, bool):
        raise ConfigError(f"{where}.keep_original: expected true or false, got {keep!r}")
    return {"n": int(n), "min_range": tuple(float(v) for v in min_range),
            "max_range": tuple(float(v) for v in max_range), "keep_original": keep}


def expand_manifest(rows: "pd.DataFrame", boxes: np.ndarray, *, n: int = 5, rng: np.random.Generator,
                    min_range: Sequence[float] = (0.0, 0.15), max_range: Sequence[float] = (0.85, 1.0),
                    keep_original: bool = True) -> "pd.DataFrame":
    """The training set of eqs. 2-4: ``n`` expansion crops of every row (inside its crop box).

    ``rows`` are manifest rows and ``boxes`` [M, 4] their crop boxes (the row's crop mode, e.g.
    ``given`` or ``union``; the whole image for ``full``). Returns a manifest holding, per input
    row in order, the original crop (if ``keep_original``) and then its ``n`` expansion crops,
    each as a row with the same item, category and domain; its box is in the columns of crop mode
    :data:`EXPANDED_CROP` (``expanded_x1..expanded_y2``, pixels), so ``CropDataset(...,
    crop="expanded")`` reads it. ``uid`` becomes ``<uid>#orig`` / ``<uid>#exp<j>`` (unique) and
    column ``expansion`` holds -1 for the original and j = 0..n-1 for the crops.
    """
    import pandas as pd

    b = np.asarray(boxes, np.float64)
    if b.shape != (len(rows), 4):
        raise ContractError(f"expand_manifest: boxes must be [{len(rows)}, 4], got shape {b.shape}")
    exp = expand_boxes(b, n, rng=rng, min_range=min_range, max_range=max_range)  # [M, n, 4]
    parts = ([b[:, None, :]] if keep_original else []) + [exp]
    all_boxes = np.concatenate(parts, axis=1)                                       # [M, n(+1), 4]
    per = all_boxes.shape[1]
    tags = (["orig"] if keep_original else []) + [f"exp{j}" for j in range(n)]
    idx = (list(range(-1, n)) if keep_original else list(range(n)))
    out = rows.reset_index(drop=True).loc[np.repeat(np.arange(len(rows)), per)].reset_index(drop=True)
    out["uid"] = [f"{u}#{t}" for u in rows["uid"].astype(str) for t in tags]
    out["expansion"] = np.tile(np.asarray(idx, np.int64), len(rows))
    flat = all_boxes.reshape(-1, 4)
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        out[f"{EXPANDED_CROP}_{c}"] = flat[:, j]
    return pd.DataFrame(out)
