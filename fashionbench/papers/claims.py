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

Detection claims use the special metric ``"ap50"`` and read the detect stage's
``metrics/detect.json`` (pass it as ``detection=``; :func:`load_detection_metrics`). ji-1
("fusing more detectors with WBF raises AP50"): with ``n >= 2`` detectors, the gain
``AP50(WBF_n) - AP50(WBF_1)`` and its 95% CI from a paired bootstrap over the evaluated images
(``ap50_wbf_<n>_gain``, ``..._ci_low``, ``..._ci_high``) get the ``gt`` rule above: **holds** if
the CI is above 0, **does not hold** if below, else **unclear**; **untested** without the file or
with fewer than 2 detectors.

Claims on other per-unit scores than the per-query tables (paper ``zhan``: triplet accuracy,
Tables I-II) name their table kind in ``ClaimSpec.scores`` (``"per_triplet"``: one row per
validation triplet, ``artifacts/per_triplet/<method>.csv`` from the ``triplet_eval`` stage),
the id column that pairs rows across methods (``unit``: ``triplet_id``) and a ``cluster``
column (``anchor_item``): the paired bootstrap then resamples whole clusters (all triplets of
one anchor item together, :func:`fashionbench.core.stats.paired_cluster_bootstrap_diff`), because
the triplets of one item are not independent. Pass those tables as
``unit_scores={"per_triplet": {method: table}}``; when not passed they are read from
``<project>/artifacts/<scores>/<method>.csv`` for the methods in ``per_query`` (the evaluated
rows), so the report notebooks need no extra argument.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.core.artifacts import load_metrics
from fashionbench.core.config import project_root
from fashionbench.core.stats import paired_bootstrap_diff, paired_cluster_bootstrap_diff
from fashionbench.papers.base import ClaimSpec, Comparison
from fashionbench.papers.registry import CLAIMS

__all__ = ["CLAIMS", "ClaimSpec", "Comparison", "ClaimResult", "evaluate_claims", "claims_table",
           "styled_claims_table", "load_detection_metrics", "load_unit_scores", "HOLDS", "NOT_HOLD",
           "UNCLEAR", "UNTESTED"]

HOLDS, NOT_HOLD, UNCLEAR, UNTESTED = "holds", "does not hold", "unclear", "untested"




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


def _aligned(a: pd.DataFrame, b: pd.DataFrame, metric: str, unit: str = "query_id",
             cluster: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The two methods' scores on the units both scored (and a's cluster label of each unit)."""
    extra = [cluster] if cluster else []
    m = a[[unit, metric] + extra].merge(b[[unit, metric]], on=unit, suffixes=("_a", "_b"))
    return (m[f"{metric}_a"].to_numpy(float), m[f"{metric}_b"].to_numpy(float),
            m[cluster].astype(str).to_numpy() if cluster else None)


def load_unit_scores(kind: str, methods: Sequence[str], artifacts_dir: str | Path | None = None
                     ) -> dict[str, pd.DataFrame]:
    """``<artifacts_dir>/<kind>/<method>.csv`` of the ``methods`` that have one (default folder:
    the project's ``artifacts``)."""
    if artifacts_dir is None:
        artifacts_dir = project_root() / "artifacts"
    folder = Path(artifacts_dir) / kind
    return {m: pd.read_csv(folder / f"{m}.csv") for m in methods if (folder / f"{m}.csv").is_file()}


def _verdict(kind: str, lo: float, hi: float) -> str:
    if kind == "gt":
        return HOLDS if lo > 0 else NOT_HOLD if hi < 0 else UNCLEAR
    if kind == "not_gt":
        return HOLDS if hi < 0 else NOT_HOLD if lo > 0 else UNCLEAR
    if kind == "neutral":
        return HOLDS if lo <= 0 <= hi else NOT_HOLD
    raise ValueError(f"unknown comparison kind {kind!r}")


def load_detection_metrics(metrics_dir: str | Path) -> dict[str, float] | None:
    """``<metrics_dir>/detect.json`` (the detect stage's metrics) or None when it does not exist."""
    path = Path(metrics_dir) / "detect.json"
    return load_metrics(path) if path.is_file() else None


def _ap50_claim(spec: ClaimSpec, detection: Mapping[str, float] | None) -> ClaimResult:
    """Verdict of an ``ap50`` claim (ji-1) from the detect stage's metrics (rule in the module docstring)."""
    res = ClaimResult(spec.id, spec.paper, spec.text, UNTESTED, spec.metric)
    ks = sorted(int(k[len("ap50_wbf_"):]) for k in (detection or {})
                if k.startswith("ap50_wbf_") and k[len("ap50_wbf_"):].isdigit())
    if not ks:
        res.reason = f"needs {spec.needs}; not part of this run"
        return res
    n = ks[-1]
    keys = (f"ap50_wbf_{n}_gain", f"ap50_wbf_{n}_gain_ci_low", f"ap50_wbf_{n}_gain_ci_high")
    if n < 2 or 1 not in ks or not all(k in detection for k in keys):
        res.reason = f"needs AP50 of WBF over at least 2 detectors with its bootstrap CI; this run has {n}"
        return res
    diff, lo, hi = (float(detection[k]) for k in keys)
    v = _verdict("gt", lo, hi)
    res.verdict = v
    res.details.append({"a": f"WBF_{n}", "b": "WBF_1", "kind": "gt", "mean_a": float(detection[f"ap50_wbf_{n}"]),
                        "mean_b": float(detection["ap50_wbf_1"]), "diff": diff, "ci_low": lo, "ci_high": hi,
                        "n_queries": int(detection.get("n_eval_images", 0)), "verdict": v})
    return res


def evaluate_claims(per_query: Mapping[str, pd.DataFrame], specs: Sequence[ClaimSpec] = CLAIMS, *,
                    n_boot: int = 1000, seed: int = 0, papers: Sequence[str] | None = None,
                    detection: Mapping[str, float] | None = None,
                    unit_scores: Mapping[str, Mapping[str, pd.DataFrame]] | None = None) -> list[ClaimResult]:
    """Verdicts for ``specs`` from per-query tables (one per method, with a ``query_id`` column).

    ``detection``: the detect stage's metrics (``metrics/detect.json``, see
    :func:`load_detection_metrics`) for the ``ap50`` claims; None leaves them untested.
    ``unit_scores``: ``{kind: {method: table}}`` for claims whose ``scores`` is not
    ``per_query``; a kind not given is read with :func:`load_unit_scores` (module docstring).
    """
    tables_of: dict[str, Mapping[str, pd.DataFrame]] = {"per_query": per_query, **(unit_scores or {})}
    out = []
    for spec in specs:
        if papers is not None and spec.paper not in papers:
            continue
        if spec.metric == "ap50":
            out.append(_ap50_claim(spec, detection))
            continue
        res = ClaimResult(spec.id, spec.paper, spec.text, UNTESTED, spec.metric)
        if not spec.comparisons:
            res.reason = f"needs {spec.needs}; not part of this run"
            out.append(res)
            continue
        if spec.scores not in tables_of:
            tables_of[spec.scores] = load_unit_scores(spec.scores, list(per_query))
        tables = tables_of[spec.scores]
        verdicts, missing = [], []
        for comp in spec.comparisons:
            a, b = _resolve(comp.a, tables, spec.metric), _resolve(comp.b, tables, spec.metric)
            if a is None or b is None:
                missing += [s for s, r in ((comp.a, a), (comp.b, b)) if r is None]
                continue
            va, vb, groups = _aligned(tables[a], tables[b], spec.metric, spec.unit, spec.cluster)
            if groups is None:
                diff, lo, hi = paired_bootstrap_diff(va, vb, n_boot=n_boot, seed=seed)
            else:
                diff, lo, hi = paired_cluster_bootstrap_diff(va, vb, groups, n_boot=n_boot, seed=seed)
            v = _verdict(comp.kind, lo, hi)
            verdicts.append(v)
            res.details.append({"a": a, "b": b, "kind": comp.kind, "mean_a": float(va.mean()),
                                "mean_b": float(vb.mean()), "diff": float(diff), "ci_low": float(lo),
                                "ci_high": float(hi), "n_queries": int(len(va)), "verdict": v,
                                **({"n_clusters": int(len(np.unique(groups)))} if groups is not None else {})})
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
