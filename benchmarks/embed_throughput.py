"""Embedding throughput against the raw forward pass of the same model on the same batches.

Usage: ``python benchmarks/embed_throughput.py [--n 2048] [--size 64] [--batch 256] [--repeats 3]
[--json benchmarks/embed_throughput.json]``

The speed issue asks that embedding (``fashionbench.engine.embedding.embed_dataset``: batches from
the crop cache, normalisation, forward pass, L2 normalisation, copy to numpy) run at >= 0.9x the
raw forward pass (``model(x)`` under ``torch.no_grad()`` on batch tensors built beforehand). Both
are timed on the default rows' model (EfficientNet-Lite0, ``arch: global``, 64 px, random weights:
the weights do not change the cost) over ``--n`` synthetic crops written as PNG files to a
temporary folder; decoding them into the crop cache (once per stage) is timed apart.
Median of ``--repeats`` passes each, after one warm-up pass. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fashionbench.data.imaging import CropDataset, batch_loader
from fashionbench.engine.embedding import embed_dataset
from fashionbench.models import build_model


def synthetic_manifest(folder: Path, n: int, side: int = 80, seed: int = 0) -> pd.DataFrame:
    """``n`` random RGB PNGs of ``side``² px under ``folder`` and a manifest of them (full crops)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        path = f"img/{i:06d}.png"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / path)
        rows.append({"uid": str(i), "path": path, "item_id": f"i{i // 3}", "category": f"c{i % 4}",
                     "domain": "shop", "split": "gallery"})
    return pd.DataFrame(rows)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()

    torch.manual_seed(0)
    model = build_model({"arch": "global", "backbone": "efficientnet_lite0"}, 100, 4).eval()
    with tempfile.TemporaryDirectory() as tmp:
        df = synthetic_manifest(Path(tmp), args.n)
        t0 = time.perf_counter()
        ds = CropDataset(df, tmp, "full", args.size)
        decode_s = time.perf_counter() - t0
    batches = [torch.arange(i, min(i + args.batch, len(ds))) for i in range(0, len(ds), args.batch)]
    inputs = [b[0] for b in batch_loader(ds, batches)]

    def raw() -> None:
        with torch.no_grad():
            for x in inputs:
                model(x)

    def embed() -> None:
        embed_dataset(model, ds, batch_size=args.batch, progress=False)

    raw_s = median_seconds(raw, args.repeats)
    embed_s = median_seconds(embed, args.repeats)
    out = {"n_images": args.n, "size": args.size, "batch": args.batch, "repeats": args.repeats,
           "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
           "raw_forward_img_per_s": round(args.n / raw_s, 1), "embed_img_per_s": round(args.n / embed_s, 1),
           "embed_over_raw": round(raw_s / embed_s, 3), "decode_into_cache_img_per_s": round(args.n / decode_s, 1),
           "embed_with_decode_over_raw": round(raw_s / (embed_s + decode_s), 3)}
    for k, v in out.items():
        print(f"{k:>28}: {v}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
