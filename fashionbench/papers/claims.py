"""The papers' relative claims, and verdicts computed from per-query scores.

Each claim is a set of comparisons between evaluated methods (rows of ``params.yaml``), on one
per-query metric. A side of a comparison is a method name or a glob (``shang-single-*``).

**Statistics** (the rule every verdict follows):

1. Each comparison ``a - b`` gets a paired bootstrap CI of the difference in means over the units
   both scored. Per-query scores are resampled by whole query *items* (``item_id``: a product's
   1-3 consumer photos are not independent); per-triplet scores by anchor item.
2. Its two-sided p-value comes from the bootstrap standard error (normal approximation,
   :func:`fashionbench.core.stats.bootstrap_p_value`), and the p-values of *all* comparisons of
   all claims evaluated together (13 claims: the family of m comparisons) are Holm-adjusted. The
   verdict of a ``gt`` comparison reads the **Holm-adjusted CI**
   (:func:`fashionbench.core.stats.adjusted_ci`), which excludes 0 exactly when the adjusted
   p-value is under 0.05. A margin comparison (``not_gt``, ``neutral``) tests another null than
   "no difference", so it reads the Bonferroni CI at level ``1 - 0.05/m`` instead (conservative).
3. Relations, on the adjusted CI ``[lo, hi]``:

   - ``gt``      a > b: **holds** if ``lo > 0``, **does not hold** if ``hi < 0``, else **unclear**;
   - ``not_gt``  a does not help over b, with equivalence margin ``m``: **holds** if ``hi < m``
     (any gain is smaller than the margin), **does not hold** if ``lo > m``, else **unclear**;
   - ``neutral`` a ~ b within ``m``: **holds** if ``-m < lo`` and ``hi < m``, **does not hold** if
     ``lo > m`` or ``hi < -m``, else **unclear**.

4. **Learned, or untested.** An arm whose metrics file puts its mAP under 5x its chance mAP
   (:func:`fashionbench.retrieval.metrics.learned`), or a component row named in
   ``ClaimSpec.rests_on`` whose mean AP on the test queries of its own category is under 5x their
   chance AP (:func:`not_learned`, :class:`ComponentScope`), makes the claim **untested: <row> did
   not learn (mAP x, chance y)**, never "does not hold". So does a seed replicate that did not learn
   where the comparison measures the seed spread (rule 6: both arms replicated), since its difference
   would enter the spread as if it were evidence.
5. **Glob arms** ("the best single model") are chosen without looking at the scores they are
   compared on. When every matching row is a trained row with a validation curve
   (``history.json``), the glob resolves to the one with the highest last validation mAP (held-out
   train items) and the comparison uses every test query (ji-2). Otherwise (shang's single models
   are route fusions, without a curve of their own) the test query items are cut (seeded) into a
   selection half and a comparison half; the glob resolves to the matching row with the highest
   mean on the selection half, and the comparison uses the other half only. The evidence says which.
6. **Seed spread.** Where both arms of a ``gt`` comparison have seed replicates (rows with
   ``replicate_of``: the same row trained with another ``train_seed``; :func:`replicates_of`), the
   difference of the arms' means is computed once per training seed, on the same units, and its
   standard deviation over the seeds is the **seed spread** (``seed_sd``; >= 3 seeds). A verdict
   "holds"/"does not hold" then also needs ``|difference| > 2 x seed_sd``; otherwise the comparison is
   **unclear** (``seed_rule``). Comparisons without replicates carry ``seeds = 1``: the spread is not
   measured, and the reports say so beside the verdict.

A claim holds when all its comparisons hold; it does not hold when any does not; otherwise it is
unclear. A claim whose methods are not in the run is **untested**, with the reason.

Detection claims use the special metric ``"ap50"`` and read the detect stage's
``metrics/detect.json`` (pass it as ``detection=``; :func:`load_detection_metrics`). ji-1
("fusing more detectors with WBF raises AP50") is tested per added detector, in the order of
``detectors:`` in params.yaml: ``WBF_k`` vs ``WBF_{k-1}`` for each ``k >= 2`` (keys
``ap50_wbf_<k>_step``, ``..._step_ci_low``, ``..._step_ci_high``: paired bootstrap over the
evaluated images), each a ``gt`` comparison in the Holm family; **untested** without the file
or with fewer than 2 detectors.

Claims on other per-unit scores than the per-query tables (paper ``zhan``: triplet accuracy,
Tables I-II) name their table kind in ``ClaimSpec.scores`` (``"per_triplet"``: one row per
validation triplet, ``artifacts/per_triplet/<method>.csv`` from the ``triplet_eval`` stage),
the id column that pairs rows across methods (``unit``: ``triplet_id``) and a ``cluster``
column (``anchor_item``). Pass those tables as ``unit_scores={"per_triplet": {method: table}}``;
when not passed they are read from ``<project>/artifacts/<scores>/<method>.csv`` for the methods
in ``per_query`` (the evaluated rows), so the report notebooks need no extra argument.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.core.artifacts import load_metrics
from fashionbench.core.config import project_root
from fashionbench.core.errors import ContractError
from fashionbench.core.stats import paired_bootstrap_diff, paired_cluster_bootstrap_diff
from fashionbench.papers.base import ClaimSpec, Comparison
from fashionbench.papers.registry import CLAIMS

__all__ = ["CLAIMS", "ClaimSpec", "Comparison", "ClaimResult", "evaluate_claims", "claims_table",
           "styled_claims_table", "load_detection_metrics", "load_unit_scores", "replicates_of", "replicate_copies", "HOLDS", "NOT_HOLD",
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
    note: str = ""
    #: rows the verdict rests on (arms, and the components of ``rests_on``) whose validation mAP was
    #: still rising at their last epoch: more training could change the verdict
    still_improving: list[str] = field(default_factory=list)


#: how each claim metric is named in the reports
METRIC_NAMES = {"AP": "mAP", "ap50": "detection AP50", "top1": "Acc@1 (top-1)", "top10": "Acc@10 (top-10)",
                "top20": "top-20 accuracy", "triplet_accuracy": "validation triplet accuracy"}

#: sub-stream of the run's seed that splits the test query items for glob selection
SELECTION_STREAM = 0xC1A1
ALPHA = 0.05


def _is_glob(side: str) -> bool:
    return any(ch in side for ch in "*?[")


def _resolve(side: str, tables: Mapping[str, pd.DataFrame], metric: str, keep: Any = None,
             unit: str = "query_id") -> str | None:
    """``side`` itself, or for a glob the matching row with the highest mean ``metric`` (on the
    units in ``keep`` when given: the selection half)."""
    names = [m for m in tables if fnmatch.fnmatchcase(m, side) and metric in tables[m].columns]
    if not names:
        return None

    def score(m: str) -> float:
        t = tables[m]
        if keep is not None:
            t = t[t[unit].astype(str).isin(keep)]
        return float(t[metric].mean()) if len(t) else float("-inf")

    return max(sorted(names), key=score)


def _by_validation(glob: str, tables: Mapping[str, pd.DataFrame], metric: str,
                   histories: Mapping[str, list] | None) -> str | None:
    """The row matching ``glob`` with the highest last validation mAP (its ``history.json``: held-out
    train items, never the test queries); None when any matching row has no validation curve."""
    names = sorted(m for m in tables if fnmatch.fnmatchcase(m, glob) and metric in tables[m].columns)
    if not names or not histories:
        return None
    vals = {}
    for m in names:
        h = histories.get(m) or []
        if not h or h[-1].get("val_mAP") is None:
            return None
        vals[m] = float(h[-1]["val_mAP"])
    return max(names, key=lambda m: vals[m])


def selection_split(tables: Mapping[str, pd.DataFrame], unit: str, cluster: str | None, seed: int
                    ) -> tuple[set[str], set[str]]:
    """(selection units, comparison units): the distinct clusters (query items) of every table,
    sorted, cut in two halves by a permutation of ``default_rng([seed, SELECTION_STREAM])``."""
    key = cluster if cluster and tables and all(cluster in t.columns for t in tables.values()) else unit
    cols = list(dict.fromkeys([unit, key]))
    pairs = pd.concat([t[cols].astype(str) for t in tables.values() if set(cols) <= set(t.columns)]
                      ).drop_duplicates() if tables else pd.DataFrame(columns=cols)
    groups = np.array(sorted(pairs[key].unique()))
    perm = np.random.default_rng([int(seed), SELECTION_STREAM]).permutation(len(groups))
    chosen = set(groups[perm[: len(groups) // 2]].tolist())
    sel = set(pairs.loc[pairs[key].isin(chosen), unit])
    return sel, set(pairs[unit]) - sel


def _aligned(a: pd.DataFrame, b: pd.DataFrame, metric: str, unit: str = "query_id",
             cluster: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The two methods' scores on the units both scored (and a's cluster label of each unit).

    Tables without the ``cluster`` column are paired unit by unit; one table with it and the other
    without (a stale file) is an error, never a silent switch to unclustered units."""
    if cluster and (cluster in a.columns) != (cluster in b.columns):
        raise ContractError(f"per-unit tables disagree: only one of the two has the {cluster!r} column "
                            "(re-run the evaluate stage of the older one)")
    extra = [cluster] if cluster and cluster in a.columns else []
    m = a[[unit, metric] + extra].merge(b[[unit, metric]], on=unit, suffixes=("_a", "_b"))
    return (m[f"{metric}_a"].to_numpy(float), m[f"{metric}_b"].to_numpy(float),
            m[cluster].astype(str).to_numpy() if extra else None)


def load_unit_scores(kind: str, methods: Sequence[str], artifacts_dir: str | Path | None = None
                     ) -> dict[str, pd.DataFrame]:
    """``<artifacts_dir>/<kind>/<method>.csv`` of the ``methods`` that have one (default folder:
    the project's ``artifacts``)."""
    if artifacts_dir is None:
        artifacts_dir = project_root() / "artifacts"
    folder = Path(artifacts_dir) / kind
    return {m: pd.read_csv(folder / f"{m}.csv") for m in methods if (folder / f"{m}.csv").is_file()}


def replicates_of(params: Mapping[str, Any] | None) -> dict[str, dict[int, str]]:
    """``{row: {training seed: row name}}`` for every row that has seed replicates (rows whose
    ``replicate_of`` names it), the row itself included under its own seed."""
    if not params:
        return {}
    methods = params.get("methods") or {}
    top = int(params.get("seed", 0))

    def seed_of(name: str) -> int:
        t = methods[name].get("train_seed")
        return top if t is None else int(t)

    out: dict[str, dict[int, str]] = {}
    for name, row in methods.items():
        origin = row.get("replicate_of") if isinstance(row, Mapping) else None
        if origin in methods:
            group = out.setdefault(origin, {seed_of(origin): origin})
            if seed_of(name) in group:
                raise ContractError(f"methods.{name}: training seed {seed_of(name)} of {origin!r} is already "
                                    f"{group[seed_of(name)]!r}: each replicate needs its own train_seed")
            group[seed_of(name)] = name
    return out


def replicate_copies(params: Mapping[str, Any] | None) -> set[str]:
    """The rows that are seed replicates of another row (not rows of their own in tables and plots)."""
    return {n for r in replicates_of(params).values() for n in r.values()} - set(replicates_of(params))


#: a gt verdict also needs |difference| > SEED_FACTOR x the seed spread (module docstring, rule 6)
SEED_FACTOR = 2.0


def _seed_spread(a: str, b: str, reps: Mapping[str, Mapping[int, str]], tables: Mapping[str, pd.DataFrame],
                 metric: str, unit: str) -> dict[str, Any]:
    """Per training seed that both arms have, the difference of their means on the units both scored;
    its spread over the seeds (``seed_sd``, ddof 1) when there are >= 3 such seeds."""
    ra, rb = reps.get(a, {}), reps.get(b, {})
    seeds = sorted(set(ra) & set(rb))
    seeds = [k for k in seeds if ra[k] in tables and rb[k] in tables]
    if len(seeds) < 3:
        return {"seeds": max(1, len(seeds))}
    diffs, ma, mb = [], [], []
    for k in seeds:
        va, vb, _ = _aligned(tables[ra[k]], tables[rb[k]], metric, unit)
        diffs.append(float(va.mean() - vb.mean()))
        ma.append(float(va.mean()))
        mb.append(float(vb.mean()))
    return {"seeds": len(seeds), "seed_list": seeds, "seed_diffs": diffs,
            "seed_sd": float(np.std(diffs, ddof=1)), "seed_mean_diff": float(np.mean(diffs)),
            "mean_a_seeds": float(np.mean(ma)), "sd_a_seeds": float(np.std(ma, ddof=1)),
            "mean_b_seeds": float(np.mean(mb)), "sd_b_seeds": float(np.std(mb, ddof=1))}


def _verdict(kind: str, lo: float, hi: float, margin: float = 0.0) -> str:
    if kind == "gt":
        return HOLDS if lo > 0 else NOT_HOLD if hi < 0 else UNCLEAR
    if kind == "not_gt":
        return HOLDS if hi < margin else NOT_HOLD if lo > margin else UNCLEAR
    if kind == "neutral":
        if margin <= 0:  # no margin: "about equal" = the CI contains 0
            return HOLDS if lo <= 0 <= hi else NOT_HOLD
        return HOLDS if -margin < lo and hi < margin else NOT_HOLD if lo > margin or hi < -margin else UNCLEAR
    raise ValueError(f"unknown comparison kind {kind!r}")


def load_detection_metrics(metrics_dir: str | Path) -> dict[str, float] | None:
    """``<metrics_dir>/detect.json`` (the detect stage's metrics) or None when it does not exist."""
    path = Path(metrics_dir) / "detect.json"
    return load_metrics(path) if path.is_file() else None


def load_histories(models_dir: str | Path | None = None) -> dict[str, list[dict]]:
    """``{row: history}`` from ``<models_dir>/<row>/history.json`` (default: the project's)."""
    import json

    folder = Path(models_dir) if models_dir is not None else project_root() / "artifacts" / "models"
    out: dict[str, list[dict]] = {}
    for f in sorted(folder.glob("*/history.json")) if folder.is_dir() else []:
        out[f.parent.name] = json.loads(f.read_text())
    return out


def _metrics_of(metrics: Any) -> dict[str, dict]:
    if metrics is None:
        return {}
    if isinstance(metrics, pd.DataFrame):
        return {str(i): {k: v for k, v in row.items() if pd.notna(v)} for i, row in metrics.iterrows()}
    return {str(k): dict(v) for k, v in metrics.items()}


@dataclass(frozen=True)
class ComponentScope:
    """Where each component row is judged: the test queries of its own category (``queries``:
    ``{row: query ids}``), against a gallery of ``n_gallery`` images ranked to ``list_length``."""

    queries: Mapping[str, Sequence[str]]
    n_gallery: int
    list_length: int | None = None


def component_scope(params: Mapping[str, Any], manifest: pd.DataFrame) -> ComponentScope:
    """The scope of every row trained on a category subset (``train_filter: {category: ...}``):
    the query photos of those categories; the gallery = the manifest's gallery rows (the rows are
    ranked on the whole gallery), lists of ``eval.top_k``."""
    from fashionbench.core import config

    queries = manifest[manifest["split"] == "query"]
    out: dict[str, list[str]] = {}
    for name in config.method_names(params):
        filt = (config.method_settings(params, name).get("train_filter") or {})
        if not filt:
            continue
        keep = np.ones(len(queries), bool)
        for col, allowed in filt.items():
            allowed = [allowed] if isinstance(allowed, str) else list(allowed)
            keep &= queries[col].astype(str).isin([str(a) for a in allowed]).to_numpy() if col in queries else False
        out[name] = queries.loc[keep, "uid"].astype(str).tolist()
    top_k = config.profile_settings(params).get("eval", {}).get("top_k", 100)
    return ComponentScope(out, int((manifest["split"] == "gallery").sum()), int(top_k) if top_k else None)


def not_learned(row: str, metrics: Mapping[str, Mapping], histories: Mapping[str, list] | None = None, *,
                component: bool = False, per_query: Mapping[str, pd.DataFrame] | None = None,
                scope: ComponentScope | None = None) -> str | None:
    """``"<row> did not learn (mAP x, chance y)"`` when the row is under 5x chance, else None.

    An arm is judged on its test mAP against its chance mAP (metrics file; its last validation
    mAP where it has no metrics file). A ``component`` (a model a system is built from: shang's
    per-category models, each trained for one category) is judged on the test queries of its own
    category (``scope``): their mean AP against the mean chance AP of those queries. Without a
    scope for it, on its last validation mAP (held-out items of its category).
    """
    from fashionbench.retrieval.metrics import chance_levels, learned

    m = metrics.get(row)
    if component and scope is not None and per_query is not None and row in scope.queries and row in per_query:
        pq = per_query[row]
        own = pq[pq["query_id"].astype(str).isin(set(scope.queries[row]))]
        if len(own):
            ap = float(own["AP"].mean())
            chance = chance_levels(own["n_relevant"].to_numpy(), scope.n_gallery, scope.list_length)["mAP"]
            if not learned({"mAP": ap, "chance_mAP": chance}):
                return (f"{row} did not learn (mAP {ap:.4f} on its own category's {len(own)} queries, "
                        f"chance {chance:.4f})")
            return None
    h = (histories or {}).get(row)
    has_val = bool(h) and "val_mAP" in h[-1] and "val_chance_mAP" in h[-1]
    if (component or m is None) and has_val:
        v, c = float(h[-1]["val_mAP"]), float(h[-1]["val_chance_mAP"])
        return None if learned({"mAP": v, "chance_mAP": c}) else f"{row} did not learn (validation mAP {v:.4f}, chance {c:.4f})"
    if m is not None and learned(m) is False:
        return f"{row} did not learn (mAP {float(m['mAP']):.4f}, chance {float(m['chance_mAP']):.4f})"
    return None


def learned_status(rows: Sequence[str], metrics: Any, histories: Mapping[str, list] | None = None, *,
                   per_query: Mapping[str, pd.DataFrame] | None = None,
                   scope: ComponentScope | None = None) -> dict[str, str | None]:
    """``{row: reason or None}``: the one "did not learn" rule, as the claims apply it
    (:func:`not_learned`), for the tables of the reports. A row trained on a category subset
    (in ``scope``) is judged as a component, on its own category's test queries; any other row on
    its test mAP (metrics file), or on its last validation mAP where it has no metrics file."""
    mets = _metrics_of(metrics)
    return {r: not_learned(r, mets, histories, component=scope is not None and r in scope.queries,
                           per_query=per_query, scope=scope) for r in rows}


def trained_inputs(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{row: the trained rows it is built from}`` for every fusion and re-rank of ``params``
    (a route fusion: its routed models and its router unless it is the oracle; a concat fusion: its
    inputs; a re-rank: its input, followed through fusions), so a caveat about training reaches the
    models behind a fusion or a re-rank. A trained row maps to itself."""
    methods = set(params.get("methods") or {})
    fusions = params.get("fusions") or {}
    reranks = params.get("reranks") or {}

    def direct(name: str) -> list[str]:
        if name in fusions:
            f = fusions[name]
            if f.get("kind") == "route":
                parts = [m for ms in (f.get("routes") or {}).values() for m in ms]
                return parts + ([] if f.get("router", "oracle") == "oracle" else [f["router"]])
            return list(f.get("inputs") or [])
        if name in reranks:
            return [reranks[name]["input"]] if reranks[name].get("input") else []
        return []

    def resolve(name: str, seen: frozenset = frozenset()) -> list[str]:
        if name in methods:
            return [name]
        if name in seen:  # a cycle is the settings check's to report
            return []
        return list(dict.fromkeys(m for d in direct(name) for m in resolve(d, seen | {name})))

    return {name: resolve(name) for name in [*methods, *fusions, *reranks]}


def still_improving_rows(rows: Sequence[str], histories: Mapping[str, list] | None) -> list[str]:
    """The ``rows`` whose validation curve (``histories``) still rose at the last epoch
    (:func:`fashionbench.reporting.report.still_improving`), in the given order."""
    if not histories:
        return []
    from fashionbench.reporting.report import still_improving

    return [r for r in rows if histories.get(r) and still_improving(histories[r])]


def _ap50_comparisons(spec: ClaimSpec, detection: Mapping[str, float] | None) -> tuple[list[dict], str]:
    """The per-step comparisons of an ``ap50`` claim (ji-1), or a reason why it is untested."""
    ks = sorted(int(k[len("ap50_wbf_"):]) for k in (detection or {})
                if k.startswith("ap50_wbf_") and k[len("ap50_wbf_"):].isdigit())
    if not ks:
        return [], f"needs {spec.needs}; not part of this run"
    steps = []
    for k in ks[1:]:
        keys = (f"ap50_wbf_{k}_step", f"ap50_wbf_{k}_step_ci_low", f"ap50_wbf_{k}_step_ci_high")
        if not all(x in detection for x in keys):
            return [], f"metrics/detect.json lacks {keys[0]} (re-run the detect stage)"
        d, lo, hi = (float(detection[x]) for x in keys)
        steps.append({"a": f"WBF_{k}", "b": f"WBF_{k - 1}", "kind": "gt", "margin": 0.0,
                      "mean_a": float(detection[f"ap50_wbf_{k}"]), "mean_b": float(detection[f"ap50_wbf_{k - 1}"]),
                      "diff": d, "ci_low": lo, "ci_high": hi, "n_queries": int(detection.get("n_eval_images", 0)),
                      "unit": "images"})
    if not steps:
        return [], f"needs AP50 of WBF over at least 2 detectors; this run has {ks[-1]}"
    return steps, ""


def evaluate_claims(per_query: Mapping[str, pd.DataFrame], specs: Sequence[ClaimSpec] = CLAIMS, *,
                    n_boot: int = 1000, seed: int = 0, papers: Sequence[str] | None = None,
                    detection: Mapping[str, float] | None = None,
                    unit_scores: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
                    metrics: Any = None, histories: Mapping[str, list] | None = None,
                    scope: ComponentScope | None = None,
                    replicates: Mapping[str, Mapping[int, str]] | None = None,
                    inputs: Mapping[str, Sequence[str]] | None = None) -> list[ClaimResult]:
    """Verdicts for ``specs`` by the rule in the module docstring.

    ``per_query``: one table per evaluated row (``query_id``, ``item_id``, the metrics).
    ``detection``: the detect stage's metrics for the ``ap50`` claims (None: untested).
    ``unit_scores``: ``{kind: {method: table}}`` for claims whose ``scores`` is not ``per_query``.
    ``metrics``: the rows' metrics files (dict or the reports' DataFrame, with ``mAP`` and
    ``chance_mAP``) and ``histories``: ``{row: history.json}``, for the "did not learn" check
    (None: not checked). ``papers`` filters the *returned* results only: the Holm family is
    always all of ``specs``. ``scope`` (:func:`component_scope`): the own-category queries on
    which the components in ``ClaimSpec.rests_on`` are judged. ``replicates``
    (:func:`replicates_of`): the seed replicates of the arms, for the seed rule; they are never
    chosen for a glob arm. ``inputs`` (:func:`trained_inputs`): the trained rows behind each fusion
    and re-rank arm, for the "still improving" caveat (without it, only rows with a curve of their own).
    """
    from fashionbench.core.stats import adjusted_ci, bootstrap_p_value, holm

    tables_of: dict[str, Mapping[str, pd.DataFrame]] = {"per_query": per_query, **(unit_scores or {})}
    mets = _metrics_of(metrics)
    out: list[ClaimResult] = []
    pending: list[dict] = []  # every comparison of every claim: the Holm family
    for spec in specs:
        res = ClaimResult(spec.id, spec.paper, spec.text, UNTESTED, spec.metric, note=spec.note)
        out.append(res)
        if spec.metric == "ap50":
            steps, reason = _ap50_comparisons(spec, detection)
            res.reason = reason
            res.details = steps
            continue
        if not spec.comparisons:
            res.reason = f"needs {spec.needs}; not part of this run"
            continue
        if spec.scores not in tables_of:
            tables_of[spec.scores] = load_unit_scores(spec.scores, list(per_query))
        all_tables = tables_of[spec.scores]
        reps = replicates or {}
        copies = {n for r in reps.values() for n in r.values()} - set(reps)
        tables = {m: t for m, t in all_tables.items() if m not in copies}   # replicates: never an arm
        missing: list[str] = []
        sel = test = None
        by_val = {g: _by_validation(g, tables, spec.metric, histories) for c in spec.comparisons
                  for g in (c.a, c.b) if _is_glob(g)}
        if any(v is None for v in by_val.values()):
            sel, test = selection_split(tables, spec.unit, spec.cluster, seed)
        for comp in spec.comparisons:
            a = by_val.get(comp.a) or _resolve(comp.a, tables, spec.metric, sel, spec.unit)
            b = by_val.get(comp.b) or _resolve(comp.b, tables, spec.metric, sel, spec.unit)
            if a is None or b is None:
                missing += [s for s, r in ((comp.a, a), (comp.b, b)) if r is None]
                continue
            ta, tb = tables[a], tables[b]
            glob = comp.a if _is_glob(comp.a) else comp.b if _is_glob(comp.b) else None
            # either glob side chosen on the selection half: compare on the other half only
            halved = any(_is_glob(g) and by_val.get(g) is None for g in (comp.a, comp.b))
            if halved:
                glob = next(g for g in (comp.a, comp.b) if _is_glob(g) and by_val.get(g) is None)
            if halved:
                ta = ta[ta[spec.unit].astype(str).isin(test)]
                tb = tb[tb[spec.unit].astype(str).isin(test)]
            va, vb, groups = _aligned(ta, tb, spec.metric, spec.unit, spec.cluster)
            if groups is None:
                diff, lo, hi = paired_bootstrap_diff(va, vb, n_boot=n_boot, seed=seed)
            else:
                diff, lo, hi = paired_cluster_bootstrap_diff(va, vb, groups, n_boot=n_boot, seed=seed)
            res.details.append({"a": a, "b": b, "kind": comp.kind, "margin": float(comp.margin),
                                "mean_a": float(va.mean()), "mean_b": float(vb.mean()), "diff": float(diff),
                                "ci_low": float(lo), "ci_high": float(hi), "n_queries": int(len(va)),
                                **({"n_clusters": int(len(np.unique(groups)))} if groups is not None else {}),
                                **({"selection": f"{glob} chosen on the selection half of the query items "
                                    "(its rows have no validation curve); compared on the other half"}
                                   if halved else {"selection": f"{glob} chosen by the last validation mAP "
                                                   "(held-out train items); compared on every test query"}
                                   if glob is not None else {}),
                                **(_seed_spread(a, b, reps, all_tables, spec.metric, spec.unit)
                                   if comp.kind == "gt" and glob is None else {"seeds": 1})})
        if missing:
            res.details = []
            res.reason = ("methods not in this run: " + ", ".join(sorted(set(missing)))
                          + (f" (needs {spec.needs})" if spec.needs else ""))
            continue
        arms = sorted({d[s] for d in res.details for s in ("a", "b")})
        known = sorted(set(mets) | set(histories or {}) | set(per_query))
        parts = [m for g in spec.rests_on for m in known if fnmatch.fnmatchcase(m, g) and m not in arms]
        # where a comparison's seed spread is measured (both arms replicated), the replicates are
        # evidence, so each of them must have learned too; elsewhere they play no part
        seeded = [n for d in res.details if d.get("seeds", 1) > 1 for a in (d["a"], d["b"])
                  for n in sorted(set(reps.get(a, {}).values()) - {a})]
        seeded = list(dict.fromkeys(seeded))
        behind = [m for r in arms + parts for m in (inputs or {}).get(r, [r])]
        res.still_improving = still_improving_rows(list(dict.fromkeys(arms + seeded + parts + behind)), histories)
        if mets or histories:
            failed = [r for r in [not_learned(x, mets, histories) for x in arms + seeded]
                      + [not_learned(x, mets, histories, component=True, per_query=per_query, scope=scope)
                         for x in parts] if r]
            if failed:
                res.reason = "; ".join(failed)
                res.details = []
                continue
    for res in out:
        bad = [d for d in res.details if not all(np.isfinite([d["diff"], d["ci_low"], d["ci_high"]]))]
        if bad:  # e.g. an AP50 undefined on a resample: no verdict can rest on it
            res.reason = "; ".join(f"{d['a']} vs {d['b']}: no finite difference/CI" for d in bad)
            res.details = []
        pending += res.details
    m = len(pending)
    ps = []
    for d in pending:
        d["se"], d["p"] = bootstrap_p_value(d["diff"], d["ci_low"], d["ci_high"], ALPHA)
        ps.append(d["p"])
    for d, p_adj in zip(pending, holm(ps, ALPHA)):
        d["p_holm"] = float(p_adj)
        if d["kind"] == "gt":
            d["adj_low"], d["adj_high"] = adjusted_ci(d["diff"], d["se"], d["p"], d["p_holm"], ALPHA)
            d["adjustment"] = "Holm"
        else:
            # a margin comparison's null is not "no difference", so Holm's order by the p-value of 0
            # does not apply: its CI takes the Bonferroni level alpha / m (conservative, valid)
            d["adj_low"], d["adj_high"] = adjusted_ci(d["diff"], d["se"], ALPHA / m if m else 1.0,
                                                      ALPHA if m else 1.0, ALPHA)
            d["adjustment"] = "Bonferroni"
        d["verdict"] = _verdict(d["kind"], d["adj_low"], d["adj_high"], d.get("margin", 0.0))
        if "seed_sd" in d and d["verdict"] in (HOLDS, NOT_HOLD) and abs(d["diff"]) <= SEED_FACTOR * d["seed_sd"]:
            d["seed_rule"] = (f"|difference| {abs(d['diff']):.4f} <= {SEED_FACTOR:g} x seed spread "
                              f"{d['seed_sd']:.4f} ({d['seeds']} seeds): {d['verdict']} -> {UNCLEAR}")
            d["verdict"] = UNCLEAR
        d["family_size"] = m
    for res in out:
        if not res.details:
            continue
        vs = [d["verdict"] for d in res.details]
        res.verdict = NOT_HOLD if NOT_HOLD in vs else HOLDS if all(v == HOLDS for v in vs) else UNCLEAR
    return [r for r in out if papers is None or r.paper in papers]


def _relation(d: Mapping) -> str:
    m = d.get("margin", 0.0)
    return {"gt": ">", "not_gt": f"gain < {m:g}" if m else "<=", "neutral": f"~ (within {m:g})" if m else "~"}[d["kind"]]


def _seeds_text(d: Mapping[str, Any]) -> str:
    """The seed part of a comparison's evidence: the arms' mean +/- std over seeds and the spread."""
    if d.get("seeds", 1) < 3:
        n = d.get("seeds", 1)
        return f", {n} seed{'s' if n > 1 else ''} (spread not measured: it needs >= 3)"
    return (f", {d['seeds']} seeds: {d['a']} {d['mean_a_seeds']:.4f} +/- {d['sd_a_seeds']:.4f}, "
            f"{d['b']} {d['mean_b_seeds']:.4f} +/- {d['sd_b_seeds']:.4f}, difference sd {d['seed_sd']:.4f}"
            + (f" ({d['seed_rule']})" if d.get("seed_rule") else ""))


def claims_table(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim: id, claim, verdict, and per comparison the means, the difference with its
    95% bootstrap CI and its Holm-adjusted CI and p-value; the reason for an untested claim."""
    rows = []
    for r in results:
        nums = "; ".join(f"{d['a']} {d['mean_a']:.4f} vs {d['b']} {d['mean_b']:.4f} ({_relation(d)}): "
                         f"diff {d['diff']:+.4f}, 95% CI [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], "
                         f"Holm CI [{d['adj_low']:+.4f}, {d['adj_high']:+.4f}], p_Holm {d['p_holm']:.3g} "
                         f"{_seeds_text(d)} -> {d['verdict']}"
                         + (f" ({d['selection']})" if d.get("selection") else "") for d in r.details)
        rows.append({"claim": r.id, "text": r.text, "metric": r.metric, "verdict": r.verdict,
                     "evidence": nums or r.reason or "—", "departs from the paper": r.note or "—"})
    return pd.DataFrame(rows, columns=["claim", "text", "metric", "verdict", "evidence", "departs from the paper"])


VERDICT_COLOURS = {HOLDS: "#c8e6c9", NOT_HOLD: "#ffcdd2", UNCLEAR: "#ffe0b2", UNTESTED: "#eeeeee"}


def styled_claims_table(results: Sequence[ClaimResult]) -> "pd.io.formats.style.Styler":
    """:func:`claims_table` with verdict cells coloured and text left-aligned (for the reports)."""
    table = claims_table(results).set_index("claim").rename_axis(None)
    return (table.style
            .map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, '')}; font-weight: bold", subset=["verdict"])
            .set_properties(**{"text-align": "left", "white-space": "pre-wrap"}))
