"""``chen``: Multi-Granularity Part Alignment network (MGPA).

The backbone's last feature map T [B, C, h, w] is split by several partitions; every part is
average-pooled over its cells (masked GAP), reduced by a 1x1 conv + BN to ``reduce_dim`` and fed
to its own softmax ID classifier. Training sums the parts' cross-entropies (``mgpa_ce``); the
test-time embedding is the concatenation of all reduced part features. The paper's seven
branches ("all") hold 1 + 2 + 3 + 2 + 3 + 2 + 3 = 16 parts, hence its "256 x 16" feature.

Partitions (names accepted in ``parts``):

- ``global``: the whole map (one part).
- ``horizontal-k``: k horizontal stripes stacked top to bottom (the rows are split, as in PCB).
- ``vertical-k``: k vertical stripes side by side (the columns are split).
- ``annular-k``: k concentric rectangles: part 0 is the central rectangle, part i the ring
  between the rectangles scaled by i/k and (i+1)/k of the map (same aspect ratio as the map).
  ``annular-2`` = inner rectangle + the ring around it; ``annular-3`` = centre + two rings.
- groups: ``horizontal`` = horizontal-2 + horizontal-3, ``vertical`` = vertical-2 + vertical-3,
  ``annular`` = annular-2 + annular-3, ``all`` = the seven branches of the paper.

Which cells form a part (binary masks, exact integer arithmetic, no float ties):

1. The map is the continuous rectangle [0, h) x [0, w); part i of a k-way partition is the
   region between fractions i/k and (i+1)/k (of the height, of the width, or of the normalised
   Chebyshev distance from the centre for annular parts: a cell centred at (y+.5, x+.5) has
   ``rho = max(|2y+1-h| / h, |2x+1-w| / w)``).
2. A cell belongs to the part that contains its centre (lower bound inclusive). When every
   part gets a cell this is a true partition: disjoint and covering; with k not dividing n the
   stripes differ by at most one cell (4 rows in 3 stripes -> 1, 2, 1 rows).
3. A map smaller than the number of parts leaves some part without a cell centre. Such a part
   takes every cell its region touches with positive area instead (what adaptive average
   pooling does), so no part is ever empty and the parts then overlap: on 2 rows
   ``horizontal-3`` gives rows {0}, {0, 1}, {1}; on a 2x2 map every annular part is the whole
   map (all four cells touch the centre); on a 1x1 map every part is the single cell, so all
   branches see the global feature. Use ``output_stride: 16`` (the default here, PCB's "last
   stride 1") to keep maps of small inputs large enough: a 64 px input then gives 4x4.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from fashionbench.core.errors import ConfigError

#: the paper's seven branches
ALL_PARTITIONS: tuple[str, ...] = ("global", "vertical-2", "vertical-3", "horizontal-2",
                                   "horizontal-3", "annular-2", "annular-3")
#: group names accepted in ``parts``
PARTITION_GROUPS: dict[str, tuple[str, ...]] = {
    "all": ALL_PARTITIONS,
    "horizontal": ("horizontal-2", "horizontal-3"),
    "vertical": ("vertical-2", "vertical-3"),
    "annular": ("annular-2", "annular-3"),
}
_PATTERN = re.compile(r"^(horizontal|vertical|annular)-([1-9][0-9]*)$")


def resolve_partitions(parts: str | Iterable[str]) -> list[str]:
    """Expand group names (``all``, ``horizontal``...) into partition names, keeping order."""
    items = [parts] if isinstance(parts, str) else list(parts)
    if not items:
        raise ConfigError("model.parts: empty; give 'all', a group or a list of partitions")
    out: list[str] = []
    for item in items:
        names = PARTITION_GROUPS.get(item, (item,))
        for name in names:
            if name != "global" and not (isinstance(name, str) and _PATTERN.match(name)):
                raise ConfigError(
                    f"model.parts: unknown partition {name!r}; valid: 'global', "
                    f"'horizontal-k', 'vertical-k', 'annular-k' (k >= 1) or a group "
                    f"{sorted(PARTITION_GROUPS)}")
            if name in out:
                raise ConfigError(f"model.parts: partition {name!r} given twice")
            out.append(name)
    return out


def _stripes(n: int, k: int) -> np.ndarray:
    """[k, n] bool: which of n cells belong to each of k stripes (rules 2 and 3 above)."""
    i = np.arange(k)[:, None]
    j = np.arange(n)[None, :]
    c = k * (2 * j + 1)  # cell centre, in units of 1 / (2 n k)
    centre = (2 * n * i <= c) & (c < 2 * n * (i + 1))
    touch = (j * k < (i + 1) * n) & ((j + 1) * k > i * n)
    empty = ~centre.any(axis=1, keepdims=True)
    return np.where(empty, touch, centre)


def _rings(h: int, w: int, k: int) -> np.ndarray:
    """[k, h, w] bool: concentric rectangular rings (rules 2 and 3 above)."""
    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        j = np.arange(n)
        # normalised distances from the map centre are these integers divided by n:
        centre = np.abs(2 * j + 1 - n)  # of the cell centre
        lo, hi = 2 * j - n, 2 * j + 2 - n  # of the cell edges (signed)
        nearest = np.where((lo <= 0) & (hi >= 0), 0, np.minimum(np.abs(lo), np.abs(hi)))
        farthest = np.maximum(np.abs(lo), np.abs(hi))
        return centre, nearest, farthest

    cy, ny, fy = axis(h)
    cx, nx, fx = axis(w)
    masks = np.zeros((k, h, w), bool)
    for i in range(k):
        # rho < t/k  <=>  k * |offset_y| < t * h  and  k * |offset_x| < t * w   (integers)
        inside_outer = (k * cy[:, None] < (i + 1) * h) & (k * cx[None, :] < (i + 1) * w)
        inside_inner = (k * cy[:, None] < i * h) & (k * cx[None, :] < i * w)
        centre = inside_outer & ~inside_inner
        if not centre.any():
            near_ok = (k * ny[:, None] < (i + 1) * h) & (k * nx[None, :] < (i + 1) * w)
            far_ok = (k * fy[:, None] > i * h) | (k * fx[None, :] > i * w)
            centre = near_ok & far_ok
        masks[i] = centre
    return masks


@lru_cache(maxsize=256)
def _partition_masks_np(name: str, h: int, w: int) -> np.ndarray:
    if name == "global":
        return np.ones((1, h, w), bool)
    m = _PATTERN.match(name)
    if m is None:
        raise ConfigError(f"unknown partition {name!r}")
    kind, k = m.group(1), int(m.group(2))
    if kind == "horizontal":
        return np.repeat(_stripes(h, k)[:, :, None], w, axis=2)
    if kind == "vertical":
        return np.repeat(_stripes(w, k)[:, None, :], h, axis=1)
    return _rings(h, w, k)


def partition_masks(name: str, h: int, w: int) -> torch.Tensor:
    """0/1 masks [n_parts, h, w] (float32) of partition ``name`` on an ``h`` x ``w`` map."""
    if h < 1 or w < 1:
        raise ConfigError(f"partition {name!r}: feature map must be at least 1x1, got {h}x{w}")
    return torch.from_numpy(_partition_masks_np(name, int(h), int(w)).astype(np.float32))


def part_masks(partitions: Sequence[str], h: int, w: int) -> torch.Tensor:
    """Masks of every part of ``partitions`` stacked in order: [total_parts, h, w]."""
    return torch.cat([partition_masks(p, h, w) for p in partitions], dim=0)


def parts_count(partitions: Sequence[str]) -> int:
    """Number of parts (masks) the partitions produce."""
    return sum(1 if p == "global" else int(p.rsplit("-", 1)[1]) for p in partitions)


def masked_average_pool(fmap: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean of ``fmap`` [B, C, h, w] over each mask's cells: [B, P, C]."""
    weights = masks / masks.sum(dim=(1, 2), keepdim=True)
    return torch.einsum("bchw,phw->bpc", fmap, weights.to(fmap.dtype))


class MGPANet(nn.Module):
    """Backbone -> masked GAP per part -> per-part 1x1 conv + BN -> per-part ID classifier.

    The per-part layers are grouped 1x1 convolutions (``groups = n_parts``), which is exactly
    ``n_parts`` independent conv/BN/classifier layers evaluated in one call. ``forward`` returns
    ``embedding`` [B, P * reduce_dim] (the concatenated reduced features), ``part_logits``
    [B, P, num_classes] and ``logits`` (their mean, for accuracy logging).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, parts: str | Iterable[str] = "all",
                 reduce_dim: int = 256) -> None:
        super().__init__()
        self.backbone = backbone
        self.partitions = resolve_partitions(parts)
        self.n_parts = parts_count(self.partitions)
        self.reduce_dim = int(reduce_dim)
        c, p = backbone.num_features, self.n_parts
        self.reduce = nn.Sequential(nn.Conv2d(p * c, p * reduce_dim, 1, groups=p, bias=False),
                                    nn.BatchNorm2d(p * reduce_dim))
        self.classifier = nn.Conv2d(p * reduce_dim, p * num_classes, 1, groups=p)
        self.num_classes = num_classes
        self.embedding_dim = p * reduce_dim

    def masks(self, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
        """The [P, h, w] part masks for an ``h`` x ``w`` map."""
        return part_masks(self.partitions, h, w).to(device)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fmap = self.backbone(x)
        b, c, h, w = fmap.shape
        pooled = masked_average_pool(fmap, self.masks(h, w, fmap.device))  # [B, P, C]
        reduced = self.reduce(pooled.reshape(b, self.n_parts * c, 1, 1))  # [B, P*d, 1, 1]
        logits = self.classifier(reduced).reshape(b, self.n_parts, self.num_classes)
        return {"embedding": reduced.flatten(1), "part_logits": logits, "logits": logits.mean(dim=1)}


def mgpa_from_spec(spec: Mapping[str, Any], backbone: nn.Module, num_classes: int) -> MGPANet:
    """Build ``MGPANet`` from ``parts`` (default ``all``) and ``reduce_dim`` (default 256)."""
    reduce_dim = spec.get("reduce_dim", 256)
    if isinstance(reduce_dim, bool) or not isinstance(reduce_dim, int) or reduce_dim < 1:
        raise ConfigError(f"model.reduce_dim: expected a positive integer, got {reduce_dim!r}")
    return MGPANet(backbone, num_classes, spec.get("parts", "all"), reduce_dim)
