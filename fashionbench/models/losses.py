"""Training losses. Each is an ``nn.Module`` whose ``forward(outputs, item_labels,
category_labels)`` returns ``(loss, parts)``; ``parts`` holds floats for logging (each
component unweighted). Losses may own parameters (AM-Softmax weights, centres).

Metric-learning pieces come from pytorch-metric-learning (PML): triplet margin loss, the
miners, the multi-similarity loss. AM-Softmax and the center loss are written here (PML's
CosFaceLoss keeps its weights inside the loss, while ``shang``'s cosine head lives in the model;
PML has no center loss); both are tested against PML / a direct formula.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, miners, reducers
from pytorch_metric_learning import losses as pml_losses
from torch import nn

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.models.spec import choice

#: triplet miners accepted by ``build_triplet``
TRIPLET_MINERS: tuple[str, ...] = ("batch_hard", "semihard", "hard", "all")


def need(outputs: Mapping[str, torch.Tensor], key: str, loss: str) -> torch.Tensor:
    """``outputs[key]``, or a ``ContractError`` naming the loss, the key and what the model gave."""
    if key not in outputs:
        raise ContractError(f"loss {loss!r} needs model output {key!r}; the model gives "
                            f"{sorted(outputs)} (choose a matching model arch)")
    return outputs[key]


class AMSoftmaxLoss(nn.Module):
    """Additive-margin softmax (AM-Softmax / CosFace) on instance ids.

    ``L = mean_i CE(s * (cos_i - m * onehot(y_i)), y_i)`` where ``cos_i`` are the cosines between
    the L2-normalised feature and the L2-normalised class weights. With ``own_weights=False``
    the cosines are read from the model's ``cosine`` output (arch ``cosine``); with
    ``own_weights=True`` the loss holds a [num_classes, embedding_dim] weight and computes them
    from ``embedding`` (any arch).
    """

    def __init__(self, num_classes: int, embedding_dim: int, s: float = 30.0, m: float = 0.35,
                 own_weights: bool = False) -> None:
        super().__init__()
        self.s, self.m = float(s), float(m)
        self.weight = None
        if own_weights:
            self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
            nn.init.xavier_uniform_(self.weight)

    def cosine(self, outputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The [B, C] cosines this loss works on (see class docstring)."""
        if self.weight is None:
            return need(outputs, "cosine", "am_softmax (classifier: model)")
        emb = need(outputs, "embedding", "am_softmax")
        return F.linear(F.normalize(emb, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cos = self.cosine(outputs)
        margin = F.one_hot(item_labels, cos.shape[1]).to(cos.dtype) * self.m
        loss = F.cross_entropy(self.s * (cos - margin), item_labels)
        return loss, {"am_softmax": float(loss.detach())}


class CenterLoss(nn.Module):
    """Center loss (Wen et al. 2016): ``mean_i 1/2 ||x_i - c_{y_i}||^2`` with learnable centres.

    The centres [num_classes, dim] are ordinary parameters updated by the training optimiser
    (the paper's separate centre learning rate is not reproduced). Memory is O(B * dim): only
    the centres of the batch's labels are gathered.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, dim) * 0.01)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x - self.centers[labels]).pow(2).sum(dim=1).mean()


def build_triplet(margin: float, miner: str = "batch_hard", normalize: bool = True
                  ) -> tuple[pml_losses.TripletMarginLoss, miners.BaseMiner | None]:
    """PML triplet loss on squared Euclidean distances plus its miner.

    ``L = mean over mined triplets of [d(a,p)^2 - d(a,n)^2 + margin]_+`` (a MeanReducer, so
    triplets already satisfied count as zeros: the 1/N of park's eq. 1 and zhan's eq. 2).
    ``normalize`` L2-normalises embeddings first. Miners: ``batch_hard`` (hardest positive and
    negative per anchor), ``semihard`` / ``hard`` (PML TripletMarginMiner), ``all`` (every valid
    triplet of the batch).
    """
    choice(miner, TRIPLET_MINERS, "loss.miner")
    dist = distances.LpDistance(p=2, power=2, normalize_embeddings=normalize)
    loss = pml_losses.TripletMarginLoss(margin=margin, distance=dist, reducer=reducers.MeanReducer())
    if miner == "batch_hard":
        return loss, miners.BatchHardMiner(distance=dist)
    if miner in ("semihard", "hard"):
        return loss, miners.TripletMarginMiner(margin=margin, type_of_triplets=miner, distance=dist)
    return loss, None


def triplet_value(loss: pml_losses.TripletMarginLoss, miner: miners.BaseMiner | None,
                  emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mine the batch (if a miner is set) and evaluate the PML triplet loss."""
    tuples = miner(emb, labels) if miner is not None else None
    return loss(emb, labels, tuples)


class ParkLoss(nn.Module):
    """``park``: ``L = alpha * CE(category_logits, category) + beta * triplet(embedding)``.

    ``labels`` picks the triplet labels: ``instance`` ("IS", item ids), ``category`` ("OS") or
    ``none`` ("OC", cross-entropy only). The triplet uses squared L2 distances with margin
    ``delta`` (``margin``) on L2-normalised embeddings by default (the paper compares
    normalised features by inner product). Instance triplets need batches with >= 2 images per
    item (the identity-balanced sampler); a batch without a valid triplet contributes 0.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.1, margin: float = 0.3,
                 labels: str = "instance", miner: str = "batch_hard", normalize: bool = True) -> None:
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)
        self.labels = choice(labels, ("instance", "category", "none"), "loss.labels")
        self.triplet, self.miner = build_triplet(margin, miner, normalize)

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits = need(outputs, "category_logits", "park")
        ce = F.cross_entropy(logits, category_labels)
        total = self.alpha * ce
        parts = {"ce": float(ce.detach())}
        if self.labels != "none" and self.beta != 0.0:
            lab = item_labels if self.labels == "instance" else category_labels
            tri = triplet_value(self.triplet, self.miner, need(outputs, "embedding", "park"), lab)
            total = total + self.beta * tri
            parts["triplet"] = float(tri.detach())
        return total, parts


class MGPACrossEntropy(nn.Module):
    """``chen``: the sum over all parts' classifiers of the ID cross-entropy (``part_logits``)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits = need(outputs, "part_logits", "mgpa_ce")  # [B, P, C]
        b, p, c = logits.shape
        per_part = F.cross_entropy(logits.reshape(b * p, c), item_labels.repeat_interleave(p),
                                   reduction="none", label_smoothing=self.label_smoothing)
        per_part = per_part.reshape(b, p).mean(dim=0)  # batch mean of each part's CE
        loss = per_part.sum()
        return loss, {"mgpa_ce": float(loss.detach()), "mgpa_ce_per_part": float(per_part.mean().detach())}


#: components of ``ji_multi`` and their default weights (the ji paper gives no weights)
JI_DEFAULT_WEIGHTS: dict[str, float] = {"ce": 1.0, "center": 0.0005, "triplet": 1.0, "ms": 1.0}


class JiMultiLoss(nn.Module):
    """``ji``: weighted sum of softmax CE (``logits``), center, triplet and multi-similarity
    losses (the last three on ``embedding``). A component whose weight is 0 is skipped.

    Multi-similarity (Wang et al. 2019) is PML's ``MultiSimilarityLoss(alpha, beta, base)`` on
    cosine similarities, with PML's ``MultiSimilarityMiner(epsilon)`` unless ``ms_miner`` is off.
    """

    def __init__(self, num_classes: int, embedding_dim: int, weights: Mapping[str, float] | None = None,
                 margin: float = 0.3, triplet_miner: str = "batch_hard", ms_alpha: float = 2.0,
                 ms_beta: float = 50.0, ms_base: float = 0.5, ms_miner: bool = True,
                 ms_epsilon: float = 0.1, label_smoothing: float = 0.0) -> None:
        super().__init__()
        w = dict(JI_DEFAULT_WEIGHTS)
        for k, v in (weights or {}).items():
            if k not in JI_DEFAULT_WEIGHTS:
                raise ConfigError(f"loss.weights: unknown component {k!r}; valid: {list(JI_DEFAULT_WEIGHTS)}")
            try:
                w[k] = float(v)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"loss.weights.{k}: expected a number, got {v!r}") from exc
            if not w[k] >= 0:
                raise ConfigError(f"loss.weights.{k}: must be >= 0, got {v!r}")
        if not any(w.values()):
            raise ConfigError("loss.weights: every component weight is 0")
        self.weights = w
        self.label_smoothing = float(label_smoothing)
        self.center = CenterLoss(num_classes, embedding_dim) if w["center"] else None
        self.triplet, self.triplet_miner = build_triplet(margin, triplet_miner, normalize=True)
        self.ms = pml_losses.MultiSimilarityLoss(alpha=ms_alpha, beta=ms_beta, base=ms_base)
        self.ms_miner = miners.MultiSimilarityMiner(epsilon=ms_epsilon) if ms_miner else None

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        w = self.weights
        terms: dict[str, torch.Tensor] = {}
        if w["ce"]:
            terms["ce"] = F.cross_entropy(need(outputs, "logits", "ji_multi"), item_labels,
                                          label_smoothing=self.label_smoothing)
        emb = need(outputs, "embedding", "ji_multi") if (w["center"] or w["triplet"] or w["ms"]) else None
        if self.center is not None:
            terms["center"] = self.center(emb, item_labels)
        if w["triplet"]:
            terms["triplet"] = triplet_value(self.triplet, self.triplet_miner, emb, item_labels)
        if w["ms"]:
            tuples = self.ms_miner(emb, item_labels) if self.ms_miner is not None else None
            terms["ms"] = self.ms(emb, item_labels, tuples)
        total = sum(w[k] * v for k, v in terms.items())
        return total, {k: float(v.detach()) for k, v in terms.items()}

