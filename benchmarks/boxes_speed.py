"""Speed of ``fashionbench.boxes.average_precision`` and ``weighted_boxes_fusion`` on synthetic data.

AP: ``--images`` images with 0-4 ground-truth boxes and up to ``--dets`` detections each
(jittered ground truth, duplicates and noise), timed for our vectorised implementation and,
with ``--coco``, for pycocotools' COCOeval (the reference it reproduces). WBF: per-image fusion
of ``--detectors`` detectors' boxes, timed over ``--wbf-images`` images.

    .venv/bin/python benchmarks/boxes_speed.py --images 5000 --coco
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np

from fashionbench.detection import boxes


def synthetic(n_images: int, dets: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_gt = rng.integers(0, 5, n_images)
    g_ids = np.repeat(np.arange(n_images), n_gt)
    xy = rng.uniform(0, 400, (len(g_ids), 2))
    g = np.concatenate([xy, xy + rng.uniform(20, 200, (len(g_ids), 2))], 1)
    n_det = rng.integers(0, dets + 1, n_images)
    p_ids = np.repeat(np.arange(n_images), n_det)
    # half of the detections jitter a GT box of their image (when it has one), the rest are noise
    xy = rng.uniform(0, 400, (len(p_ids), 2))
    p = np.concatenate([xy, xy + rng.uniform(20, 200, (len(p_ids), 2))], 1)
    starts = np.concatenate([[0], np.cumsum(n_gt)[:-1]])
    has = (n_gt[p_ids] > 0) & (rng.random(len(p_ids)) < 0.5)
    pick = starts[p_ids[has]] + rng.integers(0, 1 << 30, has.sum()) % np.maximum(n_gt[p_ids[has]], 1)
    p[has] = g[pick] + rng.normal(0, 8, (has.sum(), 4))
    p[:, 2:] = np.maximum(p[:, 2:], p[:, :2] + 1)
    return p_ids, p, rng.random(len(p_ids)), g_ids, g


def coco_ap50(p_ids, p, s, g_ids, g) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": int(i)} for i in np.union1d(p_ids, g_ids)], "categories": [{"id": 1}],
                      "annotations": [{"id": k + 1, "image_id": int(i), "category_id": 1, "iscrowd": 0,
                                       "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                                       "area": (b[2] - b[0]) * (b[3] - b[1])} for k, (i, b) in enumerate(zip(g_ids, g))]}
        gt.createIndex()
        dt = gt.loadRes([{"image_id": int(i), "category_id": 1, "score": float(sc),
                          "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]} for i, b, sc in zip(p_ids, p, s)])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--dets", type=int, default=20, help="max detections per image")
    ap.add_argument("--coco", action="store_true", help="also time pycocotools COCOeval")
    ap.add_argument("--detectors", type=int, default=5)
    ap.add_argument("--wbf-images", type=int, default=500)
    args = ap.parse_args()

    data = synthetic(args.images, args.dets)
    t0 = time.perf_counter()
    ours = boxes.average_precision(*data)
    t_ours = time.perf_counter() - t0
    print(f"average_precision: {args.images} images, {len(data[0])} detections, {len(data[3])} GT: "
          f"{t_ours:.3f} s (AP50 {ours:.6f})")
    if args.coco:
        t0 = time.perf_counter()
        ref = coco_ap50(*data)
        print(f"pycocotools COCOeval:  {time.perf_counter() - t0:.3f} s (AP50 {ref:.6f}, |diff| {abs(ref - ours):.2e})")

    rng = np.random.default_rng(1)
    per_image = []
    for _ in range(args.wbf_images):
        base = rng.uniform(0, 300, (4, 2))
        base = np.concatenate([base, base + rng.uniform(30, 200, (4, 2))], 1)
        bl = [base + rng.normal(0, 6, base.shape) for _ in range(args.detectors)]
        for b in bl:
            b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
        per_image.append((bl, [rng.random(len(b)) for b in bl]))
    boxes.weighted_boxes_fusion(*per_image[0], 640, 640)  # warm-up: imports ensemble_boxes
    t0 = time.perf_counter()
    for bl, sl in per_image:
        boxes.weighted_boxes_fusion(bl, sl, 640, 640)
    t = time.perf_counter() - t0
    print(f"weighted_boxes_fusion: {args.wbf_images} images x {args.detectors} detectors x 4 boxes: "
          f"{t:.3f} s ({args.wbf_images / t:.0f} images/s)")


if __name__ == "__main__":
    main()
