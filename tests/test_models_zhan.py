"""zhan: the cross-domain triplet miner checked by hand, triplet accuracy, the triplet loss."""

import numpy as np
import pytest
import torch

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.models.zhan import ZhanTripletLoss, domain_codes, easy_per_pair, mine_cross_domain_triplets, triplet_accuracy

# Batch (index: item, domain, category):
#   0 A shop 0 | 1 A cons 0 | 2 B shop 0 | 3 B cons 0 | 4 C shop 1 | 5 C cons 1
#   6 D shop 1 | 7 D cons 1 | 8 E cons 0 (E has no shop image: never an anchor, can be a negative)
ITEMS = ["A", "A", "B", "B", "C", "C", "D", "D", "E"]
DOMAINS = ["shop", "consumer"] * 4 + ["consumer"]
CATS = [0, 0, 0, 0, 1, 1, 1, 1, 0]
# (anchor, positive) pairs: (0,1) (2,3) (4,5) (6,7). Candidate negatives (consumer, other item):
HARD = {0: {3, 8}, 2: {1, 8}, 4: {7}, 6: {5}}  # same category as the anchor
EASY = {0: {5, 7}, 2: {5, 7}, 4: {1, 3, 8}, 6: {1, 3, 8}}  # other category


def mine(easy_fraction=0.25, negatives=4, seed=0, items=ITEMS, cats=CATS, domains=DOMAINS):
    return mine_cross_domain_triplets(items, cats, domains, negatives=negatives,
                                      easy_fraction=easy_fraction, rng=np.random.default_rng(seed))


def per_anchor(t, anchor, hard):
    sel = (t.anchor == anchor) & (t.hard == hard)
    return t.negative[sel].tolist()


def test_domain_codes():
    assert domain_codes(["shop", "consumer"]).tolist() == [0, 1]
    assert domain_codes(torch.tensor([1, 0, 1])).tolist() == [1, 0, 1]
    with pytest.raises(ContractError, match="'street'"):
        domain_codes(["shop", "street"])
    with pytest.raises(ContractError, match=r"\[2\]"):
        domain_codes([0, 2])


def test_hard_and_easy_triplets_by_hand():
    t = mine(easy_fraction=0.25)
    assert t.pairs == 4 and t.dropped == 0 and len(t) == 16  # 4 negatives per pair
    assert sorted(set(zip(t.anchor.tolist(), t.positive.tolist()))) == [(0, 1), (2, 3), (4, 5), (6, 7)]
    # easy = 1/4 of hard: 16 * 0.25 / 1.25 = 3.2 -> 3 easy, 13 hard, at most one easy per pair
    assert int((~t.hard).sum()) == 3 and int(t.hard.sum()) == 13
    easy_counts = sorted(int(((t.anchor == a) & ~t.hard).sum()) for a in HARD)
    assert easy_counts == [0, 1, 1, 1]
    for a in HARD:
        hard, easy = per_anchor(t, a, True), per_anchor(t, a, False)
        assert len(hard) + len(easy) == 4
        assert set(hard) <= HARD[a] and set(easy) <= EASY[a]
        # fewer hard candidates than slots: cycle through all of them, distinct first
        assert set(hard) == HARD[a]
        assert len(set(hard[:len(HARD[a])])) == len(HARD[a])
    assert per_anchor(t, 4, True).count(7) == len(per_anchor(t, 4, True))  # C's only hard negative


def test_hard_only_mode():
    t = mine(easy_fraction=0.0)
    assert len(t) == 16 and t.hard.all()
    assert per_anchor(t, 4, True) == [7, 7, 7, 7]
    assert per_anchor(t, 6, True) == [5, 5, 5, 5]


def test_equal_easy_and_hard_takes_distinct_easy_negatives():
    t = mine(easy_fraction=1.0)  # half of 16 slots easy -> exactly 2 per pair
    for a in HARD:
        easy = per_anchor(t, a, False)
        assert len(easy) == 2 and len(set(easy)) == 2 and set(easy) <= EASY[a]


def test_slots_without_candidates_are_dropped_not_replaced():
    # only categories 0 and 1 with one item each: no hard candidate exists
    t = mine(easy_fraction=0.0, items=["A", "A", "C", "C"], cats=[0, 0, 1, 1],
             domains=["shop", "consumer"] * 2)
    assert len(t) == 0 and t.dropped == 8 and t.pairs == 2
    t = mine(easy_fraction=1.0, items=["A", "A", "C", "C"], cats=[0, 0, 1, 1],
             domains=["shop", "consumer"] * 2)
    assert len(t) == 4 and not t.hard.any() and t.dropped == 4
    assert t.negative.tolist() == [3, 3, 1, 1]


def test_mining_is_deterministic_for_a_seed():
    a, b = mine(seed=3), mine(seed=3)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("anchor", "positive", "negative", "hard"))
    others = [mine(seed=s) for s in range(4, 12)]
    assert any(not np.array_equal(a.negative, o.negative) for o in others)


def test_easy_per_pair_spreads_the_rounded_total():
    rng = np.random.default_rng(0)
    for pairs, neg, f in [(4, 4, 0.25), (7, 4, 0.25), (3, 5, 2.0), (5, 4, 0.0)]:
        e = easy_per_pair(pairs, neg, f, rng)
        assert e.sum() == round(pairs * neg * f / (1 + f))
        assert e.max() - e.min() <= 1 and e.max() <= neg


def test_triplet_accuracy_by_hand():
    a = np.zeros((4, 2))
    p = np.array([[1.0, 0], [1, 0], [1, 0], [0, 2]])
    n = np.array([[3.0, 0], [0, 1], [0.5, 0], [0, -3]])  # 3 > 1: yes; 1 == 1 (tie): no; 0.5: no; 3 > 2: yes
    assert triplet_accuracy(a, p, n) == 0.5
    assert triplet_accuracy(torch.zeros(1, 2), torch.ones(1, 2), 2 * torch.ones(1, 2)) == 1.0
    with pytest.raises(ContractError):
        triplet_accuracy(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))


def test_zhan_loss_equals_direct_formula_on_the_mined_triplets():
    torch.manual_seed(0)
    emb = torch.randn(9, 3, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4])
    cats, doms = torch.tensor(CATS), domain_codes(DOMAINS)
    loss_fn = ZhanTripletLoss(margin=1.0, negatives=4, easy_fraction=0.25, seed=5)
    value, parts = loss_fn({"embedding": emb}, labels, cats, domains=torch.tensor(doms))
    t = mine_cross_domain_triplets(labels, cats, doms, negatives=4, easy_fraction=0.25,
                                   rng=np.random.default_rng(5))  # the loss's first draw
    x = emb.numpy()
    d_ap = ((x[t.anchor] - x[t.positive]) ** 2).sum(1)
    d_an = ((x[t.anchor] - x[t.negative]) ** 2).sum(1)
    assert value.item() == pytest.approx(np.maximum(d_ap - d_an + 1.0, 0).mean(), rel=1e-9)
    assert parts["triplets"] == 16
    assert parts["triplet_accuracy"] == pytest.approx(np.mean(np.sqrt(d_ap) < np.sqrt(d_an)))


def test_zhan_loss_requires_domains_and_resumes_its_random_stream():
    emb = torch.randn(9, 3)
    labels, cats = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4]), torch.tensor(CATS)
    doms = torch.tensor(domain_codes(DOMAINS))
    with pytest.raises(ContractError, match="domains"):
        ZhanTripletLoss()({"embedding": emb}, labels, cats)
    first = ZhanTripletLoss(seed=1)
    first({"embedding": emb}, labels, cats, domains=doms)
    resumed = ZhanTripletLoss(seed=1)
    resumed.load_state_dict(first.state_dict())
    fresh = ZhanTripletLoss(seed=1)
    v_first = first({"embedding": emb}, labels, cats, domains=doms)[0]
    v_resumed = resumed({"embedding": emb}, labels, cats, domains=doms)[0]
    assert v_first.item() == v_resumed.item()
    assert first.rng.bit_generator.state == resumed.rng.bit_generator.state != fresh.rng.bit_generator.state


def test_zhan_loss_without_pairs_is_zero_but_differentiable():
    emb = torch.randn(2, 3, requires_grad=True)
    value, parts = ZhanTripletLoss()({"embedding": emb}, torch.tensor([0, 1]), torch.tensor([0, 0]),
                                      domains=torch.tensor([0, 1]))
    value.backward()
    assert value.item() == 0 and parts["triplets"] == 0 and emb.grad is not None


def test_bad_parameters():
    with pytest.raises(ConfigError):
        ZhanTripletLoss(negatives=0)
    with pytest.raises(ConfigError):
        ZhanTripletLoss(easy_fraction=-0.5)
