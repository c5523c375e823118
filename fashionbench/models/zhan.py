"""``zhan``: cross-domain triplets (shop anchor, consumer positive, consumer negatives).

The paper builds triplets offline: for every (shop image, consumer photo) pair of one item,
4 negatives are consumer photos of *other* items; a negative is "hard" when its category is the
anchor's, "easy" otherwise, and easy triplets number 1/4 of the hard ones. Here the same rule
mines each batch (the domain-aware sampler fills a batch with the shop and consumer images of
P items):

- pairs: every (shop image, consumer image) of the same item in the batch;
- per pair ``negatives`` slots; ``easy_fraction`` = (number of easy triplets) / (number of hard
  triplets), so a share ``easy_fraction / (1 + easy_fraction)`` of all slots is easy (default
  0.25 -> 20 %). That total is rounded to an integer and spread as evenly as possible over
  the pairs (each pair gets floor or ceil of its share; which pairs get the extra one is
  random). ``easy_fraction = 0`` is the "hard only" mode of the paper's Table I;
- a pair's hard (easy) slots take distinct candidates in a random order; when the batch holds
  fewer candidates than slots the order is cycled (candidates repeat); a slot whose kind has no
  candidate in the batch is dropped (reported as ``dropped``), so "hard only" never falls back
  to easy negatives.

Domains use the manifest's words or the training loop's codes: ``0``/``"shop"``,
``1``/``"consumer"``. Randomness comes from a ``numpy.random.Generator``; the loss module seeds
its own and keeps its state in ``state_dict`` (extra state), so a resumed run mines the same
triplets as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from pytorch_metric_learning import distances, reducers
from pytorch_metric_learning import losses as pml_losses
from torch import nn

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.domains import CONSUMER, SHOP, domain_codes
from fashionbench.models.losses import need


@dataclass(frozen=True)
class CrossDomainTriplets:
    """Mined triplets as batch indices, plus bookkeeping."""

    anchor: np.ndarray  #: [T] int64, shop images
    positive: np.ndarray  #: [T] int64, consumer images of the anchor's item
    negative: np.ndarray  #: [T] int64, consumer images of other items
    hard: np.ndarray  #: [T] bool, negative shares the anchor's category
    pairs: int  #: number of (anchor, positive) pairs in the batch
    dropped: int  #: slots left empty (no candidate of their kind in the batch)

    def __len__(self) -> int:
        return len(self.anchor)


def easy_per_pair(n_pairs: int, negatives: int, easy_fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Easy slots of each pair: the rounded total ``n_pairs*negatives*f/(1+f)`` spread evenly."""
    total = int(round(n_pairs * negatives * easy_fraction / (1.0 + easy_fraction)))
    base, extra = divmod(total, n_pairs) if n_pairs else (0, 0)
    out = np.full(n_pairs, base, dtype=np.int64)
    out[rng.permutation(n_pairs)[:extra]] += 1
    return out


def mine_cross_domain_triplets(item_labels: torch.Tensor | np.ndarray | Sequence[Any],
                               category_labels: torch.Tensor | np.ndarray | Sequence[Any],
                               domains: torch.Tensor | np.ndarray | Sequence[Any], *,
                               negatives: int = 4, easy_fraction: float = 0.25,
                               rng: np.random.Generator) -> CrossDomainTriplets:
    """Mine zhan's triplets in a batch (see the module docstring for the rules)."""
    if negatives < 1:
        raise ConfigError(f"loss.negatives: must be >= 1, got {negatives}")
    if not easy_fraction >= 0 or easy_fraction == float("inf"):
        raise ConfigError(f"loss.easy_fraction: must be a finite number >= 0, got {easy_fraction}")
    items = _as_array(item_labels)
    cats = _as_array(category_labels)
    dom = domain_codes(domains, len(items))
    if len(cats) != len(items):
        raise ContractError(f"category_labels: {len(cats)} values for a batch of {len(items)}")
    shop = np.flatnonzero(dom == SHOP)
    cons = np.flatnonzero(dom == CONSUMER)
    r, c = np.nonzero(items[shop][:, None] == items[cons][None, :])
    anchor, positive = shop[r], cons[c]
    n_pairs = len(anchor)
    empty = np.zeros(0, np.int64)
    if n_pairs == 0:
        return CrossDomainTriplets(empty, empty, empty, np.zeros(0, bool), 0, 0)

    other = items[cons][None, :] != items[anchor][:, None]  # [P, Ncons] candidate negatives
    same_cat = cats[cons][None, :] == cats[anchor][:, None]
    cand = {True: other & same_cat, False: other & ~same_cat}  # hard / easy
    n_easy = easy_per_pair(n_pairs, negatives, float(easy_fraction), rng)
    n_hard = negatives - n_easy
    keys = rng.random((n_pairs, len(cons)))
    order = {h: np.argsort(np.where(m, keys, np.inf), axis=1, kind="stable") for h, m in cand.items()}
    count = {h: m.sum(axis=1) for h, m in cand.items()}

    slot = np.arange(negatives)[None, :]
    is_hard = np.broadcast_to(slot < n_hard[:, None], (n_pairs, negatives))
    rank = np.where(is_hard, slot, slot - n_hard[:, None])
    kind_count = np.where(is_hard, count[True][:, None], count[False][:, None])
    valid = kind_count > 0
    col = rank % np.maximum(kind_count, 1)  # cycle through the shuffled candidates
    rows = np.arange(n_pairs)[:, None]
    chosen = np.where(is_hard, order[True][rows, col], order[False][rows, col])
    pair_of = np.broadcast_to(rows, (n_pairs, negatives))
    return CrossDomainTriplets(anchor=anchor[pair_of[valid]], positive=positive[pair_of[valid]],
                               negative=cons[chosen[valid]], hard=is_hard[valid].copy(),
                               pairs=n_pairs, dropped=int((~valid).sum()))


def _as_array(values: torch.Tensor | np.ndarray | Sequence[Any]) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy().reshape(-1)
    return np.asarray(values).reshape(-1)


def triplet_accuracy(anchor: torch.Tensor | np.ndarray, positive: torch.Tensor | np.ndarray,
                     negative: torch.Tensor | np.ndarray) -> float:
    """Share of triplets with ``d(a, p) < d(a, n)`` (Euclidean; ties count as failures)."""
    a, p, n = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, np.float64)
               for v in (anchor, positive, negative))
    if a.ndim != 2 or a.shape != p.shape or a.shape != n.shape:
        raise ContractError(f"triplet_accuracy: anchor/positive/negative must be [N, D] of one shape, "
                            f"got {a.shape}, {p.shape}, {n.shape}")
    if len(a) == 0:
        raise ContractError("triplet_accuracy: no triplets")
    d_ap = np.linalg.norm(a - p, axis=1)
    d_an = np.linalg.norm(a - n, axis=1)
    return float(np.mean(d_ap < d_an))


class ZhanTripletLoss(nn.Module):
    """Triplet loss on mined cross-domain triplets: ``mean [d(a,p)^2 - d(a,n)^2 + margin]_+``.

    Squared Euclidean distances on the raw embedding (the paper's margins 1-8 only make sense
    unnormalised; ``normalize=True`` L2-normalises first). The loss is PML's
    ``TripletMarginLoss`` with a MeanReducer evaluated on the mined index triplets. The
    ``forward`` takes the extra keyword ``domains`` (0/1 codes or 'shop'/'consumer' per image),
    which the training loop passes; it is required.
    """

    def __init__(self, margin: float = 1.0, negatives: int = 4, easy_fraction: float = 0.25,
                 seed: int = 0, normalize: bool = False) -> None:
        super().__init__()
        if negatives < 1:
            raise ConfigError(f"loss.negatives: must be >= 1, got {negatives}")
        if not 0 <= easy_fraction < float("inf"):
            raise ConfigError(f"loss.easy_fraction: must be a finite number >= 0, got {easy_fraction}")
        self.negatives, self.easy_fraction = int(negatives), float(easy_fraction)
        self.seed, self.normalize = int(seed), bool(normalize)
        self.rng = np.random.default_rng(self.seed)
        dist = distances.LpDistance(p=2, power=2, normalize_embeddings=normalize)
        self.triplet = pml_losses.TripletMarginLoss(margin=margin, distance=dist,
                                                    reducer=reducers.MeanReducer())

    def get_extra_state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def forward(self, outputs: Mapping[str, torch.Tensor], item_labels: torch.Tensor,
                category_labels: torch.Tensor, domains: torch.Tensor | Sequence[Any] | None = None
                ) -> tuple[torch.Tensor, dict[str, float]]:
        if domains is None:
            raise ContractError("loss 'zhan_triplet' needs domains=... (0/'shop', 1/'consumer' per image)")
        emb = need(outputs, "embedding", "zhan_triplet")
        t = mine_cross_domain_triplets(item_labels, category_labels, domains, negatives=self.negatives,
                                       easy_fraction=self.easy_fraction, rng=self.rng)
        parts = {"triplets": float(len(t)), "hard_share": float(t.hard.mean()) if len(t) else 0.0}
        if len(t) == 0:
            parts.update(triplet=0.0, triplet_accuracy=0.0)
            return emb.sum() * 0.0, parts
        idx = tuple(torch.as_tensor(v, device=emb.device) for v in (t.anchor, t.positive, t.negative))
        loss = self.triplet(emb, item_labels, idx)
        with torch.no_grad():
            e = torch.nn.functional.normalize(emb, dim=1) if self.normalize else emb
            parts["triplet_accuracy"] = triplet_accuracy(e[idx[0]], e[idx[1]], e[idx[2]])
        parts["triplet"] = float(loss.detach())
        return loss, parts
