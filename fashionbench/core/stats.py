"""Bootstrap confidence intervals over queries, and verdicts on claims.

* :func:`bootstrap_ci`: percentile bootstrap CI of the mean of per-query values (AP, hit@k).
* :func:`paired_bootstrap_diff`: CI of ``mean(a) - mean(b)`` for two methods scored on the
  same queries; each replicate resamples query indices once and uses them for both methods,
  so the per-query correlation between the methods is kept (the CI is that of
  ``mean(a - b)``).
* :func:`paired_cluster_bootstrap_diff`: the same when the scored units come in dependent
  groups (e.g. the triplets of one anchor item): each replicate resamples whole clusters and
  takes the mean over the units they hold (a ratio estimator), so the CI reflects the
  number of independent clusters, not of units.
* :func:`verdict` and :class:`Claim`: "holds" / "does not hold" / "unclear" from the CI of a
  difference, and "untested" (with a required reason) for claims not run.

Determinism: the replicates depend only on ``(values, n_boot, seed)``; they are drawn with
``numpy.random.default_rng(seed)`` in blocks whose size depends only on the number of values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.validate import check_positive_int

VERDICTS: tuple[str, ...] = ("holds", "does not hold", "unclear", "untested")
_BLOCK_ELEMENTS = 1 << 22  # resampled indices held at once (32 MB of int64)


def _check_values(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ContractError(f"{name}: must be a non-empty 1-D array, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ContractError(f"{name}: {int(bad.sum())} NaN/inf value(s) (first at index "
                            f"{int(np.flatnonzero(bad)[0])})")
    return arr


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def bootstrap_means(values: Any, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the mean of ``values`` (resampling with replacement)."""
    x = _check_values(values, "values")
    n_boot = check_positive_int(n_boot, "n_boot")
    rng = np.random.default_rng(seed)
    n = x.size
    block = max(1, _BLOCK_ELEMENTS // n)
    means = np.empty(n_boot, np.float64)
    for a in range(0, n_boot, block):
        b = min(a + block, n_boot)
        means[a:b] = x[rng.integers(0, n, size=(b - a, n))].mean(axis=1)
    return means


def bootstrap_ci(values: Any, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
                 ) -> tuple[float, float, float]:
    """Percentile bootstrap CI of the mean of per-query ``values``.

    Returns ``(mean, lo, hi)``: the sample mean and the ``alpha/2`` and ``1 - alpha/2``
    quantiles (numpy's default linear interpolation) of ``n_boot`` resampled means.
    """
    alpha = _check_alpha(alpha)
    x = _check_values(values, "values")
    means = bootstrap_means(x, n_boot=n_boot, seed=seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(x.mean()), float(lo), float(hi)


def paired_bootstrap_diff(a: Any, b: Any, *, n_boot: int = 1000, seed: int = 0,
                          alpha: float = 0.05) -> tuple[float, float, float]:
    """Paired percentile bootstrap CI of ``mean(a) - mean(b)``.

    ``a[i]`` and ``b[i]`` must be the two methods' scores on the same query ``i``. Each
    replicate draws one set of query indices and uses it for both methods, which is the
    bootstrap of ``mean(a - b)``. Returns ``(diff_mean, lo, hi)``.
    """
    xa = _check_values(a, "a")
    xb = _check_values(b, "b")
    if xa.shape != xb.shape:
        raise ContractError(f"a and b must score the same queries: {xa.size} vs {xb.size} values")
    return bootstrap_ci(xa - xb, n_boot=n_boot, seed=seed, alpha=alpha)


def paired_cluster_bootstrap_diff(a: Any, b: Any, clusters: Any, *, n_boot: int = 1000, seed: int = 0,
                                  alpha: float = 0.05) -> tuple[float, float, float]:
    """Paired cluster-bootstrap percentile CI of ``mean(a) - mean(b)``.

    ``a[i]``, ``b[i]``: the two methods' scores on unit ``i``; ``clusters[i]``: its group. A
    replicate draws ``C`` clusters with replacement (``C`` = number of distinct clusters, in
    sorted label order) and takes ``sum(d over their units) / number of their units`` with
    ``d = a - b``. With one unit per cluster (labels in the units' order) the replicates are
    exactly those of :func:`paired_bootstrap_diff`. Returns ``(mean(d), lo, hi)``.
    """
    alpha = _check_alpha(alpha)
    xa = _check_values(a, "a")
    xb = _check_values(b, "b")
    if xa.shape != xb.shape:
        raise ContractError(f"a and b must score the same units: {xa.size} vs {xb.size} values")
    groups = np.asarray(clusters)
    if groups.shape != xa.shape:
        raise ContractError(f"clusters: {groups.size} labels for {xa.size} units")
    _, inverse = np.unique(groups, return_inverse=True)
    d = xa - xb
    sums = np.bincount(inverse, weights=d)
    sizes = np.bincount(inverse).astype(np.float64)
    n_boot = check_positive_int(n_boot, "n_boot")
    rng = np.random.default_rng(seed)
    k = sums.size
    block = max(1, _BLOCK_ELEMENTS // k)
    reps = np.empty(n_boot, np.float64)
    for s in range(0, n_boot, block):
        e = min(s + block, n_boot)
        idx = rng.integers(0, k, size=(e - s, k))
        reps[s:e] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(d.mean()), float(lo), float(hi)


def verdict(diff_mean: float, lo: float, hi: float, *, higher_is_better: bool = True) -> str:
    """Verdict on the claim "the new method is better", from the CI of ``new - baseline``.

    With ``higher_is_better`` (e.g. mAP): "holds" when ``lo > 0``, "does not hold" when
    ``hi < 0``, "unclear" when ``lo <= 0 <= hi`` (the CI contains 0). With
    ``higher_is_better=False`` (e.g. an error rate) the signs flip: "holds" when ``hi < 0``.
    """
    vals = (diff_mean, lo, hi)
    if not all(isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v)
               for v in vals):
        raise ContractError(f"verdict needs finite numbers, got diff={diff_mean!r}, "
                            f"lo={lo!r}, hi={hi!r}")
    if lo > hi:
        raise ContractError(f"verdict: CI lower bound {lo} > upper bound {hi}")
    if lo <= 0.0 <= hi:
        return "unclear"
    better = lo > 0.0 if higher_is_better else hi < 0.0
    return "holds" if better else "does not hold"


@dataclass(frozen=True)
class Claim:
    """A claim with its verdict, the numbers behind it and a reason.

    Build one with :meth:`from_ci` (verdict computed from a CI of a difference) or
    :meth:`untested` (reason required). ``numbers`` holds finite floats (e.g. ``diff``,
    ``lo``, ``hi``, ``n_queries``).
    """

    id: str
    text: str
    verdict: str
    reason: str
    numbers: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not self.text:
            raise ContractError("Claim: 'id' and 'text' must be non-empty")
        if self.verdict not in VERDICTS:
            raise ContractError(f"Claim {self.id}: verdict {self.verdict!r} not in {VERDICTS}")
        if not self.reason or not self.reason.strip():
            raise ContractError(f"Claim {self.id}: a reason is required")
        for k, v in self.numbers.items():
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise ContractError(f"Claim {self.id}: number {k!r}={v!r} is not finite")
        object.__setattr__(self, "numbers", {k: float(v) for k, v in self.numbers.items()})

    @classmethod
    def from_ci(cls, id: str, text: str, diff_mean: float, lo: float, hi: float, *,
                higher_is_better: bool = True, metric: str = "metric",
                reason: str | None = None, **numbers: float) -> "Claim":
        """Claim judged by :func:`verdict`; the default reason states the CI."""
        v = verdict(diff_mean, lo, hi, higher_is_better=higher_is_better)
        if reason is None:
            direction = "higher" if higher_is_better else "lower"
            reason = (f"{metric} difference {diff_mean:+.4f}, CI [{lo:+.4f}, {hi:+.4f}] "
                      f"({direction} is better): " +
                      {"holds": "CI excludes 0 in the claimed direction",
                       "does not hold": "CI excludes 0 against the claim",
                       "unclear": "CI contains 0"}[v])
        return cls(id=id, text=text, verdict=v, reason=reason,
                   numbers={"diff": diff_mean, "lo": lo, "hi": hi, **numbers})

    @classmethod
    def untested(cls, id: str, text: str, reason: str) -> "Claim":
        """A claim that was not tested; ``reason`` (non-empty) says why."""
        return cls(id=id, text=text, verdict="untested", reason=reason)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return {"id": self.id, "text": self.text, "verdict": self.verdict,
                "reason": self.reason, "numbers": dict(self.numbers)}


def bootstrap_p_value(diff: float, lo: float, hi: float, alpha: float = 0.05) -> tuple[float, float]:
    """(standard error, two-sided p-value of ``diff = 0``) from a ``1 - alpha`` bootstrap CI, by the
    normal approximation: ``se = (hi - lo) / (2 z)``, ``p = 2 (1 - Phi(|diff| / se))``."""
    from scipy.stats import norm

    z = float(norm.ppf(1 - _check_alpha(alpha) / 2))
    se = max(0.0, (float(hi) - float(lo)) / (2 * z))
    if se == 0.0:
        return 0.0, 1.0 if diff == 0 else 0.0
    return se, float(2 * norm.sf(abs(float(diff)) / se))


def holm(p_values: Any, alpha: float = 0.05) -> np.ndarray:
    """Holm step-down adjusted p-values (statsmodels ``multipletests(method="holm")``): reject
    hypothesis ``i`` at family-wise level ``alpha`` exactly where ``adjusted[i] < alpha``."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if not len(p):
        return p
    if ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise ContractError(f"holm: p-values must be in [0, 1], got {p.tolist()}")
    return multipletests(p, alpha=_check_alpha(alpha), method="holm")[1]


def adjusted_ci(diff: float, se: float, p: float, p_adjusted: float, alpha: float = 0.05
                ) -> tuple[float, float]:
    """The CI matching a multiplicity-adjusted test: ``diff +- z(1 - alpha / (2c)) se`` with
    ``c = p_adjusted / p`` (Holm's multiplier for this hypothesis), so that it excludes 0 exactly
    when ``p_adjusted < alpha`` (normal approximation, :func:`bootstrap_p_value`)."""
    from scipy.stats import norm

    c = 1.0 if p <= 0 or p_adjusted <= p else p_adjusted / p
    z = float(norm.ppf(1 - _check_alpha(alpha) / (2 * c)))
    return float(diff - z * se), float(diff + z * se)
