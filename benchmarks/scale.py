"""Search at gallery scale: exact vs approximate (IVF) time, memory and recall@10 on 2 CPU cores.

Galleries of 10k -> 100k -> 1M synthetic 256-d L2-normalised embeddings: items of 4 images
around an item centre, the centres either grouped in 1,024 "style" clusters (``--styles 1024``,
default: the cluster structure of real retrieval features) or uniform on the sphere
(``--styles 0``: no structure, the worst case for IVF), and 1,000 queries (new "photos" of
gallery items). Each (size, method) runs in its own process so
that its peak RSS is its own. Methods, all through ``fashionbench.search``:

- ``exact``          ``search()``: the gallery in RAM plus faiss' IndexFlatIP copy of it.
- ``exact-blocked``  ``exact_search_blocked()``: the same answer, the gallery read in blocks of
                     131,072 rows (generated on the fly here, as a memory-mapped file would be
                     read), so memory is bounded by one block.
- ``ivf_flat``       ``ApproximateIndex`` IVF-Flat, nlist = sqrt(G), searched at several nprobe.
- ``ivf_pq``         IVF-PQ (m = 32 sub-quantizers x 8 bits = 32 bytes a vector), same nlist.

The approximate indexes are built from the block-generated gallery (never the whole matrix in
RAM); recall@10 is measured against the exact top-10 of the ``exact`` run.

Run: .venv/bin/python benchmarks/scale.py [--sizes 10000 100000 1000000 --queries 1000]
     (writes benchmarks/scale_results.json and prints a Markdown table); the README's second
     table: ... --styles 0 --methods exact ivf_flat ivf_pq --out benchmarks/scale_results_uniform.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 16384  # rows generated per seeded block (items never straddle blocks: 4 | BLOCK)
PER_ITEM = 4
N_STYLES = 1024


class SyntheticGallery:
    """A deterministic [n, d] float32 gallery generated block by block (array-like: ``shape``,
    ``len``, slices and sorted fancy indexing), so it never has to exist whole in memory."""

    def __init__(self, n: int, d: int, seed: int = 0, styles: int = N_STYLES):
        self.n, self.d, self.seed = n, d, seed
        self.shape = (n, d)
        self.dtype = np.dtype(np.float32)
        # styles = 0: item centres uniform on the sphere (no cluster structure: IVF's worst case)
        self.styles = ((np.random.default_rng([seed, 1]).standard_normal((styles, d)) / np.sqrt(d)).astype(np.float32)
                       if styles else None)
        self.gen_s = self.gen_cpu = 0.0  # wall / CPU seconds spent generating blocks (subtracted from timings)

    def __len__(self) -> int:
        return self.n

    def item_centres(self, block: int) -> np.ndarray:
        """Centres of the items whose images are rows ``block * BLOCK ...`` ([BLOCK / 4, d])."""
        rng = np.random.default_rng([self.seed, 2, block])
        if self.styles is None:
            return rng.standard_normal((BLOCK // PER_ITEM, self.d), dtype=np.float32) / np.float32(np.sqrt(self.d))
        style = rng.integers(0, len(self.styles), BLOCK // PER_ITEM)
        noise = rng.standard_normal((BLOCK // PER_ITEM, self.d), dtype=np.float32)
        return self.styles[style] + np.float32(0.6 / np.sqrt(self.d)) * noise

    def block(self, b: int) -> np.ndarray:
        t, c = time.perf_counter(), time.process_time()
        rng = np.random.default_rng([self.seed, 3, b])
        x = np.repeat(self.item_centres(b), PER_ITEM, axis=0)
        x += np.float32(0.4 / np.sqrt(self.d)) * rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        stop = min(BLOCK, self.n - b * BLOCK)
        self.gen_s += time.perf_counter() - t
        self.gen_cpu += time.process_time() - c
        return x[:stop]

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n)
            if step != 1:
                raise IndexError("step slices are not supported")
            if stop <= start:
                return np.zeros((0, self.d), np.float32)
            parts = [self.block(b) for b in range(start // BLOCK, (stop - 1) // BLOCK + 1)]
            off = (start // BLOCK) * BLOCK
            return np.concatenate(parts)[start - off:stop - off]
        rows = np.asarray(key)
        out = np.empty((len(rows), self.d), np.float32)
        for b in np.unique(rows // BLOCK):
            sel = rows // BLOCK == b
            out[sel] = self.block(int(b))[rows[sel] - b * BLOCK]
        return out

    def queries(self, n_q: int) -> np.ndarray:
        """New photos of random gallery items (same item centre, fresh noise)."""
        rng = np.random.default_rng([self.seed, 4])
        rows = np.sort(rng.choice(self.n, size=n_q, replace=False))
        out = np.empty((n_q, self.d), np.float32)
        for i, r in enumerate(rows):
            b = int(r // BLOCK)
            c = self.item_centres(b)[(r - b * BLOCK) // PER_ITEM]
            x = c + 0.4 * rng.standard_normal(self.d) / np.sqrt(self.d)
            out[i] = x / np.linalg.norm(x)
        return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class _Clock:
    """Wall and CPU (user + system, all threads) seconds of a block of work."""

    def __enter__(self) -> "_Clock":
        self.t, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.t, time.process_time() - self.c


def child(method: str, n: int, n_q: int, d: int, truth: Path, styles: int = N_STYLES) -> dict:
    """One measurement (run in a fresh process)."""
    from fashionbench.retrieval.search import ApproximateIndex, exact_search_blocked, index_recall, index_spec, search

    g = SyntheticGallery(n, d, styles=styles)
    q = g.queries(n_q)
    base_rss = _peak_rss_mb()
    rec: dict = {"gallery": n, "queries": n_q, "dim": d, "styles": styles, "method": method}
    rec["build_s"] = rec["build_cpu_s"] = 0.0
    if method == "exact":
        full = g[0:n]
        with _Clock() as c:
            idx, _ = search(q, full, 10, use_gpu=False)
        rec["search_s"], rec["search_cpu_s"] = round(c.wall, 2), round(c.cpu, 2)
        np.save(truth, idx)
        rec["recall@10"] = 1.0
    elif method == "exact-blocked":
        g.gen_s = g.gen_cpu = 0.0
        with _Clock() as c:
            idx, _ = exact_search_blocked(q, g, 10, block_rows=8 * BLOCK, use_gpu=False)
        # minus the time spent generating the synthetic blocks (a real run reads them from disk)
        rec["search_s"], rec["search_cpu_s"] = round(c.wall - g.gen_s, 2), round(c.cpu - g.gen_cpu, 2)
        rec["recall@10"] = index_recall(idx, np.load(truth), [10])[10]
    else:
        spec = index_spec({"type": method, "m": 32} if method == "ivf_pq" else {"type": method})
        g.gen_s = g.gen_cpu = 0.0
        with _Clock() as c:
            built = ApproximateIndex.build(spec, g, use_gpu=False)
        rec["build_s"], rec["build_cpu_s"] = round(c.wall - g.gen_s, 2), round(c.cpu - g.gen_cpu, 2)
        rec["nlist"] = int(built.cpu.nlist)
        exact = np.load(truth)
        rec["by_nprobe"] = {}
        for nprobe in (4, 16, 64):
            built.cpu.nprobe = min(nprobe, built.cpu.nlist)
            with _Clock() as c:
                _, idx = built.search(q, 10)
            rec["by_nprobe"][nprobe] = {"search_s": round(c.wall, 3), "search_cpu_s": round(c.cpu, 3),
                                        "recall@10": round(index_recall(idx, exact, [10])[10], 4)}
        if method == "ivf_pq":  # 40 PQ candidates re-scored with exact inner products read from the gallery
            from fashionbench.retrieval.search import _search_built
            built.cpu.nprobe = min(16, built.cpu.nlist)
            rescored = ApproximateIndex(index_spec({"type": "ivf_pq", "m": 32, "rescore": True, "k_factor": 4}),
                                        built.cpu, built.n, built.d)
            g.gen_s = g.gen_cpu = 0.0
            with _Clock() as c:
                idx, _ = _search_built(rescored, q, g, 10, 4096)
            rec["by_nprobe"]["16, rescored x4"] = {
                "search_s": round(c.wall - g.gen_s, 3), "search_cpu_s": round(c.cpu - g.gen_cpu, 3),
                "recall@10": round(index_recall(idx, exact, [10])[10], 4)}
    rec["peak_rss_mb"] = round(_peak_rss_mb())
    rec["base_rss_mb"] = round(base_rss)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--styles", type=int, default=N_STYLES,
                    help="style clusters of the synthetic data (0 = uniform item centres: no structure)")
    ap.add_argument("--methods", nargs="+", default=["exact", "exact-blocked", "ivf_flat", "ivf_pq"])
    ap.add_argument("--out", default=str(Path(__file__).with_name("scale_results.json")))
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "TRUTH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], a.sizes[0], a.queries, a.dim, Path(a.child[1]), a.styles)))
        return
    results = []
    load0 = os.getloadavg()
    # PASSIVE: idle OpenMP threads sleep instead of spinning (the 2 cores are shared)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            truth = Path(tmp) / f"truth-{n}.npy"
            for m in a.methods:
                t = time.perf_counter()
                out = subprocess.run([sys.executable, __file__, "--sizes", str(n), "--queries", str(a.queries),
                                      "--dim", str(a.dim), "--styles", str(a.styles), "--child", m, str(truth)],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise SystemExit(f"{m} at {n}: failed\n{out.stderr[-3000:]}")
                rec = json.loads(out.stdout.strip().splitlines()[-1])
                rec["wall_s"] = round(time.perf_counter() - t, 1)
                results.append(rec)
                print(json.dumps(rec), flush=True)
    meta = {"cpu_count": os.cpu_count(), "omp_threads": env["OMP_NUM_THREADS"],
            "omp_wait_policy": env["OMP_WAIT_POLICY"], "load_average_at_start": load0,
            "load_average_at_end": os.getloadavg()}
    Path(a.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(table(results))
    print(meta)


def table(results: list[dict]) -> str:
    """The README's Markdown table."""
    lines = ["| gallery | method | build s (CPU s) | search s (CPU s), all queries | peak RSS MB | recall@10 |",
             "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        build = f"{r['build_s']:.1f} ({r['build_cpu_s']:.1f})" if r["build_s"] else "-"
        if "by_nprobe" in r:
            for nprobe, v in r["by_nprobe"].items():
                lines.append(f"| {r['gallery']:,} | {r['method']} (nlist {r['nlist']}, nprobe {nprobe}) | {build} | "
                             f"{v['search_s']:.2f} ({v['search_cpu_s']:.2f}) | {r['peak_rss_mb']:,} | "
                             f"{v['recall@10']:.3f} |")
        else:
            lines.append(f"| {r['gallery']:,} | {r['method']} | {build} | {r['search_s']:.2f} ({r['search_cpu_s']:.2f})"
                         f" | {r['peak_rss_mb']:,} | {r['recall@10']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
