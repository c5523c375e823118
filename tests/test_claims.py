"""Claim verdicts from per-query scores (paired bootstrap), checked on constructed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


# ----------------------------------------------------------------------------- the fidelity rule


def _pq_items(values, per_item: int = 1) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "item_id": [f"i{i // per_item}" for i in range(n)],
                         "AP": values})


def test_an_arm_that_did_not_learn_makes_the_claim_untested_never_false():
    pq = {"a": _pq(BASE), "b": _pq(BASE + 0.3)}
    metrics = {"a": {"mAP": 0.004, "chance_mAP": 0.002}, "b": {"mAP": 0.5, "chance_mAP": 0.002}}
    r = evaluate_claims(pq, _spec(Comparison("a", "b")), metrics=metrics)[0]
    assert r.verdict == "untested" and r.reason == "a did not learn (mAP 0.0040, chance 0.0020)"
    # a component named in rests_on: its last validation mAP against the validation chance
    spec = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("b", "a"),), rests_on=("part-*",))]
    ok = {"a": {"mAP": 0.3, "chance_mAP": 0.002}, "b": {"mAP": 0.5, "chance_mAP": 0.002}}
    hist = {"part-1": [{"val_mAP": 0.01, "val_chance_mAP": 0.005}], "part-2": [{"val_mAP": 0.4, "val_chance_mAP": 0.005}]}
    r = evaluate_claims(pq, spec, metrics=ok, histories=hist)[0]
    assert r.verdict == "untested" and r.reason == "part-1 did not learn (validation mAP 0.0100, chance 0.0050)"
    hist["part-1"] = [{"val_mAP": 0.2, "val_chance_mAP": 0.005}]
    assert evaluate_claims(pq, spec, metrics=ok, histories=hist)[0].verdict == "holds"


def test_equivalence_margin_for_does_not_help():
    small = BASE + 0.002  # a real but tiny gain
    pq = {"a": _pq(small), "b": _pq(BASE)}
    r = evaluate_claims(pq, _spec(Comparison("a", "b", "not_gt", margin=0.01)))[0]
    assert r.verdict == "holds"  # the gain is surely under the margin
    # without a margin any sure gain, however small, means it "helps"
    assert evaluate_claims(pq, _spec(Comparison("a", "b", "not_gt")))[0].verdict == "does not hold"
    big = {"a": _pq(BASE + 0.1), "b": _pq(BASE)}
    assert evaluate_claims(big, _spec(Comparison("a", "b", "not_gt", margin=0.01)))[0].verdict == "does not hold"
    assert evaluate_claims(pq, _spec(Comparison("a", "b", "neutral", margin=0.01)))[0].verdict == "holds"
    assert evaluate_claims(big, _spec(Comparison("a", "b", "neutral", margin=0.01)))[0].verdict == "does not hold"


def test_holm_against_a_worked_example():
    from fashionbench.core.stats import adjusted_ci, holm

    # p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    lo, hi = adjusted_ci(1.0, 0.5, 0.0455, 0.0455 * 3)  # z(1 - 0.05/6) = 2.394
    assert lo == pytest.approx(1.0 - 2.3940 * 0.5, abs=1e-3) and hi == pytest.approx(1.0 + 2.3940 * 0.5, abs=1e-3)


def test_holm_family_spans_every_claim_and_can_turn_a_win_unclear():
    gain = BASE + 0.04
    single = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("a", "b"),))]
    pq = {"a": _pq(gain + rng.normal(0, 0.15, 300)), "b": _pq(BASE)}
    alone = evaluate_claims(pq, single)[0]
    many = single + [ClaimSpec(f"y-{i}", "y", "t", "AP", (Comparison("b", "a", "neutral", margin=1.0),))
                     for i in range(12)]
    crowded = evaluate_claims(pq, many)[0]
    d0, d1 = alone.details[0], crowded.details[0]
    assert d0["ci_low"] == d1["ci_low"] and d1["family_size"] == 13
    assert d1["p_holm"] > d0["p_holm"] and (d1["adj_high"] - d1["adj_low"]) > (d0["adj_high"] - d0["adj_low"])


def test_glob_is_chosen_on_the_selection_half_and_compared_on_the_other():
    n = 400
    base = np.full(n, 0.5)
    lucky = base.copy()
    pq0 = {"m-single-1": _pq_items(base), "m-single-2": _pq_items(lucky), "m-fusion": _pq_items(base + 0.01)}
    from fashionbench.papers.claims import selection_split

    sel, test = selection_split(pq0, "query_id", "item_id", seed=0)
    assert len(sel) == len(test) == n // 2 and not sel & test
    # m-single-2 is better only on the comparison half: selection cannot see it, so m-single-1 is chosen
    is_test = pq0["m-single-2"]["query_id"].isin(test).to_numpy()
    lucky[is_test] += 0.3
    pq = {"m-single-1": _pq_items(base), "m-single-2": _pq_items(lucky), "m-fusion": _pq_items(base + 0.01)}
    r = evaluate_claims(pq, _spec(Comparison("m-fusion", "m-single-*")))[0]
    assert r.details[0]["b"] == "m-single-1" and r.details[0]["n_queries"] == n // 2
    # the half-split groups whole items: the photos of one item stay together
    pq2 = {"a": _pq_items(base, per_item=3)}
    s2, t2 = selection_split(pq2, "query_id", "item_id", seed=0)
    items_sel = {int(q[1:]) // 3 for q in s2}
    assert not items_sel & {int(q[1:]) // 3 for q in t2}


def test_component_is_judged_on_its_own_category_validation_and_nan_is_no_verdict():
    pq = {"a": _pq(BASE + 0.3), "b": _pq(BASE)}
    ok = {"a": {"mAP": 0.5, "chance_mAP": 0.002}, "b": {"mAP": 0.3, "chance_mAP": 0.002},
          # a bags model scored on every query looks weak; on its own held-out bags it is fine
          "part-bags": {"mAP": 0.004, "chance_mAP": 0.002}}
    hist = {"part-bags": [{"val_mAP": 0.4, "val_chance_mAP": 0.01}]}
    spec = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("a", "b"),), rests_on=("part-*",))]
    assert evaluate_claims(pq, spec, metrics=ok, histories=hist)[0].verdict == "holds"
    from fashionbench.papers.claims import _ap50_comparisons  # noqa: F401  (the ap50 path shares the NaN rule)
    det = {"ap50_wbf_1": 0.8, "ap50_wbf_2": float("nan"), "ap50_wbf_2_step": float("nan"),
           "ap50_wbf_2_step_ci_low": float("nan"), "ap50_wbf_2_step_ci_high": float("nan")}
    ji1 = [c for c in CLAIMS if c.id == "ji-1"]
    r = evaluate_claims({}, ji1, detection=det)[0]
    assert r.verdict == "untested" and "no finite" in r.reason


def test_margin_comparisons_take_the_bonferroni_level_of_the_whole_family():
    pq = {"a": _pq(BASE + rng.normal(0, 0.05, 300)), "b": _pq(BASE)}
    one = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("a", "b", "not_gt", margin=0.05),))]
    many = one + [ClaimSpec(f"y-{i}", "y", "t", "AP", (Comparison("a", "b"),)) for i in range(9)]
    d1 = evaluate_claims(pq, one)[0].details[0]
    d10 = evaluate_claims(pq, many)[0].details[0]
    assert d1["adjustment"] == d10["adjustment"] == "Bonferroni"
    from scipy.stats import norm
    z10 = norm.ppf(1 - 0.05 / 20)
    assert d10["adj_high"] == pytest.approx(d10["diff"] + z10 * d10["se"])


def test_component_is_judged_on_the_test_queries_of_its_own_category():
    from fashionbench.papers.claims import ComponentScope, component_scope
    from fashionbench.retrieval.metrics import chance_levels

    n = 40
    pq_part = pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "item_id": [f"i{i}" for i in range(n)],
                            "n_relevant": [2] * n, "AP": [0.3] * 10 + [0.0] * 30})  # good on its 10 queries
    pq = {"a": _pq(BASE + 0.3), "b": _pq(BASE), "part-bags": pq_part}
    mets = {"a": {"mAP": 0.5, "chance_mAP": 0.002}, "b": {"mAP": 0.3, "chance_mAP": 0.002}}
    spec = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("a", "b"),), rests_on=("part-*",))]
    own = ComponentScope({"part-bags": [f"q{i}" for i in range(10)]}, n_gallery=1000, list_length=100)
    assert evaluate_claims(pq, spec, metrics=mets, histories={}, scope=own)[0].verdict == "holds"
    wrong = ComponentScope({"part-bags": [f"q{i}" for i in range(10, 40)]}, n_gallery=1000, list_length=100)
    r = evaluate_claims(pq, spec, metrics=mets, histories={}, scope=wrong)[0]
    chance = chance_levels([2] * 30, 1000, 100)["mAP"]
    assert r.verdict == "untested" and r.reason == (
        f"part-bags did not learn (mAP 0.0000 on its own category's 30 queries, chance {chance:.4f})")
    manifest = pd.DataFrame({"uid": ["q0", "q1", "g0", "g1", "g2"], "split": ["query", "query", "gallery", "gallery", "gallery"],
                             "category": ["bags", "shoes", "bags", "shoes", "bags"]})
    params = {"seed": 0, "profile": "p", "profiles": {"p": {"train": {"img_size": 32}, "eval": {"top_k": 50}}},
              "methods": {"part-bags": {"group": "g", "notebook": "n", "train_filter": {"category": "bags"}},
                          "all": {"group": "g", "notebook": "n"}}}
    sc = component_scope(params, manifest)
    assert sc.queries == {"part-bags": ["q0"]} and sc.n_gallery == 3 and sc.list_length == 50


def test_a_verdict_names_the_rows_it_rests_on_that_were_still_improving():
    pq = {"a": _pq(BASE + 0.3), "b": _pq(BASE), "part-1": _pq(BASE)}
    spec = [ClaimSpec("x-1", "x", "t", "AP", (Comparison("a", "b"),), rests_on=("part-*",))]
    rising = [{"val_mAP": 0.2, "val_chance_mAP": 0.005}, {"val_mAP": 0.3, "val_chance_mAP": 0.005}]
    flat = [{"val_mAP": 0.3, "val_chance_mAP": 0.005}, {"val_mAP": 0.301, "val_chance_mAP": 0.005}]
    r = evaluate_claims(pq, spec, histories={"a": flat, "b": rising, "part-1": rising})[0]
    assert r.verdict == "holds" and r.still_improving == ["b", "part-1"]
    assert evaluate_claims(pq, spec, histories={"a": flat, "b": flat})[0].still_improving == []
    assert evaluate_claims(pq, spec)[0].still_improving == []
    # an arm without a curve of its own (a fusion, a re-rank): the trained rows behind it
    hist = {"m1": flat, "m2": rising, "m3": rising}
    inputs = {"a": ["m1", "m2"], "b": ["m1"]}
    assert evaluate_claims(pq, spec, histories=hist, inputs=inputs)[0].still_improving == ["m2"]
    assert evaluate_claims(pq, spec, histories=hist)[0].still_improving == []


def test_trained_inputs_follow_fusions_and_reranks_to_the_trained_rows():
    from fashionbench.papers.claims import trained_inputs

    params = {"methods": {"s1": {}, "s2": {}, "c1": {}, "c2": {}, "clf": {}},
              "fusions": {"cat": {"kind": "concat", "inputs": ["s1", "s2"]},
                          "route": {"kind": "route", "routes": {"x": ["c1"], "y": ["c2"]}, "router": "clf"},
                          "oracle": {"kind": "route", "routes": {"x": ["c1"]}, "router": "oracle"}},
              "reranks": {"qe": {"input": "cat"}, "rr": {"input": "route"}, "direct": {"input": "s1"}}}
    got = trained_inputs(params)
    assert got["cat"] == ["s1", "s2"] and got["qe"] == ["s1", "s2"] and got["direct"] == ["s1"]
    assert got["route"] == ["c1", "c2", "clf"] and got["rr"] == ["c1", "c2", "clf"] and got["oracle"] == ["c1"]
    assert got["s1"] == ["s1"]


def test_the_training_table_and_the_claims_share_one_learned_rule(tmp_path):
    """A row low against its validation chance (a small gallery) but over 5x its test chance is
    not "did not learn" in the training table when the claims' rule says it learned, and a
    component is judged on its own category's test queries there as in the claims."""
    import json
    from fashionbench.papers.claims import ComponentScope, learned_status
    from fashionbench.papers.overview import training_table
    from fashionbench.reporting.report import NOT_LEARNED, training_table as validation_table

    # part-bags: under 5x on validation and on every query, over it on its own category's queries
    curves = {"low-val": [0.038, 0.04], "good": [0.3, 0.5], "part-bags": [0.03, 0.04], "no-metrics": [0.01, 0.02]}
    for row, vals in curves.items():
        (tmp_path / row).mkdir()
        (tmp_path / row / "history.json").write_text(json.dumps(
            [{"epoch": i + 1, "seconds": 30, "val_mAP": v, "val_chance_mAP": 0.0138} for i, v in enumerate(vals)]))
    mets = {"low-val": {"mAP": 0.012, "chance_mAP": 0.0019}, "good": {"mAP": 0.4, "chance_mAP": 0.0019},
            "part-bags": {"mAP": 0.003, "chance_mAP": 0.0019}}   # part-bags: low on all queries
    n = 40
    pq = {"part-bags": pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "item_id": [f"i{i}" for i in range(n)],
                                     "n_relevant": [2] * n, "AP": [0.3] * 10 + [0.0] * 30})}
    own = ComponentScope({"part-bags": [f"q{i}" for i in range(10)]}, n_gallery=1000, list_length=100)
    rows = list(curves)
    status = learned_status(rows, mets, {r: json.loads((tmp_path / r / "history.json").read_text()) for r in rows},
                            per_query=pq, scope=own)
    assert status["low-val"] is None and status["good"] is None and status["part-bags"] is None
    assert status["no-metrics"] == "no-metrics did not learn (validation mAP 0.0200, chance 0.0138)"
    table = training_table(rows, tmp_path, status)
    assert table.loc["low-val", "status"] == "plateau"            # 2.9x validation chance, 6.3x test chance
    assert table.loc["low-val", "val x chance"] == pytest.approx(2.9)
    assert table.loc["good", "status"] == "STILL IMPROVING"
    assert table.loc["part-bags", "status"] == "STILL IMPROVING"  # learned on its own category's queries
    assert validation_table(rows, tmp_path).loc["part-bags", "status"] == NOT_LEARNED
    assert table.loc["no-metrics", "status"] == NOT_LEARNED
    # without the claims' rule the table falls back on the validation ratio
    assert validation_table(rows, tmp_path).loc["low-val", "status"] == NOT_LEARNED
    wrong = ComponentScope({"part-bags": [f"q{i}" for i in range(10, 40)]}, n_gallery=1000, list_length=100)
    assert learned_status(["part-bags"], mets, {}, per_query=pq, scope=wrong)["part-bags"].startswith(
        "part-bags did not learn (mAP 0.0000 on its own category's 30 queries")


def _seeded(diffs_a: list[float]) -> tuple[dict, dict]:
    """Arms a and b over 3 training seeds (0, 1, 2): a = b + diffs_a[seed], b the same each seed."""
    pq, reps = {}, {"a": {0: "a"}, "b": {0: "b"}}
    for seed, d in enumerate(diffs_a):
        na, nb = ("a", "b") if seed == 0 else (f"a-seed{seed}", f"b-seed{seed}")
        pq[na], pq[nb] = _pq(np.clip(BASE + d, 0, 2)), _pq(BASE)
        reps["a"][seed], reps["b"][seed] = na, nb
    return pq, reps


def test_seed_rule_needs_the_effect_above_twice_the_seed_spread():
    # seed 0 alone shows a clear win (+0.2, CI far from 0) ...
    pq, reps = _seeded([0.2, 0.21, 0.19])
    d = evaluate_claims(pq, _spec(Comparison("a", "b")), replicates=reps)[0].details[0]
    assert d["seeds"] == 3 and d["verdict"] == "holds" and abs(d["seed_sd"] - 0.01) < 1e-6
    # ... but when the seeds disagree (sd 0.25 > 0.2 / 2), the same seed-0 effect is unclear
    pq, reps = _seeded([0.2, -0.2, 0.3])
    r = evaluate_claims(pq, _spec(Comparison("a", "b")), replicates=reps)[0]
    d = r.details[0]
    assert d["ci_low"] > 0 and d["seed_sd"] > 0.1 and d["verdict"] == "unclear" and r.verdict == "unclear"
    assert "seed spread" in d["seed_rule"]
    assert "3 seeds" in claims_table([r])["evidence"][0]
    # without replicates the spread is not measured, and the evidence says so
    plain = evaluate_claims(pq, _spec(Comparison("a", "b")))[0]
    assert plain.details[0]["seeds"] == 1 and plain.verdict == "holds"
    assert "1 seed (spread not measured: it needs >= 3)" in claims_table([plain])["evidence"][0]


def test_a_seed_replicate_that_did_not_learn_makes_the_claim_untested():
    """zhan-imagenet-m1-seed2 at 4.1x chance in the default run: its difference would enter the seed
    spread as evidence, so the claim is untested and says which replicate failed."""
    pq, reps = _seeded([0.2, 0.21, 0.19])
    metrics = {n: {"mAP": 0.5, "chance_mAP": 0.002} for n in pq}
    ok = evaluate_claims(pq, _spec(Comparison("a", "b")), replicates=reps, metrics=metrics)[0]
    assert ok.verdict == "holds"
    metrics["a-seed2"] = {"mAP": 0.0077, "chance_mAP": 0.0019}
    r = evaluate_claims(pq, _spec(Comparison("a", "b")), replicates=reps, metrics=metrics)[0]
    assert r.verdict == "untested" and r.reason == "a-seed2 did not learn (mAP 0.0077, chance 0.0019)"
    # a comparison of that arm with an unreplicated row measures no spread: the failed replicate plays
    # no part in it (zhan-3, m4 vs m1, beside zhan-1's replicated m1), so it does not make it untested
    pq["c"] = _pq(BASE)
    metrics["c"] = {"mAP": 0.5, "chance_mAP": 0.002}
    other = evaluate_claims(pq, _spec(Comparison("a", "c")), replicates=reps, metrics=metrics)[0]
    assert other.verdict == "holds" and other.details[0]["seeds"] == 1


def test_replicates_are_never_chosen_for_a_glob_arm():
    pq = {"m-single-1": _pq(BASE), "m-single-1-seed1": _pq(BASE + 0.5), "m-single-1-seed2": _pq(BASE),
          "m-fusion": _pq(BASE + 0.05)}
    reps = {"m-single-1": {0: "m-single-1", 1: "m-single-1-seed1", 2: "m-single-1-seed2"}}
    r = evaluate_claims(pq, _spec(Comparison("m-fusion", "m-single-*")), replicates=reps)[0]
    assert r.details[0]["b"] == "m-single-1"


def test_replicates_of_reads_params():
    from fashionbench.papers.claims import replicates_of

    params = {"seed": 0, "methods": {"a": {}, "a-s1": {"replicate_of": "a", "train_seed": 1},
                                     "a-s2": {"replicate_of": "a", "train_seed": 2}, "b": {}}}
    assert replicates_of(params) == {"a": {0: "a", 1: "a-s1", 2: "a-s2"}}


def test_glob_is_chosen_by_validation_when_every_row_has_a_curve():
    # m-single-2 is best on the test queries, m-single-1 on validation: validation decides, and the
    # comparison then uses every test query (no selection half)
    pq = {"m-single-1": _pq(BASE), "m-single-2": _pq(BASE + 0.1), "m-fusion": _pq(BASE + 0.05)}
    hist = {"m-single-1": [{"val_mAP": 0.2}, {"val_mAP": 0.5}], "m-single-2": [{"val_mAP": 0.4}]}
    d = evaluate_claims(pq, _spec(Comparison("m-fusion", "m-single-*")), histories=hist)[0].details[0]
    assert d["b"] == "m-single-1" and d["n_queries"] == 300 and "validation" in d["selection"]
    # one row without a curve: back to the selection half, and the evidence says so
    d = evaluate_claims(pq, _spec(Comparison("m-fusion", "m-single-*")),
                        histories={"m-single-1": hist["m-single-1"]})[0].details[0]
    assert d["b"] == "m-single-2" and d["n_queries"] < 300 and "selection half" in d["selection"]


def test_two_replicates_with_one_seed_are_refused():
    from fashionbench.core.errors import ContractError
    from fashionbench.papers.claims import replicates_of

    params = {"seed": 0, "methods": {"a": {}, "a-s1": {"replicate_of": "a", "train_seed": 1},
                                     "a-t1": {"replicate_of": "a", "train_seed": 1}}}
    with pytest.raises(ContractError, match="a-t1.*seed 1.*'a-s1'"):
        replicates_of(params)
