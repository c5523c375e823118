"""Tables and plots of the detect stage's results (reports/detect.html, the comparison report)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from fashionbench.detection.settings import CROP_QUERY_BOX, crop_eval_name, crop_eval_settings

from fashionbench.core import config
from fashionbench.core.paths import detect_dir
from fashionbench.detection.predictions import _XYXY


def load_detect_results(root: Path | None = None) -> dict[str, Any] | None:
    """The detect stage's results for the reports, or None when ``artifacts/detect`` does not exist.

    Keys: ``metrics`` (metrics/detect.json), ``summary`` (summary.json), ``ap50`` (ap50.csv),
    ``predictions`` ({detector: frame}, in WBF order), ``wbf`` (WBF of all, query + gallery), ``boxes``
    (boxes.csv), ``history`` ({detector: results.csv frame}).
    """
    from fashionbench.core.artifacts import load_metrics

    root = root or config.project_root()
    d = detect_dir(root)
    if not (d / "summary.json").is_file():
        return None
    summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    names = list(summary["wbf_order"])
    metrics_file = root / "metrics" / "detect.json"
    return {"metrics": load_metrics(metrics_file) if metrics_file.is_file() else {},
            "summary": summary, "ap50": pd.read_csv(d / "ap50.csv"),
            "predictions": {n: pd.read_csv(d / "predictions" / f"{n}.csv") for n in names},
            "wbf": pd.read_csv(d / "predictions" / "wbf.csv"),
            "boxes": pd.read_csv(d / "boxes.csv", dtype={"uid": str}),
            "history": {n: pd.read_csv(d / "train" / n / "results.csv")
                        for n in names if (d / "train" / n / "results.csv").is_file()}}


def ap50_table(det: Mapping[str, Any]) -> pd.DataFrame:
    """The Table-5-style AP50 table (single detectors, then WBF_1..WBF_n with the gain's 95% CI)."""
    t = det["ap50"].copy()
    for c in ("AP50", "gain vs WBF_1", "95% CI low", "95% CI high"):
        if c in t.columns:
            t[c] = t[c].astype(float).round(4)
    t = t.set_index("row").rename_axis(None)
    return t.astype(object).where(t.notna(), "")


def detector_table(det: Mapping[str, Any]) -> pd.DataFrame:
    """Per detector: architecture, training data and time, prediction speed, AP50."""
    rows = {}
    for n in det["summary"]["wbf_order"]:
        info = det["summary"]["detectors"][n]
        rows[n] = {k: info.get(k) for k in ("arch", "imgsz", "epochs", "batch", "class_mode", "n_train_images",
                                             "n_val_images", "train_seconds", "train_cpu_seconds", "train_images_per_s",
                                             "predict_images_per_s", "predict_cpu_seconds", "n_boxes",
                                             "n_boxes_dropped", "n_images_without_box")}
        rows[n]["AP50"] = round(float(det["metrics"].get(f"ap50_{n}", float("nan"))), 4)
        best = best_epoch(det.get("history", {}).get(n))
        rows[n]["weights of epoch"] = best if best is not None else "—"
    # spaces, not underscores: headers wrap, so the table fits a 1,400 px page
    return pd.DataFrame.from_dict(rows, orient="index").rename(columns=lambda c: c.replace("_", " "))


def plot_ap50_vs_detectors(det: Mapping[str, Any]):
    """AP50 of WBF_k against k, with the bootstrap CI of the gain over WBF_1 as error bars."""
    import matplotlib.pyplot as plt

    m = det["metrics"]
    n = int(m.get("n_detectors", 0))
    ks = [k for k in range(1, n + 1) if f"ap50_wbf_{k}" in m]
    ap = np.array([m[f"ap50_wbf_{k}"] for k in ks])
    lo = np.array([m.get(f"ap50_wbf_{k}_gain_ci_low", 0.0) for k in ks]) + ap[0] if ks else np.zeros(0)
    hi = np.array([m.get(f"ap50_wbf_{k}_gain_ci_high", 0.0) for k in ks]) + ap[0] if ks else np.zeros(0)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if ks:
        ax.errorbar(ks, ap, yerr=[np.clip(ap - lo, 0, None), np.clip(hi - ap, 0, None)], marker="o", capsize=4,
                    label="WBF of the first k detectors (bars: 95% CI of AP50(WBF_1) + gain)")
        names = det["summary"]["wbf_order"]
        for i, name in enumerate(names):
            if f"ap50_{name}" in m:
                ax.scatter([i + 1], [m[f"ap50_{name}"]], marker="x", color="grey",
                           label="single detector k" if i == 0 else None)
        ax.set_xticks(ks, [f"{k}\n+{names[k - 1]}" if k > 1 else f"1\n{names[0]}" for k in ks], fontsize=9)
    ax.set(xlabel="number of fused detectors", ylabel="AP50 (query + gallery)", title="AP50 vs number of detectors (WBF)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


#: why the training curve's last validation mAP50 and the AP50 table may disagree (shown under the curves)
CURVES_VS_TABLE = (
    "The curves are Ultralytics' own validation after each epoch, on the small held-out part of the train "
    "images (`n val images` above). The AP50 table scores the weights kept (`best.pt`: the epoch with the "
    "highest validation mAP50-95, Ultralytics' fitness, marked ★ on the curves, not necessarily the last) "
    "on every query and gallery image's ground-truth box. So a curve that ends low after a noisy last epoch "
    "and a high AP50 in the table are both right.")


def best_epoch(history: pd.DataFrame | None) -> int | None:
    """The epoch whose weights Ultralytics keeps as ``best.pt``: the first with the highest
    validation mAP50-95 (its fitness) in ``results.csv``; None without that column."""
    if history is None:
        return None
    h = history.rename(columns=lambda c: c.strip())
    if "metrics/mAP50-95(B)" not in h.columns or not len(h):
        return None
    fit = h["metrics/mAP50-95(B)"].to_numpy(float)
    if np.isnan(fit).all():
        return None
    return int(h["epoch"].iloc[int(np.argmax(np.nan_to_num(fit, nan=-np.inf)))])


def plot_training_curves(det: Mapping[str, Any]):
    """Per detector: training box loss and validation mAP50 per epoch (Ultralytics' results.csv),
    the epoch of the kept weights (:func:`best_epoch`) starred."""
    import matplotlib.pyplot as plt

    from fashionbench.reporting.display import line_style

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
    for i, (n, h) in enumerate(det["history"].items()):
        h = h.rename(columns=lambda c: c.strip())
        style = line_style(i)
        if "train/box_loss" in h.columns:
            axes[0].plot(h["epoch"], h["train/box_loss"], label=n, **style)
        if "metrics/mAP50(B)" in h.columns:
            axes[1].plot(h["epoch"], h["metrics/mAP50(B)"], label=n, **style)
            best = best_epoch(h)
            if best is not None:
                y = float(h.loc[h["epoch"] == best, "metrics/mAP50(B)"].iloc[0])
                axes[1].scatter([best], [y], marker="*", s=220, color=style["color"], edgecolor="k", zorder=4,
                                label=f"{n}: kept weights (epoch {best})")
    axes[0].set(xlabel="epoch", ylabel="box loss", title="training box loss")
    axes[1].set(xlabel="epoch", ylabel="mAP50", title="validation mAP50 (held-out train images)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_detection_examples(det: Mapping[str, Any], manifest: pd.DataFrame, images_root: Path, n_images: int = 8,
                            seed: int = 0):
    """Query and gallery images with GT (green), each detector's best box (thin) and the fused crop box (thick)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    names = list(det["predictions"])
    colours = plt.get_cmap("tab10")
    rng = np.random.default_rng(seed)
    ev = manifest[manifest["split"].isin(["query", "gallery"])].drop_duplicates("path")
    pick = []
    for split in ("query", "gallery"):
        rows = ev[ev["split"] == split]
        k = min(len(rows), (n_images + (split == "query")) // 2)
        if k:
            pick.append(rows.iloc[np.sort(rng.choice(len(rows), size=k, replace=False))])
    sel = pd.concat(pick) if pick else ev.iloc[:0]
    ncol = max(1, min(4, len(sel)))
    nrow = max(1, math.ceil(len(sel) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.7 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    by_path = {n: p.groupby("path") for n, p in det["predictions"].items()}
    crop_rows = det["boxes"].set_index("uid")
    has_gt = all(f"gt_{c}" in manifest.columns for c in _XYXY)

    def best(groups, path):
        if path not in groups.groups:
            return None
        g = groups.get_group(path)
        return g.loc[g["score"].idxmax()]

    for ax, (_, row) in zip(axes.flat, sel.iterrows()):
        ax.imshow(Image.open(images_root / row["path"]).convert("RGB"))
        gts = manifest[manifest["path"] == row["path"]]
        cols = [f"gt_{c}" for c in _XYXY] if has_gt else _XYXY
        for _, g in gts.iterrows():
            x1, y1, x2, y2 = g[cols]
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="lime", lw=2.5))
        for i, n in enumerate(names):
            b = best(by_path[n], row["path"])
            if b is not None:
                ax.add_patch(plt.Rectangle((b.x1, b.y1), b.x2 - b.x1, b.y2 - b.y1, fill=False, ec=colours(i + 1),
                                           lw=0.8, ls="--"))
        if row["uid"] in crop_rows.index and bool(crop_rows.loc[row["uid"], "fused_found"]):
            x1, y1, x2, y2 = crop_rows.loc[row["uid"], [f"fused_{c}" for c in _XYXY]]
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="magenta", lw=2.0))
        ax.set_title(f"{row['split']} {row['uid']}"[:32], fontsize=9)
    legend = [plt.Line2D([], [], color="lime", lw=2.5, label="ground truth" if has_gt else "given box")]
    legend += [plt.Line2D([], [], color=colours(i + 1), lw=0.8, ls="--", label=f"{n} (best box)") for i, n in enumerate(names)]
    legend += [plt.Line2D([], [], color="magenta", lw=2.0, label="fused crop box (WBF of all)")]
    fig.legend(handles=legend, loc="lower center", ncol=min(len(legend), 5), fontsize=9)
    fig.suptitle("detections on query and gallery images", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def crop_comparison_table(params: Mapping[str, Any], root: Path | None = None, n_boot: int = 1000,
                          seed: int = 0) -> pd.DataFrame:
    """The crop comparison of ``crop_eval`` (same trained model): query/gallery box, metrics with 95% CIs.

    One row per crop mode whose metrics file exists; the ``query box`` column labels oracle
    boxes (see :data:`CROP_QUERY_BOX`).
    """
    from fashionbench.core.artifacts import load_metrics
    from fashionbench.core.stats import bootstrap_ci

    root = root or config.project_root()
    s = crop_eval_settings(params)
    rows = {}
    for crop in s["crops"]:
        name = crop_eval_name(params, crop)
        mfile = root / "metrics" / f"{name}.json"
        if not mfile.is_file():
            continue
        m = load_metrics(mfile)
        qcrop, gcrop = config.crop_settings(params, name)
        row = {"query box": CROP_QUERY_BOX.get(qcrop, qcrop), "gallery crop": gcrop}
        pq_file = root / "artifacts" / "per_query" / f"{name}.csv"
        pq = pd.read_csv(pq_file) if pq_file.is_file() else None
        for key, col in (("mAP", "AP"), ("top1", "top1"), ("top10", "top10")):
            if pq is not None and col in pq.columns:
                mean, lo, hi = bootstrap_ci(pq[col].to_numpy(float), n_boot=n_boot, seed=seed)
                row[key] = f"{m.get(key, mean):.4f} [{lo:.4f}, {hi:.4f}]"
            else:
                row[key] = f"{m.get(key, float('nan')):.4f}"
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def crop_iou_table(det: Mapping[str, Any]) -> pd.DataFrame:
    """Mean IoU with the ground-truth box of each crop mode's box, query and gallery rows."""
    m = det["metrics"]
    rows = {}
    for mode in ("given", "detected", "union", "fused"):
        r = {split: round(float(m[f"crop_iou_{mode}_{split}"]), 4) for split in ("query", "gallery")
             if f"crop_iou_{mode}_{split}" in m}
        if r:
            rows[mode] = r
    fb = {"detected": m.get("n_fallback_detected"), "union": m.get("n_fallback_union"), "fused": m.get("n_fallback_fused")}
    t = pd.DataFrame.from_dict(rows, orient="index")
    if len(t):
        t["rows without a detector box (fallback, all splits)"] = [fb.get(i, "—") for i in t.index]
    return t
