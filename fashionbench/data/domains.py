"""Shop and consumer domain codes (one definition: samplers, losses and triplets use it)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from fashionbench.core.errors import ContractError

SHOP, CONSUMER = 0, 1


_DOMAIN_WORDS = {"shop": SHOP, "consumer": CONSUMER}


def domain_codes(domains: torch.Tensor | np.ndarray | Sequence[Any], n: int | None = None) -> np.ndarray:
    """Domains as an int array (0 shop, 1 consumer) from codes or the manifest's words."""
    if isinstance(domains, torch.Tensor):
        arr = domains.detach().cpu().numpy()
    else:
        arr = np.asarray(domains)
    if arr.dtype.kind in "US" or arr.dtype == object:
        bad = sorted({str(v) for v in arr.tolist() if v not in _DOMAIN_WORDS})
        if bad:
            raise ContractError(f"domains: unknown value(s) {bad}; expected 'shop' or 'consumer'")
        arr = np.array([_DOMAIN_WORDS[v] for v in arr.tolist()], dtype=np.int64)
    arr = arr.astype(np.int64, copy=False).reshape(-1)
    bad_codes = sorted(set(np.unique(arr).tolist()) - {SHOP, CONSUMER})
    if bad_codes:
        raise ContractError(f"domains: unknown code(s) {bad_codes}; expected 0 (shop) or 1 (consumer)")
    if n is not None and len(arr) != n:
        raise ContractError(f"domains: {len(arr)} values for a batch of {n}")
    return arr
