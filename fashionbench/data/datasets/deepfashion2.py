"""Reader for DeepFashion2 (per-image JSON annotations) in its official layout.

``root`` is the folder that holds the unzipped splits::

    train/image/000001.jpg ...        train/annos/000001.json ...
    validation/image/000001.jpg ...   validation/annos/000001.json ...

Each ``annos/<stem>.json`` holds the image-level ``source`` (``"user"`` | ``"shop"``) and
``pair_id`` plus items ``item1`` ... ``itemN`` (in any key order) with ``category_id``,
``category_name``, ``style`` and ``bounding_box`` ``[x1, y1, x2, y2]`` (pixels, width = x2 - x1).
One manifest row per item, in file-name order then item number.

Identity: a user item and a shop item are a positive pair iff they have the same ``pair_id``
and the same ``style`` > 0, so ``item_id = df2:<split>:<pair_id>:<style>`` (pair ids are only
meaningful inside one split). Style-0 items are never positive: they get a unique
``df2:<split>:unmatched:<stem>:<item>`` id.

Splits (validation-as-test protocol of dataset-formats.md §6): in ``validation``, user items
with style > 0 are ``query``, shop items (any style) are ``gallery``, and user items with
style 0 (``ignore`` in that protocol) are dropped and counted; every ``train`` item is
``train``. The official metric counts every style > 0 query item, so query items without a
gallery match are kept by default (``orphan_queries='keep'``) and counted. For the official
detection-based score use :mod:`fashionbench.retrieval.protocols.deepfashion2`.
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
    check_image,
    check_orphan_policy,
    frame,
    image_size,
    load_json,
    parse_int,
    parse_number,
    require_layout,
)

DATASET = "DeepFashion2"
PAGE = "https://github.com/switchablenorms/DeepFashion2"
PREFIX = "df2"
SUPPORTED_SPLITS: tuple[str, ...] = ("train", "validation")
#: category_id -> category_name, exactly as spelled in the annotation files
CATEGORIES: dict[int, str] = {
    1: "short sleeve top", 2: "long sleeve top", 3: "short sleeve outwear", 4: "long sleeve outwear",
    5: "vest", 6: "sling", 7: "shorts", 8: "trousers", 9: "skirt", 10: "short sleeve dress",
    11: "long sleeve dress", 12: "vest dress", 13: "sling dress"}
SOURCES = {"user": "consumer", "shop": "shop"}
OPTIONAL_INT_FIELDS: tuple[str, ...] = ("scale", "occlusion", "zoom_in", "viewpoint")


def _item_number(key: str, where: str) -> int:
    try:
        return int(key[4:])
    except ValueError:
        raise ContractError(f"{where}: item key {key!r} should be 'item<N>'") from None


def parse_item(item: Any, where: str) -> tuple[int, int, tuple[float, float, float, float], bool, dict[str, Any]]:
    """Validate one DeepFashion2 item; return (category_id, style, box, non-empty box, optional fields)."""
    if not isinstance(item, dict):
        raise ContractError(f"{where}: an item must be a JSON object, got {type(item).__name__}")
    for k in ("category_id", "category_name", "style", "bounding_box"):
        if k not in item:
            raise ContractError(f"{where}: item has no {k!r}")
    cat = parse_int(item["category_id"], where, "category_id")
    if cat not in CATEGORIES:
        raise ContractError(f"{where}: category_id must be in 1..13, got {cat}")
    if item["category_name"] != CATEGORIES[cat]:
        raise ContractError(f"{where}: category_name {item['category_name']!r} does not match "
                            f"category_id {cat} ({CATEGORIES[cat]!r})")
    style = parse_int(item["style"], where, "style")
    if style < 0:
        raise ContractError(f"{where}: style must be >= 0, got {style}")
    bb = item["bounding_box"]
    if not isinstance(bb, list) or len(bb) != 4:
        raise ContractError(f"{where}: bounding_box must be [x1, y1, x2, y2], got {bb!r}")
    box = tuple(parse_number(v, where, f"bounding_box[{i}]") for i, v in enumerate(bb))
    ok = check_box(box, where)
    extra = {k: (parse_int(item[k], where, k) if item.get(k) is not None else None) for k in OPTIONAL_INT_FIELDS}
    return cat, style, box, ok, extra  # type: ignore[return-value]


def load(root: str | os.PathLike, *, splits: Sequence[str] = SUPPORTED_SPLITS, check_files: bool = True,
         read_sizes: bool = False, orphan_queries: OrphanPolicy = "keep") -> pd.DataFrame:
    """Read DeepFashion2 ``splits`` under ``root`` into a manifest DataFrame (one row per item).

    ``splits``: any of ``train`` and ``validation`` (the test split has no public annotations).
    ``check_files``: ``stat`` every image (``False`` only for benchmarks/dry runs).
    ``read_sizes``: fill ``width``/``height`` from the image headers (no pixel decode).
    ``orphan_queries``: ``keep`` (default: they count as misses), ``skip`` or ``error``.
    """
    check_orphan_policy(orphan_queries)
    splits = tuple(splits)
    bad = [s for s in splits if s not in SUPPORTED_SPLITS]
    if bad or not splits:
        raise ConfigError(f"splits: must be a non-empty subset of {list(SUPPORTED_SPLITS)} (test has no public "
                          f"annotations), got {list(splits)}")
    dirs = [f"{s}/{sub}" for s in splits for sub in ("annos", "image")]
    rootp = require_layout(root, DATASET, [], dirs, PAGE,
                           note="(the zips are password-protected; the password comes with the access form; "
                                "pass splits=('validation',) to read the validation split alone)")
    report = LoadReport(DATASET)
    cols: dict[str, list] = {k: [] for k in (
        "uid", "path", "item_id", "subcategory", "domain", "split", "x1", "y1", "x2", "y2",
        "pair_id", "style", "source", "category_id", *OPTIONAL_INT_FIELDS)}
    if read_sizes:
        cols["width"], cols["height"] = [], []
    for split in splits:
        annos = rootp / split / "annos"
        names = sorted(e.name for e in os.scandir(annos) if e.name.endswith(".json"))
        if not names:
            raise ConfigError(f"{DATASET}: no annotation files (*.json) in {annos}; download the {split} split "
                              f"from {PAGE}")
        for name in names:
            _read_image(rootp, split, name, cols, report, check_files, read_sizes)

    n = len(cols["uid"])
    df = frame({**cols, "category": ["clothes"] * n, **{f"gt_{k}": cols[k] for k in ("x1", "y1", "x2", "y2")}})
    for k in OPTIONAL_INT_FIELDS:
        df[k] = pd.array(df[k].tolist(), dtype="Int64")
    df = apply_orphan_policy(df, orphan_queries, report,
                             "the official metric counts every style > 0 query item (as a miss if unmatched)")
    return report.attach(df)


def _read_image(rootp: Path, split: str, name: str, cols: dict[str, list], report: LoadReport,
                check_files: bool, read_sizes: bool) -> None:
    """Append the rows of one annotation file ``<split>/annos/<name>`` to ``cols``."""
    path = rootp / split / "annos" / name
    stem = name[:-5]
    if not stem.isdigit():
        raise ContractError(f"{path}: annotation file names must be numbers like 000001.json")
    obj = load_json(path)
    if not isinstance(obj, dict):
        raise ContractError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    source = obj.get("source")
    if source not in SOURCES:
        raise ContractError(f"{path}: 'source' must be 'user' or 'shop', got {source!r}")
    if "pair_id" not in obj:
        raise ContractError(f"{path}: no 'pair_id'")
    pair_id = parse_int(obj["pair_id"], str(path), "pair_id")
    keys = sorted((k for k in obj if k.startswith("item")), key=lambda k: _item_number(k, str(path)))
    rel = f"{split}/image/{stem}.jpg"
    if check_files or read_sizes:
        check_image(rootp, rel, str(path))
    if not keys:
        report.skip("images without items", str(path))
        return
    size = image_size(rootp / rel) if read_sizes else None
    domain = SOURCES[source]
    for key in keys:
        where = f"{path}#{key}"
        cat, style, box, ok, extra = parse_item(obj[key], where)
        if not ok:
            report.skip("zero-area bounding_box", where)
            continue
        if split == "train":
            msplit = "train"
        elif domain == "shop":
            msplit = "gallery"
        elif style > 0:
            msplit = "query"
        else:
            report.skip("validation user items with style 0 (never positive; 'ignore')", where)
            continue
        cols["uid"].append(f"{PREFIX}:{split}:{stem}:{key}")
        cols["path"].append(rel)
        cols["item_id"].append(f"{PREFIX}:{split}:{pair_id}:{style}" if style > 0
                               else f"{PREFIX}:{split}:unmatched:{stem}:{key}")
        cols["subcategory"].append(CATEGORIES[cat])
        cols["domain"].append(domain)
        cols["split"].append(msplit)
        for k, v in zip(("x1", "y1", "x2", "y2"), box):
            cols[k].append(v)
        cols["pair_id"].append(pair_id)
        cols["style"].append(style)
        cols["source"].append(f"{split}/annos/{name}#{key}")
        cols["category_id"].append(cat)
        for k in OPTIONAL_INT_FIELDS:
            cols[k].append(extra[k])
        if size is not None:
            cols["width"].append(size[0])
            cols["height"].append(size[1])
