"""Identity-balanced and domain-aware batch samplers, checked by hand."""

from collections import Counter

import numpy as np
import pytest
import torch

from fashionbench.core.errors import ConfigError
from fashionbench.data.samplers import DomainAwareBatchSampler, IdentityBalancedBatchSampler, epoch_batches

# index:   0  1  2  3  4   5   6  7  8  9   10
LABELS = ["a", "a", "a", "a", "a", "b", "c", "c", "c", "c", "d"]


def test_identity_batches_by_hand():
    s = IdentityBalancedBatchSampler(LABELS, p=2, k=2, seed=0)
    batches = s.batches(0)
    # chunks: a (5 images) -> 3 (the last topped up with another a), b -> 1 (padded),
    # c (4) -> 2, d -> 1 (padded): 7 chunks and P = 2, so at most 3 batches; one chunk is left
    assert len(batches) == 3 and len(s) == 3
    seen = set()
    for batch in batches:
        labels = Counter(LABELS[i] for i in batch)
        assert len(batch) == 4 and len(labels) == 2 and set(labels.values()) == {2}
        seen.update(batch)
    assert sum("a" in {LABELS[i] for i in b} for b in batches) >= 2
    assert len(seen) == 10  # the chunk left out holds exactly one image not seen elsewhere
    for batch in batches:  # items with >= K images: distinct images within a chunk
        for item in "ac":
            idx = [i for i in batch if LABELS[i] == item]
            assert len(idx) in (0, 2) and len(set(idx)) == len(idx)


def test_identity_batches_cover_everything_when_possible():
    labels = ["a"] * 4 + ["b"] * 2 + ["c"] * 2  # chunks a, a, b, c -> batches {a, b}, {a, c}
    for seed in range(5):
        batches = IdentityBalancedBatchSampler(labels, p=2, k=2, seed=seed).batches(0)
        assert len(batches) == 2
        assert sorted(i for b in batches for i in b) == list(range(8))  # every image exactly once


def test_items_with_fewer_than_k_images_repeat():
    s = IdentityBalancedBatchSampler(["x", "y", "y", "y"], p=2, k=3, seed=0)
    (batch,) = s.batches(0)
    assert sorted(batch).count(0) == 3  # "x" has one image: drawn with replacement
    assert sorted(i for i in batch if i) == [1, 2, 3]


def test_drop_last_false_keeps_the_leftover_chunk():
    s = IdentityBalancedBatchSampler(LABELS, p=2, k=2, seed=0, drop_last=False)
    batches = s.batches(0)
    assert len(batches) == 4 and sorted(len(b) for b in batches) == [2, 4, 4, 4]
    assert set().union(*batches) == set(range(11))  # every image this epoch


def test_greedy_schedule_reaches_the_maximum_number_of_batches():
    rng = np.random.default_rng(0)
    for trial in range(20):
        sizes = rng.integers(1, 9, size=rng.integers(3, 15))
        labels = np.repeat(np.arange(len(sizes)), sizes)
        p, k = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        if len(sizes) < p:
            continue
        chunks = np.maximum(1, np.ceil(sizes / k)).astype(int)
        # most rounds R of P distinct items: the largest R with sum(min(c_i, R)) >= P * R
        best = max(r for r in range(0, chunks.sum() + 1) if np.minimum(chunks, r).sum() >= p * r)
        assert len(IdentityBalancedBatchSampler(labels, p, k, seed=trial).batches(0)) == best


def test_epochs_are_deterministic_and_differ():
    a = IdentityBalancedBatchSampler(LABELS, 2, 2, seed=5)
    b = IdentityBalancedBatchSampler(LABELS, 2, 2, seed=5)
    first = list(a)
    assert first == list(b)  # same seed, same epoch
    second = list(a)  # iterating advanced the epoch
    assert second != first
    a.set_epoch(0)
    assert list(a) == first
    assert IdentityBalancedBatchSampler(LABELS, 2, 2, seed=6).batches(0) != first


def test_identity_sampler_rejects_too_few_identities():
    with pytest.raises(ConfigError, match="P=5"):
        IdentityBalancedBatchSampler(LABELS, p=5, k=2)


# index:   0     1     2     3     4     5     6     7     8
D_ITEMS = ["A", "A", "A", "B", "B", "C", "D", "D", "D"]
D_DOMS = ["shop", "consumer", "consumer", "shop", "consumer", "shop", "shop", "shop", "consumer"]


def test_domain_batches_by_hand():
    s = DomainAwareBatchSampler(D_ITEMS, D_DOMS, p=2, seed=0)
    assert s.skipped_items == ["C"]  # no consumer photo
    batches = s.batches(0)
    # chunks (1 shop + 1 consumer): A -> 2 (two consumer photos), B -> 1, D -> 2 (two shop images)
    # 5 chunks, P = 2 -> 2 batches
    assert len(batches) == 2
    used = set()
    for batch in batches:
        assert len(batch) == 4
        items = [D_ITEMS[i] for i in batch]
        assert items[0] == items[1] and items[2] == items[3] and items[0] != items[2]
        for shop, cons in (batch[0:2], batch[2:4]):
            assert D_DOMS[shop] == "shop" and D_DOMS[cons] == "consumer"
        used.update(batch)
    assert 5 not in used
    assert {1, 2} <= used or {6, 7} <= used  # A or D (in both batches) shows both its images


def test_domain_batches_group_items_by_category():
    items = np.repeat(np.arange(12), 2)
    doms = np.tile([0, 1], 12)
    cats = np.repeat([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], 2)
    s = DomainAwareBatchSampler(items, doms, p=4, seed=0, categories=cats, items_per_category=2)
    batches = s.batches(0)
    assert len(batches) == 3  # 12 items, one chunk each, 4 items per batch
    for batch in batches:
        per_cat = Counter(cats[i] for i in batch[::2])
        assert sorted(per_cat.values()) == [2, 2]  # two categories, two items each
        assert len({items[i] for i in batch}) == 4
    with pytest.raises(ConfigError, match="divide"):
        DomainAwareBatchSampler(items, doms, p=4, categories=cats, items_per_category=3)


def test_epoch_batches_entry_point():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    doms = torch.tensor([0, 1] * 4)
    cats = torch.zeros(8, dtype=torch.long)
    run = lambda name, cfg, bs, seed: [b.tolist() for b in epoch_batches(  # noqa: E731
        name, cfg, labels, cats, doms, bs, torch.Generator().manual_seed(seed))]
    ident = run("identity", {"samples_per_item": 2}, 4, 0)
    assert ident == run("identity", {"samples_per_item": 2}, 4, 0) and len(ident) == 2
    assert all(len(set(labels[b].tolist())) == 2 for b in map(torch.tensor, ident))
    dom = run("domain", {}, 4, 1)
    assert len(dom) == 2 and all(doms[b].tolist() == [0, 1, 0, 1] for b in map(torch.tensor, dom))
    with pytest.raises(ConfigError, match="unknown sampler 'pk'"):
        run("pk", {}, 4, 0)
    with pytest.raises(ConfigError, match="multiple"):
        run("identity", {"samples_per_item": 3}, 4, 0)
