"""Speed and peak memory of `fashionbench.metrics.evaluate` at DeepFashion In-Shop size.

14,218 queries x 12,612 gallery images, 512-d random L2-normalised float32 embeddings,
item ids drawn uniformly from 7,982 ids (so ~20% of the queries have no match). Target:
evaluate() < 10 s on 2 CPU cores. Also times the faiss top-50 search + evaluate_ranking path.

Run: .venv/bin/python benchmarks/eval_speed.py [--queries N --gallery N --dim D --ids N]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from fashionbench.core.artifacts import Ranking
from fashionbench.retrieval.metrics import evaluate, evaluate_ranking
from fashionbench.retrieval.search import search


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no full-size temporary
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=14_218)
    ap.add_argument("--gallery", type=int, default=12_612)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--ids", type=int, default=7_982)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    q, g = _unit(rng, a.queries, a.dim), _unit(rng, a.gallery, a.dim)
    ql, gl = rng.integers(0, a.ids, a.queries), rng.integers(0, a.ids, a.gallery)
    print(f"data: {a.queries} x {a.gallery} x {a.dim}, {a.ids} ids; "
          f"peak RSS after data {_peak_rss_mb():.0f} MB")

    t = time.perf_counter()
    m = evaluate(q, g, ql, gl)
    dt = time.perf_counter() - t
    print(f"evaluate: {dt:.2f} s, peak RSS {_peak_rss_mb():.0f} MB "
          f"({'OK' if dt < 10 else 'OVER'} the 10 s target); n_queries={m['n_queries']} "
          f"n_without_match={m['n_without_match']} mAP={m['mAP']:.5f} top50={m['top50']:.5f}")

    t = time.perf_counter()
    idx, sims = search(q, g, 50)
    t_search = time.perf_counter() - t
    r = Ranking(indices=idx, distances=1 - sims, query_ids=np.arange(a.queries).astype(str),
                gallery_ids=np.arange(a.gallery).astype(str), query_labels=ql.astype(str),
                gallery_labels=gl.astype(str), query_categories=np.full(a.queries, "c"),
                gallery_categories=np.full(a.gallery, "c"), model="random", fingerprint="-")
    t = time.perf_counter()
    mr = evaluate_ranking(r)
    t_rank = time.perf_counter() - t
    same = all(mr[k] == m[k] for k in ("top1", "top10", "top50", "mAP@10"))
    print(f"search top-50 (faiss): {t_search:.2f} s; evaluate_ranking: {t_rank:.2f} s; "
          f"top-k/mAP@10 equal to evaluate: {same}; peak RSS {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
