"""Paper ``chen`` (MGPA): what the partition rows of this run actually pooled.

The part masks depend on the size of the backbone's last feature map, which depends on the
row's ``img_size``, backbone and ``output_stride``; small maps make some parts overlap (rule 3
of :mod:`fashionbench.models.mgpa`). The paper report shows, for every ``chen`` row, the map
size, the parts and the feature size (:func:`rows_table`), and draws the masks
(:func:`plot_partitions`), so a reader sees which parts coincide at this resolution.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from fashionbench.core.errors import ConfigError
from fashionbench.papers.base import ReportContext


def feature_map_size(model_spec: Mapping[str, Any], img_size: int) -> tuple[int, int]:
    """(h, w) of the last feature map of an ``mgpa`` model spec for ``img_size`` inputs."""
    from fashionbench.models.backbones import backbone_from_spec

    spec = {k: v for k, v in model_spec.items() if k not in ("parts", "reduce_dim", "pretrained")}
    if spec.get("arch", "mgpa") != "mgpa":
        raise ConfigError(f"model.arch: expected 'mgpa', got {spec.get('arch')!r}")
    spec = {"output_stride": 16, **spec}  # the mgpa default (build_model)
    backbone = backbone_from_spec(spec).eval()
    with torch.no_grad():
        fmap = backbone(torch.zeros(1, int(spec.get("in_chans", 3)), int(img_size), int(img_size)))
    return int(fmap.shape[-2]), int(fmap.shape[-1])


def rows_table(params: Mapping[str, Any], names: Sequence[str]) -> pd.DataFrame:
    """One row per ``mgpa`` method: backbone, input, map size, partitions, parts, feature size."""
    from fashionbench.core import config
    from fashionbench.models.mgpa import parts_count, resolve_partitions

    out = {}
    for name in names:
        s = config.method_settings(params, name)
        model = s.get("model") or {}
        if model.get("arch") != "mgpa":
            continue
        parts = resolve_partitions(model.get("parts", "all"))
        h, w = feature_map_size(model, int(s["img_size"]))
        n = parts_count(parts)
        d = int(model.get("reduce_dim", 256))
        out[name] = {"backbone": model.get("backbone"), "input": f"{s['img_size']} px",
                     "output stride": int(model.get("output_stride", 16)), "feature map": f"{h}x{w}",
                     "partitions": ", ".join(parts), "parts": n, "feature": f"{d} x {n} = {d * n}"}
    return pd.DataFrame.from_dict(out, orient="index")


def plot_partitions(partitions: Sequence[str], h: int, w: int, title: str = "") -> plt.Figure:
    """The 0/1 masks of every part of ``partitions`` on an ``h`` x ``w`` map, one panel per part."""
    from fashionbench.models.mgpa import partition_masks

    panels = [(f"{p} #{i}", m.numpy()) for p in partitions for i, m in enumerate(partition_masks(p, h, w))]
    cols = min(8, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, mask) in zip(axes.ravel(), panels):
        ax.axis("on")       # the frame shows the whole map, so a part's position reads at a glance
        ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=9)
    fig.suptitle(title or f"part masks on the {h}x{w} feature map", fontsize=9)
    fig.tight_layout()
    return fig


def clothes_table(ctx: ReportContext, manifest: pd.DataFrame, category: str = "clothes") -> pd.DataFrame:
    """Table 1 like for like: the paper's clothes-only mAP (%) beside ours on the ``category`` query
    photos only (mean AP of those queries, 95% bootstrap CI over their items), not on all queries."""
    from fashionbench.core.stats import paired_cluster_bootstrap_diff
    from fashionbench.papers.chen import PAPER

    queries = manifest[manifest["split"] == "query"]
    own = (set(queries.loc[queries["category"].astype(str) == category, "uid"].astype(str))
           if "category" in queries.columns else set())
    rows = []
    for r in PAPER.tables[0].rows:
        out: dict[str, Any] = {"row": r.label, "mAP % (quoted from chen, clothes)": r.quoted["mAP"]}
        pq = ctx.per_query.get(r.ours) if r.ours else None
        sub = pq[pq["query_id"].astype(str).isin(own)] if pq is not None else None
        if pq is not None and len(sub) == 0:
            out[f"mAP % (ours, {category} queries)"] = "—"
            out["our row"] = f"{r.ours}: no {category} query in this dataset"
        elif pq is None:
            out[f"mAP % (ours, {category} queries)"] = "—"
            out["our row"] = r.note or (f"{r.ours}: not in this run" if r.ours else "—")
        else:
            ap = sub["AP"].to_numpy(float)
            groups = sub["item_id"].astype(str).to_numpy() if "item_id" in sub else np.arange(len(sub))
            _, lo, hi = paired_cluster_bootstrap_diff(ap, np.zeros_like(ap), groups, n_boot=ctx.n_boot, seed=ctx.seed)
            out[f"mAP % (ours, {category} queries)"] = f"{100 * ap.mean():.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"
            out["our row"] = f"{r.ours} ({len(sub)} {category} queries)"
        rows.append(out)
    return pd.DataFrame(rows).set_index("row").rename_axis(None)


def extra_sections(ctx: ReportContext) -> None:
    """chen: what each row pooled (feature-map size, partitions) and the partition masks."""
    from fashionbench.models.mgpa import resolve_partitions

    from fashionbench.data import prepared

    display(Markdown("### Table 1, like for like: clothes queries only\n"
                     "The paper's Table 1 is clothes only (one model per category); our rows are one model for the "
                     "three categories, so here they are scored on the clothes query photos alone (same rankings, "
                     "the other queries left out), beside the quoted clothes mAP."))
    display(clothes_table(ctx, prepared.load_dataset()[0]))
    from fashionbench.papers.claims import replicate_copies

    copies = replicate_copies(ctx.params)  # seed replicates: same settings but the seed; in the claims
    chen_rows = [n for n in ctx.mine if n in ctx.params['methods'] and n not in copies]
    display(Markdown("### chen: what each row pooled\n"
                     "Backbone, input size and the conv5 feature-map size of this run, the partitions and the "
                     "test-time feature (concatenation of the reduced part features)."))
    table = rows_table(ctx.params, chen_rows)
    display(table)
    if 'chen-all' in table.index:
        h, w = (int(v) for v in table.loc['chen-all', 'feature map'].split('x'))
        plot_partitions(resolve_partitions('all'), h, w)  # shown by the inline backend at the cell's end
