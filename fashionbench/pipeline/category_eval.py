"""Stage ``category_eval@<method>``: category top-k accuracy of a model's category head (paper park, Table 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from fashionbench.core.config import row_crops
from fashionbench.core.paths import model_dir
from fashionbench.data.prepared import load_dataset, with_category_column
from torch import nn

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.paths import extra_metrics_path
from fashionbench.papers.park.report import PREFIX, eval_settings, split_metrics


@torch.no_grad()
def category_scores(model: nn.Module, rows: pd.DataFrame, root: str | Path, crop: str, size: int,
                    batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """The model's ``category_logits`` [N, C] for the manifest ``rows`` (model in eval mode)."""
    from fashionbench.core.progress import progress_bar
    from fashionbench.data.imaging import CropDataset

    model.eval()
    ds = CropDataset(rows.reset_index(drop=True), root, crop, size, cache=False)
    out = []
    for i in progress_bar(range(0, len(ds), batch_size), desc="category logits", disable=not progress):
        x = ds.batch(torch.arange(i, min(i + batch_size, len(ds))))[0]
        res = model(x)
        if "category_logits" not in res:
            raise ConfigError("category_eval: the model has no category head (output 'category_logits'; "
                              "arch 'relaxation' has one)")
        out.append(res["category_logits"].float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_method(params: Mapping[str, Any], method: str, progress: bool = True) -> dict[str, float]:
    """The ``category_eval`` stage for ``method``: category top-k accuracy -> its extra metrics file."""
    import os

    from fashionbench.core import config
    from fashionbench.core.artifacts import save_metrics
    from fashionbench.engine.training import load_trained

    ce = eval_settings(params)
    settings = config.method_settings(params, method)
    torch.set_num_threads(int(settings.get("threads", 0)) or os.cpu_count() or 1)
    model, saved = load_trained(model_dir(method))
    vocab = {c: i for i, c in enumerate(saved["category_vocab"])}
    manifest, root = load_dataset(params)
    _, qcrop, gcrop = row_crops(settings)
    ev = config.profile_settings(params).get("eval", {})
    n_boot, seed = int(ev.get("n_boot", 1000)), int(params["seed"])
    metrics: dict[str, float] = {"category_n_classes": float(len(vocab))}
    for split in ce["splits"]:
        rows = manifest[manifest["split"] == split]
        rows = with_category_column(rows, settings, method)
        known = rows["category"].isin(vocab)
        prefix = PREFIX[split]
        metrics[f"{prefix}_n_unknown"] = float((~known).sum())
        rows = rows[known]
        metrics[f"{prefix}_n_images"] = float(len(rows))
        if rows.empty:
            raise ContractError(f"category_eval@{method}: no {split!r} image has a category the classifier "
                                f"was trained on ({sorted(vocab)})")
        scores = category_scores(model, rows, root, qcrop if split == "query" else gcrop, int(saved["size"]),
                                 int(settings.get("embed_batch_size", 256)), progress)
        labels = rows["category"].map(vocab).to_numpy(int)
        metrics.update(split_metrics(scores, labels, ce["ks"], prefix, n_boot=n_boot, seed=seed))
    save_metrics(extra_metrics_path(method), metrics)
    return metrics
