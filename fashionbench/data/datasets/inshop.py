"""Reader for DeepFashion In-Shop Clothes Retrieval in its official file layout.

``root`` is the ``In-shop Clothes Retrieval Benchmark/`` folder::

    Anno/list_bbox_inshop.txt       count, header, then  image_name clothes_type pose_type x_1 y_1 x_2 y_2
    Anno/list_item_inshop.txt       count, then one item id per line (optional; checked if present)
    Eval/list_eval_partition.txt    count, header, then  image_name item_id evaluation_status
    Img/img/<MEN|WOMEN>/<Category>/id_XXXXXXXX/<NN>_<n>_<view>.jpg

One manifest row per image. Protocol (DeepFashion, CVPR 2016; Proxy-Anchor ``evaluate_cos_Inshop``):
``query`` images against ``gallery`` images, a hit is the same ``item_id``; every image is a
shop photo (``domain='shop'``). Boxes are taken unchanged as 0-based corners in the 256x256
``img/`` frame (``gt_*`` = the given box). Train and test items must be disjoint, and every
query item must have a gallery image (``orphan_queries='error'``, the default).

Zero-area boxes are dropped and counted (``df.attrs['load_report']``); every other defect
(count line / row mismatch, inverted box, unknown status, missing image or box, unsafe path)
raises :class:`~fashionbench.errors.ContractError` naming the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fashionbench.core.errors import ContractError
from fashionbench.data.datasets._common import (
    LoadReport,
    OrphanPolicy,
    append_df1_image,
    apply_orphan_policy,
    check_orphan_policy,
    frame,
    iter_counted_lines,
    parse_df1_image_name,
    read_df1_boxes,
    read_item_list,
    require_layout,
)

DATASET = "DeepFashion In-Shop"
PAGE = "http://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html"
PARTITION = "Eval/list_eval_partition.txt"
BBOX = "Anno/list_bbox_inshop.txt"
ITEMS = "Anno/list_item_inshop.txt"
IMG_DIR = "Img"
STATUSES = frozenset({"train", "query", "gallery"})
PREFIX = "df_inshop"


def load(root: str | os.PathLike, *, check_files: bool = True, read_sizes: bool = False,
         orphan_queries: OrphanPolicy = "error") -> pd.DataFrame:
    """Read In-Shop under ``root`` into a manifest DataFrame (one row per image).

    ``check_files``: ``stat`` every listed image (``False`` only for benchmarks/dry runs).
    ``read_sizes``: fill ``width``/``height`` from the image headers (slower; no pixel decode).
    ``orphan_queries``: ``error`` (default; the protocol guarantees a gallery match),
    ``skip`` or ``keep`` for query items without a gallery image.
    """
    check_orphan_policy(orphan_queries)
    rootp = require_layout(root, DATASET, [PARTITION, BBOX], [IMG_DIR], PAGE,
                           note=f"(optional: {Path(root) / ITEMS}, checked against the partition if present)")
    report = LoadReport(DATASET)
    boxes = read_df1_boxes(rootp / BBOX)
    item_list = read_item_list(rootp / ITEMS) if (rootp / ITEMS).is_file() else None
    img_root = rootp / IMG_DIR

    cols: dict[str, list] = {k: [] for k in (
        "uid", "path", "item_id", "subcategory", "split", "x1", "y1", "x2", "y2", "source",
        "clothes_type", "pose_type")}
    if read_sizes:
        cols["width"], cols["height"] = [], []
    seen: dict[str, int] = {}
    train_items: dict[str, str] = {}
    test_items: dict[str, str] = {}
    part = rootp / PARTITION
    for lineno, (name, item, status) in iter_counted_lines(part, ncols=3):
        where = f"{part}:{lineno}"
        sub = parse_df1_image_name(name, where)
        if status not in STATUSES:
            raise ContractError(f"{where}: evaluation_status must be one of {sorted(STATUSES)}, got {status!r}")
        if name in seen:
            raise ContractError(f"{where}: image {name!r} is already listed on line {seen[name]}")
        seen[name] = lineno
        if item_list is not None and item not in item_list:
            raise ContractError(f"{where}: item {item!r} is not listed in {rootp / ITEMS}")
        (train_items if status == "train" else test_items).setdefault(item, where)
        entry = boxes.get(name)
        if entry is None:
            raise ContractError(f"{where}: image {name!r} has no box in {rootp / BBOX}")
        _, clothes_type, pose_type, _, _ = entry
        append_df1_image(cols, report, img_root=img_root, name=name, where=where, entry=entry,
                         root=rootp, bbox=BBOX, check_files=check_files, read_sizes=read_sizes, fields={
                             "uid": f"{PREFIX}:{name}", "path": f"{IMG_DIR}/{name}", "item_id": f"{PREFIX}:{item}",
                             "subcategory": sub, "split": status, "source": f"{PARTITION}:{lineno}",
                             "clothes_type": clothes_type, "pose_type": pose_type})

    both = train_items.keys() & test_items.keys()
    if both:
        item = min(both)
        raise ContractError(f"{test_items[item]}: item {item!r} is in the test set (query/gallery) but also in "
                            f"train at {train_items[item]}; In-Shop train and test items are disjoint")
    unused = len(boxes) - sum(1 for n in seen if n in boxes)
    if unused:
        first = next(n for n in boxes if n not in seen)
        report.skip(f"images in {BBOX} missing from {PARTITION}", f"{rootp / BBOX}:{boxes[first][0]}", unused)

    df = frame({**cols, "category": ["clothes"] * len(cols["uid"]), "domain": ["shop"] * len(cols["uid"]),
                **{f"gt_{k}": cols[k] for k in ("x1", "y1", "x2", "y2")}})
    df = apply_orphan_policy(df, orphan_queries, report,
                             "the In-Shop protocol gives every query item at least one gallery image")
    return report.attach(df)
