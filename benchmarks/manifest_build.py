"""Time building a manifest from a large In-Shop-format annotation set (target: 200k rows < 60 s).

Generates a synthetic ``In-shop Clothes Retrieval Benchmark/`` folder with ``--rows`` images in
the official syntax (count + header lines, padded columns, zero-padded boxes; the box file in a
different order from the partition) and, unless ``--no-files``, one *empty* placeholder file
per image (the reader only ``stat``-s images). Then times:

- ``inshop.load(root)``                     (parse + stat every image)
- ``inshop.load(root, check_files=False)``  (parse only)
- ``load_manifest("inshop", root)``         (parse + stat + manifest validation)

and prints one JSON line with the timings, rows/s and the peak resident memory. Usage::

    .venv/bin/python benchmarks/manifest_build.py [--rows 200000] [--no-files] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

CATEGORIES = ("MEN/Denim", "MEN/Tees_Tanks", "WOMEN/Dresses", "WOMEN/Blouses_Shirts", "WOMEN/Skirts")
VIEWS = ("front", "side", "back", "full", "additional", "front")
PER_ITEM = 6


def generate(root: Path, rows: int, files: bool) -> None:
    """Write a synthetic In-Shop annotation set of ``rows`` images under ``root``."""
    names, items, status = [], [], []
    for i in range(rows):
        item, k = divmod(i, PER_ITEM)
        cat = CATEGORIES[item % len(CATEGORIES)]
        names.append(f"img/{cat}/id_{item:08d}/{k // 2 + 1:02d}_{k % 4 + 1}_{VIEWS[k]}.jpg")
        items.append(f"id_{item:08d}")
        test = item % 2 == 1
        # the last image of an item may be alone when rows % 6 != 0: keep it in train then
        status.append("train" if not test or (rows - i + k) < PER_ITEM else ("query" if k == 0 else "gallery"))
    (root / "Eval").mkdir(parents=True)
    (root / "Anno").mkdir()
    with open(root / "Eval/list_eval_partition.txt", "w") as f:
        f.write(f"{rows}\nimage_name item_id evaluation_status\n")
        f.writelines(f"{n:<64}{it} {s}\n" for n, it, s in zip(names, items, status))
    with open(root / "Anno/list_bbox_inshop.txt", "w") as f:
        f.write(f"{rows}\nimage_name  clothes_type  pose_type  x_1  y_1  x_2  y_2\n")
        f.writelines(f"{names[i]:<70}{i % 3 + 1}  {i % 6 + 1}  {i % 50:03d}  {i % 40:03d}  {200 + i % 56:03d}  "
                     f"{210 + i % 46:03d}\n" for i in range(rows - 1, -1, -1))
    uniq = sorted(set(items))
    with open(root / "Anno/list_item_inshop.txt", "w") as f:
        f.write(f"{len(uniq)}\n" + "".join(u + "\n" for u in uniq))
    (root / "Img").mkdir()
    if files:
        made: set[str] = set()
        for n in names:
            d = os.path.dirname(n)
            if d not in made:
                os.makedirs(root / "Img" / d, exist_ok=True)
                made.add(d)
            with open(root / "Img" / n, "wb"):
                pass


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--no-files", action="store_true", help="skip the placeholder images and the stat-ing load")
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = ap.parse_args()

    from fashionbench.data.datasets import inshop, load_manifest

    base = args.keep or Path(tempfile.mkdtemp(prefix="fb-manifest-bench-"))
    root = base / "In-shop Clothes Retrieval Benchmark"
    try:
        _, t_gen = _timed(lambda: generate(root, args.rows, not args.no_files))
        res = {"rows": args.rows, "generate_s": round(t_gen, 2)}
        df, t = _timed(lambda: inshop.load(root, check_files=False))
        res["load_parse_only_s"] = round(t, 2)
        if not args.no_files:
            df, t = _timed(lambda: inshop.load(root))
            res["load_with_stat_s"] = round(t, 2)
            df, t = _timed(lambda: load_manifest("inshop", root))
            res["load_manifest_validated_s"] = round(t, 2)
            res["rows_per_s_validated"] = int(len(df) / t)
        res["manifest_rows"] = len(df)
        res["splits"] = df.attrs["load_report"]["splits"]
        res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(res))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
