"""Stage ``triplet_eval@<method>``: triplet accuracy of a trained row on the fixed validation triplets (paper zhan)."""

from __future__ import annotations

from typing import Any, Mapping

from fashionbench.core.paths import model_dir
from fashionbench.data.prepared import load_dataset
from fashionbench.data.splits import select_train_rows

from fashionbench.core.errors import ConfigError
from fashionbench.core.paths import extra_metrics_path, per_triplet_path
from fashionbench.papers.zhan.triplets import (
    TRAIN_TRIPLET_STREAM,
    TRIPLET_STREAM,
    build_triplets,
    embed_rows,
    eval_settings,
    score_triplets,
    summarize,
)


def evaluate_method(params: Mapping[str, Any], method: str, progress: bool = True) -> dict[str, float]:
    """The ``triplet_eval`` stage for ``method``: score its validation triplets, write both files."""
    from fashionbench.core import config
    from fashionbench.core.artifacts import save_metrics
    from fashionbench.core.atomic import atomic_path
    from fashionbench.engine.training import load_trained

    settings = config.method_settings(params, method)
    if not settings.get("holdout"):
        raise ConfigError(f"methods.{method}.holdout: the triplet_eval stage needs validation items held "
                          "out of training (e.g. holdout: 0.2)")
    ev = eval_settings(params)
    seed = int(params["seed"])
    manifest, root = load_dataset(params)
    train_rows, val_rows = select_train_rows(params, method, manifest)
    kw = {"negatives": ev["negatives"], "easy_fraction": ev["easy_fraction"], "seed": seed}
    val_set = build_triplets(val_rows, **kw, stream=TRIPLET_STREAM, where=f"{method} validation rows")
    train_set = build_triplets(train_rows, **kw, stream=TRAIN_TRIPLET_STREAM, where=f"{method} training rows")
    model, saved = load_trained(model_dir(method))
    loss = settings.get("loss") or {}
    normalize = bool(loss.get("normalize", False)) if loss.get("loss") == "zhan_triplet" else False
    crop = settings.get("crop", "given")
    scored = {}
    for name, tset, rows in (("val", val_set, val_rows), ("train", train_set, train_rows)):
        needed = set(tset.table[["anchor", "positive", "negative"]].to_numpy().ravel())
        sub = rows[rows["uid"].astype(str).isin(needed)]
        feats = embed_rows(model, sub, root, crop, int(saved["size"]), normalize=normalize, progress=progress)
        scored[name] = score_triplets(tset.table, sub["uid"].to_numpy(str), feats)
    metrics = summarize(scored["val"], val_set, scored["train"])
    with atomic_path(per_triplet_path(method)) as tmp:
        scored["val"].to_csv(tmp, index=False)
    save_metrics(extra_metrics_path(method), metrics)
    return metrics
