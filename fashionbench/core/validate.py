"""Argument checks shared by the numeric modules: metrics, search, post-processing, re-ranking,
fusion, routing, stats and the retrieval protocols.

Each raises :class:`~fashionbench.errors.ContractError` (bad array) or
:class:`~fashionbench.errors.ConfigError` (bad parameter) with the argument's name in the message.
"""

from __future__ import annotations

import numpy as np

from fashionbench.core.errors import ConfigError, ContractError


def as_features(x: np.ndarray, name: str) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 [N, D] matrix; ContractError if it is not one."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ContractError(f"'{name}' must be a non-empty 2-D [N, D] matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ContractError(f"'{name}' must hold floats, got dtype {arr.dtype}")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ContractError(f"'{name}' holds {int(bad.sum())} NaN/inf values (first in row {row})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused); ConfigError naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"parameter '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"parameter '{name}' must be >= {minimum}, got {value}")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an int >= 1 (:func:`check_int` with minimum 1, in the argument order of the
    search, stats and protocol callers)."""
    return check_int(name, value, 1)
