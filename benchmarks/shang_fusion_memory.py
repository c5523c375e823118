"""Peak memory (and time) of paper shang's routed fusion and its top-1 re-rank at JD scale.

1,000 queries x 150,000 gallery images in 3 categories (clothes / shoes / bags = 50 / 30 / 20 %),
4 models per category (final-layer sizes, default 64/128/256/512 = the default profile's), a
router that is right for 90 % of the queries and gallery images, top-100 lists, then the top-1
re-rank (depth 10) whose neighbours are searched with the same routed, fused distance.

What is measured: the numpy allocations inside ``route_search`` and ``route_top1_neighbours`` +
``top1_rerank_from_neighbours`` (tracemalloc peak: numpy reports its buffers to it) and the
process's peak RSS, beside the input size and the size of the dense query x gallery matrix that
is never built. The three categories' models of one size share one gallery array (the values do
not matter for memory), so the inputs are ``(Q + G) * sum(dims) * 4`` bytes; the working set
is what the routing adds: a block of one category's gallery rows for its models (~64 MB), plus
``fuse_search``'s ~64 MB query-chunk working set, plus the merged top-k lists.

Run: .venv/bin/python benchmarks/shang_fusion_memory.py [--queries N --gallery N --dims ...]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from fashionbench.core.artifacts import Embeddings
from fashionbench.retrieval.rerank import top1_rerank_from_neighbours
from fashionbench.retrieval.routing import route_fusion, route_top1_neighbours

CATS = ("clothes", "shoes", "bags")
SHARES = (0.5, 0.3, 0.2)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return x


def _noisy(rng: np.random.Generator, cats: np.ndarray, error: float) -> np.ndarray:
    wrong = rng.random(len(cats)) < error
    return np.where(wrong, rng.choice(CATS, len(cats)), cats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--gallery", type=int, default=150_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--router-error", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    q_cat = rng.choice(CATS, a.queries, p=SHARES)
    g_cat = rng.choice(CATS, a.gallery, p=SHARES)
    meta = dict(query_ids=np.array([f"q{i}" for i in range(a.queries)]),
                gallery_ids=np.array([f"g{i}" for i in range(a.gallery)]),
                query_labels=rng.integers(0, 50_000, a.queries).astype(str),
                gallery_labels=rng.integers(0, 50_000, a.gallery).astype(str),
                query_categories=q_cat, gallery_categories=g_cat)
    embs, names = [], []
    for d in a.dims:
        q, g = _unit(rng, a.queries, d), _unit(rng, a.gallery, d)  # shared by the 3 categories' models
        for c in CATS:
            names.append(f"shang-{c}-{d}")
            embs.append(Embeddings(query=q, gallery=g, model=names[-1], fingerprint=names[-1], **meta))
    router_q = np.zeros((a.queries, 1), np.float32)
    router_g = np.zeros((a.gallery, 1), np.float32)
    names.append("router")
    embs.append(Embeddings(query=router_q, gallery=router_g, model="router", fingerprint="router", **meta,
                           extra={"query_category_pred": _noisy(rng, q_cat, a.router_error),
                                  "gallery_category_pred": _noisy(rng, g_cat, a.router_error)}))
    row = {"routes": {c: [f"shang-{c}-{d}" for d in a.dims] for c in CATS}, "router": "router", "inputs": names,
           "top_k": a.k}
    in_mb = (a.queries + a.gallery) * sum(a.dims) * 4 / 2**20
    base = _peak_rss_mb()
    print(f"inputs: {a.queries} queries x {a.gallery} gallery, 3 categories x dims {a.dims}: {in_mb:.0f} MB "
          f"(shared per size); peak RSS before routing {base:.0f} MB; a dense Q x G float32 matrix would be "
          f"{a.queries * a.gallery * 4 / 2**20:.0f} MB (float64: {a.queries * a.gallery * 8 / 2**20:.0f} MB)")

    tracemalloc.start()
    t = time.perf_counter()
    ranking = route_fusion(embs, row)
    dt_fuse = time.perf_counter() - t
    _, traced_fuse = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    nbrs, nd = route_top1_neighbours(embs, row, ranking, a.depth)
    out = top1_rerank_from_neighbours(ranking, nbrs, nd, a.depth)
    dt_rr = time.perf_counter() - t
    _, traced_rr = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _peak_rss_mb()
    largest = max(SHARES) * a.gallery * sum(a.dims) * 4 / 2**20
    print(f"route fusion top-{a.k}: {dt_fuse:.2f} s, numpy peak inside (tracemalloc) {traced_fuse / 2**20:.0f} MB "
          f"(a copy of the largest category's gallery rows would be ~{largest:.0f} MB; it is searched in blocks)")
    print(f"top-1 re-rank (neighbours by the routed fused distance, depth {a.depth}): {dt_rr:.2f} s, "
          f"numpy peak inside {traced_rr / 2**20:.0f} MB")
    listed = int((out.indices >= 0).sum())
    print(f"peak RSS {peak:.0f} MB (+{peak - base:.0f} MB over the inputs); re-ranked lists {out.indices.shape}, "
          f"{listed} entries")


if __name__ == "__main__":
    main()
