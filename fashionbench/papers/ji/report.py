"""Paper ``ji``'s report pieces beyond the shared paper tables (shown by ``notebooks/paper.ipynb``).

- :func:`concat_table` — the Table 6 analogue: every single model and the concatenation, Acc@1 /
  Acc@10 (top-k hit rates) with 95% bootstrap CIs, and the gain of the concatenation over the
  best single model with a paired-bootstrap CI, beside the paper's quoted gain.
- :func:`ablation_table` — the Table 7 / section 3.4 analogue: each post-processing step (PCA
  whitening, query expansion, DBA, k-reciprocal re-ranking) on versus off on top of the
  concatenated features, with the paired-bootstrap CI of the change and the paper's finding
  (numbers where the paper gives them, quoted and labelled; its words otherwise).

Everything "ours" is read from the per-query files this code wrote
(``artifacts/per_query/<row>.csv``); Acc@k is the per-query ``top<k>`` column (1 when an item of
the query's product is within the first k results). The DeepFashion2 official protocol (detected
query boxes, IoU >= 0.5, pair_id and style) is :mod:`fashionbench.retrieval.protocols.deepfashion2`; on
fmnist-c2s the same rule reduces to item ids.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd
from IPython.display import Markdown, display

from fashionbench.core.stats import bootstrap_ci, paired_bootstrap_diff
from fashionbench.papers.base import ReportContext

PAPER = "ji"


@dataclass(frozen=True)
class Finding:
    """What the paper reports for one post-processing step (quoted numbers and/or its words)."""

    text: str
    quoted: Mapping[str, float] | None = None  # e.g. {"Acc@10 off": 0.853761, "Acc@10 on": 0.858124}


#: section 3.4 of the paper, per step (quoted; the paper gives numbers only for re-ranking, Table 7)
FINDINGS: dict[str, Finding] = {
    "PCA whitening": Finding("dimensionality reduction by PCA always decreased performance by a small margin; "
                             "whitening without reduction 'did not add any improvements'"),
    "query expansion": Finding("QE 'decreased in overall performance'"),
    "database-side augmentation": Finding("DBA 'gave a negligible increase'"),
    "k-reciprocal re-ranking": Finding("Table 7, m4, WBF5 (126k boxes): NN vs NN + re-ranking",
                                       {"Acc@1 off": 0.650885, "Acc@1 on": 0.661954,
                                        "Acc@10 off": 0.853761, "Acc@10 on": 0.858124}),
}
#: Table 6 (quoted): the single baseline m4 and the best ensemble m1-16, validation / test Acc@10
TABLE6_QUOTED = {"m4 (baseline single model)": {"validation": 0.869435, "test": 0.840060},
                 "m1-16 (best ensemble)": {"validation": 0.888341, "test": 0.854168}}
#: our rows of the ablation (step -> rerank row on top of ``ji-concat``)
ABLATION_ROWS: dict[str, str] = {"PCA whitening": "ji-pcaw", "query expansion": "ji-qe",
                                 "database-side augmentation": "ji-dba", "k-reciprocal re-ranking": "ji-kreciprocal"}
#: rows whose step is applied to another row than ``ji-concat`` (Table 7: the single model m4)
ABLATION_BASES: dict[str, str] = {"ji-kreciprocal": "ji-single-gem-mac"}


def _acc(label: str) -> str:
    """``top10`` -> ``Acc@10``."""
    return f"Acc@{label[3:]}" if label.startswith("top") else label


def _ci_cell(values: pd.Series, n_boot: int, seed: int) -> str:
    mean, lo, hi = bootstrap_ci(values.to_numpy(float), n_boot=n_boot, seed=seed)
    return f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"


def _paired(a: pd.DataFrame, b: pd.DataFrame, col: str, n_boot: int, seed: int) -> tuple[float, float, float, int]:
    """mean(a - b) on the queries both scored, its paired-bootstrap 95% CI, and their number."""
    m = a[["query_id", col]].merge(b[["query_id", col]], on="query_id", suffixes=("_a", "_b"))
    d, lo, hi = paired_bootstrap_diff(m[f"{col}_a"].to_numpy(float), m[f"{col}_b"].to_numpy(float),
                                      n_boot=n_boot, seed=seed)
    return d, lo, hi, len(m)


def best_single(per_query: Mapping[str, pd.DataFrame], pattern: str = "ji-single-*",
                metric: str = "top10", histories: Mapping[str, list] | None = None) -> str | None:
    """The best row matching ``pattern``: the highest last validation mAP (``histories``: held-out
    train items) when every such row has a validation curve, which is how claim ji-2 chooses "the
    best single model"; otherwise the highest mean test ``metric`` (ties: first name), a fallback
    the claim does not use (it then chooses on half of the query items). None when no row matches."""
    from fashionbench.papers.claims import _by_validation

    by_val = _by_validation(pattern, per_query, metric, histories)
    if by_val is not None:
        return by_val
    names = sorted(n for n in per_query if fnmatch.fnmatchcase(n, pattern) and metric in per_query[n].columns)
    return max(names, key=lambda n: float(per_query[n][metric].mean())) if names else None


def concat_table(per_query: Mapping[str, pd.DataFrame], *, singles: str = "ji-single-*", concat: str = "ji-concat",
                 metrics: Sequence[str] = ("top1", "top10"), n_boot: int = 1000, seed: int = 0,
                 histories: Mapping[str, list] | None = None) -> pd.DataFrame:
    """Table 6 analogue: singles and concatenation with CIs, then the gain over the best single.

    The gain row is ``concat - best single`` (:func:`best_single`: by last validation mAP when
    ``histories`` give every single a curve, as claim ji-2 picks it; else by mean Acc@10, and the
    row says so) with the paired-bootstrap 95% CI over queries (not adjusted: the claims table's CI
    is); the paper's quoted gain (validation / test, m1-16 over m4) stands beside it. Rows missing
    from ``per_query`` are left out.
    """
    rows: dict[str, dict[str, object]] = {}
    names = sorted(n for n in per_query if fnmatch.fnmatchcase(n, singles))
    for n in names + ([concat] if concat in per_query else []):
        rows[n] = {_acc(m): _ci_cell(per_query[n][m], n_boot, seed) for m in metrics if m in per_query[n].columns}
        rows[n]["kind"] = "concatenation" if n == concat else "single model"
    best = best_single(per_query, singles, histories=histories)
    if best is not None and concat in per_query:
        from fashionbench.papers.claims import _by_validation

        how = "by validation mAP" if _by_validation(singles, per_query, "top10", histories) else "by test Acc@10"
        gain: dict[str, object] = {"kind": f"{concat} − {best} (best single {how}; paired 95% CI)"}
        for m in metrics:
            d, lo, hi, _ = _paired(per_query[concat], per_query[best], m, n_boot, seed)
            gain[_acc(m)] = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        rows["gain over the best single"] = gain
    q = TABLE6_QUOTED
    base, ens = q["m4 (baseline single model)"], q["m1-16 (best ensemble)"]
    quoted_gain = (f"validation {ens['validation'] - base['validation']:+.4f}, "
                   f"test {ens['test'] - base['test']:+.4f}")
    df = pd.DataFrame.from_dict(rows, orient="index")
    if len(df):
        df[f"Acc@10 (quoted from {PAPER})"] = ""
        if "gain over the best single" in df.index:
            df.loc["gain over the best single", f"Acc@10 (quoted from {PAPER})"] = quoted_gain
        for n in names:
            df.loc[n, f"Acc@10 (quoted from {PAPER})"] = (f"m4: validation {base['validation']:.4f}, "
                                                          f"test {base['test']:.4f}") if n == best else ""
        if concat in df.index:
            df.loc[concat, f"Acc@10 (quoted from {PAPER})"] = (f"m1-16: validation {ens['validation']:.4f}, "
                                                               f"test {ens['test']:.4f}")
    return df


def ablation_table(per_query: Mapping[str, pd.DataFrame], *, base: str = "ji-concat",
                   rows: Mapping[str, str] | None = None, metrics: Sequence[str] = ("top1", "top10"),
                   n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Table 7 analogue: each step on (its rerank row) versus off (``base``), with CIs.

    One row per step: our Acc@k with the step off and on (bootstrap CIs), the change on − off
    with its paired-bootstrap 95% CI, the verdict-free direction of the CI ("up", "down",
    "CI contains 0") and the paper's finding (quoted numbers where it gives them).
    """
    rows = dict(ABLATION_ROWS if rows is None else rows)
    out = []
    for step, name in rows.items():
        b = ABLATION_BASES.get(name, base)
        rec: dict[str, object] = {"step": step, "our row (on)": name, "applied to (off)": b}
        finding = FINDINGS.get(step)
        if finding is not None:
            text = finding.text
            if finding.quoted:
                text += ": " + ", ".join(f"{k} {v:.4f}" for k, v in finding.quoted.items())
            rec[f"finding (quoted from {PAPER})"] = text
        if b not in per_query or name not in per_query:
            rec["note"] = f"{b if b not in per_query else name}: not in this run"
            out.append(rec)
            continue
        for m in metrics:
            rec[f"{_acc(m)} off"] = _ci_cell(per_query[b][m], n_boot, seed)
            rec[f"{_acc(m)} on"] = _ci_cell(per_query[name][m], n_boot, seed)
            d, lo, hi, n = _paired(per_query[name], per_query[b], m, n_boot, seed)
            rec[f"Δ{_acc(m)} (paired 95% CI)"] = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            rec[f"Δ{_acc(m)} direction"] = "up" if lo > 0 else "down" if hi < 0 else "CI contains 0"
        rec["queries"] = n
        out.append(rec)
    return pd.DataFrame(out).set_index("step").rename_axis(None) if out else pd.DataFrame()


def extra_sections(ctx: ReportContext) -> None:
    """ji's Table 6 and Table 7 analogues (concatenation; each post-processing step on vs off)."""
    from fashionbench.papers.claims import load_histories

    display(Markdown("### Table 6 analogue: single models vs their concatenation\n"
                     "Acc@k = top-k hit rate (metrics `top1`, `top10`) with 95% bootstrap CIs over queries; "
                     "the gain row is a paired bootstrap. On DeepFashion2 the official protocol "
                     "(`fashionbench.retrieval.protocols.deepfashion2`) scores detected boxes; here, the same rule with item ids."))
    with pd.option_context('display.max_colwidth', None):
        display(concat_table(ctx.per_query, n_boot=ctx.n_boot, seed=ctx.seed,
                             histories=load_histories(ctx.root / "artifacts" / "models")))
    display(Markdown("### Table 7 / section 3.4 analogue: each post-processing step on vs off (on top of `ji-concat`; "
                     "k-reciprocal re-ranking on the single model `ji-single-gem-mac`, as the paper's Table 7 on m4)\n"
                     "Parameters: the `reranks:` rows `ji-pcaw`, `ji-qe`, `ji-dba`, `ji-kreciprocal` in params.yaml. "
                     "The same steps on every method: the post-processing view of reports/comparison.html."))
    with pd.option_context('display.max_colwidth', None):
        display(ablation_table(ctx.per_query, n_boot=ctx.n_boot, seed=ctx.seed))
