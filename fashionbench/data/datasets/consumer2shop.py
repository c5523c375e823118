"""Reader for DeepFashion Consumer-to-Shop Clothes Retrieval in its official file layout.

``root`` is the ``Consumer-to-shop Clothes Retrieval Benchmark/`` folder::

    Anno/list_bbox_consumer2shop.txt   count, header, then  image_name clothes_type source_type x_1 y_1 x_2 y_2
    Anno/list_item_consumer2shop.txt   count, then one item id per line (optional; the docs also
                                       spell it list_items_consumer2shop.txt: both accepted)
    Eval/list_eval_partition.txt       count, header, then
                                       image_pair_name_1 image_pair_name_2 item_id evaluation_status
    Img/img/<TOP>/<Sub>/id_XXXXXXXX/comsumer_NN.jpg | shop_NN.jpg   ("comsumer" is the real spelling)

The partition has one row per (consumer, shop) *pair*; images repeat across rows and are
deduplicated into one manifest row per image. Splits follow the official note ("the gallery
set here are all the shop images in 'val + test' set", as in centroids-reid
``create_query_gallery_split``):

=====================  ==========  ==========  ==========
column / status        train       val         test
=====================  ==========  ==========  ==========
1 (consumer image)     train       (dropped)   query
2 (shop image)         train       gallery     gallery
=====================  ==========  ==========  ==========

Consumer images of ``val`` rows are not part of the retrieval protocol (the manifest has no
``val`` split): they are dropped and counted. An image whose rows give it different splits,
domains or item ids is an error. ``domain`` comes from the box file's ``source_type``
(1 shop, 2 consumer) and must agree with the partition column.

Zero-area boxes are dropped and counted; queries left without a gallery image of their item
(only possible after such a drop) are dropped and counted by default (``orphan_queries='skip'``,
like ReID-style evaluators). Counts are in ``df.attrs['load_report']``.
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

DATASET = "DeepFashion Consumer-to-Shop"
PAGE = "http://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/Consumer2ShopRetrieval.html"
PARTITION = "Eval/list_eval_partition.txt"
BBOX = "Anno/list_bbox_consumer2shop.txt"
ITEMS = ("Anno/list_item_consumer2shop.txt", "Anno/list_items_consumer2shop.txt")
IMG_DIR = "Img"
PREFIX = "df_c2s"
SOURCE_TYPE = {"shop": 1, "consumer": 2}
#: (domain, evaluation_status) -> manifest split; "val" consumer images are dropped
SPLIT_RULE: dict[tuple[str, str], str] = {
    ("consumer", "train"): "train", ("consumer", "val"): "val", ("consumer", "test"): "query",
    ("shop", "train"): "train", ("shop", "val"): "gallery", ("shop", "test"): "gallery"}
STATUSES = frozenset({"train", "val", "test"})


def load(root: str | os.PathLike, *, check_files: bool = True, read_sizes: bool = False,
         orphan_queries: OrphanPolicy = "skip") -> pd.DataFrame:
    """Read Consumer-to-Shop under ``root`` into a manifest DataFrame (one row per unique image).

    ``check_files``: ``stat`` every image used (``False`` only for benchmarks/dry runs).
    ``read_sizes``: fill ``width``/``height`` from the image headers (no pixel decode).
    ``orphan_queries``: ``skip`` (default), ``error`` or ``keep`` for query images whose item
    has no gallery image.
    """
    check_orphan_policy(orphan_queries)
    rootp = require_layout(root, DATASET, [PARTITION, BBOX], [IMG_DIR], PAGE,
                           note=f"(optional: {Path(root) / ITEMS[0]}, checked against the partition if present)")
    report = LoadReport(DATASET)
    boxes = read_df1_boxes(rootp / BBOX, source_col=True)
    item_file = next((rootp / f for f in ITEMS if (rootp / f).is_file()), None)
    item_list = read_item_list(item_file) if item_file is not None else None

    # name -> (domain, split, item_id, line of first listing); dict order = first appearance
    images: dict[str, tuple[str, str, str, int]] = {}
    part = rootp / PARTITION
    for lineno, (cons, shop, item, status) in iter_counted_lines(part, ncols=4):
        where = f"{part}:{lineno}"
        if status not in STATUSES:
            raise ContractError(f"{where}: evaluation_status must be one of {sorted(STATUSES)}, got {status!r}")
        if cons == shop:
            raise ContractError(f"{where}: the same image {cons!r} is both the consumer and the shop image")
        if item_list is not None and item not in item_list:
            raise ContractError(f"{where}: item {item!r} is not listed in {item_file}")
        for name, domain in ((cons, "consumer"), (shop, "shop")):
            parse_df1_image_name(name, where)
            split = SPLIT_RULE[(domain, status)]
            prev = images.get(name)
            if prev is None:
                images[name] = (domain, split, item, lineno)
                continue
            pdomain, psplit, pitem, pline = prev
            pwhere = f"line {pline}"
            if pdomain != domain:
                raise ContractError(f"{where}: image {name!r} is a {domain} image here but a {pdomain} image "
                                    f"at {pwhere}")
            if pitem != item:
                raise ContractError(f"{where}: image {name!r} belongs to item {item!r} here but to {pitem!r} "
                                    f"at {pwhere}")
            if psplit != split:
                raise ContractError(f"{where}: image {name!r} gets split {split!r} (status {status!r}) here but "
                                    f"{psplit!r} at {pwhere}: conflicting evaluation statuses")

    cols: dict[str, list] = {k: [] for k in (
        "uid", "path", "item_id", "subcategory", "domain", "split", "x1", "y1", "x2", "y2", "source",
        "clothes_type", "source_type")}
    if read_sizes:
        cols["width"], cols["height"] = [], []
    img_root = rootp / IMG_DIR
    for name, (domain, split, item, lineno) in images.items():
        where = f"{part}:{lineno}"
        if split == "val":
            report.skip("consumer images of 'val' pairs (not in the query/gallery protocol)", where)
            continue
        entry = boxes.get(name)
        if entry is None:
            raise ContractError(f"{where}: image {name!r} has no box in {rootp / BBOX}")
        bline, clothes_type, source_type, _, _ = entry
        if source_type != SOURCE_TYPE[domain]:
            raise ContractError(f"{rootp / BBOX}:{bline}: source_type {source_type} says "
                                f"{'shop' if source_type == 1 else 'consumer'} but {where} lists {name!r} "
                                f"as the {domain} image")
        append_df1_image(cols, report, img_root=img_root, name=name, where=where, entry=entry,
                         root=rootp, bbox=BBOX, check_files=check_files, read_sizes=read_sizes, fields={
                             "uid": f"{PREFIX}:{name}", "path": f"{IMG_DIR}/{name}", "item_id": f"{PREFIX}:{item}",
                             "subcategory": parse_df1_image_name(name, where), "domain": domain, "split": split,
                             "source": f"{PARTITION}:{lineno}", "clothes_type": clothes_type,
                             "source_type": source_type})

    unused = sum(1 for n in boxes if n not in images)
    if unused:
        first = next(n for n in boxes if n not in images)
        report.skip(f"images in {BBOX} missing from {PARTITION}", f"{rootp / BBOX}:{boxes[first][0]}", unused)

    df = frame({**cols, "category": ["clothes"] * len(cols["uid"]),
                **{f"gt_{k}": cols[k] for k in ("x1", "y1", "x2", "y2")}})
    df = apply_orphan_policy(df, orphan_queries, report,
                             "every test consumer image should have its paired shop image in the gallery")
    return report.attach(df)
