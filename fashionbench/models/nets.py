"""Single-descriptor retrieval networks: backbone feature map -> pooling -> heads.

Every ``forward(x)`` returns a dict with ``embedding`` [B, D] (the test-time feature, before L2
normalisation) plus what its losses read. Every model has an ``embedding_dim`` attribute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fashionbench.models.backbones import create_backbone
from fashionbench.models.pooling import CombinedGlobalDescriptor, build_pooling


class GlobalClassifierNet(nn.Module):
    """timm backbone -> global pooling -> embedding; a linear classifier on top (the baseline).

    ``pooling='avg'`` keeps the original path (timm's own average pooling inside
    ``self.backbone``); any other pooling (``gem``, ``mac``, ``spoc``) pools
    ``backbone.forward_features``. Outputs ``embedding`` and ``logits`` [B, num_classes].
    """

    def __init__(self, backbone: str, num_classes: int, embedding_dim: int | None = None,
                 in_chans: int = 3, pooling: str = "avg", gem_p: float = 3.0,
                 output_stride: int = 32) -> None:
        super().__init__()
        self.backbone = create_backbone(backbone, in_chans, output_stride, global_pool="avg")
        self.pool = None if pooling == "avg" else build_pooling(pooling, gem_p)
        feat = self.backbone.num_features
        self.neck = nn.Identity() if not embedding_dim else nn.Linear(feat, embedding_dim)
        dim = embedding_dim or feat
        self.classifier = nn.Linear(dim, num_classes)
        self.embedding_dim = dim

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.pool is None:
            pooled = self.backbone(x)
        else:
            pooled = self.pool(self.backbone.forward_features(x))
        emb = self.neck(pooled)
        return {"embedding": emb, "logits": self.classifier(emb)}


class EmbeddingNet(nn.Module):
    """``zhan``'s triplet network: backbone -> global pooling, no FC; outputs ``embedding`` only."""

    def __init__(self, backbone: nn.Module, pooling: str = "avg", gem_p: float = 3.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = build_pooling(pooling, gem_p)
        self.embedding_dim = backbone.num_features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embedding": self.pool(self.backbone(x))}


class CGDNet(nn.Module):
    """``ji``'s combination of global descriptors (CGD) with an auxiliary ID classifier.

    ``embedding`` = concatenation of the L2-normalised projected descriptors; ``logits`` come
    from BN + linear on the raw first descriptor (the CGD paper's auxiliary classification
    branch), so that the softmax/center losses have item logits to work on.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, descriptors: list[str],
                 embedding_dim: int, gem_p: float = 3.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.cgd = CombinedGlobalDescriptor(backbone.num_features, descriptors, embedding_dim, gem_p)
        self.aux = nn.Sequential(nn.BatchNorm1d(backbone.num_features),
                                 nn.Linear(backbone.num_features, num_classes))
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        emb, first = self.cgd(self.backbone(x))
        return {"embedding": emb, "logits": self.aux(first)}


class RelaxationNet(nn.Module):
    """``park``: retrieval embedding plus a category classifier behind a feature relaxation module.

    Path 1 (similarity): feature map -> pooling -> optional linear neck -> ``embedding``.
    Path 2 (classification): feature map -> relaxation module (1x1 conv, ReLU, dropout, 1x1
    conv; applied on the map so each location is relaxed before pooling) -> average pooling ->
    linear category classifier -> ``category_logits`` [B, num_categories]. The relaxation module
    lets the classification path reshape its features without pulling the embedding with it.
    """

    def __init__(self, backbone: nn.Module, num_categories: int, pooling: str = "avg",
                 embedding_dim: int | None = None, relaxation_dim: int = 512, dropout: float = 0.5,
                 gem_p: float = 3.0) -> None:
        super().__init__()
        self.backbone = backbone
        feat = backbone.num_features
        self.pool = build_pooling(pooling, gem_p)
        self.neck = nn.Identity() if not embedding_dim else nn.Linear(feat, embedding_dim)
        self.relaxation = nn.Sequential(nn.Conv2d(feat, relaxation_dim, 1), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Conv2d(relaxation_dim, relaxation_dim, 1))
        self.category_classifier = nn.Linear(relaxation_dim, num_categories)
        self.embedding_dim = embedding_dim or feat

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fmap = self.backbone(x)
        emb = self.neck(self.pool(fmap))
        relaxed = self.relaxation(fmap).mean(dim=(-2, -1))
        return {"embedding": emb, "category_logits": self.category_classifier(relaxed)}


class CosineClassifier(nn.Module):
    """Cosines between L2-normalised inputs and L2-normalised class weights: [B, num_classes]."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))


class CosineClassifierNet(nn.Module):
    """``shang``: backbone -> pooling -> linear "final layer" of ``embedding_dim`` -> cosine head.

    Outputs ``embedding``, ``cosine`` [B, num_classes] (what ``am_softmax`` reads) and
    ``logits`` = ``scale * cosine`` (a normalised-softmax logit, for plain ``ce`` or logging).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, embedding_dim: int = 512,
                 pooling: str = "avg", scale: float = 30.0, gem_p: float = 3.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = build_pooling(pooling, gem_p)
        self.neck = nn.Linear(backbone.num_features, embedding_dim)
        self.head = CosineClassifier(embedding_dim, num_classes)
        self.scale = float(scale)
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = self.neck(self.pool(self.backbone(x)))
        cos = self.head(emb)
        return {"embedding": emb, "cosine": cos, "logits": self.scale * cos}


class CategoryClassifierNet(nn.Module):
    """``shang``'s category classifier (the router): backbone -> pooling -> linear over categories.

    Outputs ``embedding`` (the pooled backbone feature, so the row can also be embedded and
    evaluated like any method) and ``category_logits`` [B, num_categories] (what ``category_ce``
    reads and what the embed step turns into per-image category predictions).
    """

    def __init__(self, backbone: nn.Module, num_categories: int, pooling: str = "avg",
                 gem_p: float = 3.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = build_pooling(pooling, gem_p)
        self.category_classifier = nn.Linear(backbone.num_features, num_categories)
        self.embedding_dim = backbone.num_features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = self.pool(self.backbone(x))
        return {"embedding": emb, "category_logits": self.category_classifier(emb)}
