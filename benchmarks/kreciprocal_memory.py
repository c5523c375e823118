"""Peak memory and time of k-reciprocal re-ranking: sparse ``k_reciprocal`` vs the dense reference.

Synthetic clustered data: N = queries + gallery L2-normalised 256-d vectors (10% queries),
N / 10 clusters (about ten images per product). Every (size, method) case runs in its own
Python process so that the peak RSS (``resource.getrusage``, which never goes down) belongs to
that case alone; the dense reference runs only where its N x N float64 matrices fit (10k).

    .venv/bin/python benchmarks/kreciprocal_memory.py                       # 10k, 30k, 100k
    .venv/bin/python benchmarks/kreciprocal_memory.py --sizes 10000 --out benchmarks/results/kreciprocal_memory.json
    .venv/bin/python benchmarks/kreciprocal_memory.py --case 30000 sparse   # one case, JSON line

Threads are capped at 2 (OMP/BLAS), the budget the project targets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402  (after the thread caps)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fashionbench.core.atomic import write_json
from fashionbench.retrieval.rerank import k_reciprocal, k_reciprocal_dense

DIM = 256
QUERY_SHARE = 0.1
PARAMS = {"k1": 20, "k2": 6, "lambda_value": 0.3}
TOP_K = 100
DENSE_MAX_N = 10_000


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered, L2-normalised float32 data: (query [0.1 N, 256], gallery [0.9 N, 256])."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 10, 1), DIM), dtype=np.float32)
    x = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 8192):  # in blocks: no float64 N x D temporary
        e = min(s + 8192, n)
        block = centres[rng.integers(0, len(centres), e - s)]
        block += 0.6 * rng.standard_normal((e - s, DIM), dtype=np.float32)
        x[s:e] = block / np.linalg.norm(block, axis=1, keepdims=True)
    n_q = int(round(QUERY_SHARE * n))
    return x[:n_q], x[n_q:]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_case(n: int, method: str) -> dict:
    """Run one case in this process and return its measurements."""
    q, g = make_data(n)
    base = _rss_mib()
    t0 = time.perf_counter()
    if method == "sparse":
        idx, dist = k_reciprocal(q, g, top_k=TOP_K, **PARAMS)
    elif method == "dense":
        final = k_reciprocal_dense(q, g, **PARAMS)
    else:
        raise SystemExit(f"unknown method {method!r}")
    seconds = time.perf_counter() - t0
    peak = _rss_mib()
    out = {"n": n, "n_query": len(q), "n_gallery": len(g), "dim": DIM, "method": method,
           "seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1),
           "rss_before_call_mib": round(base, 1)}
    if method == "dense":  # agreement of the sparse version with the reference (not timed)
        idx, dist = k_reciprocal(q, g, top_k=TOP_K, **PARAMS)
        ref_idx = np.argsort(final, axis=1, kind="stable")[:, :TOP_K]
        out["max_abs_diff_vs_sparse"] = float(
            np.abs(np.take_along_axis(final, ref_idx, 1) - dist).max())
        out["top10_agreement_vs_sparse"] = float((ref_idx[:, :10] == idx[:, :10]).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--case", nargs=2, metavar=("N", "METHOD"), help="run one case here")
    ap.add_argument("--out", type=Path, help="write the results as JSON (atomically)")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1])), flush=True)
        return
    results = []
    for n in args.sizes:
        for method in (["dense"] if n <= DENSE_MAX_N else []) + ["sparse"]:
            proc = subprocess.run([sys.executable, __file__, "--case", str(n), method],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"case N={n} {method} failed (exit {proc.returncode})")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            print(json.dumps(res), flush=True)
    print("\n| N (Q + G) | method | time (s) | peak RSS (MiB) | RSS before call (MiB) |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['n']:,} ({r['n_query']:,} + {r['n_gallery']:,}) | {r['method']} | "
              f"{r['seconds']} | {r['peak_rss_mib']} | {r['rss_before_call_mib']} |")
    if args.out:
        write_json(args.out, {"params": {**PARAMS, "top_k": TOP_K, "dim": DIM,
                                         "query_share": QUERY_SHARE}, "results": results})


if __name__ == "__main__":
    main()
