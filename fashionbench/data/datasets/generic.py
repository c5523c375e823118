"""Reader for a dataset that arrives as a ready manifest (e.g. a private JD AI Fashion copy).

``root`` holds exactly one of ``manifest.csv`` or ``manifest.parquet`` with the columns of
:mod:`fashionbench.data.manifest` (``uid, path, item_id, category, domain, split, x1, y1, x2, y2``
plus optional ones); ``path`` is relative to ``root``. The file is validated row by row
(:func:`fashionbench.data.manifest.validate_manifest`): the first bad row is named by its data row,
CSV line and ``uid``. Image files are ``stat``-ed unless ``check_files=False``.

A query row whose ``item_id`` has no gallery row is an error by default (``orphan_queries``:
``error``; ``skip`` drops and counts such queries, ``keep`` keeps them: the metrics then
exclude and count them as ``n_without_match``). A truncated file shows up as a last row with
missing fields and is reported by its line like any other bad row.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd

from fashionbench.core.errors import ConfigError
from fashionbench.data.datasets._common import (
    LoadReport,
    OrphanPolicy,
    apply_orphan_policy,
    check_orphan_policy,
)
from fashionbench.data.manifest import read_manifest

NAMES: tuple[str, ...] = ("manifest.csv", "manifest.parquet")


def load(root: str | os.PathLike, *, check_files: bool = True,
         orphan_queries: OrphanPolicy = "error") -> pd.DataFrame:
    """Read and validate ``root/manifest.csv`` or ``root/manifest.parquet``."""
    check_orphan_policy(orphan_queries)
    rootp = Path(root)
    found = [rootp / n for n in NAMES if (rootp / n).is_file()] if rootp.is_dir() else []
    if not found:
        raise ConfigError(f"manifest: no manifest under {str(rootp)!r}; expected exactly one of "
                          f"{rootp / NAMES[0]} or {rootp / NAMES[1]} with the columns of fashionbench.data.manifest "
                          f"(paths relative to that folder)")
    if len(found) > 1:
        raise ConfigError(f"manifest: both {found[0]} and {found[1]} exist; keep exactly one")
    path = found[0]
    if path.suffix == ".parquet" and not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise ConfigError(f"manifest: reading {path} needs pyarrow or fastparquet, neither is installed; "
                          f"install one or convert the manifest to {rootp / NAMES[0]}")
    report = LoadReport(f"manifest {path}")
    df = read_manifest(path, check_files=check_files)
    added = "source" not in df.columns  # name rows by file and line in the orphan-query message
    if added:
        df["source"] = ([f"{path}:{i + 2}" for i in range(len(df))] if path.suffix == ".csv"
                        else [f"{path}[row {i}]" for i in range(len(df))])
    df = apply_orphan_policy(df, orphan_queries, report, "every query item needs a gallery row with its item_id")
    if added:
        df = df.drop(columns="source")
    return report.attach(df)
