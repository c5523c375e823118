"""Global pooling of a backbone feature map [B, C, h, w] into a descriptor [B, C].

- ``spoc`` / ``avg``: sum-pooling of convolutions (the spatial mean).
- ``mac``: maximum activation of convolutions (the spatial max).
- ``gem``: generalised mean, ``(mean_hw x^p)^(1/p)`` with a learnable ``p`` (Radenović et al.):
  ``p = 1`` is the mean, ``p -> inf`` tends to the max. Inputs are clamped to ``eps`` first (the
  features follow a ReLU, so this only guards ``0^p`` gradients).

``CombinedGlobalDescriptor`` is the "CGD" head used by ``ji`` (Jun et al. 2019): several global
descriptors of the same map, each through its own linear projection, each L2-normalised, then
concatenated.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fashionbench.core.errors import ConfigError

#: pooling names accepted by ``build_pooling`` (``avg`` is an alias of ``spoc``)
POOLINGS: tuple[str, ...] = ("avg", "spoc", "mac", "gem")


def gem(x: torch.Tensor, p: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """Generalised-mean pooling of ``x`` [B, C, h, w] -> [B, C].

    Computed as ``m * mean((x / m)^p)^(1/p)`` with ``m`` the per-channel max, which is the same
    number but cannot overflow for large ``p`` (``x^p`` would for ``p`` ~ 100).
    """
    x = x.clamp(min=eps)
    m = x.amax(dim=(-2, -1), keepdim=True).detach()  # scale-equivariance: m cancels exactly
    return (x / m).pow(p).mean(dim=(-2, -1)).pow(1.0 / p) * m.flatten(-3)


class GeM(nn.Module):
    """Generalised-mean pooling with a learnable (or fixed) exponent ``p``."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True) -> None:
        super().__init__()
        if p < 1:
            raise ConfigError(f"pooling gem: p must be >= 1, got {p}")
        init = torch.tensor([float(p)])
        self.p = nn.Parameter(init) if learn_p else nn.Parameter(init, requires_grad=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p, self.eps)


class MAC(nn.Module):
    """Spatial max pooling [B, C, h, w] -> [B, C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(-2, -1))


class SPoC(nn.Module):
    """Spatial average pooling [B, C, h, w] -> [B, C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


def build_pooling(name: str, gem_p: float = 3.0) -> nn.Module:
    """Pooling module by name (one of ``POOLINGS``); ``gem_p`` is GeM's initial exponent."""
    if name == "gem":
        return GeM(gem_p)
    if name == "mac":
        return MAC()
    if name in ("spoc", "avg"):
        return SPoC()
    raise ConfigError(f"pooling: unknown pooling {name!r}; valid: {list(POOLINGS)}")


class CombinedGlobalDescriptor(nn.Module):
    """CGD: ``n`` pooled descriptors, each projected to ``embedding_dim / n`` and L2-normalised.

    ``forward(feature_map)`` returns ``(embedding [B, embedding_dim], first_pooled [B, C])``; the
    raw first descriptor feeds the auxiliary classifier, as in the CGD paper.
    """

    def __init__(self, in_features: int, descriptors: Sequence[str], embedding_dim: int,
                 gem_p: float = 3.0) -> None:
        super().__init__()
        descriptors = list(descriptors)
        if not descriptors:
            raise ConfigError("model.descriptors: give at least one descriptor, e.g. ['gem', 'mac']")
        if len(set(descriptors)) != len(descriptors):
            raise ConfigError(f"model.descriptors: repeated descriptor in {descriptors}")
        if embedding_dim % len(descriptors):
            raise ConfigError(f"model.embedding_dim: {embedding_dim} is not divisible by the "
                              f"{len(descriptors)} descriptors {descriptors}")
        self.names = descriptors
        self.pools = nn.ModuleList(build_pooling(d, gem_p) for d in descriptors)
        part = embedding_dim // len(descriptors)
        self.projections = nn.ModuleList(nn.Linear(in_features, part, bias=False) for _ in descriptors)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = [pool(fmap) for pool in self.pools]
        parts = [F.normalize(proj(v), dim=1) for proj, v in zip(self.projections, pooled)]
        return torch.cat(parts, dim=1), pooled[0]
