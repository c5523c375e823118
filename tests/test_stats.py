"""Tests of fashionbench.stats: CI coverage on known distributions, references (normal
theory, scipy.stats.bootstrap), pairing, determinism, verdict hand cases, Claim."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.stats import Claim, bootstrap_ci, bootstrap_means, paired_bootstrap_diff, verdict


def test_ci_covers_true_mean_about_95_percent() -> None:
    # 300 data sets of 80 Bernoulli(0.3) "hits": a 95% CI should cover 0.3 in ~95% of them
    # (the percentile bootstrap undercovers slightly at small n; a broken CI misses badly).
    rng = np.random.default_rng(123)
    covered = 0
    for i in range(300):
        x = (rng.random(80) < 0.3).astype(float)
        _, lo, hi = bootstrap_ci(x, n_boot=400, seed=i)
        covered += lo <= 0.3 <= hi
    assert 0.90 <= covered / 300 <= 0.98, covered


def test_ci_matches_normal_theory_and_scipy() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(2.0, 3000)
    mean, lo, hi = bootstrap_ci(x, n_boot=2000, seed=1)
    assert mean == pytest.approx(x.mean(), abs=1e-12)
    half = 1.959964 * x.std(ddof=1) / np.sqrt(len(x))      # textbook normal CI of the mean
    assert lo == pytest.approx(mean - half, abs=0.15 * half)
    assert hi == pytest.approx(mean + half, abs=0.15 * half)
    ref = sps.bootstrap((x,), np.mean, n_resamples=2000, method="percentile",
                        confidence_level=0.95, random_state=np.random.default_rng(2))
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.1 * half)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.1 * half)


def test_alpha_widens_and_narrows() -> None:
    x = np.random.default_rng(3).normal(size=500)
    _, lo90, hi90 = bootstrap_ci(x, alpha=0.10)
    _, lo99, hi99 = bootstrap_ci(x, alpha=0.01)
    assert lo99 < lo90 < hi90 < hi99


def test_deterministic_given_seed() -> None:
    x = np.random.default_rng(4).random(200)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    assert bootstrap_ci(x, seed=7) != bootstrap_ci(x, seed=8)
    # a constant sample has a zero-width CI
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25, 0.25)


def test_bootstrap_means_blocks_resample_with_replacement(monkeypatch) -> None:
    import fashionbench.core.stats as st
    x = np.arange(5, dtype=float)
    monkeypatch.setattr(st, "_BLOCK_ELEMENTS", 7)           # several blocks of 1 replicate
    means = bootstrap_means(x, n_boot=300, seed=0)
    assert means.shape == (300,) and len(np.unique(means)) > 5
    assert means.min() >= 0 and means.max() <= 4 and abs(means.mean() - 2) < 0.2


def test_paired_diff_keeps_the_pairing() -> None:
    # b = a + small noise: per query the methods are highly correlated. The paired CI of the
    # difference is that of mean(a - b) and is much narrower than an unpaired one would be.
    rng = np.random.default_rng(5)
    a = rng.random(400)
    b = a + rng.normal(0.02, 0.01, 400)
    diff, lo, hi = paired_bootstrap_diff(b, a, n_boot=1000, seed=0)
    assert (diff, lo, hi) == bootstrap_ci(b - a, n_boot=1000, seed=0)
    assert diff == pytest.approx(np.mean(b - a))
    assert lo > 0.0175 and hi < 0.0225                     # true shift 0.02, SE 0.0005
    # an unpaired bootstrap of the two means separately would be ~30x wider:
    _, la, ha = bootstrap_ci(a, seed=1)
    assert hi - lo < (ha - la) / 10


def test_paired_requires_same_queries() -> None:
    with pytest.raises(ContractError, match="same queries: 3 vs 2"):
        paired_bootstrap_diff([1, 2, 3], [1, 2])


@pytest.mark.parametrize("values, match", [([], "non-empty"), ([[1.0]], "1-D"),
                                           ([1.0, np.nan], "NaN/inf value.*index 1")])
def test_bad_values(values, match) -> None:
    with pytest.raises(ContractError, match=match):
        bootstrap_ci(values)


@pytest.mark.parametrize("kw", [{"n_boot": 0}, {"alpha": 0.0}, {"alpha": 1.5}])
def test_bad_parameters(kw) -> None:
    with pytest.raises(ConfigError):
        bootstrap_ci([1.0, 2.0], **kw)


@pytest.mark.parametrize("diff, lo, hi, hib, expected", [
    (0.02, 0.01, 0.03, True, "holds"),
    (-0.02, -0.03, -0.01, True, "does not hold"),
    (0.01, -0.01, 0.03, True, "unclear"),
    (0.01, 0.0, 0.02, True, "unclear"),          # CI touching 0 contains it
    (-0.01, -0.02, 0.0, True, "unclear"),
    (-0.02, -0.03, -0.01, False, "holds"),       # lower is better: a negative diff supports it
    (0.02, 0.01, 0.03, False, "does not hold"),
    (0.0, -0.01, 0.01, False, "unclear"),
])
def test_verdict_hand_cases(diff, lo, hi, hib, expected) -> None:
    assert verdict(diff, lo, hi, higher_is_better=hib) == expected


def test_verdict_rejects_bad_interval() -> None:
    with pytest.raises(ContractError, match="lower bound"):
        verdict(0.0, 0.1, -0.1)
    with pytest.raises(ContractError, match="finite"):
        verdict(float("nan"), 0.0, 1.0)


def test_claim_from_ci_and_untested() -> None:
    c = Claim.from_ci("C1", "fusion beats the best single model", 0.02, 0.01, 0.03,
                      metric="mAP", n_queries=500)
    assert c.verdict == "holds" and "CI excludes 0" in c.reason and "mAP" in c.reason
    assert c.to_dict()["numbers"] == {"diff": 0.02, "lo": 0.01, "hi": 0.03, "n_queries": 500.0}
    u = Claim.untested("C2", "re-ranking helps", reason="needs the full gallery")
    assert u.verdict == "untested" and u.to_dict()["reason"] == "needs the full gallery"
    with pytest.raises(TypeError):
        Claim.untested("C3", "x")                            # the reason is required
    with pytest.raises(ContractError, match="reason is required"):
        Claim.untested("C3", "x", reason="  ")
    with pytest.raises(ContractError, match="verdict 'maybe'"):
        Claim("C4", "x", "maybe", "r")
    with pytest.raises(ContractError, match="not finite"):
        Claim("C5", "x", "unclear", "r", {"diff": float("inf")})
