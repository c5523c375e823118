"""Model and loss builders: a method's ``params.yaml`` row names its architecture and loss.

Interface every model follows (the training loop and the embed step rely on it):

- ``build_model(spec, num_classes, num_categories) -> nn.Module`` whose ``forward(x)`` returns a
  dict with ``"embedding"`` ([B, D], the test-time feature before L2 normalisation) and whatever
  the loss needs (e.g. ``"logits"`` [B, num_classes]). Every model has ``embedding_dim``.
- ``build_loss(spec, num_classes, num_categories, embedding_dim) -> nn.Module`` whose
  ``forward(outputs, item_labels, category_labels)`` returns ``(loss, parts)`` where ``parts``
  is a dict of floats for logging. A loss may own parameters (they are optimised too).
  A loss that needs each image's domain declares a keyword ``domains`` in ``forward``
  (``forward(outputs, item_labels, category_labels, domains=None)``); the training loop passes
  ``domains`` (a [B] long tensor, 0 = shop, 1 = consumer) exactly to the losses that declare it.
  Today only ``zhan_triplet`` does, and it requires it.

Specs are strict: an unknown key or name is a ``ConfigError`` listing the valid ones.
Batch composition matters for the metric losses: ``park`` with instance labels and ``ji_multi``
need several images per item in a batch (train setting ``sampler: identity``), ``zhan_triplet``
needs shop + consumer images of several items (``sampler: domain``); see ``fashionbench.data.samplers``.

Model specs (``model:`` block; ``arch`` picks the class; shared keys for every arch:
``backbone`` (timm name, required), ``in_chans`` (3), ``output_stride`` (32; 16/8 keep larger
maps), ``pretrained`` ({path, sha256, key_map}: strict, checksum-verified backbone weights) — see
``backbones``). ``pooling`` is one of ``avg``/``spoc``, ``mac``, ``gem`` (``gem_p``: GeM's
initial, learnable exponent, default 3).

- ``{"arch": "global", "backbone": "resnet18", "embedding_dim": 128}`` — the baseline:
  pooling (``pooling``, default ``avg``) -> optional linear neck (``embedding_dim``, default
  none) -> linear item classifier. Outputs ``embedding``, ``logits``.
- ``{"arch": "global", "backbone": "resnet18", "pooling": "gem"}`` — same with GeM.
- ``{"arch": "triplet", "backbone": "resnet18"}`` — ``zhan``: pooled feature, no FC
  (``pooling``, default ``avg`` = GAP). Outputs ``embedding`` only.
- ``{"arch": "cgd", "backbone": "resnet18", "descriptors": ["gem", "mac"], "embedding_dim": 128}``
  — ``ji``: combination of global descriptors (each projected to ``embedding_dim / n``,
  L2-normalised, concatenated; ``embedding_dim`` default 1024, must divide by n) and an
  auxiliary BN + linear item classifier on the first descriptor. Outputs ``embedding``,
  ``logits``.
- ``{"arch": "relaxation", "backbone": "resnet18", "relaxation_dim": 512, "dropout": 0.5}`` —
  ``park``: ``embedding`` = pooled feature (``pooling``, optional ``embedding_dim`` neck);
  feature relaxation module (1x1 conv, ReLU, dropout, 1x1 conv) -> category classifier ->
  ``category_logits`` [B, num_categories].
- ``{"arch": "mgpa", "backbone": "resnet18", "parts": "all", "reduce_dim": 64}`` — ``chen``:
  ``parts`` = ``all`` | ``horizontal`` | ``vertical`` | ``annular`` | a list of ``global``,
  ``horizontal-k``, ``vertical-k``, ``annular-k`` or groups; ``reduce_dim`` (256) per part;
  ``output_stride`` defaults to 16 here. Outputs ``embedding`` [B, parts * reduce_dim],
  ``part_logits`` [B, parts, num_classes], ``logits`` (mean over parts).
- ``{"arch": "cosine", "backbone": "resnet18", "embedding_dim": 512}`` — ``shang``: pooling ->
  linear "final layer" (``embedding_dim``, default 512; the paper trains 512/1024/2048/4096) ->
  cosine classifier. Outputs ``embedding``, ``cosine`` [B, num_classes], ``logits`` = ``scale``
  (default 30) x cosine.
- ``{"arch": "classifier", "backbone": "resnet50"}`` — ``shang``'s category classifier:
  pooling -> linear over the categories. Outputs ``embedding`` (pooled feature) and
  ``category_logits`` [B, num_categories] (the embed step saves their argmax as
  ``extra_query_category_pred`` / ``extra_gallery_category_pred``).

Loss specs (``loss:`` block; ``loss`` picks the class):

- ``{"loss": "ce", "label_smoothing": 0.0}`` — CE on ``logits`` over item ids.
- ``{"loss": "category_ce", "label_smoothing": 0.0}`` — CE on ``category_logits`` over the
  super-categories (``shang``'s classifier).
- ``{"loss": "am_softmax", "s": 30, "m": 0.35, "classifier": "model"}`` — AM-Softmax on item
  ids; ``classifier: model`` reads the model's ``cosine`` (arch ``cosine``), ``classifier:
  loss`` makes the loss own the class weights and read ``embedding`` (any arch).
- ``{"loss": "park", "alpha": 1.0, "beta": 0.1, "margin": 0.3, "labels": "instance",
  "miner": "batch_hard", "normalize": true}`` — ``alpha`` CE(category_logits) + ``beta``
  triplet (squared L2, margin ``margin`` = delta) on ``instance`` ("IS") or ``category`` ("OS")
  labels, or ``none`` ("OC" = CE only). ``miner``: batch_hard | semihard | hard | all.
- ``{"loss": "zhan_triplet", "margin": 1.0, "negatives": 4, "easy_fraction": 0.25, "seed": 0,
  "normalize": false}`` — cross-domain triplets mined per batch (``easy_fraction`` = easy /
  hard triplet count; 0 = hard only); needs ``domains``.
- ``{"loss": "mgpa_ce", "label_smoothing": 0.0}`` — sum over parts of each part's CE.
- ``{"loss": "ji_multi", "weights": {"ce": 1, "center": 0.0005, "triplet": 1, "ms": 1},
  "margin": 0.3, "triplet_miner": "batch_hard", "ms_alpha": 2, "ms_beta": 50, "ms_base": 0.5,
  "ms_miner": true, "ms_epsilon": 0.1, "label_smoothing": 0.0}`` — weighted sum of softmax CE,
  center, triplet and multi-similarity losses (missing weights take these defaults; 0 skips).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from fashionbench.core.errors import ConfigError
from fashionbench.models import spec as S
from fashionbench.models.backbones import (
    BACKBONE_KEYS,
    apply_pretrained,
    backbone_from_spec,
)
from fashionbench.models.losses import (
    AMSoftmaxLoss,
    CenterLoss,
    JiMultiLoss,
    MGPACrossEntropy,
    ParkLoss,
    need,
)
from fashionbench.models.mgpa import MGPANet, mgpa_from_spec
from fashionbench.models.nets import (
    CategoryClassifierNet,
    CGDNet,
    CosineClassifierNet,
    EmbeddingNet,
    GlobalClassifierNet,
    RelaxationNet,
)
from fashionbench.models.pooling import POOLINGS
from fashionbench.models.zhan import (
    ZhanTripletLoss,
    mine_cross_domain_triplets,
    triplet_accuracy,
)

__all__ = [
    "ARCHS", "LOSSES", "AMSoftmaxLoss", "CategoryClassifierNet", "CGDNet", "CenterLoss", "CosineClassifierNet",
    "CrossEntropyOnCategories", "CrossEntropyOnItems", "EmbeddingNet", "GlobalClassifierNet", "JiMultiLoss", "MGPACrossEntropy",
    "MGPANet", "ParkLoss", "RelaxationNet", "ZhanTripletLoss", "build_loss", "build_model",
    "mine_cross_domain_triplets", "triplet_accuracy",
]


class CrossEntropyOnCategories(nn.Module):
    """Cross-entropy of ``category_logits`` over the super-categories (``shang``'s classifier)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.ce = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.ce(need(outputs, "category_logits", "category_ce"), category_labels)
        return loss, {"category_ce": float(loss.detach())}


class CrossEntropyOnItems(nn.Module):
    """Cross-entropy over the training item ids (the baseline's loss)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.ce = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.ce(need(outputs, "logits", "ce"), item_labels)
        return loss, {"ce": float(loss.detach())}


_POOL_KEYS = ("pooling", "gem_p")
#: model-spec keys of each architecture (besides the shared backbone keys)
ARCHS: dict[str, tuple[str, ...]] = {
    "global": ("embedding_dim",) + _POOL_KEYS,
    "triplet": _POOL_KEYS,
    "cgd": ("descriptors", "embedding_dim", "gem_p"),
    "relaxation": ("embedding_dim", "relaxation_dim", "dropout") + _POOL_KEYS,
    "mgpa": ("parts", "reduce_dim"),
    "cosine": ("embedding_dim", "scale") + _POOL_KEYS,
    "classifier": _POOL_KEYS,
}


def _pooling(spec: Mapping[str, Any]) -> tuple[str, float]:
    name = S.choice(spec.get("pooling", "avg"), POOLINGS, "model.pooling")
    return name, S.number(spec, "gem_p", 3.0, "model", low=1.0)


def build_model(spec: Mapping[str, Any], num_classes: int, num_categories: int) -> nn.Module:
    """Build the model named by ``spec['arch']`` (see module docstring for archs and keys)."""
    arch = spec.get("arch", "global")
    if arch not in ARCHS:
        raise ConfigError(f"model arch: unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    S.check_keys(spec, BACKBONE_KEYS + ARCHS[arch], f"model (arch {arch!r})")
    emb_dim = S.integer(spec, "embedding_dim", None, "model", low=1)
    if arch == "global":
        if "backbone" not in spec:
            raise ConfigError("model.backbone: required (a timm model name such as 'resnet18')")
        pooling, p = _pooling(spec)
        model = GlobalClassifierNet(spec["backbone"], num_classes, emb_dim,
                                    in_chans=S.integer(spec, "in_chans", 3, "model", low=1),
                                    pooling=pooling, gem_p=p,
                                    output_stride=S.integer(spec, "output_stride", 32, "model", low=1))
        apply_pretrained(model.backbone, spec.get("pretrained"), spec["backbone"])
        return model
    if arch == "mgpa":
        spec = {"output_stride": 16, **spec}
    backbone = backbone_from_spec(spec)
    if arch == "triplet":
        pooling, p = _pooling(spec)
        return EmbeddingNet(backbone, pooling, p)
    if arch == "cgd":
        descriptors = spec.get("descriptors", ["gem", "mac"])
        if isinstance(descriptors, str) or not isinstance(descriptors, (list, tuple)):
            raise ConfigError(f"model.descriptors: expected a list such as ['gem', 'mac'], got {descriptors!r}")
        for d in descriptors:
            S.choice(d, POOLINGS, "model.descriptors")
        return CGDNet(backbone, num_classes, list(descriptors), emb_dim or 1024,
                      S.number(spec, "gem_p", 3.0, "model", low=1.0))
    if arch == "relaxation":
        pooling, p = _pooling(spec)
        return RelaxationNet(backbone, num_categories, pooling, emb_dim,
                             S.integer(spec, "relaxation_dim", 512, "model", low=1),
                             S.number(spec, "dropout", 0.5, "model", low=0.0, high=1.0), p)
    if arch == "mgpa":
        return mgpa_from_spec(spec, backbone, num_classes)
    if arch == "classifier":
        pooling, p = _pooling(spec)
        return CategoryClassifierNet(backbone, num_categories, pooling, p)
    pooling, p = _pooling(spec)  # cosine
    return CosineClassifierNet(backbone, num_classes, emb_dim or 512, pooling,
                               S.number(spec, "scale", 30.0, "model", low=0.0, low_open=True), p)


#: loss-spec keys of each loss (besides ``loss``)
LOSSES: dict[str, tuple[str, ...]] = {
    "ce": ("label_smoothing",),
    "category_ce": ("label_smoothing",),
    "am_softmax": ("s", "m", "classifier"),
    "park": ("alpha", "beta", "margin", "labels", "miner", "normalize"),
    "zhan_triplet": ("margin", "negatives", "easy_fraction", "seed", "normalize"),
    "mgpa_ce": ("label_smoothing",),
    "ji_multi": ("weights", "margin", "triplet_miner", "ms_alpha", "ms_beta", "ms_base",
                 "ms_miner", "ms_epsilon", "label_smoothing"),
}


def build_loss(spec: Mapping[str, Any], num_classes: int, num_categories: int,
               embedding_dim: int) -> nn.Module:
    """Build the loss named by ``spec['loss']`` (see module docstring for losses and keys)."""
    name = spec.get("loss", "ce")
    if name not in LOSSES:
        raise ConfigError(f"model loss: unknown loss {name!r}; known: {sorted(LOSSES)}")
    S.check_keys(spec, ("loss",) + LOSSES[name], f"loss {name!r}")
    where = "loss"
    ls = S.number(spec, "label_smoothing", 0.0, where, low=0.0, high=1.0)
    if name == "ce":
        return CrossEntropyOnItems(ls)
    if name == "category_ce":
        return CrossEntropyOnCategories(ls)
    if name == "mgpa_ce":
        return MGPACrossEntropy(ls)
    if name == "am_softmax":
        classifier = S.choice(spec.get("classifier", "model"), ("model", "loss"), "loss.classifier")
        return AMSoftmaxLoss(num_classes, embedding_dim, S.number(spec, "s", 30.0, where, low=0.0, low_open=True),
                             S.number(spec, "m", 0.35, where, low=0.0), own_weights=classifier == "loss")
    if name == "park":
        return ParkLoss(S.number(spec, "alpha", 1.0, where, low=0.0), S.number(spec, "beta", 0.1, where, low=0.0),
                        S.number(spec, "margin", 0.3, where, low=0.0), spec.get("labels", "instance"),
                        spec.get("miner", "batch_hard"), S.boolean(spec, "normalize", True, where))
    if name == "zhan_triplet":
        return ZhanTripletLoss(S.number(spec, "margin", 1.0, where, low=0.0),
                               S.integer(spec, "negatives", 4, where, low=1),
                               S.number(spec, "easy_fraction", 0.25, where, low=0.0),
                               S.integer(spec, "seed", 0, where, low=0),
                               S.boolean(spec, "normalize", False, where))
    weights = spec.get("weights")  # ji_multi
    if weights is not None and not isinstance(weights, Mapping):
        raise ConfigError(f"loss.weights: expected a mapping such as {{ce: 1, center: 0.0005}}, got {weights!r}")
    return JiMultiLoss(num_classes, embedding_dim, weights,
                       margin=S.number(spec, "margin", 0.3, where, low=0.0),
                       triplet_miner=spec.get("triplet_miner", "batch_hard"),
                       ms_alpha=S.number(spec, "ms_alpha", 2.0, where, low=0.0, low_open=True),
                       ms_beta=S.number(spec, "ms_beta", 50.0, where, low=0.0, low_open=True),
                       ms_base=S.number(spec, "ms_base", 0.5, where),
                       ms_miner=S.boolean(spec, "ms_miner", True, where),
                       ms_epsilon=S.number(spec, "ms_epsilon", 0.1, where, low=0.0),
                       label_smoothing=ls)
