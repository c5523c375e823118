"""Training throughput of each model arch + loss, and the cost of building sampler epochs.

Usage: ``python benchmarks/models_throughput.py [--size 64] [--batch 16] [--threads 1] [--steps 3]``

Prints one line per (arch, loss): parameters, forward+backward images/s on CPU and the final
map size; then the time to build one epoch of each sampler for a large synthetic label set.
Numbers depend on the machine and its load; they are for comparing archs, not absolute.
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np
import torch

from fashionbench.models import build_loss, build_model
from fashionbench.data.samplers import DomainAwareBatchSampler, IdentityBalancedBatchSampler

CASES = [
    ({"arch": "global", "backbone": "resnet18"}, {"loss": "ce"}),
    ({"arch": "global", "backbone": "resnet18", "pooling": "gem"}, {"loss": "ce"}),
    ({"arch": "triplet", "backbone": "resnet18"}, {"loss": "zhan_triplet"}),
    ({"arch": "cgd", "backbone": "resnet18", "descriptors": ["gem", "mac"], "embedding_dim": 128}, {"loss": "ji_multi"}),
    ({"arch": "relaxation", "backbone": "resnet18"}, {"loss": "park"}),
    ({"arch": "mgpa", "backbone": "resnet18", "parts": "all", "reduce_dim": 256}, {"loss": "mgpa_ce"}),
    ({"arch": "cosine", "backbone": "resnet18", "embedding_dim": 512}, {"loss": "am_softmax"}),
]


def bench_models(size: int, batch: int, steps: int, classes: int = 500) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g)
    items = torch.arange(batch) // 2
    cats = items % 4
    doms = torch.arange(batch) % 2
    for mspec, lspec in CASES:
        model = build_model(mspec, classes, 4).train()
        out = model(x)
        loss_fn = build_loss(lspec, classes, 4, out["embedding"].shape[1])
        kw = {"domains": doms} if "domains" in inspect.signature(loss_fn.forward).parameters else {}
        times = []
        for _ in range(steps + 1):  # the first step warms up
            t0 = time.perf_counter()
            out = model(x)
            loss, _ = loss_fn(out, items, cats, **kw)
            loss.backward()
            times.append(time.perf_counter() - t0)
        fmap = model.backbone.forward_features(x[:1]) if hasattr(model.backbone, "forward_features") else None
        params = sum(p.numel() for p in model.parameters()) + sum(p.numel() for p in loss_fn.parameters())
        arch = mspec["arch"] + (f"/{mspec['pooling']}" if "pooling" in mspec else "")
        print(f"{arch:>10} {lspec['loss']:<13} params {params / 1e6:6.2f}M  "
              f"emb {out['embedding'].shape[1]:5d}  map {tuple(fmap.shape[-2:]) if fmap is not None else '-'}  "
              f"{batch / np.median(times[1:]):7.1f} img/s")


def bench_samplers(n_items: int = 20000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_items)
    labels = np.repeat(np.arange(n_items), sizes)
    doms = (rng.random(len(labels)) < 0.5).astype(int)
    cats = np.repeat(rng.integers(0, 20, n_items), sizes)
    for name, make in [
        ("identity P=16 K=4", lambda: IdentityBalancedBatchSampler(labels, 16, 4, seed)),
        ("domain P=32", lambda: DomainAwareBatchSampler(labels, doms, 32, seed)),
        ("domain P=32 m=4", lambda: DomainAwareBatchSampler(labels, doms, 32, seed, categories=cats,
                                                            items_per_category=4)),
    ]:
        t0 = time.perf_counter()
        s = make()
        t1 = time.perf_counter()
        batches = s.batches(0)
        t2 = time.perf_counter()
        covered = len({i for b in batches for i in b}) / len(labels)
        print(f"{name:<20} {len(labels)} rows: init {t1 - t0:5.2f}s, epoch {t2 - t1:5.2f}s, "
              f"{len(batches)} batches, {covered:.1%} of rows seen")
    # the domain samplers skip items lacking a shop or a consumer row (random domains here)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--items", type=int, default=20000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), input {args.batch}x3x{args.size}x{args.size}")
    bench_models(args.size, args.batch, args.steps)
    bench_samplers(args.items)


if __name__ == "__main__":
    main()
