"""Claim verdicts from per-query scores (paired bootstrap), checked on constructed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashionbench.papers.claims import CLAIMS, claims_table, evaluate_claims
from fashionbench.papers.base import ClaimSpec, Comparison


def _pq(values) -> pd.DataFrame:
    return pd.DataFrame({"query_id": [f"q{i}" for i in range(len(values))], "AP": values})


rng = np.random.default_rng(0)
BASE = rng.uniform(0, 1, 300)


def _spec(*comps) -> list[ClaimSpec]:
    return [ClaimSpec("x-1", "x", "test", "AP", tuple(comps))]


def test_clear_win_holds_and_loss_does_not():
    pq = {"a": _pq(np.clip(BASE + 0.2, 0, 1.2)), "b": _pq(BASE)}
    assert evaluate_claims(pq, _spec(Comparison("a", "b")))[0].verdict == "holds"
    assert evaluate_claims(pq, _spec(Comparison("b", "a")))[0].verdict == "does not hold"
    r = evaluate_claims(pq, _spec(Comparison("a", "b")))[0]
    d = r.details[0]
    assert abs(d["diff"] - 0.2) < 1e-9 and d["ci_low"] > 0 and d["n_queries"] == 300


def test_noise_is_unclear_and_neutral_holds():
    noise = BASE + rng.normal(0, 0.01, 300) * 0  # identical means: CI of the difference spans 0
    shuffled = rng.permutation(BASE)
    pq = {"a": _pq(shuffled), "b": _pq(noise)}
    assert evaluate_claims(pq, _spec(Comparison("a", "b")))[0].verdict == "unclear"
    assert evaluate_claims(pq, _spec(Comparison("a", "b", "neutral")))[0].verdict == "holds"
    assert evaluate_claims(pq, _spec(Comparison("a", "b", "not_gt")))[0].verdict == "unclear"


def test_glob_takes_best_and_missing_is_untested():
    pq = {"m-single-1": _pq(BASE), "m-single-2": _pq(BASE + 0.1), "m-fusion": _pq(BASE + 0.05)}
    r = evaluate_claims(pq, _spec(Comparison("m-fusion", "m-single-*")))[0]
    assert r.details[0]["b"] == "m-single-2" and r.verdict == "does not hold"
    r = evaluate_claims(pq, _spec(Comparison("m-rerank", "m-fusion")))[0]
    assert r.verdict == "untested" and "m-rerank" in r.reason


def test_all_comparisons_must_hold():
    pq = {"a": _pq(BASE + 0.3), "b": _pq(BASE + 0.1), "c": _pq(BASE + 0.1)}
    r = evaluate_claims(pq, _spec(Comparison("a", "b"), Comparison("b", "c")))[0]
    assert [d["verdict"] for d in r.details] == ["holds", "unclear"] and r.verdict == "unclear"


def test_every_paper_claim_is_listed_and_untested_without_methods():
    ids = {c.id for c in CLAIMS}
    assert ids == {"shang-1", "shang-2", "shang-3", "park-1", "chen-1", "chen-2", "zhan-1", "zhan-2",
                   "zhan-3", "ji-1", "ji-2", "ji-3", "ji-4"}
    res = evaluate_claims({"baseline": _pq(BASE)})
    assert {r.verdict for r in res} == {"untested"} and all(r.reason for r in res)
    table = claims_table(res)
    assert list(table["claim"]) == [c.id for c in CLAIMS]
