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
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torchvision.ops import roi_align

from .errors import ConfigError, ContractError


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
