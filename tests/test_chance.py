"""Chance levels against brute force: every ranking of a small gallery enumerated (exact expectation)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fashionbench.core.artifacts import Ranking
from fashionbench.retrieval.metrics import chance_levels, evaluate_ranking_detailed, learned


def _brute(r: int, n: int, k_list: int | None, k: int, map_k: int) -> tuple[float, float, float]:
    aps, tops, apks = [], [], []
    for perm in itertools.permutations(range(n)):
        rel = np.array([p < r for p in perm])     # items 0..r-1 are the relevant ones
        kk = n if k_list is None else k_list
        hits = np.flatnonzero(rel[:kk])
        aps.append(sum((j + 1) / (h + 1) for j, h in enumerate(hits)) / r)
        tops.append(rel[:k].any())
        hk = np.flatnonzero(rel[:map_k])
        apks.append(sum((j + 1) / (h + 1) for j, h in enumerate(hk)) / min(r, map_k))
    return float(np.mean(aps)), float(np.mean(tops)), float(np.mean(apks))


@pytest.mark.parametrize("r,n,k_list", [(1, 6, None), (2, 6, None), (3, 6, 2), (2, 7, 3), (6, 6, None)])
def test_chance_equals_the_mean_over_every_ranking(r, n, k_list):
    ap, top, apk = _brute(r, n, k_list, 2, 3)
    got = chance_levels([r], n, k_list, ks=(2,), map_ks=(3,))
    assert got["mAP"] == pytest.approx(ap, abs=1e-12)
    assert got["top2"] == pytest.approx(top, abs=1e-12)
    assert got["mAP@3"] == pytest.approx(apk, abs=1e-12)


def test_chance_is_the_mean_over_queries_and_hand_worked():
    # one relevant among 4: E[AP] = (1 + 1/2 + 1/3 + 1/4) / 4 = 25/48; top1 = 1/4
    got = chance_levels([1, 4], [4, 4], None, ks=(1,))
    assert got["mAP"] == pytest.approx((25 / 48 + 1.0) / 2)
    assert got["top1"] == pytest.approx((0.25 + 1.0) / 2)
    with pytest.raises(Exception, match="1 <= R <= N"):
        chance_levels([5], 4)


def test_metrics_file_carries_chance_and_learned_flag():
    g_labels = np.array(["a", "a", "b", "c", "d", "e"])
    q_labels = np.array(["a", "b"])
    idx = np.array([[0, 1, 2, 3, 4, 5], [2, 0, 1, 3, 4, 5]])
    ranking = Ranking(indices=idx, distances=np.zeros(idx.shape, np.float32), query_ids=np.array(["q0", "q1"]),
                      gallery_ids=np.array([f"g{i}" for i in range(6)]), query_labels=q_labels,
                      gallery_labels=g_labels, query_categories=np.array(["x"] * 2), gallery_categories=np.array(["x"] * 6),
                      model="m", fingerprint="")
    summary, table = evaluate_ranking_detailed(ranking, ks=(1,), map_ks=(2,))
    assert summary["chance_mAP"] == pytest.approx(chance_levels([2, 1], 6)["mAP"])
    assert list(table["item_id"]) == ["a", "b"]
    assert learned(summary) is False  # perfect, but a gallery of 6 makes chance ~0.4: 1 < 5 x chance
    assert learned({"mAP": 0.3, "chance_mAP": 0.05}) is True
    assert learned({"mAP": 0.04, "chance_mAP": 0.01}) is False
    assert learned({"mAP": 0.5}) is None
