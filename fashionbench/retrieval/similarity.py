"""Inner products that are the same bits on every CPU: float64 accumulation, rounded to float32.

Why: a float32 matrix product (numpy's BLAS, faiss) sums ``D`` products in an order chosen by the
CPU's kernel (AVX2 or AVX-512, Intel or AMD tiles), so two machines may differ in the last bits of a
similarity, and two gallery items closer than that swap places. A metric then changes in its fifth
digit from one machine to the next (seen in CI: a DBA row's mAP 0.065854 there, 0.065933 here).

Here each product of two float32 numbers is exact in float64 (24 + 24 bits < 53), the sum of ``D``
of them is off by at most ~``D * 2**-53`` of its magnitude whatever the order, and the result is
rounded to float32. That rounding gives the correctly rounded float32 of the exact inner product on
every machine, except when the exact value lies within that float64 error of a float32 rounding
boundary (a chance of ~1e-9 per value). Items whose similarities round to the same float32 are then
ordered by the callers' tie rule (ascending gallery index), which is machine independent too.
"""

from __future__ import annotations

import numpy as np

#: bytes of float64 work per block when gathering candidate vectors (:func:`candidate_products`)
_GATHER_BYTES = 64 << 20


def inner_products(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """``query @ gallery.T`` [Q, G] as float32, accumulated in float64 (module docstring).

    ``query`` [Q, D] and ``gallery`` [G, D] are float arrays of the same D; the caller bounds Q so
    that a [Q, G] float64 block fits in memory.
    """
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    return (q @ g.T).astype(np.float32)


def candidate_products(query: np.ndarray, gallery: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``query[i] . gallery[idx[i, j]]`` [Q, K] as float32, accumulated in float64.

    ``idx`` [Q, K] holds gallery row indices (``-1`` is padding and gets ``-inf``). For candidate
    lists from an index search: the work is Q x K x D, not Q x G x D; rows go in blocks of about
    64 MB of gathered float64 vectors.
    """
    q = np.asarray(query)
    g = np.asarray(gallery)
    idx = np.asarray(idx, dtype=np.int64)
    out = np.full(idx.shape, -np.inf, np.float32)
    if idx.size == 0:
        return out
    step = max(1, _GATHER_BYTES // (8 * idx.shape[1] * max(1, g.shape[1])))
    for s in range(0, len(idx), step):
        block = idx[s:s + step]
        valid = block >= 0
        cand = g[np.where(valid, block, 0)].astype(np.float64)          # [b, K, D]
        sims = np.einsum("bd,bkd->bk", q[s:s + step].astype(np.float64), cand)
        out[s:s + step] = np.where(valid, sims, -np.inf).astype(np.float32)
    return out
