"""zhan: the item hold-out split, the offline triplet sets and triplet scoring, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.models.zhan import triplet_accuracy
from fashionbench.papers.zhan.triplets import build_triplets, score_triplets, summarize
from fashionbench.data.splits import holdout_split, item_categories, split_rows


def rows(spec: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Manifest-like rows from (uid, item_id, category, domain)."""
    return pd.DataFrame(spec, columns=["uid", "item_id", "category", "domain"])


# Items: A, B, C clothes; D shoes; E shoes without a shop image (negative only)
SMALL = rows([
    ("a_s1", "A", "clothes", "shop"), ("a_s2", "A", "clothes", "shop"), ("a_c1", "A", "clothes", "consumer"),
    ("b_s1", "B", "clothes", "shop"), ("b_c1", "B", "clothes", "consumer"),
    ("c_s1", "C", "clothes", "shop"), ("c_c1", "C", "clothes", "consumer"), ("c_c2", "C", "clothes", "consumer"),
    ("d_s1", "D", "shoes", "shop"), ("d_c1", "D", "shoes", "consumer"),
    ("e_c1", "E", "shoes", "consumer"),
])
CONS_ITEM = {"a_c1": "A", "b_c1": "B", "c_c1": "C", "c_c2": "C", "d_c1": "D", "e_c1": "E"}
CAT = {"A": "clothes", "B": "clothes", "C": "clothes", "D": "shoes", "E": "shoes"}


def many_items(n_per_cat: dict[str, int]) -> pd.DataFrame:
    out = []
    for cat, n in n_per_cat.items():
        for i in range(n):
            item = f"{cat}{i:03d}"
            out += [(f"{item}_s", item, cat, "shop"), (f"{item}_c", item, cat, "consumer")]
    return rows(out)


# ----------------------------------------------------------------------------- hold-out split

def test_holdout_split_per_category_by_hand():
    data = many_items({"bags": 3, "clothes": 10, "shoes": 5})
    train, val = holdout_split(data, 0.2, seed=0)
    val_cats = pd.Series([i[:-3] for i in val]).value_counts().to_dict()
    # round(0.2 * n): bags 0.6 -> 1, clothes 2, shoes 1
    assert val_cats == {"bags": 1, "clothes": 2, "shoes": 1}
    assert set(train) | set(val) == set(data["item_id"]) and not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)


def test_holdout_split_is_seeded_and_ignores_row_order():
    data = many_items({"clothes": 30, "shoes": 20})
    a = holdout_split(data, 0.2, seed=3)
    b = holdout_split(data.sample(frac=1.0, random_state=1), 0.2, seed=3)
    assert a == b
    assert any(holdout_split(data, 0.2, seed=s)[1] != a[1] for s in range(4, 10))


def test_holdout_keeps_one_training_item_per_category_and_zero_holds_none():
    data = many_items({"bags": 1, "shoes": 2})
    train, val = holdout_split(data, 0.9, seed=0)
    assert "bags000" in train and len([i for i in val if i.startswith("shoes")]) == 1
    assert holdout_split(data, 0.0, seed=0)[1] == []


def test_split_rows_keeps_every_image_of_an_item_together():
    data = many_items({"clothes": 10})
    tr, va = split_rows(data, 0.3, seed=1)
    assert len(tr) + len(va) == len(data)
    assert not set(tr["item_id"]) & set(va["item_id"]) and va["item_id"].nunique() == 3


def test_bad_holdout_and_inconsistent_categories():
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(ConfigError, match="methods.x.holdout"):
            holdout_split(SMALL, bad, 0, "methods.x.holdout")
    broken = pd.concat([SMALL, rows([("a_s3", "A", "shoes", "shop")])])
    with pytest.raises(ContractError, match="'A'"):
        item_categories(broken)


# ----------------------------------------------------------------------------- triplet sets

def test_pairs_and_hard_negatives_by_hand():
    t = build_triplets(SMALL, negatives=4, easy_fraction=0.0, seed=0)
    tab = t.table
    # pairs: A 2 shop x 1 cons, B 1x1, C 1x2, D 1x1 (E has no shop image) -> 6 pairs, 24 slots
    assert t.pairs == 6 and t.items == 4 and t.dropped == 0 and len(tab) == 24
    pairs = sorted(set(zip(tab["anchor"], tab["positive"])))
    assert pairs == [("a_s1", "a_c1"), ("a_s2", "a_c1"), ("b_s1", "b_c1"), ("c_s1", "c_c1"), ("c_s1", "c_c2"),
                     ("d_s1", "d_c1")]
    assert tab["hard"].all()
    for (a, p), g in tab.groupby(["anchor", "positive"]):
        item = g["anchor_item"].iloc[0]
        hard_pool = {u for u, it in CONS_ITEM.items() if it != item and CAT[it] == CAT[item]}
        negs = g["negative"].tolist()
        # every pool here has <= 4 photos: all of it is used, distinct first, then cycled
        assert set(negs) == hard_pool and len(set(negs[:len(hard_pool)])) == len(hard_pool)
        assert negs[len(hard_pool):] == negs[:4 - len(hard_pool)]
        assert (g["negative_item"] != item).all()
    # D (shoes): the only hard candidate is E's photo, four times
    assert tab.loc[tab["anchor"] == "d_s1", "negative"].tolist() == ["e_c1"] * 4


def test_easy_share_and_pools():
    t = build_triplets(SMALL, negatives=4, easy_fraction=0.25, seed=0)
    tab = t.table
    # 6 pairs * 4 slots * 0.25 / 1.25 = 4.8 -> 5 easy slots, at most one per pair
    assert int((~tab["hard"]).sum()) == 5 and len(tab) == 24
    assert tab.groupby(["anchor", "positive"])["hard"].apply(lambda h: int((~h).sum())).max() == 1
    easy = tab[~tab["hard"]]
    assert all(CAT[it] != CAT[a] for it, a in zip(easy["negative_item"], easy["anchor_item"]))
    hard = tab[tab["hard"]]
    assert all(CAT[it] == CAT[a] for it, a in zip(hard["negative_item"], hard["anchor_item"]))


def test_slots_without_candidates_are_dropped():
    data = rows([("a_s", "A", "clothes", "shop"), ("a_c", "A", "clothes", "consumer"),
                 ("d_s", "D", "shoes", "shop"), ("d_c", "D", "shoes", "consumer")])
    t = build_triplets(data, negatives=4, easy_fraction=0.0, seed=0)  # no same-category other item
    assert len(t) == 0 and t.dropped == 8 and t.pairs == 2
    t = build_triplets(data, negatives=2, easy_fraction=1.0, seed=0)  # one easy, one hard slot per pair
    assert len(t) == 2 and not t.table["hard"].any() and t.dropped == 2


def test_triplets_are_seeded_unique_and_independent_of_row_order():
    data = many_items({"clothes": 12, "shoes": 8, "bags": 4})
    a = build_triplets(data, negatives=4, easy_fraction=0.25, seed=7).table
    b = build_triplets(data.sample(frac=1.0, random_state=3), negatives=4, easy_fraction=0.25, seed=7).table
    pd.testing.assert_frame_equal(a, b)
    assert a["triplet_id"].is_unique
    c = build_triplets(data, negatives=4, easy_fraction=0.25, seed=8).table
    assert not a["negative"].equals(c["negative"])


def test_bad_triplet_parameters():
    with pytest.raises(ConfigError, match="negatives"):
        build_triplets(SMALL, negatives=0)
    with pytest.raises(ConfigError, match="easy_fraction"):
        build_triplets(SMALL, easy_fraction=-1)
    with pytest.raises(ContractError, match="domain"):
        build_triplets(SMALL.drop(columns="domain"))


# ----------------------------------------------------------------------------- scoring

def test_score_triplets_by_hand_and_against_triplet_accuracy():
    table = pd.DataFrame({"anchor": ["x", "x", "y"], "positive": ["p", "p", "q"], "negative": ["n1", "n2", "n1"],
                          "hard": [True, False, True]})
    uids = ["x", "y", "p", "q", "n1", "n2"]
    feats = np.array([[0, 0], [0, 3], [1, 0], [0, 1], [0, 2], [1, 0]], float)
    s = score_triplets(table, uids, feats)
    # x: d(x,p)=1, d(x,n1)=2 -> right; d(x,n2)=1 tie -> wrong; y: d(y,q)=2, d(y,n1)=1 -> wrong
    assert s["d_ap"].tolist() == [1.0, 1.0, 2.0] and s["d_an"].tolist() == [2.0, 1.0, 1.0]
    assert s["triplet_accuracy"].tolist() == [1.0, 0.0, 0.0]
    idx = {u: i for i, u in enumerate(uids)}
    ref = triplet_accuracy(*(feats[[idx[u] for u in table[c]]] for c in ("anchor", "positive", "negative")))
    assert s["triplet_accuracy"].mean() == pytest.approx(ref)
    with pytest.raises(ContractError, match="n2"):
        score_triplets(table, uids[:-1], feats[:-1])


def test_summarize_breaks_down_hard_and_easy():
    t = build_triplets(SMALL, negatives=4, easy_fraction=0.25, seed=0)
    scored = t.table.assign(triplet_accuracy=np.where(t.table["hard"], 0.5, 1.0))
    m = summarize(scored, t, scored)
    assert m["triplet_accuracy_easy"] == 1.0 and m["triplet_accuracy_hard"] == 0.5
    assert m["triplet_accuracy"] == pytest.approx((19 * 0.5 + 5) / 24)
    assert m["n_val_triplets"] == 24 and m["n_val_items"] == 4 and m["train_triplet_accuracy"] == m["triplet_accuracy"]
    with pytest.raises(ContractError, match="no triplet"):
        summarize(scored.iloc[:0], t)
