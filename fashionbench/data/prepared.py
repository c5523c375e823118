"""The prepared dataset as later stages read it: its card, its manifest (with the detect stage's boxes merged in) and the folder its images resolve against."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from fashionbench.core import config
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.paths import prepared_dir


def raw_dataset_root(params: Mapping[str, Any]) -> Path:
    """``dataset.root`` resolved against the project (real datasets)."""
    ds = config.dataset_settings(params)
    if not ds.get("root"):
        raise ConfigError(f"dataset.root: dataset {ds['name']!r} needs the folder holding its files "
                          f"(README 'Real datasets' lists each dataset's layout)")
    p = Path(ds["root"])
    return p if p.is_absolute() else (config.project_root() / p).resolve()


def load_dataset(params: Mapping[str, Any] | None = None,
                 with_detections: bool = True) -> tuple[pd.DataFrame, Path]:
    """The prepared dataset's validated manifest and the folder its image paths resolve against.

    With ``with_detections`` (default) and ``artifacts/detect/boxes.csv`` present, the detect
    stage's crop boxes (``detected_*``, ``union_*``, ``fused_*``) are merged in by ``uid``
    (:func:`merge_detected_boxes`), enabling those crop modes.
    """
    from fashionbench.data.manifest import read_manifest
    folder = prepared_dir()
    card = load_card()
    images_root = Path(card.get("images_root", "."))
    images_root = images_root if images_root.is_absolute() else (folder / images_root).resolve()
    manifest = read_manifest(folder / "manifest.csv")
    if with_detections:
        from fashionbench.core.paths import boxes_path
        from fashionbench.data.prepared import merge_detected_boxes
        if boxes_path().is_file():
            manifest = merge_detected_boxes(manifest, boxes_path())
    return manifest, images_root


def load_card() -> dict[str, Any]:
    """The prepared dataset's card (``data/prepared/dataset.json``)."""
    path = prepared_dir() / "dataset.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no prepared dataset; run the prepare stage (dvc repro prepare)")
    return json.loads(path.read_text(encoding="utf-8"))


def with_category_column(rows: pd.DataFrame, settings: Mapping[str, Any], method: str) -> pd.DataFrame:
    """``rows`` whose ``category`` (the class of category heads and losses) is taken from the
    manifest column named by the row's ``category_column`` (default ``category``: unchanged).

    Paper ``park`` trains its category classifier on fine categories (``category_column:
    subcategory``: the 10 Fashion-MNIST classes here, DeepFashion's fine categories on In-Shop),
    where the 3 super-categories would make top-3 accuracy trivially 100 %.
    """
    col = settings.get("category_column", "category")
    if col == "category":
        return rows
    if not isinstance(col, str) or col not in rows.columns:
        raise ConfigError(f"methods.{method}.category_column: the manifest has no column {col!r}")
    missing = rows[col].isna()
    if missing.any():
        raise ContractError(f"methods.{method}.category_column: row uid={rows['uid'][missing].iloc[0]!r} "
                            f"has no {col!r} value")
    return rows.assign(category=rows[col].astype(str))


_DETECT_COLUMNS = tuple(f"{m}_{c}" for m in ("detected", "union", "fused") for c in ("x1", "y1", "x2", "y2"))


def merge_detected_boxes(manifest: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """The manifest with the ``detected_*``, ``union_*`` and ``fused_*`` box columns of ``path`` (boxes.csv).

    Every manifest ``uid`` must be in the file with finite, non-degenerate boxes; otherwise a
    :class:`ContractError` names the file and the first uid (the file was made from another
    prepared dataset: re-run the detect stage). Columns already in the manifest with these
    names are replaced.
    """
    path = Path(path)
    try:
        det = pd.read_csv(path, dtype={"uid": str}, keep_default_na=False, na_values={c: [""] for c in _DETECT_COLUMNS})
    except Exception as exc:
        raise ContractError(f"{path}: cannot be read as the detect stage's boxes table ({exc})") from exc
    missing_cols = [c for c in ("uid", *_DETECT_COLUMNS) if c not in det.columns]
    if missing_cols:
        raise ContractError(f"{path}: missing column(s) {missing_cols}; re-run the detect stage (dvc repro detect)")
    det = det[["uid", *_DETECT_COLUMNS]].drop_duplicates("uid")
    absent = ~manifest["uid"].isin(det["uid"]).to_numpy()
    if absent.any():
        raise ContractError(f"{path}: {int(absent.sum())} manifest uid(s) have no detect boxes (first "
                            f"{manifest['uid'].iloc[int(np.flatnonzero(absent)[0])]!r}): the file comes from another "
                            "prepared dataset; re-run the detect stage (dvc repro detect)")
    vals = det[list(_DETECT_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(vals).all(axis=1)
    for j in range(0, len(_DETECT_COLUMNS), 4):
        bad |= (vals[:, j + 2] <= vals[:, j]) | (vals[:, j + 3] <= vals[:, j + 1])
    if bad.any():
        raise ContractError(f"{path}: {int(bad.sum())} row(s) with a missing or degenerate box; first uid="
                            f"{det['uid'].iloc[int(np.flatnonzero(bad)[0])]!r}")
    det[list(_DETECT_COLUMNS)] = vals
    base = manifest.drop(columns=[c for c in _DETECT_COLUMNS if c in manifest.columns])
    merged = base.merge(det, on="uid", how="left", sort=False)
    merged.index = pd.RangeIndex(len(merged))
    return merged
