"""The manifest contract: one row per image, or per annotated item where an image holds several.

Required columns (see ``docs/contracts.md``):

=========  =================================================================================
uid        unique row id (string)
path       image path relative to the dataset root (POSIX separators, must stay inside it)
item_id    product identity (string); retrieval hits are matched on it
category   super-category, e.g. ``clothes`` / ``shoes`` / ``bags`` (string)
domain     ``shop`` or ``consumer``
split      ``train``, ``query`` or ``gallery``
x1..y2     the dataset's *given* box in absolute pixels (float)
=========  =================================================================================

Optional columns with a fixed meaning: ``gt_x1..gt_y2`` (ground-truth box, pixels),
``width``/``height`` (image size, pixels), ``subcategory``, ``pair_id``, ``style``, ``source``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from fashionbench.core.atomic import atomic_path
from fashionbench.core.errors import ContractError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "uid", "path", "item_id", "category", "domain", "split", "x1", "y1", "x2", "y2")
BOX_COLUMNS: tuple[str, ...] = ("x1", "y1", "x2", "y2")
GT_BOX_COLUMNS: tuple[str, ...] = ("gt_x1", "gt_y1", "gt_x2", "gt_y2")
DOMAINS: frozenset[str] = frozenset({"shop", "consumer"})
SPLITS: frozenset[str] = frozenset({"train", "query", "gallery"})
STRING_COLUMNS: tuple[str, ...] = ("uid", "path", "item_id", "category", "domain", "split")


def _row_msg(source: str, df: pd.DataFrame, mask: np.ndarray, what: str) -> str:
    pos = int(np.flatnonzero(mask)[0])
    # +2: header line and 1-based numbering, so the number matches a CSV editor's line
    return (f"{source}: {int(mask.sum())} row(s) {what}; first at data row {pos} "
            f"(line {pos + 2}), uid={df['uid'].iloc[pos]!r}")


def validate_manifest(df: pd.DataFrame, source: str = "<manifest>", root: str | os.PathLike | None = None,
                      check_files: bool = False) -> pd.DataFrame:
    """Validate a manifest and return it with normalised dtypes.

    Raises :class:`ContractError` naming ``source`` and the first offending row for: missing
    columns, empty or duplicate ``uid``, unknown ``domain``/``split``, non-numeric or NaN box
    coordinates, degenerate boxes (x2 <= x1 or y2 <= y1), boxes outside the image (when
    ``width``/``height`` are given), paths that are absolute or escape the root, and (with
    ``check_files``) image files that do not exist under ``root``.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ContractError(f"{source}: missing column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    df = df.copy()
    df.index = pd.RangeIndex(len(df))
    for c in STRING_COLUMNS:
        na = df[c].isna().to_numpy() | (df[c].astype(str).str.len() == 0).to_numpy()
        if na.any():
            raise ContractError(_row_msg(source, df.assign(uid=df["uid"].astype(str)), na, f"have an empty '{c}'"))
        df[c] = df[c].astype(str)
    dup = df["uid"].duplicated(keep="first").to_numpy()
    if dup.any():
        raise ContractError(_row_msg(source, df, dup, "repeat an earlier 'uid' (ids must be unique)"))
    for c, allowed in (("domain", DOMAINS), ("split", SPLITS)):
        bad = ~df[c].isin(allowed).to_numpy()
        if bad.any():
            raise ContractError(_row_msg(source, df, bad, f"have '{c}' outside {sorted(allowed)} "
                                         f"(e.g. {df[c][bad].iloc[0]!r})"))
    paths = df["path"]
    bad_sep = paths.str.contains("\\\\", regex=True).to_numpy()
    if bad_sep.any():
        raise ContractError(_row_msg(source, df, bad_sep, "use '\\' in 'path' (use '/')"))
    escapes = np.array([PurePosixPath(p).is_absolute() or ".." in PurePosixPath(p).parts for p in paths])
    if escapes.any():
        raise ContractError(_row_msg(source, df, escapes, "have a 'path' that is absolute or escapes the dataset root"))
    box_sets = [BOX_COLUMNS] + ([GT_BOX_COLUMNS] if all(c in df.columns for c in GT_BOX_COLUMNS) else [])
    for cols in box_sets:
        for c in cols:
            vals = pd.to_numeric(df[c], errors="coerce")
            bad = vals.isna().to_numpy()
            if bad.any():
                raise ContractError(_row_msg(source, df, bad, f"have a missing or non-numeric '{c}'"))
            df[c] = vals.astype(np.float64)
        x1, y1, x2, y2 = (df[c].to_numpy() for c in cols)
        degenerate = (x2 <= x1) | (y2 <= y1)
        if degenerate.any():
            raise ContractError(_row_msg(source, df, degenerate, f"have a degenerate box {list(cols)} (x2<=x1 or y2<=y1)"))
        outside = (x1 < 0) | (y1 < 0)
        if "width" in df.columns and "height" in df.columns:
            w = pd.to_numeric(df["width"], errors="coerce").to_numpy()
            h = pd.to_numeric(df["height"], errors="coerce").to_numpy()
            outside |= (x2 > w) | (y2 > h)
        if outside.any():
            raise ContractError(_row_msg(source, df, outside, f"have a box {list(cols)} outside the image"))
    if check_files:
        if root is None:
            raise ValueError("check_files=True needs root")
        rootp = Path(root)
        exists = np.array([(rootp / p).is_file() for p in paths])
        if not exists.all():
            first = paths[~exists].iloc[0]
            raise ContractError(_row_msg(source, df, ~exists, f"point to a missing image (e.g. {rootp / first})"))
    return df


def read_manifest(path: str | os.PathLike, check_files: bool = False) -> pd.DataFrame:
    """Read a manifest CSV (or Parquet) and validate it; image paths resolve against its folder."""
    p = Path(path)
    if not p.is_file():
        raise ContractError(f"{p}: manifest not found")
    try:
        # only an empty field is missing ("NA" stays a string id); optional numeric columns
        # with gaps (Street2Shop's street photos have no width/height) must read as NaN, not ""
        columns = [] if p.suffix == ".parquet" else list(pd.read_csv(p, nrows=0).columns)
        df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(
            p, dtype={c: str for c in STRING_COLUMNS}, keep_default_na=False,
            na_values={c: [""] for c in dict.fromkeys([*STRING_COLUMNS, *columns])})
    except Exception as exc:
        raise ContractError(f"{p}: cannot be parsed as a manifest ({exc})") from exc
    return validate_manifest(df, str(p), root=p.parent, check_files=check_files)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Validate and write a manifest CSV atomically."""
    df = validate_manifest(df, str(path))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.2f")
