"""Extra tables and figures of the ``zhan`` paper report (notebooks/paper.ipynb, ``paper == "zhan"``).

Everything shown is read from artifacts of this run: the ``triplet_eval`` stage's
``metrics/<row>.extra.json`` and ``artifacts/per_triplet/<row>.csv`` (see
``fashionbench.papers.zhan.triplets``), the shared evaluate stage's ``metrics/<row>.json`` and
``artifacts/per_query/<row>.csv``, and the rows' settings in params.yaml. The CIs of triplet
accuracy are cluster-bootstrap CIs (clusters = anchor items,
:func:`fashionbench.core.stats.paired_cluster_bootstrap_diff` against zero).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from fashionbench.core import config
from fashionbench.papers.base import ReportContext

PAPER = "zhan"


def zhan_rows(params: Mapping[str, Any]) -> list[str]:
    """Method rows of group ``zhan`` in params.yaml order."""
    return [m for m, row in (params.get("methods") or {}).items() if (row or {}).get("group") == PAPER]


def row_settings(params: Mapping[str, Any], names: Sequence[str] | None = None) -> pd.DataFrame:
    """What each zhan row trains, under the active profile: backbone, init, margin, negatives, sizes."""
    rows = {}
    for m in names if names is not None else zhan_rows(params):
        s = config.method_settings(params, m)
        model, loss = s.get("model") or {}, s.get("loss") or {}
        ef = float(loss.get("easy_fraction", 0.25))
        rows[m] = {"backbone": model.get("backbone"),
                   "init": "ImageNet (packaged, checksummed)" if model.get("pretrained") == "imagenet" else
                   "pretrained (checksummed file)" if model.get("pretrained") else "random",
                   "margin": loss.get("margin"), "negatives": "hard & easy" if ef > 0 else "hard only",
                   "easy / hard": ef, "img_size": s.get("img_size"), "epochs": s.get("epochs"),
                   "batch (images)": s.get("batch_size"), "lr": s.get("lr"),
                   "milestones": s.get("milestones"), "holdout": s.get("holdout"),
                   "train seed": params["seed"] if s.get("train_seed") is None else s["train_seed"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def cluster_ci(values: np.ndarray, clusters: np.ndarray, n_boot: int = 1000, seed: int = 0
               ) -> tuple[float, float, float]:
    """(mean, lo, hi): 95% cluster-bootstrap CI of the mean of ``values``."""
    from fashionbench.core.stats import paired_cluster_bootstrap_diff

    v = np.asarray(values, float)
    return paired_cluster_bootstrap_diff(v, np.zeros_like(v), clusters, n_boot=n_boot, seed=seed)


def triplet_table(params: Mapping[str, Any], root: Path | None = None, *, n_boot: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """One row per zhan row: validation triplet accuracy [CI], hard / easy parts, train accuracy, mAP [CI].

    Accuracies in %, as the paper's tables; rows without a ``triplet_eval`` output are left out.
    """
    from fashionbench.core.stats import bootstrap_ci

    root = root or config.project_root()
    out = {}
    for m in zhan_rows(params):
        extra_path = root / "metrics" / f"{m}.extra.json"
        trip_path = root / "artifacts" / "per_triplet" / f"{m}.csv"
        if not extra_path.is_file() or not trip_path.is_file():
            continue
        extra = json.loads(extra_path.read_text(encoding="utf-8"))
        trip = pd.read_csv(trip_path)
        mean, lo, hi = cluster_ci(trip["triplet_accuracy"].to_numpy(float), trip["anchor_item"].astype(str).to_numpy(),
                                  n_boot=n_boot, seed=seed)
        row: dict[str, Any] = {"validation triplet accuracy % [95% CI]": f"{100 * mean:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"}
        for key, label in (("triplet_accuracy_hard", "hard triplets %"), ("triplet_accuracy_easy", "easy triplets %"),
                           ("train_triplet_accuracy", "train triplet accuracy %")):
            row[label] = f"{100 * extra[key]:.2f}" if key in extra else "—"
        row["validation triplets / anchor items"] = f"{int(extra['n_val_triplets'])} / {trip['anchor_item'].nunique()}"
        pq = root / "artifacts" / "per_query" / f"{m}.csv"
        if pq.is_file():
            ap = pd.read_csv(pq)["AP"].to_numpy(float)
            a, alo, ahi = bootstrap_ci(ap, n_boot=n_boot, seed=seed)
            row["retrieval mAP [95% CI]"] = f"{a:.4f} [{alo:.4f}, {ahi:.4f}]"
        out[m] = row
    return pd.DataFrame.from_dict(out, orient="index")


def seed_table(params: Mapping[str, Any], root: Path | None = None) -> pd.DataFrame:
    """One row per zhan row trained with several seeds (``replicate_of``): its validation triplet
    accuracy (%) per training seed, and their mean and sd (ddof 1): the spread the seed rule of the
    claims reads. Seeds without a ``triplet_eval`` output are left out."""
    from fashionbench.papers.claims import replicates_of

    root = root or config.project_root()
    out = {}
    for row, by_seed in replicates_of(params).items():
        if row not in zhan_rows(params) or len(by_seed) < 2:
            continue
        accs = {}
        for s, name in sorted(by_seed.items()):
            path = root / "metrics" / f"{name}.extra.json"
            if path.is_file():
                accs[f"seed {s}"] = 100 * float(json.loads(path.read_text(encoding="utf-8"))["triplet_accuracy"])
        if len(accs) >= 2:
            vals = np.array(list(accs.values()))
            out[row] = {**{k: f"{v:.2f}" for k, v in accs.items()},
                        "mean ± sd": f"{vals.mean():.2f} ± {vals.std(ddof=1):.2f}"}
    return pd.DataFrame.from_dict(out, orient="index")


def plot_margins(params: Mapping[str, Any], root: Path | None = None, *, n_boot: int = 1000,
                 seed: int = 0) -> plt.Figure | None:
    """Validation triplet accuracy (and mAP) against the margin, hard-only vs hard & easy rows, with CIs."""
    from fashionbench.core.stats import bootstrap_ci

    root = root or config.project_root()
    settings = row_settings(params)
    pts: dict[str, list[tuple[float, float, float, float, float, float, float]]] = {}
    for m, s in settings.iterrows():
        if params["methods"][m].get("replicate_of"):
            continue  # one point per configuration: the seed replicates are in the table and the claims
        trip_path = root / "artifacts" / "per_triplet" / f"{m}.csv"
        pq_path = root / "artifacts" / "per_query" / f"{m}.csv"
        if not trip_path.is_file() or not pq_path.is_file() or s["margin"] is None:
            continue
        trip = pd.read_csv(trip_path)
        acc = cluster_ci(trip["triplet_accuracy"].to_numpy(float), trip["anchor_item"].astype(str).to_numpy(),
                         n_boot=n_boot, seed=seed)
        ap = bootstrap_ci(pd.read_csv(pq_path)["AP"].to_numpy(float), n_boot=n_boot, seed=seed)
        key = f"{s['init']} init, {s['negatives']}"
        pts.setdefault(key, []).append((float(s["margin"]), *acc, *ap))
    if not pts:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for key, vals in sorted(pts.items()):
        v = np.array(sorted(vals))
        for ax, (c, scale) in zip(axes, ((1, 100.0), (4, 1.0))):
            y, lo, hi = v[:, c] * scale, v[:, c + 1] * scale, v[:, c + 2] * scale
            ax.errorbar(v[:, 0], y, yerr=[y - lo, hi - y], marker="o", capsize=4, label=key)
    axes[0].set(xscale="log", xlabel="margin m", ylabel="validation triplet accuracy (%)",
                title="triplet accuracy (cluster-bootstrap 95% CI)")
    axes[1].set(xscale="log", xlabel="margin m", ylabel="mAP", title="retrieval mAP (bootstrap 95% CI)")
    for ax in axes:
        ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
        ax.set_xticks([], minor=True)   # a log axis' minor labels would read "3x10^0"
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_distance_gaps(scored: pd.DataFrame, title: str = "") -> plt.Figure:
    """Histogram of ``d(a,n) - d(a,p)`` over triplets, hard and easy apart (> 0: right)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    gap = scored["d_an"] - scored["d_ap"]
    for hard, label in ((True, "hard (same category)"), (False, "easy (other category)")):
        sel = scored["hard"].astype(bool) == hard
        if sel.any():
            ax.hist(gap[sel], bins=50, alpha=0.6, label=f"{label}: {int(sel.sum())} triplets")
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="d(anchor, negative) - d(anchor, positive)", ylabel="triplets",
           title=title or "validation triplets (right of 0: ranked correctly)")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def ap_claims(per_query: Mapping[str, pd.DataFrame], *, n_boot: int = 1000, seed: int = 0,
              replicates: Mapping[str, Mapping[int, str]] | None = None) -> list:
    """zhan's claims with the same comparisons on retrieval AP (per query) instead of triplet accuracy
    (``replicates``: the rows' seed replicates, for the seed rule, as in the main claims)."""
    from dataclasses import replace

    from fashionbench.papers.claims import CLAIMS, evaluate_claims

    specs = [replace(c, metric="AP", scores="per_query", unit="query_id", cluster="item_id",
                     text=c.text + " — on retrieval AP (Holm family: these 3)") for c in CLAIMS if c.paper == PAPER]
    return evaluate_claims(per_query, specs, n_boot=n_boot, seed=seed, replicates=replicates)


def extra_sections(ctx: ReportContext) -> None:
    """zhan's triplet-accuracy table, margin plot and the claims re-read on retrieval AP."""
    from fashionbench.papers.claims import replicates_of, styled_claims_table

    display(Markdown("### zhan: every triplet row of this run\n"
                     "Validation triplet accuracy (the paper's metric, Tables I-II) on one fixed set of triplets from "
                     "the held-out items, with a 95% cluster-bootstrap CI (clusters = anchor items), its hard / easy "
                     "parts, the same rule on the training items, and retrieval mAP (Table III's metric)."))
    with pd.option_context('display.max_colwidth', None):
        display(row_settings(ctx.params))
        display(triplet_table(ctx.params, ctx.root, n_boot=ctx.n_boot, seed=ctx.seed))
        seeds = seed_table(ctx.params, ctx.root)
        if len(seeds):
            display(Markdown("Rows trained with several seeds: validation triplet accuracy (%) per training seed "
                             "(the tables above show each seed's row; Table I quotes the row as named)."))
            display(seeds)
    plot_margins(ctx.params, ctx.root, n_boot=ctx.n_boot, seed=ctx.seed)  # shown by the inline backend (once)
    display(Markdown("### zhan: the same comparisons on retrieval AP\n"
                     "Not the paper's metric for these claims; shown because retrieval is what the benchmark is for."))
    display(styled_claims_table(ap_claims(ctx.per_query, n_boot=ctx.n_boot, seed=ctx.seed,
                                          replicates=replicates_of(ctx.params))))
