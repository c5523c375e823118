"""Item-level hold-out splits of training rows (validation items for any method row)."""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

import numpy as np
import pandas as pd

from fashionbench.core import config
from fashionbench.core.errors import ConfigError, ContractError

#: sub-stream of the run's seed for the hold-out split (paper zhan's triplets use others)
SPLIT_STREAM = 0x5A01


def _check_columns(rows: pd.DataFrame, cols: tuple[str, ...], where: str) -> None:
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise ContractError(f"{where}: missing column(s) {missing}")


def item_categories(rows: pd.DataFrame, where: str = "rows") -> pd.Series:
    """Each item's category (index: item_id, sorted); an item with two categories is an error."""
    _check_columns(rows, ("item_id", "category"), where)
    pairs = rows[["item_id", "category"]].astype(str).drop_duplicates()
    dup = pairs["item_id"].duplicated(keep=False)
    if dup.any():
        item = pairs.loc[dup, "item_id"].iloc[0]
        raise ContractError(f"{where}: item {item!r} has rows of several categories "
                            f"{sorted(pairs.loc[pairs['item_id'] == item, 'category'])}")
    return pairs.set_index("item_id")["category"].sort_index()


def check_fraction(fraction: Any, where: str) -> float:
    """``fraction`` as a float in [0, 1) (ConfigError naming ``where`` otherwise)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= float(fraction) < 1:
        raise ConfigError(f"{where}: expected a share of items in [0, 1) such as 0.2, got {fraction!r}")
    return float(fraction)


def holdout_split(rows: pd.DataFrame, fraction: float, seed: int, where: str = "holdout"
                  ) -> tuple[list[str], list[str]]:
    """(training items, validation items), both sorted: see the module docstring."""
    fraction = check_fraction(fraction, where)
    cats = item_categories(rows, where)
    val: list[str] = []
    for cat in sorted(cats.unique()):
        items = np.array(sorted(cats.index[cats == cat]))
        n_val = min(int(math.floor(fraction * len(items) + 0.5)), len(items) - 1)
        # one generator per category (keyed by its name): a row filtered to some categories
        # (shang's per-category models) holds out exactly the items an unfiltered row does
        rng = np.random.default_rng([int(seed), SPLIT_STREAM, zlib.crc32(str(cat).encode())])
        val += items[rng.permutation(len(items))[:n_val]].tolist()
    val_set = set(val)
    return [i for i in cats.index if i not in val_set], sorted(val_set)


def split_rows(rows: pd.DataFrame, fraction: float, seed: int, where: str = "holdout"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rows`` cut into (training rows, validation rows) by :func:`holdout_split`."""
    _, val = holdout_split(rows, fraction, seed, where)
    is_val = rows["item_id"].astype(str).isin(val)
    return rows[~is_val], rows[is_val]


def select_train_rows(params: Mapping[str, Any], method: str, manifest: pd.DataFrame
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out validation rows) of ``method``: the ``train`` split, after the
    row's ``train_filter`` ({column: value or list}); with ``holdout: f`` a share ``f`` of the
    items (per category, seeded) is held out for validation (``fashionbench.papers.zhan.triplets``)."""
    settings = config.method_settings(params, method)
    train_rows = manifest[manifest["split"] == "train"]
    for col, allowed in (settings.get("train_filter") or {}).items():
        if col not in train_rows.columns:
            raise ConfigError(f"methods.{method}.train_filter: the manifest has no column {col!r}")
        allowed = [allowed] if isinstance(allowed, str) else list(allowed)
        train_rows = train_rows[train_rows[col].isin(allowed)]
    val_rows = train_rows.iloc[:0]
    if settings.get("holdout"):
        train_rows, val_rows = split_rows(train_rows, settings["holdout"], int(params["seed"]),
                                          f"methods.{method}.holdout")
    if train_rows.empty:
        raise ConfigError(f"method {method}: no 'train' rows to train on (after train_filter and holdout)")
    return train_rows, val_rows
