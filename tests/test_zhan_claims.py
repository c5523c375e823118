"""zhan's claims on per-triplet scores: the paired cluster bootstrap and the claim plumbing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashionbench.papers.claims import CLAIMS, evaluate_claims, load_unit_scores
from fashionbench.papers.base import ClaimSpec, Comparison
from fashionbench.core.errors import ContractError
from fashionbench.core.stats import bootstrap_ci, paired_bootstrap_diff, paired_cluster_bootstrap_diff

rng = np.random.default_rng(0)


# ----------------------------------------------------------------------------- the bootstrap

def test_singleton_clusters_equal_the_plain_paired_bootstrap():
    a, b = rng.uniform(0, 1, 250), rng.uniform(0, 1, 250)
    plain = paired_bootstrap_diff(a, b, n_boot=500, seed=4)
    clustered = paired_cluster_bootstrap_diff(a, b, np.arange(250), n_boot=500, seed=4)
    assert clustered == pytest.approx(plain, abs=1e-12)


def test_cluster_bootstrap_against_a_direct_resampling_loop():
    """Reference: build each replicate's data set by concatenating the drawn clusters' units."""
    clusters = np.repeat(np.array(["c3", "c1", "c2", "c0", "c4", "c5"]), [1, 4, 2, 7, 3, 5])
    a = rng.integers(0, 2, clusters.size).astype(float)
    b = rng.integers(0, 2, clusters.size).astype(float)
    n_boot = 300
    diff, lo, hi = paired_cluster_bootstrap_diff(a, b, clusters, n_boot=n_boot, seed=9)
    labels = np.unique(clusters)  # sorted, as documented
    draws = np.random.default_rng(9).integers(0, labels.size, size=(n_boot, labels.size))
    reps = []
    for row in draws:
        units = np.concatenate([np.flatnonzero(clusters == labels[j]) for j in row])
        reps.append(np.mean(a[units] - b[units]))
    assert diff == pytest.approx(np.mean(a - b))
    assert (lo, hi) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])), abs=1e-12)


def test_duplicated_units_do_not_narrow_the_cluster_ci():
    a, b = rng.uniform(0, 1, 120), rng.uniform(0, 1, 120)
    base = paired_cluster_bootstrap_diff(a, b, np.arange(120), n_boot=400, seed=1)
    dup = paired_cluster_bootstrap_diff(np.repeat(a, 5), np.repeat(b, 5), np.repeat(np.arange(120), 5),
                                        n_boot=400, seed=1)
    assert dup == pytest.approx(base, abs=1e-12)
    naive = paired_bootstrap_diff(np.repeat(a, 5), np.repeat(b, 5), n_boot=400, seed=1)
    assert naive[2] - naive[1] < 0.6 * (base[2] - base[1])  # rows as if independent: far too narrow


def test_cluster_bootstrap_bad_input():
    with pytest.raises(ContractError, match="clusters"):
        paired_cluster_bootstrap_diff([1.0, 0.0], [0.0, 0.0], [0])
    with pytest.raises(ContractError, match="same units"):
        paired_cluster_bootstrap_diff([1.0, 0.0], [0.0], [0, 1])
    with pytest.raises(ContractError, match="NaN"):
        paired_cluster_bootstrap_diff([np.nan], [0.0], [0])


# ----------------------------------------------------------------------------- the claims

def triplets(correct: np.ndarray, items: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"triplet_id": [f"t{i}" for i in range(len(correct))], "anchor_item": items,
                         "triplet_accuracy": correct.astype(float)})


def test_zhan_claims_compare_the_paper_rows_on_triplet_accuracy():
    specs = {c.id: c for c in CLAIMS if c.paper == "zhan"}
    assert set(specs) == {"zhan-1", "zhan-2", "zhan-3"}
    assert [(c.a, c.b, c.kind) for c in specs["zhan-2"].comparisons] == [("zhan-hardeasy-m4", "zhan-imagenet-m4", "gt")]
    assert [(c.a, c.b, c.kind) for c in specs["zhan-3"].comparisons] == [
        ("zhan-imagenet-m4", "zhan-imagenet-m1", "gt"), ("zhan-imagenet-m8", "zhan-imagenet-m4", "not_gt")]
    assert [(c.a, c.b) for c in specs["zhan-1"].comparisons] == [("zhan-imagenet-m1", "zhan-random-m1")]
    for c in specs.values():
        assert (c.metric, c.scores, c.unit, c.cluster) == ("triplet_accuracy", "per_triplet", "triplet_id",
                                                           "anchor_item")


def test_clear_win_holds_and_imagenet_is_untested_with_its_reason():
    items = np.repeat([f"i{k}" for k in range(100)], 8)
    base = rng.uniform(0, 1, items.size) < 0.6
    better = base | (rng.uniform(0, 1, items.size) < 0.5)  # right wherever base is, and more
    tabs = {"zhan-imagenet-m1": triplets(base, items), "zhan-imagenet-m4": triplets(better, items),
            "zhan-imagenet-m8": triplets(base, items), "zhan-hardeasy-m4": triplets(base, items)}
    pq = {m: pd.DataFrame({"query_id": ["q"], "AP": [0.5]}) for m in tabs}
    res = {r.id: r for r in evaluate_claims(pq, n_boot=300, papers=["zhan"], unit_scores={"per_triplet": tabs})}
    assert res["zhan-3"].verdict == "holds"
    d = res["zhan-3"].details[0]
    assert d["n_clusters"] == 100 and d["n_queries"] == 800
    assert d["diff"] == pytest.approx(better.mean() - base.mean())
    assert [x["verdict"] for x in res["zhan-3"].details] == ["holds", "holds"]  # m8 (= base) no better than m4
    assert res["zhan-2"].verdict == "does not hold"  # zhan-hardeasy-m4 (= base) is worse than zhan-imagenet-m4
    assert res["zhan-1"].verdict == "untested" and "zhan-random-m1" in res["zhan-1"].reason


def test_within_item_dependence_makes_a_small_gain_unclear():
    # 40 anchor items x 25 triplets; a gain on 2 items only, all-or-nothing within each item
    items = np.repeat([f"i{k}" for k in range(40)], 25)
    a_item = rng.uniform(0, 1, 40) < 0.5
    a_item[:2] = False
    a = np.repeat(a_item, 25)
    b = a.copy()
    b[np.isin(items, ["i0", "i1"])] = True
    tabs = {"x": triplets(a, items), "y": triplets(b, items)}
    spec = [ClaimSpec("z-1", "z", "y beats x", "triplet_accuracy", (Comparison("y", "x"),),
                      scores="per_triplet", unit="triplet_id", cluster="anchor_item")]
    spec_rows = [ClaimSpec("z-1", "z", "y beats x", "triplet_accuracy", (Comparison("y", "x"),),
                           scores="per_triplet", unit="triplet_id")]
    pq = {m: pd.DataFrame({"query_id": ["q"], "AP": [0.5]}) for m in tabs}
    by_item = evaluate_claims(pq, spec, n_boot=500, unit_scores={"per_triplet": tabs})[0]
    by_row = evaluate_claims(pq, spec_rows, n_boot=500, unit_scores={"per_triplet": tabs})[0]
    assert by_item.details[0]["diff"] == pytest.approx(50 / 1000)
    assert by_row.verdict == "holds"  # treating 1,000 dependent triplets as independent
    assert by_item.verdict == "unclear"  # 40 independent items cannot tell


def test_unit_scores_are_read_from_the_artifacts_folder(tmp_path, monkeypatch):
    folder = tmp_path / "artifacts" / "per_triplet"
    folder.mkdir(parents=True)
    items = np.repeat([f"i{k}" for k in range(60)], 4)
    triplets(np.ones(240), items).to_csv(folder / "zhan-imagenet-m4.csv", index=False)
    triplets(np.zeros(240), items).to_csv(folder / "zhan-imagenet-m1.csv", index=False)
    triplets(np.zeros(240), items).to_csv(folder / "zhan-imagenet-m8.csv", index=False)
    triplets(np.zeros(240), items).to_csv(folder / "not-evaluated.csv", index=False)
    names = ["zhan-imagenet-m4", "zhan-imagenet-m1", "zhan-imagenet-m8", "baseline"]
    assert set(load_unit_scores("per_triplet", names, tmp_path / "artifacts")) == {
        "zhan-imagenet-m4", "zhan-imagenet-m1", "zhan-imagenet-m8"}
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(tmp_path))
    pq = {m: pd.DataFrame({"query_id": ["q"], "AP": [0.5]}) for m in names}
    res = {r.id: r for r in evaluate_claims(pq, n_boot=200, papers=["zhan"])}
    assert res["zhan-3"].verdict == "holds" and res["zhan-3"].details[0]["diff"] == 1.0
    assert res["zhan-2"].verdict == "untested" and "zhan-hardeasy-m4" in res["zhan-2"].reason


def test_bootstrap_ci_of_one_method_via_zero_baseline_matches_plain_ci():
    v = rng.uniform(0, 1, 200)
    assert paired_cluster_bootstrap_diff(v, np.zeros(200), np.arange(200), n_boot=300, seed=2) == \
        pytest.approx(bootstrap_ci(v, n_boot=300, seed=2), abs=1e-12)


def test_seed_table_lists_each_seed_and_the_spread(tmp_path):
    import json

    from fashionbench.papers.zhan.report import seed_table

    params = {"methods": {"z": {"group": "zhan"}, "z-s1": {"group": "zhan", "replicate_of": "z", "train_seed": 1},
                          "z-s2": {"group": "zhan", "replicate_of": "z", "train_seed": 2}, "y": {"group": "zhan"}},
              "seed": 0}
    (tmp_path / "metrics").mkdir()
    for name, acc in (("z", 0.80), ("z-s1", 0.70), ("z-s2", 0.75), ("y", 0.9)):
        (tmp_path / "metrics" / f"{name}.extra.json").write_text(json.dumps({"triplet_accuracy": acc}))
    t = seed_table(params, tmp_path)
    assert list(t.index) == ["z"] and t.loc["z", "seed 0"] == "80.00" and t.loc["z", "seed 2"] == "75.00"
    assert t.loc["z", "mean ± sd"] == "75.00 ± 5.00"
