"""Throughput of batched YOLO box prediction (``fashionbench.detect.predict_boxes``) on CPU.

Builds synthetic JPEG images (noise with a bright rectangle, 256x192 by default) and an
untrained detector saved from an architecture yaml (no download, no training), then times
``predict_boxes`` over all images for each ``imgsz`` x ``batch`` pair. Reported: images/s
(median of ``--repeats`` timed passes after one warm-up pass; image decoding, letterboxing,
forward pass, NMS and DataFrame building included).

The forward pass does not depend on the weights, but NMS does: an untrained model scores every
candidate below 0.001, so the default run has an (almost) empty NMS; ``--conf 0`` sends every
candidate through NMS (up to ``max_det=100`` boxes per image), an upper bound for a trained
model at ``conf=0.001``.

    .venv/bin/python benchmarks/detect_speed.py                       # imgsz 96 and 128
    .venv/bin/python benchmarks/detect_speed.py --conf 0 --threads 2 --out speed.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashionbench.detection import yolo as detect
from fashionbench.core.atomic import write_json


def make_images(folder: Path, n: int, width: int, height: int, seed: int = 0) -> list[str]:
    """``n`` noise JPEGs with one bright rectangle each."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        im = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        x1, y1 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        im[y1:y1 + height // 3, x1:x1 + width // 3] = 230
        p = folder / f"img{i:04d}.jpg"
        Image.fromarray(im).save(p, quality=90)
        paths.append(str(p))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, nargs="+", default=[96, 128])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--image-size", type=int, nargs=2, default=[256, 192], metavar=("W", "H"))
    ap.add_argument("--arch", default="yolov8n.yaml")
    ap.add_argument("--conf", type=float, default=0.001)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--config-dir", default=None, help="YOLO_CONFIG_DIR (default: <project>/.cache/ultralytics)")
    ap.add_argument("--out", default=None, help="optional JSON file for the results")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    ul = detect.setup_ultralytics(args.config_dir)
    results = []
    with tempfile.TemporaryDirectory(prefix="detect_speed-") as tmp:
        tmp = Path(tmp)
        weights = tmp / "untrained.pt"
        ul.YOLO(args.arch).save(weights)
        paths = make_images(tmp, args.n_images, *args.image_size)
        for imgsz in args.imgsz:
            for batch in args.batch:
                run = lambda: detect.predict_boxes(weights, paths, sha256=detect.weights_sha256(weights), imgsz=imgsz, batch=batch, conf=args.conf,
                                                   config_dir=args.config_dir)
                run()  # warm-up: model load, predictor setup
                times, n_boxes = [], 0
                for _ in range(args.repeats):
                    torch.set_num_threads(args.threads)  # predict_boxes restores it; be explicit anyway
                    t0 = time.perf_counter()
                    n_boxes = len(run())
                    times.append(time.perf_counter() - t0)
                sec = statistics.median(times)
                results.append({"imgsz": imgsz, "batch": batch, "images": len(paths), "seconds": round(sec, 4),
                                "images_per_s": round(len(paths) / sec, 1), "boxes": n_boxes})
                print(f"imgsz={imgsz:4d} batch={batch:3d}: {len(paths) / sec:8.1f} images/s "
                      f"({sec:.3f} s for {len(paths)} images, {n_boxes} boxes)", flush=True)
    meta = {"arch": args.arch, "threads": args.threads, "conf": args.conf, "image_size": list(args.image_size),
            "torch": torch.__version__, "ultralytics": ul.__version__, "cpu": platform.processor() or platform.machine()}
    if args.out:
        write_json(args.out, {"meta": meta, "results": results})
    print(meta)


if __name__ == "__main__":
    main()
