"""The reports' first screen: claims table with links and anchors, leaderboard, navigation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashionbench.papers.claims import ClaimResult
from fashionbench.papers.overview import claims_html, component_rows, leaderboard, nav

DETAIL = {"a": "x", "b": "y", "kind": "gt", "margin": 0.0, "diff": 0.05, "adj_low": 0.01, "adj_high": 0.09,
          "verdict": "holds"}
PARAMS = {"papers": ["shang", "ji"],
          "fusions": {"f": {"kind": "route", "routes": {"c": ["m-c"], "s": ["m-s"]}, "router": "clf"},
                      "o": {"kind": "route", "routes": {"c": ["m-c"]}, "router": "oracle"}},
          "crop_eval": {"model": "base", "crops": ["given", "union"]}}


def test_claims_table_links_each_claim_to_its_paper_anchor():
    res = [ClaimResult("shang-1", "shang", "fusion beats single", "holds", "AP", [DETAIL], note="stand-in"),
           ClaimResult("ji-1", "ji", "WBF helps", "untested", "ap50", [], reason="x did not learn")]
    out = claims_html(res)
    assert '<a href="shang.html#shang-1">shang-1</a>' in out and '<a href="ji.html#ji-1">ji-1</a>' in out
    assert "+0.050" in out and "[+0.010, +0.090]" in out and "x did not learn" in out
    assert "<p>2 claims: 1 holds, 1 untested.</p>" in out and "x &gt; y" in out
    page = claims_html(res[:1], link=False, anchors=True)
    assert "<tr id='shang-1'>" in page and "href" not in page


def test_a_claims_note_shows_its_code_spans_as_code_and_stays_escaped():
    res = [ClaimResult("ji-1", "ji", "t", "unclear", "ap50", [DETAIL], note="in the order of `detectors:` (a<b)")]
    out = claims_html(res)
    assert "in the order of <code>detectors:</code> (a&lt;b)" in out and "`" not in out
    odd = claims_html([ClaimResult("ji-1", "ji", "t", "unclear", "ap50", [DETAIL], note="one ` tick")])
    assert "one ` tick" in odd and "<code>" not in odd


def test_claims_table_names_the_metric_the_seeds_and_rows_still_improving():
    seeded = {**DETAIL, "diff": 0.098, "seeds": 3, "seed_list": [0, 1, 2], "seed_diffs": [0.098, -0.090, -0.110],
              "seed_mean_diff": -0.034, "seed_sd": 0.114, "verdict": "unclear",
              "seed_rule": "|difference| 0.0980 <= 2 x seed spread 0.1140 (3 seeds): holds -> unclear"}
    res = [ClaimResult("zhan-1", "zhan", "ImageNet beats random", "unclear", "triplet_accuracy", [seeded],
                       still_improving=["x", "y"])]
    out = claims_html(res)
    assert "<p>1 claim: 1 unclear.</p>" in out and "ImageNet beats random <small>(validation triplet accuracy)</small>" in out
    assert ("training seeds 0, 1, 2: differences +0.098, -0.090, -0.110; mean -0.034, sd 0.114; "
            "this run's |+0.098| ≤ 2 × sd = 0.228: unclear") in out
    assert "still improving at the last epoch: x, y</small>" in out
    many = claims_html([ClaimResult("a-1", "a", "t", "holds", "AP", [DETAIL], still_improving=list("abcde"))])
    assert 'title="a, b, c, d, e"' in many and "still improving at the last epoch: a, b, c and 2 more" in many
    plain = claims_html([ClaimResult("a-1", "a", "t", "holds", "AP", [DETAIL])])
    assert "(mAP)" in plain and "seeds" not in plain and "caveat" not in plain


def test_leaderboard_sorts_systems_and_sets_components_apart():
    names = ["base", "m-c", "m-s", "clf", "f", "base-crop-union"]
    maps = [0.3, 0.1, 0.05, 0.2, 0.4, 0.25]
    metrics = pd.DataFrame({"mAP": maps, "chance_mAP": [0.002] * 6, "top1": maps, "top10": maps,
                            "status": ["learned"] * 6}, index=names)
    rng = np.random.default_rng(0)
    pq = {n: pd.DataFrame({"query_id": [f"q{i}" for i in range(40)], "item_id": [f"i{i // 2}" for i in range(40)],
                           "AP": np.clip(rng.normal(v, 0.05, 40), 0, 1)}) for n, v in zip(names, maps)}
    assert component_rows(PARAMS, names) == ["m-c", "m-s", "clf", "base-crop-union"]
    assert component_rows(PARAMS, names + ["o"]) == ["m-c", "m-s", "clf", "base-crop-union", "o"]  # oracle router
    systems, comps = leaderboard(metrics, pq, PARAMS, n_boot=50)
    assert list(systems.index) == ["f", "base"] and list(systems["rank"]) == [1, 2]
    assert list(comps.index) == ["base-crop-union", "clf", "m-c", "m-s"]
    assert systems.loc["f", "x chance"] == 200 and systems.loc["f", "mAP 95% CI"].startswith("[")
    near = metrics.assign(mAP=[0.0192, 0.1, 0.05, 0.2, 0.04, 0.25])   # base 9.6x chance (shown as 10), f 20x
    board = leaderboard(near, pq, PARAMS, n_boot=20)[0]
    assert board.loc["base", "x chance"] == 10 and board.loc["base", "status"] == "learned, near chance (< 10x)"
    assert board.loc["f", "status"] == "learned"


def test_postprocess_view_note_names_where_the_view_and_the_rerank_rows_differ():
    from fashionbench.papers.overview import postprocess_view_note

    params = {"postprocess_view": {"steps": {"kr": [{"name": "k_reciprocal", "k1": 20, "k2": 6}],
                                             "qe": [{"name": "query_expansion", "top_k": 3, "alpha": 3.0}]}},
              "reranks": {"x-kr": {"input": "m", "steps": [{"name": "k_reciprocal", "k1": 6, "k2": 3}]},
                          "x-qe": {"input": "m", "steps": [{"name": "query_expansion", "top_k": 3, "alpha": 3.0}]}}}
    note = postprocess_view_note(params)
    assert "`k_reciprocal` here k1 20, k2 6, in `x-kr` (on `m`) k1 6, k2 3" in note and "query_expansion" not in note
    assert postprocess_view_note({"postprocess_view": {"steps": {}}}).endswith("params.yaml.")


def test_query_crop_note_names_each_rows_crop_and_the_oracle():
    from fashionbench.papers.overview import query_crop_note

    params = {"profile": "p", "profiles": {"p": {}},
              "fusions": {"f": {"kind": "route", "routes": {"c": ["u"]}, "router": "oracle"},
                          "e": {"kind": "route", "routes": {}}},
              "reranks": {"r": {"input": "f"}},
              "methods": {"a": {"crop": "given"}, "b": {"crop": "given"}, "u": {"crop": "union"}}}
    note = query_crop_note(params, ["a", "b", "u", "f", "r"])
    # f and r are judged through their trained input u: the union is the most common crop here
    assert note.startswith("Query crops: the union box") and "for the rows, except the dataset's given box for `a`, `b`" in note
    assert "`u`" not in note and "`f`" not in note and "oracles" in note
    only = query_crop_note({**params, "methods": {"d": {"crop": "detected"}}}, ["d"])
    assert only.startswith("Query crops: the detector's box") and "oracle" not in only
    assert query_crop_note(params, ["e"]) == ""


def test_nav_links_every_page_and_marks_the_current_one():
    assert nav(PARAMS, "ji") == "Reports: [comparison](comparison.html) · [shang](shang.html) · **ji**"


def test_leaderboard_shows_a_replicated_row_once_with_its_seed_spread():
    names = ["a", "a-s1", "a-s2", "b"]
    maps = [0.30, 0.32, 0.28, 0.10]
    metrics = pd.DataFrame({"mAP": maps, "chance_mAP": [0.002] * 4, "status": ["learned"] * 4}, index=names)
    params = {"seed": 0, "methods": {"a": {}, "a-s1": {"replicate_of": "a", "train_seed": 1},
                                     "a-s2": {"replicate_of": "a", "train_seed": 2}, "b": {}}}
    systems, _ = leaderboard(metrics, {}, params, n_boot=50)
    assert list(systems.index) == ["a", "b"]
    assert systems.loc["a", "mAP over seeds"] == "0.300 ± 0.020 (3)" and systems.loc["b", "mAP over seeds"] == ""
