"""Stage ``train@<method>``: train a method row on its training rows (torchrun worker entry point too)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Mapping

import pandas as pd

from fashionbench.core import config
from fashionbench.core.errors import ConfigError
from fashionbench.core.paths import model_dir
from fashionbench.data.prepared import load_dataset, with_category_column
from fashionbench.data.splits import select_train_rows
from fashionbench.engine.distributed import launch, process_group


def _expanded(rows: pd.DataFrame, crop: str, settings: Mapping[str, Any], method: str,
              seed: int) -> tuple[pd.DataFrame, str]:
    """The row's ``expansion:`` (paper ``shang``, eqs. 2-4) applied to its training rows.

    Without an ``expansion`` block: ``(rows, crop)`` unchanged. With one: the rows expanded by
    :func:`fashionbench.data.augment.expand_manifest` inside their ``crop`` boxes (the whole image for
    ``full``, which needs ``width``/``height`` columns), drawn from ``numpy`` generator
    ``default_rng(seed)``: the same seed gives the same crops to every row with the same
    settings (the paper expands the data set once, offline). Returns the new rows and their crop
    mode (``expanded``).
    """
    import numpy as np

    from fashionbench.data.augment import (
        EXPANDED_CROP,
        expand_manifest,
        expansion_settings,
    )
    from fashionbench.data.imaging import crop_boxes

    exp = expansion_settings(settings.get("expansion"), f"methods.{method}.expansion")
    if not exp:
        return rows, crop
    boxes = crop_boxes(rows, crop, f"methods.{method} (crop {crop!r})")
    if boxes is None:  # crop: full
        if not {"width", "height"} <= set(rows.columns):
            raise ConfigError(f"methods.{method}.expansion with crop 'full' needs 'width'/'height' "
                              "columns in the manifest")
        boxes = np.stack([np.zeros(len(rows)), np.zeros(len(rows)), rows["width"].to_numpy(float),
                          rows["height"].to_numpy(float)], axis=1)
    out = expand_manifest(rows, boxes, rng=np.random.default_rng(seed), **exp)
    return out, EXPANDED_CROP


def _loss_seeded(settings: Mapping[str, Any], seed: int) -> Mapping[str, Any]:
    """A seed replicate (``train_seed`` set) also moves the loss's own sampling seed (zhan's negative
    mining), by the training seed: otherwise its triplets would be the same for every replicate."""
    from fashionbench.models import LOSSES

    loss = settings.get("loss") or {}
    if settings.get("train_seed") is None or "seed" not in LOSSES.get(str(loss.get("loss")), ()):
        return settings
    return {**settings, "loss": {**loss, "seed": int(loss.get("seed", 0)) + int(seed)}}


def train(params: Mapping[str, Any], method: str, progress: bool = True) -> list[dict[str, Any]]:
    """Train ``method`` on the train split; returns the per-epoch history.

    With ``distributed: {nproc, nnodes}`` asking for more than one process, this launches
    torchrun (:mod:`fashionbench.engine.distributed`), whose ranks come back here to train.
    """
    from fashionbench.data.imaging import CropDataset, loader_settings
    from fashionbench.engine.distributed import maybe_launch
    from fashionbench.engine.training import train as run_training

    settings = config.method_settings(params, method)
    launched = maybe_launch(params, method, settings)
    if launched is not None:
        return launched
    manifest, root = load_dataset(params)
    train_rows, val_rows = select_train_rows(params, method, manifest)
    train_rows = with_category_column(train_rows, settings, method)
    crop, _, _ = config.row_crops(settings)
    validate = validation_scorer(val_rows, root, crop, int(settings["img_size"]),
                                 int(settings.get("embed_batch_size", 256)))
    seed = int(params["seed"]) if settings.get("train_seed") is None else int(settings["train_seed"])
    settings = _loss_seeded(settings, seed)
    train_rows, crop = _expanded(train_rows, crop, settings, method, seed)
    cache, _ = loader_settings(settings, f"methods.{method}")
    ds = CropDataset(train_rows, root, crop, int(settings["img_size"]), cache=cache, progress=progress)
    _, history = run_training(settings, ds, model_dir(method), seed=seed, progress=progress,
                              validate=validate)
    return history


def validation_scorer(val_rows: pd.DataFrame, root: Any, crop: str, size: int, batch_size: int = 256
                      ) -> "Callable[[Any], dict[str, float]] | None":
    """``model -> {"val_mAP", "val_top1", "val_top10", "val_chance_mAP"}`` on the held-out items
    (their consumer photos searched among their shop images, full ranking), or ``None`` without
    held-out items (a row without ``holdout``) or without both domains among them."""
    import numpy as np

    from fashionbench.data.imaging import CropDataset
    from fashionbench.engine.embedding import embed_dataset
    from fashionbench.retrieval.metrics import chance_levels, evaluate

    if val_rows is None or val_rows.empty:
        return None
    rows = val_rows.reset_index(drop=True)
    is_q = (rows["domain"] == "consumer").to_numpy()
    if not is_q.any() or is_q.all():
        return None
    ds = CropDataset(rows, root, crop, size, cache=True)
    labels = rows["item_id"].astype(str).to_numpy()
    n_rel = np.array([(labels[~is_q] == v).sum() for v in labels[is_q]])
    chance = chance_levels(n_rel[n_rel > 0], int((~is_q).sum()), int((~is_q).sum()))["mAP"]

    def score(model: Any) -> dict[str, float]:
        feats = embed_dataset(model, ds, batch_size, progress=False)
        m = evaluate(feats[is_q], feats[~is_q], labels[is_q], labels[~is_q], ks=(1, 10))
        return {"val_mAP": float(m["mAP"]), "val_top1": float(m["top1"]), "val_top10": float(m["top10"]),
                "val_chance_mAP": float(chance)}

    return score


def _worker(method: str, params_file: str) -> None:

    params = config.load_params(params_file)
    cfg = config.method_settings(params, method)
    with process_group(cfg, f"methods.{method}") as ctx:
        train(params, method, progress=ctx.is_main)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m fashionbench.pipeline.train", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    la = sub.add_parser("launch", help="run torchrun for one method on this node")
    la.add_argument("--method", required=True)
    la.add_argument("--params", default=None, help="params file (default: the project's params.yaml)")
    la.add_argument("--node-rank", type=int, default=0)
    wo = sub.add_parser("worker", help="one rank (torchrun runs this)")
    wo.add_argument("--method", required=True)
    wo.add_argument("--params", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "worker":
        _worker(a.method, a.params)
        return 0
    from fashionbench.core import config
    launch(config.load_params(a.params), a.method, node_rank=a.node_rank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
