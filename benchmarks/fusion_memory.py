"""Peak memory (and time) of `fashionbench.fusion.fuse_search` on a large synthetic gallery.

1,000 queries x 150,000 gallery items, 4 models of 64/128/192/256 dims (random
L2-normalised float32), top-50. The inputs alone take ~384 MB; a dense float32 Q x G fused
matrix would add 600 MB, which the chunked search never allocates.

Run: .venv/bin/python benchmarks/fusion_memory.py [--queries N --gallery N --chunk-size N]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from fashionbench.retrieval.fusion import fuse_search


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no full-size temporary
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--gallery", type=int, default=150_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128, 192, 256])
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    qs = [_unit(rng, a.queries, d) for d in a.dims]
    gs = [_unit(rng, a.gallery, d) for d in a.dims]
    in_mb = sum(x.nbytes for x in qs + gs) / 2**20
    base = _peak_rss_mb()
    print(f"inputs: {a.queries} queries x {a.gallery} gallery, dims {a.dims}: {in_mb:.0f} MB; "
          f"peak RSS before fusion {base:.0f} MB; a dense Q x G float32 would be "
          f"{a.queries * a.gallery * 4 / 2**20:.0f} MB")
    tracemalloc.start()
    t = time.perf_counter()
    idx, dist = fuse_search(qs, gs, a.k, chunk_size=a.chunk_size)
    dt = time.perf_counter() - t
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _peak_rss_mb()
    print(f"fuse_search top-{a.k}: {dt:.2f} s; peak RSS {peak:.0f} MB "
          f"(+{peak - base:.0f} MB over the inputs); numpy peak inside fuse_search "
          f"(tracemalloc) {traced / 2**20:.1f} MB; result {idx.shape}")


if __name__ == "__main__":
    main()
