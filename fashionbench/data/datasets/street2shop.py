"""Reader for Street2Shop ("Where to Buy It", Kiapour et al., ICCV 2015).

``root`` holds the unpacked ``meta.zip`` and the images fetched by a downloader::

    meta/json/retrieval_<cat>.json     [{"photo": 163478, "product": 1}, ...]            shop photos
    meta/json/train_pairs_<cat>.json   [{"photo": 2847, "product": 47270,
                                         "bbox": {"width": .., "top": .., "left": .., "height": ..}}, ...]
    meta/json/test_pairs_<cat>.json    same as train_pairs                                 street photos
    images/<photo id, 9 digits>.jpg    (the downloaders' convention; no images are shipped)

for the 11 categories in :data:`CATEGORIES`. Rows:

- street photos (``*_pairs_<cat>.json``): ``consumer``, split ``train`` / ``query``, box
  ``(left, top, left + width, top + height)``, one row per box (uid ``s2s:<cat>:<train|test>:<photo>#<k>``,
  ``k`` = index of the box among that photo's entries in the file);
- shop photos (``retrieval_<cat>.json``): ``shop``, split ``gallery``, the whole image as box
  (``width``/``height`` read from the image header; pixels are never decoded).

``item_id`` is ``s2s:<cat>:<product>`` (product ids are not known to be unique across
categories; the protocol ranks within a category, see ``subcategory``). ``category`` is the
super-category (clothes / shoes / bags / accessories), ``subcategory`` the Street2Shop category.

Many image links are dead, so missing images are the normal case: they are skipped and counted
(``df.attrs['load_report']``), never an error. Reproductions differ; the choices are parameters:

- ``gallery_exclude_train_products`` (default ``False``, fk-visual-search uses every
  ``retrieval_<cat>.json`` photo): ``True`` moves the shop photos of products seen in
  ``train_pairs_<cat>.json`` from the gallery to ``train`` (centroids-reid).
- ``skip_incomplete_products`` (default ``True``, fk-visual-search ``compute_recall.py``): drop a
  query if any shop photo of its product is missing.
- ``orphan_queries`` (default ``skip``): queries with no gallery photo of their product.

Ranking by distinct product (fk-visual-search) is an evaluation choice, not a manifest one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.datasets._common import (
    LoadReport,
    OrphanPolicy,
    apply_orphan_policy,
    check_box,
    check_orphan_policy,
    frame,
    image_size,
    load_json,
    parse_int,
    parse_number,
    require_layout,
)

DATASET = "Street2Shop"
PAGE = "http://www.tamaraberg.com/street2shop/"
META = "meta/json"
IMAGES = "images"
PREFIX = "s2s"
CATEGORIES: tuple[str, ...] = ("bags", "belts", "dresses", "eyewear", "footwear", "hats", "leggings",
                               "outerwear", "pants", "skirts", "tops")
SUPER_CATEGORY: dict[str, str] = {
    "bags": "bags", "belts": "accessories", "dresses": "clothes", "eyewear": "accessories",
    "footwear": "shoes", "hats": "accessories", "leggings": "clothes", "outerwear": "clothes",
    "pants": "clothes", "skirts": "clothes", "tops": "clothes"}
KINDS: dict[str, str] = {"train_pairs": "train", "test_pairs": "query"}


def image_rel(photo: int) -> str:
    """Image path of a photo id relative to the root (``images/000000001.jpg``)."""
    return f"{IMAGES}/{photo:09d}.jpg"


def meta_files(categories: Sequence[str]) -> list[str]:
    """The annotation files the reader needs for ``categories``, relative to the root."""
    return [f"{META}/{kind}_{c}.json" for c in categories for kind in ("retrieval", "train_pairs", "test_pairs")]


def _entries(path: Path, with_box: bool) -> list[tuple[str, int, int, tuple[float, ...] | None]]:
    """Parse one meta JSON array into ``(where, photo, product, box)`` (box ``None`` for retrieval)."""
    data = load_json(path)
    if not isinstance(data, list):
        raise ContractError(f"{path}: expected a JSON array, got {type(data).__name__}")
    out = []
    for i, e in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(e, dict) or "photo" not in e or "product" not in e:
            raise ContractError(f"{where}: expected an object with 'photo' and 'product', got {e!r}"[:300])
        photo = parse_int(e["photo"], where, "photo")
        product = parse_int(e["product"], where, "product")
        if photo < 0 or product < 0:
            raise ContractError(f"{where}: photo and product ids must be >= 0")
        box = None
        if with_box:
            bb = e.get("bbox")
            if not isinstance(bb, dict) or not all(k in bb for k in ("left", "top", "width", "height")):
                raise ContractError(f"{where}: expected 'bbox' with left, top, width, height, got {bb!r}")
            left, top, w, h = (parse_number(bb[k], where, f"bbox.{k}") for k in ("left", "top", "width", "height"))
            box = (left, top, left + w, top + h)
        out.append((where, photo, product, box))
    return out


def load(root: str | os.PathLike, *, categories: Sequence[str] = CATEGORIES,
         gallery_exclude_train_products: bool = False, skip_incomplete_products: bool = True,
         orphan_queries: OrphanPolicy = "skip") -> pd.DataFrame:
    """Read Street2Shop under ``root`` into a manifest DataFrame (see the module docstring)."""
    check_orphan_policy(orphan_queries)
    categories = tuple(categories)
    bad = [c for c in categories if c not in CATEGORIES]
    if bad or not categories or len(set(categories)) != len(categories):
        raise ConfigError(f"categories: must be distinct names from {list(CATEGORIES)}, got {list(categories)}")
    rootp = require_layout(root, DATASET, meta_files(categories), [IMAGES], PAGE,
                           note="(meta/json comes from meta.zip; images/ is filled by a downloader from "
                                "photos/photos.txt, named by the 9-digit photo id)")
    report = LoadReport(DATASET)
    exists: dict[int, bool] = {}
    sizes: dict[int, tuple[int, int] | None] = {}

    def present(photo: int) -> bool:
        if photo not in exists:
            exists[photo] = os.path.isfile(rootp / image_rel(photo))
        return exists[photo]

    def size(photo: int) -> tuple[int, int] | None:
        if photo not in sizes:
            try:
                sizes[photo] = image_size(rootp / image_rel(photo))
            except (OSError, SyntaxError, ValueError):  # PIL: truncated download / not an image
                sizes[photo] = None
        return sizes[photo]

    cols: dict[str, list[Any]] = {k: [] for k in (
        "uid", "path", "item_id", "category", "subcategory", "domain", "split",
        "x1", "y1", "x2", "y2", "width", "height", "source")}

    def add(uid: str, photo: int, cat: str, product: int, domain: str, split: str,
            box: tuple[float, ...], wh: tuple[float, float], source: str) -> None:
        cols["uid"].append(uid)
        cols["path"].append(image_rel(photo))
        cols["item_id"].append(f"{PREFIX}:{cat}:{product}")
        cols["category"].append(SUPER_CATEGORY[cat])
        cols["subcategory"].append(cat)
        cols["domain"].append(domain)
        cols["split"].append(split)
        for k, v in zip(("x1", "y1", "x2", "y2"), box):
            cols[k].append(v)
        cols["width"].append(wh[0])
        cols["height"].append(wh[1])
        cols["source"].append(source)

    for cat in categories:
        street = {kind: _entries(rootp / f"{META}/{kind}_{cat}.json", with_box=True) for kind in KINDS}
        train_products = {p for _, _, p, _ in street["train_pairs"]}
        incomplete: set[int] = set()  # products with at least one missing shop photo
        seen: set[tuple[int, int]] = set()
        for where, photo, product, _ in _entries(rootp / f"{META}/retrieval_{cat}.json", with_box=False):
            if (photo, product) in seen:
                report.skip("duplicate retrieval entries", where)
                continue
            seen.add((photo, product))
            wh = size(photo) if present(photo) else None
            if wh is None:
                incomplete.add(product)
                report.skip("shop photos missing or unreadable (not downloaded)", where)
                continue
            split = "train" if gallery_exclude_train_products and product in train_products else "gallery"
            add(f"{PREFIX}:{cat}:shop:{photo:09d}:{product}", photo, cat, product, "shop", split,
                (0.0, 0.0, float(wh[0]), float(wh[1])), wh, _rel(where, rootp))
        for kind, split in KINDS.items():
            box_index: dict[int, int] = {}
            tag = kind.split("_")[0]
            for where, photo, product, box in street[kind]:
                k = box_index.get(photo, 0)
                box_index[photo] = k + 1
                if not check_box(box, where):  # type: ignore[arg-type]
                    report.skip("zero-size street boxes", where)
                    continue
                if not present(photo):
                    report.skip(f"street photos missing ({tag})", where)
                    continue
                if split == "query" and skip_incomplete_products and product in incomplete:
                    report.skip("queries whose product has a missing shop photo", where)
                    continue
                add(f"{PREFIX}:{cat}:{tag}:{photo:09d}#{k}", photo, cat, product, "consumer", split,
                    box, (float("nan"), float("nan")), _rel(where, rootp))  # type: ignore[arg-type]

    df = frame({**cols, **{f"gt_{k}": cols[k] for k in ("x1", "y1", "x2", "y2")}})
    df = apply_orphan_policy(df, orphan_queries, report,
                             "no downloaded shop photo of the query's product is in the gallery")
    return report.attach(df)


def _rel(where: str, rootp: Path) -> str:
    """``where`` with the root prefix removed (the row's provenance, e.g. ``meta/json/x.json[3]``)."""
    prefix = str(rootp) + os.sep
    return where[len(prefix):] if where.startswith(prefix) else where
