"""Paper ``shang``'s report pieces beyond the shared paper tables (shown by ``notebooks/paper.ipynb``).

- :func:`rows_table` — every shang row (singles per size, fusion, oracle fusion, re-rank) with
  mAP / mAP@10 / rank-1 and 95% bootstrap CIs over queries.
- :func:`per_category_table` — the same rows' mAP per true query category, with CIs.
- :func:`routing_tables` — the classifier's routing accuracy (queries, gallery, per category,
  confusion counts; from the fuse stage's ``metrics/shang-fusion.extra.json``) and what the
  routing errors cost: ``shang-fusion-oracle`` minus ``shang-fusion`` with a paired-bootstrap CI.
- :func:`training_cost_table` — measured training seconds and images/s per model (history.json).
- :func:`plot_before_after` — example queries with their top-10 before (``shang-fusion``) and
  after (``shang-fusion-rerank``) the top-1 re-rank.

Everything here is read from artifacts this code wrote; the paper's own numbers appear only in
:mod:`fashionbench.papers` (quoted, labelled). Row names are the params.yaml rows of paper shang.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from fashionbench.core.artifacts import Ranking
from fashionbench.core.stats import bootstrap_ci, paired_bootstrap_diff
from fashionbench.papers.base import ReportContext

PAPER = "shang"
FUSION, ORACLE, RERANK, CLASSIFIER = "shang-fusion", "shang-fusion-oracle", "shang-fusion-rerank", "shang-classifier"
SINGLES = "shang-single-*"


def report_rows(names: Sequence[str]) -> list[str]:
    """The evaluated shang rows of the report tables, in order: singles, fusion, oracle, re-rank."""
    singles = sorted((n for n in names if fnmatch.fnmatchcase(n, SINGLES)),
                     key=lambda n: (int(n.rsplit("-", 1)[1]) if n.rsplit("-", 1)[1].isdigit() else 0, n))
    return singles + [n for n in (FUSION, ORACLE, RERANK) if n in names]


def _fmt(mean: float, lo: float, hi: float) -> str:
    return f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"


def rows_table(per_query: Mapping[str, pd.DataFrame], names: Sequence[str], *, n_boot: int = 1000,
               seed: int = 0) -> pd.DataFrame:
    """mAP, mAP@10, rank-1 (mean and 95% bootstrap CI over queries) of the shang rows present."""
    rows = {}
    for n in report_rows([m for m in names if m in per_query]):
        t = per_query[n]
        rows[n] = {label: _fmt(*bootstrap_ci(t[col].to_numpy(float), n_boot=n_boot, seed=seed))
                   for label, col in (("mAP", "AP"), ("mAP@10", "AP@10"), ("rank-1", "top1")) if col in t}
        rows[n]["queries"] = len(t)
    return pd.DataFrame.from_dict(rows, orient="index")


def query_categories(manifest: pd.DataFrame) -> pd.Series:
    """True category of every query, indexed by uid."""
    q = manifest[manifest["split"] == "query"]
    return pd.Series(q["category"].astype(str).to_numpy(), index=q["uid"].astype(str).to_numpy())


def per_category_table(per_query: Mapping[str, pd.DataFrame], names: Sequence[str], manifest: pd.DataFrame, *,
                       n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """mAP with 95% bootstrap CI per true query category (columns) for each shang row (rows)."""
    cats = query_categories(manifest)
    out: dict[str, dict[str, str]] = {}
    for n in report_rows([m for m in names if m in per_query]):
        t = per_query[n].assign(category=lambda d: cats.reindex(d["query_id"].astype(str)).to_numpy())
        out[n] = {}
        for c, g in t.groupby("category", sort=True):
            out[n][f"{c} (n={len(g)})"] = _fmt(*bootstrap_ci(g["AP"].to_numpy(float), n_boot=n_boot, seed=seed))
    return pd.DataFrame.from_dict(out, orient="index")


def _extra(metrics_dir: Path, name: str) -> dict[str, float] | None:
    p = Path(metrics_dir) / f"{name}.extra.json"
    return json.loads(p.read_text()) if p.is_file() else None


def routing_tables(metrics_dir: Path, per_query: Mapping[str, pd.DataFrame], *, n_boot: int = 1000, seed: int = 0,
                   fusion: str = FUSION, oracle: str = ORACLE) -> dict[str, pd.DataFrame]:
    """The classifier's routing accuracy and the mAP cost of its errors (see the module docstring).

    Returns ``{"accuracy": ..., "confusion": ..., "cost": ...}`` (tables absent when their inputs
    are not in this run).
    """
    out: dict[str, pd.DataFrame] = {}
    st = _extra(metrics_dir, fusion)
    if st is not None:
        cats = sorted(k.split("/", 1)[1] for k in st if k.startswith("n_queries/"))
        acc = [{"images": "queries (consumer photos)", "accuracy": st.get("router_query_accuracy"),
                "misrouted": st.get("n_queries_misrouted")},
               {"images": "gallery (shop images)", "accuracy": st.get("router_gallery_accuracy"),
                "misrouted": st.get("n_gallery_misrouted")}]
        acc += [{"images": f"queries of {c}", "accuracy": st.get(f"router_query_accuracy/{c}"),
                 "misrouted": (st.get(f"n_queries/{c}", 0)
                               - st.get(f"query_confusion/{c}/{c}", st.get(f"n_queries/{c}", 0)))} for c in cats]
        out["accuracy"] = pd.DataFrame(acc).set_index("images").rename_axis(None)
        conf = {t: {r: int(st.get(f"query_confusion/{t}/{r}", 0)) for r in cats} for t in cats}
        out["confusion"] = pd.DataFrame.from_dict(conf, orient="index").rename_axis("true \\ routed to")
    if fusion in per_query and oracle in per_query:
        m = per_query[oracle][["query_id", "AP", "top1"]].merge(per_query[fusion][["query_id", "AP", "top1"]],
                                                                 on="query_id", suffixes=("_oracle", "_routed"))
        rows = []
        for label, col in (("mAP", "AP"), ("rank-1", "top1")):
            d, lo, hi = paired_bootstrap_diff(m[f"{col}_oracle"].to_numpy(float), m[f"{col}_routed"].to_numpy(float),
                                              n_boot=n_boot, seed=seed)
            rows.append({"metric": label, f"{oracle} (oracle routing)": m[f"{col}_oracle"].mean(),
                         f"{fusion} (classifier routing)": m[f"{col}_routed"].mean(),
                         "cost of routing errors (oracle - routed) [95% CI]": f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"})
        out["cost"] = pd.DataFrame(rows).set_index("metric").rename_axis(None)
    return out


def _history(models_dir: Path, name: str) -> pd.DataFrame | None:
    p = Path(models_dir) / name / "history.json"
    return pd.DataFrame(json.loads(p.read_text())) if p.is_file() else None


def training_cost_table(methods: Sequence[str], models_dir: Path) -> pd.DataFrame:
    """Per trained shang model: epochs, total training seconds and mean images/s (measured)."""
    rows = {}
    for m in methods:
        h = _history(models_dir, m) if m.startswith(PAPER + "-") else None
        if h is not None:
            rows[m] = {"epochs": int(h["epoch"].max()), "train seconds": round(float(h["seconds"].sum()), 1),
                       "images / s": round(float(h["images_per_s"].mean()), 1), "final loss": round(float(h["loss"].iloc[-1]), 4)}
    df = pd.DataFrame.from_dict(rows, orient="index")
    if len(df):  # the total row has only a time: its other cells are dashes, not NaN
        total = round(float(df["train seconds"].sum()), 1)
        df = df.astype(object)
        df.loc["total"] = {"epochs": "—", "train seconds": total, "images / s": "—", "final loss": "—"}
    return df


def changed_queries(before: Ranking, after: Ranking, depth: int = 10) -> np.ndarray:
    """Indices of the queries whose top-``depth`` list the re-rank changed."""
    d = min(depth, before.k, after.k)
    return np.flatnonzero((before.indices[:, :d] != after.indices[:, :d]).any(axis=1))


def plot_before_after(before: Ranking, after: Ranking, manifest: pd.DataFrame, root: Path, *, n_queries: int = 4,
                      depth: int = 10, seed: int = 0, query_crop: str = "given", gallery_crop: str = "given"
                      ) -> plt.Figure | None:
    """For ``n_queries`` queries (seeded draw among those whose top-``depth`` changed): the query,
    its top-``depth`` before (fusion) and after (fusion + top-1 re-rank); green = right item."""
    from fashionbench.reporting.report import crop_loader, draw_result_row

    if not np.array_equal(before.query_ids, after.query_ids):
        raise ValueError("before/after rankings list different queries")
    pool = changed_queries(before, after, depth)
    if not len(pool):
        return None
    rng = np.random.default_rng(seed)
    qs = np.sort(rng.choice(pool, size=min(n_queries, len(pool)), replace=False))
    crop_of = crop_loader(manifest, root)
    fig, axes = plt.subplots(2 * len(qs), depth + 1, figsize=(1.2 * (depth + 1), 1.35 * 2 * len(qs)), squeeze=False)
    for i, q in enumerate(qs):
        for j, (label, r) in enumerate((("before", before), ("after", after))):
            draw_result_row(axes[2 * i + j], r, q, depth, crop_of, query_crop, gallery_crop, label)
    fig.suptitle(f"top-{depth} before (fusion) and after (fusion + top-1 re-rank); green: right item, red: wrong",
                 fontsize=9)
    fig.tight_layout()
    return fig


def extra_sections(ctx: ReportContext) -> None:
    """shang's routed rows, per-category table, routing cost, training curves and re-rank examples."""
    from fashionbench.core import config
    from fashionbench.core.artifacts import load_ranking
    from fashionbench.core.paths import ranking_path
    from fashionbench.data.prepared import load_dataset
    from fashionbench.reporting import report

    manifest, images_root = load_dataset()
    display(Markdown("### shang: every routed row\nSingles = one final-layer size, routed by `shang-classifier`; "
                     "fusion = mean distance of the four sizes (eq. 4); oracle = true categories (labelled); "
                     "re-rank = top-1 re-rank on the fusion. Mean and 95% bootstrap CI over queries."))
    display(rows_table(ctx.per_query, ctx.names, n_boot=ctx.n_boot, seed=ctx.seed))
    display(Markdown("### Per category (true category of the query): mAP [95% CI]"))
    display(per_category_table(ctx.per_query, ctx.names, manifest, n_boot=ctx.n_boot, seed=ctx.seed))
    display(Markdown("### The category classifier: routing accuracy and what its errors cost\n"
                     "From the fuse stage (`metrics/shang-fusion.extra.json`); the cost is the paired-bootstrap "
                     "difference between ORACLE routing (`shang-fusion-oracle`) and classifier routing (`shang-fusion`)."))
    for _, tab in routing_tables(ctx.root / 'metrics', ctx.per_query, n_boot=ctx.n_boot, seed=ctx.seed).items():
        display(tab)
    display(Markdown("### Measured training cost\n(the loss and validation curves of every row are in the training "
                     "section at the end of this page)"))
    display(training_cost_table(list(ctx.params['methods']), ctx.root / 'artifacts' / 'models'))
    if ranking_path(FUSION).is_file() and ranking_path(RERANK).is_file():
        display(Markdown("### Example queries before and after the top-1 re-rank\n"
                         "Queries drawn (seeded) among those whose top-10 the re-rank changed."))
        qc, gc = config.crop_settings(ctx.params, FUSION)
        report.show(plot_before_after(load_ranking(ranking_path(FUSION)), load_ranking(ranking_path(RERANK)),
                                      manifest, images_root, n_queries=min(4, ctx.n_examples), seed=ctx.seed,
                                      query_crop=qc, gallery_crop=gc), jpeg=True)
