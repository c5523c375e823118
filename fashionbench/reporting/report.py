"""Tables and figures for the rendered reports (the notebooks only call these and display).

Every number shown is read from artifacts this code produced (metrics files, per-query tables,
ranking files, the dataset card); numbers quoted from a paper are labelled as such by the
caller. Nothing here is a hard-coded result.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from fashionbench.core.artifacts import Ranking, load_metrics
from fashionbench.reporting.display import MAX_LINES, line_style, show, use_display_defaults  # noqa: F401 (re-exported)

SYNTHETIC_NOTE = (
    "**This dataset is synthetic** (fmnist-c2s, built from Fashion-MNIST): its absolute numbers "
    "are not comparable with the papers' numbers on DeepFashion, JD or Street2Shop. Only the "
    "papers' *relative* claims are checked on it.")
PACKAGES = ("fashionbench", "torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn", "faiss-cpu",
            "faiss-gpu", "pytorch-metric-learning", "ultralytics", "ensemble-boxes", "papermill", "dvc",
            "matplotlib", "pillow", "scikit-image")
SUMMARY_COLUMNS = ("status", "mAP", "chance_mAP", "mAP@10", "top1", "top5", "top10", "top20", "top30", "top40",
                   "top50", "n_queries", "n_without_match")
#: the ``status`` of a row whose mAP is under 5x its chance mAP (fashionbench.retrieval.metrics.learned)
NOT_LEARNED = "DID NOT LEARN"
#: a row whose last epoch raised its validation mAP by more than this is "still improving"
PLATEAU_TOLERANCE = 0.005
#: example queries on a row's own page (the comparison shows ``eval.n_examples``): keeps the ~50
#: method pages, one JPEG grid each, within the reports' size budget (docs/pipeline.md)
METHOD_PAGE_EXAMPLES = 5


# ----------------------------------------------------------------------------- loading

def load_all_metrics(methods: Sequence[str], metrics_dir: Path) -> pd.DataFrame:
    """One row per method (index = method) from ``metrics/<method>.json``; missing files skipped."""
    rows = {m: load_metrics(metrics_dir / f"{m}.json") for m in methods if (metrics_dir / f"{m}.json").is_file()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    if len(df) and {"mAP", "chance_mAP"} <= set(df.columns):
        from fashionbench.retrieval.metrics import learned
        df["status"] = ["learned" if learned(r) is not False else NOT_LEARNED for r in df.to_dict("records")]
    cols = [c for c in SUMMARY_COLUMNS if c in df.columns] + [c for c in df.columns if c not in SUMMARY_COLUMNS]
    return df[cols] if len(df) else df


def metrics_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The summary columns of ``metrics`` (:data:`SUMMARY_COLUMNS`: status, mAP, chance mAP, top-k,
    counts), not every ``chance_top<k>``: a table that fits a 1,400 px page."""
    return metrics[[c for c in SUMMARY_COLUMNS if c in metrics.columns]]


def collapsible(summary: str, table: Any) -> Any:
    """``table`` (a DataFrame, a Styler or HTML text) folded under a one-line ``summary`` (plain text,
    escaped here) that opens it (an HTML ``<details>`` element: no script needed), for long tables a
    reader opens on demand."""
    import html

    from IPython.display import HTML

    body = table if isinstance(table, str) else table.to_html()
    return HTML(f"<details><summary><b>{html.escape(summary)}</b></summary>{body}</details>")


def _ratio(x: float) -> float:
    """A multiple of chance as a reader wants it: whole from 10 up, one decimal below."""
    return float(round(x)) if x >= 10 else round(x, 1)


def metric_vs_chance(metrics: Mapping[str, Any], name: str) -> pd.DataFrame:
    """Row ``name``'s scores beside the chance level of a random ranking on the same gallery and their
    ratio, one column per metric (mAP, mAP@10, top-k): a short, wide table instead of ~20 lines."""
    keys = [k for k in ("mAP", "mAP@10", *(f"top{k}" for k in (1, 5, 10, 20, 30, 40, 50))) if k in metrics]
    ours = {k: float(metrics[k]) for k in keys}
    chance = {k: float(metrics[f"chance_{k}"]) for k in keys if f"chance_{k}" in metrics}
    ratio = {k: _ratio(ours[k] / chance[k]) if chance.get(k) else np.nan for k in chance}
    return pd.DataFrame([ours, chance, ratio], index=[name, "chance (random ranking)", "× chance"]).dropna(how="all")


def rows_with_pages(params: Mapping[str, Any]) -> list[str]:
    """The evaluated rows that have their own page (``reports/methods/<row>.html``, rendered by the
    evaluate, fuse and rerank stages): methods, fusions and reranks, not the crop-comparison views."""
    return [n for s in ("methods", "fusions", "reranks") for n in (params.get(s) or {})]


def load_per_query(methods: Sequence[str], folder: Path) -> dict[str, pd.DataFrame]:
    """Per-query tables (``artifacts/per_query/<method>.csv``) of the methods that have one."""
    return {m: pd.read_csv(folder / f"{m}.csv") for m in methods if (folder / f"{m}.csv").is_file()}


# ----------------------------------------------------------------------------- tables

def ci_table(per_query: Mapping[str, pd.DataFrame], columns: Sequence[str] = ("AP", "AP@10", "top1", "top10"),
             n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean and 95% bootstrap CI (over queries) of each per-query column, one row per method."""
    from fashionbench.core.stats import bootstrap_ci

    rows = {}
    for m, t in per_query.items():
        row = {}
        for c in columns:
            if c in t.columns:
                mean, lo, hi = bootstrap_ci(t[c].to_numpy(float), n_boot=n_boot, seed=seed)
                row[c] = f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"
        rows[m] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def relative_to_project(path: Any, root: Path | None = None) -> Any:
    """``path`` as the reader should see it: relative to the project root when it lies in the project
    or beside it (``../shared/...``); other absolute paths (``/usr/share/...``), relative paths and
    non-paths are returned as given."""
    import os

    if not isinstance(path, str) or not os.path.isabs(path):
        return path
    from fashionbench.core.config import project_root

    base = Path(root or project_root()).absolute()
    if not Path(path).is_relative_to(base.parent) or len(base.parent.parts) < 2:
        return path
    return os.path.relpath(path, base)


def card_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """The dataset card's counts and whole content hash as a two-column table (paths relative to
    the project)."""
    rows = [("name", card.get("name")), ("synthetic", card.get("synthetic")),
            ("content SHA-256", card.get("content_sha256", "—"))]
    rows += [(k, v) for k, v in sorted(card.get("counts", {}).items())]
    if "config" in card:
        rows += [(f"config.{k}", v) for k, v in sorted(card["config"].items())]
    if "source" in card:
        rows += [("source folder", relative_to_project(card["source"].get("folder")))]
    return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")


#: the run's own outputs: they change while it runs, so they do not make the code tree "dirty"
_OUTPUTS = (":!dvc.lock", ":!metrics", ":!reports")


def code_commit(root: Path | None = None) -> str:
    """The commit whose code and settings produced this run: the last commit that changed anything
    but the run's outputs (``dvc.lock``, ``metrics/``, ``reports/``), whole hash and subject, then
    "(clean)" or "(UNCOMMITTED changes to code or params)" when the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root, timeout=10,
                              check=True).stdout.strip()
    try:
        line = git("log", "-1", "--format=%H %s", "--", ".", *_OUTPUTS)
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *_OUTPUTS)
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout, or git is missing)"
    if not line:
        return "unknown (no commit yet)"
    return f"{line} " + ("(UNCOMMITTED changes to code or params)" if dirty else "(clean)")


def environment(params: Mapping[str, Any] | None = None, root: Path | None = None) -> pd.DataFrame:
    """Python, platform, package versions, the code commit (:func:`code_commit`) and a digest of the
    parsed params (whole SHA-256)."""
    import hashlib

    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    for p in PACKAGES:
        try:
            rows.append((p, metadata.version(p)))
        except metadata.PackageNotFoundError:
            pass
    rows.append(("code commit", code_commit(root)))
    try:
        import torch
        rows += [("torch threads", torch.get_num_threads()), ("cuda available", torch.cuda.is_available())]
    except ImportError:
        pass
    if params is not None:
        blob = json.dumps(params, sort_keys=True, default=str).encode()
        rows += [("profile", params.get("profile")), ("seed", params.get("seed")),
                 ("params SHA-256 (as parsed)", hashlib.sha256(blob).hexdigest())]
    return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")


# ----------------------------------------------------------------------------- figures

def still_improving(history: Sequence[Mapping[str, Any]], tol: float = PLATEAU_TOLERANCE) -> bool | None:
    """Whether the last epoch is the best so far and raised the validation mAP by more than ``tol``
    over the previous one (None: no validation scores, or a single epoch)."""
    vals = [h.get("val_mAP") for h in history]
    if len(vals) < 2 or any(v is None for v in vals):
        return None
    return bool(vals[-1] >= max(vals) and vals[-1] - vals[-2] > tol)


def training_table(names: Sequence[str], models_dir: Path) -> pd.DataFrame:
    """Per trained row: epochs, train minutes, validation mAP (last, best and its epoch), the
    validation chance level and whether the curve had flattened (``status``)."""
    from fashionbench.retrieval.metrics import learned

    rows = []
    for m in names:
        path = models_dir / m / "history.json"
        if not path.is_file():
            continue
        h = json.loads(path.read_text())
        row: dict[str, Any] = {"row": m, "epochs": len(h),
                               "train min": round(sum(float(e.get("seconds", 0)) + float(e.get("val_seconds", 0))
                                                      for e in h) / 60, 1)}
        if h and "val_mAP" in h[-1]:
            vals = [float(e["val_mAP"]) for e in h]
            chance = float(h[-1]["val_chance_mAP"])
            best = int(np.argmax(vals))
            more = still_improving(h)
            row.update({"val mAP (last)": round(vals[-1], 4), "val mAP (best)": round(vals[best], 4),
                        "best epoch": best + 1, "val chance": round(chance, 4),
                        "status": NOT_LEARNED if not learned({"mAP": vals[-1], "chance_mAP": chance}) else
                        "STILL IMPROVING" if more else "plateau"})
        rows.append(row)
    return pd.DataFrame(rows).set_index("row").rename_axis(None) if rows else pd.DataFrame()


def plot_topk(metrics: pd.DataFrame, ks: Sequence[int] = (1, 5, 10, 20, 30, 40, 50), title: str = "",
              max_lines: int = MAX_LINES) -> plt.Figure:
    """Top-k accuracy curves, one line per method (row of ``metrics``); with more than ``max_lines``
    rows, the ``max_lines`` best by mAP (the title says so). The chance level of a random ranking
    (``chance_top<k>``, the mean over the rows drawn) is the dotted grey line; the y axis fits the data."""
    shown = metrics
    if len(metrics) > max_lines:
        by_map = "mAP" in metrics
        shown = metrics.sort_values("mAP", ascending=False, kind="stable") if by_map else metrics
        shown = shown.iloc[:max_lines]
        title = (f"{title or 'top-k accuracy'}: " + (f"the {max_lines} best of {len(metrics)} rows by mAP" if by_map
                                                      else f"the first {max_lines} of {len(metrics)} rows"))
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    top = 0.0
    for i, (m, row) in enumerate(shown.iterrows()):
        ys = np.array([row.get(f"top{k}", np.nan) for k in ks], dtype=float)
        failed = row.get("status") == NOT_LEARNED
        ax.plot(ks, ys, ls=":" if failed else "-", ms=5, **line_style(i),
                label=f"{m} ({NOT_LEARNED.lower()})" if failed else str(m))
        top = max(top, float(np.nanmax(ys)) if np.isfinite(ys).any() else 0.0)
    chance_cols = [f"chance_top{k}" for k in ks]
    if set(chance_cols) <= set(shown.columns):
        chance = shown[chance_cols].astype(float).mean().to_numpy()
        ax.plot(ks, chance, color="grey", ls=":", lw=1.5, label="chance (random ranking)")
        top = max(top, float(np.nanmax(chance)))
    ax.set(xlabel="k", ylabel="top-k accuracy (hit rate)", title=title or "top-k accuracy",
           ylim=(0, min(1.02, top * 1.08 + 0.02)))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_metric_bars(metrics: pd.DataFrame, per_query: Mapping[str, pd.DataFrame] | None = None,
                     column: str = "mAP", pq_column: str = "AP", n_boot: int = 1000, seed: int = 0) -> plt.Figure:
    """One bar per method with its 95% bootstrap CI (when per-query scores are available)."""
    from fashionbench.core.stats import bootstrap_ci

    names = list(metrics.index)
    vals = metrics[column].to_numpy(float)
    err = np.zeros((2, len(names)))
    for i, m in enumerate(names):
        if per_query and m in per_query:
            _, lo, hi = bootstrap_ci(per_query[m][pq_column].to_numpy(float), n_boot=n_boot, seed=seed)
            err[:, i] = (vals[i] - lo, hi - vals[i])
    failed = [metrics.loc[m].get("status") == NOT_LEARNED for m in names] if "status" in metrics else [False] * len(names)
    colours = ["#bbbbbb" if f else "C0" for f in failed]
    labels = [f"{m} ({NOT_LEARNED.lower()})" if f else m for m, f in zip(names, failed)]
    chance = metrics[f"chance_{column}"].to_numpy(float) if f"chance_{column}" in metrics else None
    if len(names) > 12:   # many rows: horizontal bars, one readable label per row
        fig, ax = plt.subplots(figsize=(8, 0.26 * len(names) + 1.2), layout="constrained")
        ax.barh(range(len(names)), vals, xerr=err, capsize=2, height=0.7, color=colours)
        if chance is not None:
            ax.scatter(chance, range(len(names)), marker="|", color="k", s=60, zorder=3, label="chance")
            ax.legend(fontsize=9, loc="lower right")
        ax.set_yticks(range(len(names)), labels, fontsize=9)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set(xlabel=column, title=f"{column} with 95% bootstrap CI")
        return fig
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(names) + 2), 3.5), layout="constrained")
    ax.bar(range(len(names)), vals, yerr=err, capsize=4, color=colours)
    if chance is not None:
        ax.scatter(range(len(names)), chance, marker="_", color="k", s=200, zorder=3, label="chance")
        ax.legend(fontsize=9)
    ax.set_xticks(range(len(names)), labels, rotation=30, ha="right")
    ax.set(ylabel=column, title=f"{column} with 95% bootstrap CI")
    return fig


def _draw_box(ax: plt.Axes, box: Sequence[float], colour: str, lw: float = 1.5) -> None:
    x1, y1, x2, y2 = box
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=lw))


def plot_dataset_examples(manifest: pd.DataFrame, root: Path, n_items: int = 5, seed: int = 0) -> plt.Figure:
    """For a few test items: every shop image (given box red, GT green) and consumer photo."""
    rng = np.random.default_rng(seed)
    q_items = manifest.loc[manifest["split"] == "query", "item_id"].unique()
    items = rng.choice(q_items, size=min(n_items, len(q_items)), replace=False) if len(q_items) else []
    rows = [manifest[manifest["item_id"] == it].sort_values(["domain", "uid"], ascending=[False, True]) for it in items]
    ncol = max([len(r) for r in rows] + [1])
    fig, axes = plt.subplots(len(rows) or 1, ncol, figsize=(1.7 * ncol, 1.8 * max(1, len(rows))), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, r in enumerate(rows):
        for j, (_, row) in enumerate(r.iterrows()):
            ax = axes[i, j]
            ax.imshow(Image.open(root / row["path"]).convert("RGB"))
            _draw_box(ax, (row["x1"], row["y1"], row["x2"], row["y2"]), "red")
            if "gt_x1" in row:
                _draw_box(ax, (row["gt_x1"], row["gt_y1"], row["gt_x2"], row["gt_y2"]), "lime", 1.0)
            ax.set_title(f"{row['item_id']} {row['domain']}", fontsize=9)
    fig.suptitle("test items: shop images then consumer photos (red: given box, green: ground truth)", fontsize=9)
    fig.tight_layout()
    return fig


def example_rows(metrics: pd.DataFrame, n_best: int = 3, first: str = "baseline", by: str = "mAP") -> list[str]:
    """Rows whose example grids the comparison report shows: ``first`` (when present), then the
    ``n_best`` other rows with the highest ``by``."""
    head = [first] if first in metrics.index else []
    rest = metrics.drop(index=head)
    if by in rest.columns:
        rest = rest.sort_values(by, ascending=False, kind="stable")
    return head + [str(m) for m in rest.index[:n_best]]


def crop_loader(manifest: pd.DataFrame, root: Path):
    """``crop_of(uid, crop_mode) -> 64 px image`` for the manifest's images (for result grids)."""
    from fashionbench.data.imaging import crop_boxes, load_crop

    by_uid = manifest.set_index("uid")

    def crop_of(uid: str, crop: str) -> np.ndarray:
        row = by_uid.loc[[uid]].reset_index()
        box = crop_boxes(row, crop)
        return load_crop(Path(root) / row["path"].iloc[0], None if box is None else box[0], 64)
    return crop_of


def draw_result_row(axes_row, ranking: Ranking, q: int, depth: int, crop_of, query_crop: str, gallery_crop: str,
                    label: str = "") -> None:
    """One grid row: query ``q``'s image, then its top-``depth`` framed green (right item) or red (wrong)."""
    axes_row[0].imshow(crop_of(ranking.query_ids[q], query_crop))
    axes_row[0].set_title(f"query {ranking.query_labels[q]}" + (f" ({label})" if label else ""), fontsize=9)
    for c in range(depth):
        ax = axes_row[c + 1]
        g = int(ranking.indices[q, c]) if c < ranking.k else -1
        if g < 0:
            ax.axis("off")
            continue
        ax.imshow(crop_of(ranking.gallery_ids[g], gallery_crop))
        ok = ranking.gallery_labels[g] == ranking.query_labels[q]
        for s in ax.spines.values():
            s.set_edgecolor("limegreen" if ok else "red")
            s.set_linewidth(3)
        ax.set_title(f"{c + 1}: {ranking.distances[q, c]:.2f}", fontsize=9)
    for ax in axes_row:
        ax.set_xticks([])
        ax.set_yticks([])


def plot_examples(ranking: Ranking, manifest: pd.DataFrame, root: Path, n_queries: int = 8, depth: int = 10,
                  seed: int = 0, query_crop: str = "given", gallery_crop: str = "given", title: str = "") -> plt.Figure:
    """Example queries with their top-``depth`` results: green frame = right item, red = wrong."""
    rng = np.random.default_rng(seed)
    qs = np.sort(rng.choice(len(ranking.query_ids), size=min(n_queries, len(ranking.query_ids)), replace=False))
    fig, axes = plt.subplots(len(qs), depth + 1, figsize=(1.25 * (depth + 1), 1.4 * len(qs)), squeeze=False)
    crop_of = crop_loader(manifest, root)
    for i, q in enumerate(qs):
        draw_result_row(axes[i], ranking, q, depth, crop_of, query_crop, gallery_crop)
    fig.suptitle(title or f"example queries and their top-{depth} (green: right item, red: wrong)", fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- paper reports

_PER_QUERY_COLUMN = {"mAP": "AP", "mAP@10": "AP@10", **{f"top{k}": f"top{k}" for k in (1, 5, 10, 20, 30, 40, 50)}}


def _resolve_row(pattern: str, metrics: pd.DataFrame, key: str) -> str | None:
    import fnmatch

    names = [m for m in metrics.index if fnmatch.fnmatchcase(str(m), pattern) and key in metrics.columns
             and pd.notna(metrics.loc[m, key])]
    return max(sorted(names), key=lambda m: float(metrics.loc[m, key])) if names else None


#: metrics with per-unit scores other than per query: key -> (artifacts folder, column, cluster column)
_UNIT_SCORES = {"triplet_accuracy": ("per_triplet", "triplet_accuracy", "anchor_item")}


def with_extra_metrics(metrics: pd.DataFrame, metrics_dir: Path) -> pd.DataFrame:
    """``metrics`` joined with each row's ``metrics/<row>.extra.json`` (non-retrieval metrics a
    stage writes beside the metrics file, e.g. zhan's triplet accuracy); NaN where absent."""
    extra = {m: load_metrics(metrics_dir / f"{m}.extra.json") for m in metrics.index
             if (metrics_dir / f"{m}.extra.json").is_file()}
    if not extra:
        return metrics
    add = pd.DataFrame.from_dict(extra, orient="index")
    return metrics.join(add[[c for c in add.columns if c not in metrics.columns]], how="left")


def _unit_ci(key: str, name: str, artifacts_dir: Path, n_boot: int, seed: int) -> tuple[float, float] | None:
    """Cluster-bootstrap CI of metric ``key`` of row ``name`` from its per-unit scores, if any."""
    if key not in _UNIT_SCORES:
        return None
    folder, col, cluster = _UNIT_SCORES[key]
    path = artifacts_dir / folder / f"{name}.csv"
    if not path.is_file():
        return None
    from fashionbench.core.stats import paired_cluster_bootstrap_diff

    t = pd.read_csv(path)
    v = t[col].to_numpy(float)
    _, lo, hi = paired_cluster_bootstrap_diff(v, np.zeros_like(v), t[cluster].astype(str).to_numpy(),
                                              n_boot=n_boot, seed=seed)
    return lo, hi


def _stored_ci(metrics: pd.DataFrame, name: str, key: str) -> tuple[float, float] | None:
    """``(<key>_ci_low, <key>_ci_high)`` of row ``name`` when its metrics hold them (e.g. park's
    category accuracy, ``fashionbench.park_report``), else None."""
    cols = (f"{key}_ci_low", f"{key}_ci_high")
    if not all(c in metrics.columns for c in cols):
        return None
    lo, hi = (metrics.loc[name, c] for c in cols)
    return (float(lo), float(hi)) if pd.notna(lo) and pd.notna(hi) else None


def paper_table(table: Any, paper_id: str, metrics: pd.DataFrame, per_query: Mapping[str, pd.DataFrame],
                metrics_dir: Path, n_boot: int = 1000, seed: int = 0,
                artifacts_dir: Path | None = None) -> pd.DataFrame:
    """A paper table side by side: quoted values (labelled) and ours, with 95% bootstrap CIs.

    ``table`` is a :class:`fashionbench.papers.PaperTable`. Our value is read from the metrics
    file of the row named in ``ours`` (a glob picks the best matching row), or from its
    ``metrics/<row>.extra.json`` (:func:`with_extra_metrics`); when the metric has per-query
    scores, its bootstrap CI over queries is shown too, and for metrics with other per-unit
    scores (``triplet_accuracy``: ``artifacts/per_triplet/<row>.csv``) their cluster-bootstrap CI
    (``artifacts_dir`` defaults to ``artifacts`` beside ``metrics_dir``).
    """
    from fashionbench.core.stats import bootstrap_ci

    metrics = with_extra_metrics(metrics, metrics_dir)
    artifacts_dir = artifacts_dir or metrics_dir.parent / "artifacts"
    extra = {}
    if table.metrics_file and (metrics_dir / f"{table.metrics_file}.json").is_file():
        extra = load_metrics(metrics_dir / f"{table.metrics_file}.json")
    scale = 100.0 if table.percent else 1.0
    rows = []
    for r in table.rows:
        out: dict[str, Any] = {"row": r.label}
        for col, q in r.quoted.items():
            out[f"{col} (quoted from {paper_id})"] = q
        name = None
        for col, key in table.columns.items():
            val, ci = None, ""
            if r.ours is None:
                pass
            elif table.metrics_file:
                val = extra.get(r.ours)
                name = f"{table.metrics_file}:{r.ours}" if val is not None else None
            else:
                name = _resolve_row(r.ours, metrics, key)
                if name is not None:
                    val = float(metrics.loc[name, key])
                    pq = per_query.get(name)
                    pq_col = _PER_QUERY_COLUMN.get(key)
                    unit = _unit_ci(key, name, artifacts_dir, n_boot, seed)
                    if pq is not None and pq_col in pq.columns:
                        _, lo, hi = bootstrap_ci(pq[pq_col].to_numpy(float), n_boot=n_boot, seed=seed)
                        unit = (lo, hi)
                    if unit is None:  # a CI stored beside the value: <key>_ci_low / _ci_high (extra file)
                        unit = _stored_ci(metrics, name, key)
                    if unit is not None:
                        lo, hi = unit
                        ci = f" [{lo * scale:.2f}, {hi * scale:.2f}]" if table.percent else f" [{lo:.4f}, {hi:.4f}]"
            if val is None:
                out[f"{col} (ours)"] = "—"
            else:
                out[f"{col} (ours)"] = (f"{val * scale:.2f}" if table.percent else f"{val:.4f}") + ci
        out["our row"] = name or (r.note or (f"{r.ours}: not in this run" if r.ours else "—"))
        rows.append(out)
    return pd.DataFrame(rows).set_index("row").rename_axis(None)


def plot_histories(names: Sequence[str], models_dir: Path, title: str = "training",
                   max_lines: int = MAX_LINES) -> plt.Figure | None:
    """Training loss and validation mAP per epoch of several methods (their ``history.json``), one
    line each (distinct colour and marker); the validation chance level dotted. More than
    ``max_lines`` rows: one row of panels per group of ``max_lines`` (small multiples)."""
    found = [(m, pd.DataFrame(json.loads((models_dir / m / "history.json").read_text()))) for m in names
             if (models_dir / m / "history.json").is_file()]
    if not found:
        return None
    groups = [found[i:i + max_lines] for i in range(0, len(found), max_lines)]
    fig, axes = plt.subplots(len(groups), 2, figsize=(13, 3.6 * len(groups)), squeeze=False, layout="constrained")
    for g, group in enumerate(groups):
        ax, av = axes[g]
        chance = []
        for i, (m, h) in enumerate(group):
            style = {**line_style(i), "ms": 4}
            ax.plot(h["epoch"], h["loss"], label=m, **style)
            if "val_mAP" in h:
                av.plot(h["epoch"], h["val_mAP"], label=m, **style)
                chance.append(float(h["val_chance_mAP"].iloc[-1]))
        part = f" ({g + 1}/{len(groups)})" if len(groups) > 1 else ""
        ax.set(xlabel="epoch", ylabel="loss", title=f"{title}: training loss{part}")
        av.set(xlabel="epoch", ylabel="mAP", title=f"{title}: validation mAP (held-out items){part}")
        if chance:
            av.axhline(max(chance), color="grey", ls=":", lw=1, label="chance (max over rows)")
        for a_ in (ax, av):
            a_.grid(alpha=0.3)
            a_.xaxis.get_major_locator().set_params(integer=True)
        av.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig

