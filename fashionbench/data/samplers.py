"""Batch samplers: identity-balanced P x K batches, and shop/consumer batches for ``zhan``.

Both yield lists of dataset indices (use them as a DataLoader ``batch_sampler``) and are
deterministic: the batches of epoch ``e`` depend only on ``(seed, e)``. Iterating advances the
epoch by one (so a plain DataLoader loop sees a new order each epoch); ``set_epoch`` sets it.

How an epoch is built (both samplers):

1. Each item's images are cut into *chunks* (K images, or ``shop_per_item`` shop +
   ``consumer_per_item`` consumer images). The item's images are shuffled and split in order,
   so every image appears in some chunk each epoch. An item with at least K images gets
   ceil(n / K) chunks of K *distinct* images (the last chunk is topped up with other images of
   the item). An item with fewer than K images gets one chunk holding all of them plus
   K - n draws *with replacement* from them (so duplicates occur, as in torchreid's
   RandomIdentitySampler).
2. Batches take one chunk from each of P *distinct* items. Each round picks the P items with
   the most chunks left (ties broken at random), which provably yields the largest possible
   number of full batches, i.e. covers the dataset as far as the "P distinct items" rule
   allows. Chunks left when fewer than P items still have chunks are dropped
   (``drop_last=True``, default) or form smaller final batches (``drop_last=False``).
3. The batch order is shuffled.

The domain-aware sampler skips items lacking a shop or a consumer image (they cannot form an
(anchor, positive) pair; see ``skipped_items``). With ``items_per_category = m`` its batches are
P / m categories x m items each, so a batch always holds same-category items (zhan's hard
negatives) and other-category items (easy negatives); categories with fewer than m items (or
their last < m items of an epoch) are then left out.

``epoch_batches`` is the entry point the training loop calls (``sampler:`` in the method's
train settings). Its settings keys: ``identity``: ``samples_per_item`` (K, default 4; P =
batch_size / K); ``domain``: ``shop_per_item`` (1), ``consumer_per_item`` (1),
``items_per_category`` (none; P = batch_size / (shop + consumer per item)); both: ``drop_last``
(true).
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from fashionbench.core.errors import ConfigError, ContractError

#: sampler names accepted by ``epoch_batches`` ("random" is the training loop's own)
SAMPLERS: tuple[str, ...] = ("identity", "domain")


def _to_numpy(values: Any, name: str) -> np.ndarray:
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if arr.ndim != 1:
        raise ContractError(f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    return arr


def _fill(indices: np.ndarray, k: int, n_chunks: int, rng: np.random.Generator) -> np.ndarray:
    """[n_chunks, k] dataset indices covering ``indices`` (rule 1 of the module docstring)."""
    n = len(indices)
    if n < k:  # every chunk: all images + draws with replacement
        base = np.stack([rng.permutation(indices) for _ in range(n_chunks)])
        extra = rng.choice(indices, size=(n_chunks, k - n), replace=True)
        return np.concatenate([base, extra], axis=1)
    perm = rng.permutation(indices)
    full, r = divmod(n, k)
    chunks = [perm[i * k:(i + 1) * k] for i in range(full)]
    if r:  # top up the partial chunk with distinct other images of the item
        tail = perm[full * k:]
        chunks.append(np.concatenate([tail, rng.choice(perm[:full * k], size=k - r, replace=False)]))
    while len(chunks) < n_chunks:  # another domain needs more chunks: fresh distinct draws
        chunks.append(rng.choice(indices, size=k, replace=False))
    return np.stack(chunks)


def _schedule(counts: np.ndarray, p: int, rng: np.random.Generator, drop_last: bool) -> list[np.ndarray]:
    """Rounds of P distinct positions, each round taking one unit from each (rule 2).

    Greedy on the largest remaining counts (random tie-break) maximises the number of full
    rounds.
    """
    remaining = counts.astype(np.int64).copy()
    rounds: list[np.ndarray] = []
    while np.count_nonzero(remaining) >= p:
        key = remaining + rng.random(len(remaining))
        key[remaining == 0] = -1.0
        chosen = np.argpartition(-key, p - 1)[:p]
        chosen = chosen[rng.permutation(p)]
        rounds.append(chosen)
        remaining[chosen] -= 1
    if not drop_last:
        while remaining.any():
            chosen = rng.permutation(np.flatnonzero(remaining))
            rounds.append(chosen)
            remaining[chosen] -= 1
    return rounds


def _batches_from_chunks(chunks: list[np.ndarray], p: int, rng: np.random.Generator,
                         drop_last: bool) -> list[list[int]]:
    """Assemble batches of P items' chunks; ``chunks[i]`` is item i's [n_i, size] chunk array."""
    counts = np.array([len(c) for c in chunks])
    used = np.zeros(len(chunks), np.int64)
    batches = []
    for chosen in _schedule(counts, p, rng, drop_last):
        parts = [chunks[i][used[i]] for i in chosen]
        used[chosen] += 1
        batches.append(np.concatenate(parts).tolist())
    return [batches[i] for i in rng.permutation(len(batches))]


class _EpochSampler(Sampler[list[int]]):
    """Common epoch bookkeeping: ``batches(epoch)`` is cached; iterating advances the epoch."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch``'s batches."""
        self.epoch = int(epoch)

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """The batches (lists of dataset indices) of ``epoch`` (default: the current one)."""
        e = self.epoch if epoch is None else int(epoch)
        if self._cache is None or self._cache[0] != e:
            self._cache = (e, self._build(np.random.default_rng([self.seed, e])))
        return self._cache[1]

    def _build(self, rng: np.random.Generator) -> list[list[int]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        return len(self.batches())


class IdentityBalancedBatchSampler(_EpochSampler):
    """P identities x K images per batch, covering every image each epoch (module docstring)."""

    def __init__(self, labels: Sequence[Any] | np.ndarray | torch.Tensor, p: int, k: int,
                 seed: int = 0, *, drop_last: bool = True) -> None:
        super().__init__(seed)
        if p < 1 or k < 1:
            raise ConfigError(f"sampler: P and K must be >= 1, got P={p}, K={k}")
        labels = _to_numpy(labels, "labels")
        _, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        self.groups = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
        if len(self.groups) < p:
            raise ConfigError(f"sampler: P={p} identities per batch but the data hold only "
                              f"{len(self.groups)} identities")
        self.p, self.k, self.drop_last = int(p), int(k), bool(drop_last)

    def _build(self, rng: np.random.Generator) -> list[list[int]]:
        chunks = [_fill(g, self.k, max(1, math.ceil(len(g) / self.k)), rng) for g in self.groups]
        return _batches_from_chunks(chunks, self.p, rng, self.drop_last)


class DomainAwareBatchSampler(_EpochSampler):
    """Batches of P items, each contributing shop and consumer images (``zhan``).

    ``domains``: 0/``'shop'`` or 1/``'consumer'`` per dataset row. ``categories`` (needed with
    ``items_per_category``): the category of each row (an item's first row decides).
    """

    def __init__(self, labels: Sequence[Any] | np.ndarray | torch.Tensor,
                 domains: Sequence[Any] | np.ndarray | torch.Tensor, p: int, seed: int = 0, *,
                 shop_per_item: int = 1, consumer_per_item: int = 1,
                 categories: Sequence[Any] | np.ndarray | torch.Tensor | None = None,
                 items_per_category: int | None = None, drop_last: bool = True) -> None:
        super().__init__(seed)
        from fashionbench.data.domains import CONSUMER, SHOP, domain_codes
        labels = _to_numpy(labels, "labels")
        dom = domain_codes(domains, len(labels))
        if p < 1 or shop_per_item < 1 or consumer_per_item < 1:
            raise ConfigError(f"sampler: P, shop_per_item and consumer_per_item must be >= 1, got "
                              f"{p}, {shop_per_item}, {consumer_per_item}")
        self.p, self.drop_last = int(p), bool(drop_last)
        self.per_domain = (int(shop_per_item), int(consumer_per_item))
        uniq, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        self.items: list[tuple[np.ndarray, np.ndarray]] = []
        item_rows: list[int] = []
        self.skipped_items: list[Any] = []
        for item, rows in zip(uniq, np.split(order, np.cumsum(np.bincount(inverse))[:-1])):
            shop, cons = rows[dom[rows] == SHOP], rows[dom[rows] == CONSUMER]
            if len(shop) and len(cons):
                self.items.append((shop, cons))
                item_rows.append(int(rows[0]))
            else:
                self.skipped_items.append(item.item() if hasattr(item, "item") else item)
        self.m = items_per_category
        self.item_category: np.ndarray | None = None
        if items_per_category is not None:
            if categories is None:
                raise ConfigError("sampler.items_per_category: needs the rows' categories")
            if items_per_category < 1 or self.p % items_per_category:
                raise ConfigError(f"sampler.items_per_category: must divide P={self.p}, "
                                  f"got {items_per_category}")
            cats = _to_numpy(categories, "categories")
            if len(cats) != len(labels):
                raise ContractError(f"categories: {len(cats)} values for {len(labels)} rows")
            self.item_category = np.unique(cats[item_rows], return_inverse=True)[1]
        if len(self.items) < self.p:
            raise ConfigError(f"sampler: P={self.p} items per batch but only {len(self.items)} items "
                              "have both a shop and a consumer image")

    def _item_chunks(self, rng: np.random.Generator) -> list[np.ndarray]:
        (s, c), out = self.per_domain, []
        for shop, cons in self.items:
            n = max(math.ceil(len(shop) / s), math.ceil(len(cons) / c))
            out.append(np.concatenate([_fill(shop, s, n, rng), _fill(cons, c, n, rng)], axis=1))
        return out

    def _build(self, rng: np.random.Generator) -> list[list[int]]:
        chunks = self._item_chunks(rng)
        if self.m is None:
            return _batches_from_chunks(chunks, self.p, rng, self.drop_last)
        # per category: groups of m distinct items; then batches of P/m distinct categories
        groups: list[np.ndarray] = []
        for cat in range(int(self.item_category.max()) + 1):
            members = np.flatnonzero(self.item_category == cat)
            if len(members) < self.m:
                continue
            cat_batches = _batches_from_chunks([chunks[i] for i in members], self.m, rng, True)
            if cat_batches:
                groups.append(np.array(cat_batches).reshape(len(cat_batches), -1))
        if len(groups) < self.p // self.m:
            raise ConfigError(f"sampler.items_per_category: need {self.p // self.m} categories with "
                              f">= {self.m} items, the data have {len(groups)}")
        return _batches_from_chunks(groups, self.p // self.m, rng, self.drop_last)


def epoch_batches(name: str, cfg: Mapping[str, Any], labels: torch.Tensor, categories: torch.Tensor,
                  domains: torch.Tensor, batch_size: int, g: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch of index batches from sampler ``name``; the seed is drawn from ``g``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    drop_last = cfg.get("drop_last", True)
    if not isinstance(drop_last, bool):
        raise ConfigError(f"drop_last: expected true or false, got {drop_last!r}")
    if name == "identity":
        k = _positive_int(cfg, "samples_per_item", 4)
        sampler: _EpochSampler = IdentityBalancedBatchSampler(
            labels, _per_batch(batch_size, k, "samples_per_item"), k, seed, drop_last=drop_last)
    elif name == "domain":
        s, c = _positive_int(cfg, "shop_per_item", 1), _positive_int(cfg, "consumer_per_item", 1)
        m = cfg.get("items_per_category")
        sampler = DomainAwareBatchSampler(
            labels, domains, _per_batch(batch_size, s + c, "shop_per_item + consumer_per_item"), seed,
            shop_per_item=s, consumer_per_item=c, categories=categories,
            items_per_category=None if m is None else _positive_int(cfg, "items_per_category", 1),
            drop_last=drop_last)
    else:
        raise ConfigError(f"sampler: unknown sampler {name!r}; known: {sorted(SAMPLERS + ('random',))}")
    for batch in sampler.batches(0):
        yield torch.tensor(batch, dtype=torch.long)


def _positive_int(cfg: Mapping[str, Any], key: str, default: int) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{key}: expected a positive integer, got {v!r}")
    return v


def _per_batch(batch_size: int, per_item: int, what: str) -> int:
    if batch_size % per_item or batch_size < per_item:
        raise ConfigError(f"batch_size: {batch_size} is not a multiple of {what} ({per_item})")
    return batch_size // per_item
