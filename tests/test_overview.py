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


def test_leaderboard_sorts_systems_and_sets_components_apart():
    names = ["base", "m-c", "m-s", "clf", "f", "base-crop-union"]
    maps = [0.3, 0.1, 0.05, 0.2, 0.4, 0.25]
    metrics = pd.DataFrame({"mAP": maps, "chance_mAP": [0.002] * 6, "top1": maps, "top10": maps,
                            "status": ["learned"] * 6}, index=names)
    rng = np.random.default_rng(0)
    pq = {n: pd.DataFrame({"query_id": [f"q{i}" for i in range(40)], "item_id": [f"i{i // 2}" for i in range(40)],
                           "AP": np.clip(rng.normal(v, 0.05, 40), 0, 1)}) for n, v in zip(names, maps)}
    assert component_rows(PARAMS, names) == ["m-c", "m-s", "clf", "base-crop-union"]
    systems, comps = leaderboard(metrics, pq, PARAMS, n_boot=50)
    assert list(systems.index) == ["f", "base"] and list(systems["rank"]) == [1, 2]
    assert list(comps.index) == ["base-crop-union", "clf", "m-c", "m-s"]
    assert systems.loc["f", "x chance"] == 200 and systems.loc["f", "mAP 95% CI"].startswith("[")


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
