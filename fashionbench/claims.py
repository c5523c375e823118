"""The papers' relative claims, and verdicts computed from per-query scores.

Each claim is a set of comparisons between evaluated methods (rows of ``params.yaml``), on one
per-query metric. A side of a comparison is a method name or a glob (``shang-single-*``); a glob
stands for the best matching method (highest mean). Verdicts, computed with a paired bootstrap
over the queries both methods scored (95% CI of the difference in means):

- ``gt``      a > b: **holds** if the CI is above 0, **does not hold** if below, else **unclear**;
- ``not_gt``  a does not beat b: **holds** if the CI is below 0, **does not hold** if above,
              else **unclear**;
- ``neutral`` a ~ b: **holds** if the CI contains 0, else **does not hold**.

A claim holds when all its comparisons hold; it does not hold when any does not; otherwise it is
unclear. A claim whose methods are not in the run is **untested**, with the reason.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

HOLDS, NOT_HOLD, UNCLEAR, UNTESTED = "holds", "does not hold", "unclear", "untested"


@dataclass(frozen=True)
class Comparison:
    """``a`` versus ``b`` (method names or globs) under relation ``kind``."""

    a: str
    b: str
    kind: str = "gt"


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of a paper (ids and texts as in ``shared/papers/README.md``)."""

    id: str
    paper: str
    text: str
    metric: str
    comparisons: tuple[Comparison, ...]
    needs: str = ""  # what else the claim needs (shown when untested)


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("shang-1", "shang", "distance fusion of the four models beats the best single model (mAP)",
              "AP", (Comparison("shang-fusion", "shang-single-*"),)),
    ClaimSpec("shang-2", "shang", "the top-1 re-rank beats fusion alone (mAP)",
              "AP", (Comparison("shang-fusion-rerank", "shang-fusion"),)),
    ClaimSpec("shang-3", "shang", "the union crop box beats the given box alone",
              "AP", (Comparison("baseline-crop-union", "baseline-crop-given"),), "the detect stage"),
    ClaimSpec("park-1", "park", "OC+IS beats OC, which beats OC+OS (top-k accuracy)",
              "top20", (Comparison("park-oc-is", "park-oc"), Comparison("park-oc", "park-oc-os"))),
    ClaimSpec("chen-1", "chen", "annular partition beats horizontal and vertical partitions",
              "AP", (Comparison("chen-annular", "chen-horizontal"), Comparison("chen-annular", "chen-vertical"))),
    ClaimSpec("chen-2", "chen", "all seven branches together beat any single partition type",
              "AP", (Comparison("chen-all", "chen-[ahv]*"),)),
    ClaimSpec("zhan-1", "zhan", "ImageNet-initialised beats random init",
              "AP", (Comparison("zhan-imagenet-m1", "zhan-random-m1"),),
              "ImageNet-pretrained weights from an installed package or a checksummed file"),
    ClaimSpec("zhan-2", "zhan", "hard & easy triplets beat hard triplets only",
              "AP", (Comparison("zhan-hardeasy-m4", "zhan-random-m4"),)),
    ClaimSpec("zhan-3", "zhan", "a larger margin helps up to a point (m=4 >= m=1)",
              "AP", (Comparison("zhan-random-m4", "zhan-random-m1"),)),
    ClaimSpec("ji-1", "ji", "fusing more detectors with WBF raises AP50",
              "ap50", (), "AP50 of WBF over 1..n detectors from the detect stage"),
    ClaimSpec("ji-2", "ji", "concatenating several models' features beats the single best model (Acc@10)",
              "top10", (Comparison("ji-concat", "ji-single-*"),)),
    ClaimSpec("ji-3", "ji", "PCA whitening and query expansion do not help; DBA is about neutral",
              "top10", (Comparison("ji-pcaw", "ji-concat", "not_gt"), Comparison("ji-qe", "ji-concat", "not_gt"),
                         Comparison("ji-dba", "ji-concat", "neutral"))),
    ClaimSpec("ji-4", "ji", "k-reciprocal re-ranking raises Acc@10 a little",
              "top10", (Comparison("ji-kreciprocal", "ji-concat"),)),
)


@dataclass
class ClaimResult:
    """A claim's verdict with the numbers behind it."""

    id: str
    paper: str
    text: str
    verdict: str
    metric: str
    details: list[dict] = field(default_factory=list)
    reason: str = ""


def _resolve(side: str, per_query: Mapping[str, pd.DataFrame], metric: str) -> str | None:
    names = [m for m in per_query if fnmatch.fnmatchcase(m, side) and metric in per_query[m].columns]
    if not names:
        return None
    return max(sorted(names), key=lambda m: float(per_query[m][metric].mean()))


def _aligned(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    m = a[["query_id", metric]].merge(b[["query_id", metric]], on="query_id", suffixes=("_a", "_b"))
    return m[f"{metric}_a"].to_numpy(float), m[f"{metric}_b"].to_numpy(float)


def _verdict(kind: str, lo: float, hi: float) -> str:
    if kind == "gt":
        return HOLDS if lo > 0 else NOT_HOLD if hi < 0 else UNCLEAR
    if kind == "not_gt":
        return HOLDS if hi < 0 else NOT_HOLD if lo > 0 else UNCLEAR
    if kind == "neutral":
        return HOLDS if lo <= 0 <= hi else NOT_HOLD
    raise ValueError(f"unknown comparison kind {kind!r}")


def evaluate_claims(per_query: Mapping[str, pd.DataFrame], specs: Sequence[ClaimSpec] = CLAIMS, *,
                    n_boot: int = 1000, seed: int = 0, papers: Sequence[str] | None = None) -> list[ClaimResult]:
    """Verdicts for ``specs`` from per-query tables (one per method, with a ``query_id`` column)."""
    from .stats import paired_bootstrap_diff

    out = []
    for spec in specs:
        if papers is not None and spec.paper not in papers:
            continue
        res = ClaimResult(spec.id, spec.paper, spec.text, UNTESTED, spec.metric)
        if not spec.comparisons:
            res.reason = f"needs {spec.needs}; not part of this run"
            out.append(res)
            continue
        verdicts, missing = [], []
        for comp in spec.comparisons:
            a, b = _resolve(comp.a, per_query, spec.metric), _resolve(comp.b, per_query, spec.metric)
            if a is None or b is None:
                missing += [s for s, r in ((comp.a, a), (comp.b, b)) if r is None]
                continue
            va, vb = _aligned(per_query[a], per_query[b], spec.metric)
            diff, lo, hi = paired_bootstrap_diff(va, vb, n_boot=n_boot, seed=seed)
            v = _verdict(comp.kind, lo, hi)
            verdicts.append(v)
            res.details.append({"a": a, "b": b, "kind": comp.kind, "mean_a": float(va.mean()),
                                "mean_b": float(vb.mean()), "diff": float(diff), "ci_low": float(lo),
                                "ci_high": float(hi), "n_queries": int(len(va)), "verdict": v})
        if missing:
            res.verdict = UNTESTED
            res.reason = ("methods not in this run: " + ", ".join(sorted(set(missing)))
                          + (f" (needs {spec.needs})" if spec.needs else ""))
        elif NOT_HOLD in verdicts:
            res.verdict = NOT_HOLD
        elif all(v == HOLDS for v in verdicts):
            res.verdict = HOLDS
        else:
            res.verdict = UNCLEAR
        out.append(res)
    return out


def claims_table(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim: id, claim, verdict, the compared means with the CI of the difference."""
    rows = []
    for r in results:
        nums = "; ".join(f"{d['a']} {d['mean_a']:.4f} vs {d['b']} {d['mean_b']:.4f}: "
                         f"diff {d['diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] ({d['verdict']})"
                         for d in r.details)
        rows.append({"claim": r.id, "text": r.text, "metric": r.metric, "verdict": r.verdict,
                     "numbers (95% bootstrap CI of the difference)": nums or "—", "reason": r.reason or ""})
    return pd.DataFrame(rows, columns=["claim", "text", "metric", "verdict",
                                       "numbers (95% bootstrap CI of the difference)", "reason"])


VERDICT_COLOURS = {HOLDS: "#c8e6c9", NOT_HOLD: "#ffcdd2", UNCLEAR: "#ffe0b2", UNTESTED: "#eeeeee"}


def styled_claims_table(results: Sequence[ClaimResult]) -> "pd.io.formats.style.Styler":
    """:func:`claims_table` with verdict cells coloured and text left-aligned (for the reports)."""
    table = claims_table(results).set_index("claim")
    return (table.style
            .map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, '')}; font-weight: bold", subset=["verdict"])
            .set_properties(**{"text-align": "left", "white-space": "pre-wrap"}))
