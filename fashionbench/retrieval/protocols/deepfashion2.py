"""The official DeepFashion2 consumer-to-shop retrieval score (Challenge 2019, Track 2).

A re-implementation of ``deepfashion2_api/PythonAPI/deepfashion2_retrieval_test.py``
(switchablenorms/DeepFashion2), which cannot be run verbatim (a ``NameError`` and Python-2
``print``). Inputs (all JSON arrays):

ground truth, query (``val_query.json``)
    ``{"query_image_id": int, "style": int, "cls": int, "pair_id": int, "bbox": [x1, y1, x2, y2]}``
ground truth, gallery (``val_gallery.json``)
    ``{"gallery_image_id": int, "style": int, "pair_id": int, "bbox": [x1, y1, x2, y2]}``
submission (one record per *detected* consumer item)
    ``{"query_image_id": int, "query_bbox": [x1, y1, x2, y2], "query_cls": int, "query_score": float,
    "gallery_image_id": [20 ints], "gallery_bbox": [[x1, y1, x2, y2] x 20]}``

The rule, step by step (as the official script does it):

1. ``N`` = number of ground-truth query items with ``style > 0`` (the denominator).
2. In each query image, every submitted detection is assigned to the ground-truth item
   (style 0 included) with the highest IoU -- no minimum IoU; ties go to the first item in
   file order (``np.argmax``).
3. For each ground-truth item with ``style > 0``: among the detections assigned to it whose
   ``query_cls`` equals its ``cls``, the one with the highest ``query_score`` (first in
   submission order on ties) represents it. No such detection, or no record at all for the
   image: a miss.
4. Hit@k: some ``t < k`` where ``gallery_image_id[t]`` holds a ground-truth gallery item with
   the query item's ``pair_id`` and ``style`` whose box has IoU >= 0.5 with ``gallery_bbox[t]``
   (the gallery class is not checked).
5. IoU as pycocotools ``maskUtils.iou`` on ``[x1, y1, x2 - x1, y2 - y1]`` (no ``+1``; a
   zero-area box has IoU 0 with everything).
6. ``top{k}`` = hits / ``N`` for k in 1, 5, 10, 15, 20.

Differences from the script, all for malformed input only: a ground-truth style > 0 query item
whose (pair_id, style) has no gallery item is rejected up front (the script asserts this only
when the item was detected; ``require_gallery_match=False`` counts it as a miss instead), a
query image whose items disagree on ``pair_id`` is rejected up front, and a submission list
shorter than ``k`` is scored on the entries it has (the script would raise ``IndexError``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from fashionbench.core.errors import ConfigError, ContractError

OFFICIAL_KS: tuple[int, ...] = (1, 5, 10, 15, 20)
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class QueryGT:
    """Ground-truth consumer items (``val_query.json``), one array entry per item."""

    image_id: np.ndarray  # [n] int64
    bbox: np.ndarray      # [n, 4] float64, x1 y1 x2 y2
    cls: np.ndarray       # [n] int64
    style: np.ndarray     # [n] int64
    pair_id: np.ndarray   # [n] int64
    source: str = "<query>"


@dataclass(frozen=True)
class GalleryGT:
    """Ground-truth shop items (``val_gallery.json``), one array entry per item."""

    image_id: np.ndarray  # [m] int64
    bbox: np.ndarray      # [m, 4] float64
    style: np.ndarray     # [m] int64
    pair_id: np.ndarray   # [m] int64
    source: str = "<gallery>"


@dataclass(frozen=True)
class Submission:
    """Submitted detections with their retrieved gallery lists (``-1`` pads a short list)."""

    image_id: np.ndarray          # [r] int64
    bbox: np.ndarray              # [r, 4] float64
    cls: np.ndarray               # [r] int64
    score: np.ndarray             # [r] float64
    gallery_image_id: np.ndarray  # [r, L] int64
    gallery_bbox: np.ndarray      # [r, L, 4] float64
    source: str = "<submission>"


# ----------------------------------------------------------------------------- parsing

def _int(v: Any, where: str, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise ContractError(f"{where}: {key!r} must be an integer, got {v!r}")
    return int(v)


def _box(v: Any, where: str, key: str) -> list[float]:
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise ContractError(f"{where}: {key!r} must be [x1, y1, x2, y2], got {v!r}")
    out = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ContractError(f"{where}: {key!r} must hold 4 finite numbers, got {v!r}")
        out.append(float(x))
    if out[2] < out[0] or out[3] < out[1]:
        raise ContractError(f"{where}: {key!r} is inverted (x2 < x1 or y2 < y1): {v!r}")
    return out


def _records(obj: Any, source: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    if not isinstance(obj, list):
        raise ContractError(f"{source}: expected a JSON array of records, got {type(obj).__name__}")
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise ContractError(f"{source}[{i}]: expected a JSON object, got {type(r).__name__}")
        missing = [k for k in keys if k not in r]
        if missing:
            raise ContractError(f"{source}[{i}]: missing key(s) {missing}")
    return obj


def parse_query_gt(obj: Any, source: str = "<query>") -> QueryGT:
    """Validate query ground-truth records (``val_query.json`` content)."""
    recs = _records(obj, source, ("query_image_id", "style", "cls", "pair_id", "bbox"))
    cols: dict[str, list] = {k: [] for k in ("image_id", "bbox", "cls", "style", "pair_id")}
    for i, r in enumerate(recs):
        w = f"{source}[{i}]"
        cols["image_id"].append(_int(r["query_image_id"], w, "query_image_id"))
        cols["bbox"].append(_box(r["bbox"], w, "bbox"))
        cols["cls"].append(_int(r["cls"], w, "cls"))
        cols["style"].append(_int(r["style"], w, "style"))
        cols["pair_id"].append(_int(r["pair_id"], w, "pair_id"))
    return QueryGT(**_arrays(cols), source=source)


def parse_gallery_gt(obj: Any, source: str = "<gallery>") -> GalleryGT:
    """Validate gallery ground-truth records (``val_gallery.json`` content)."""
    recs = _records(obj, source, ("gallery_image_id", "style", "pair_id", "bbox"))
    cols: dict[str, list] = {k: [] for k in ("image_id", "bbox", "style", "pair_id")}
    for i, r in enumerate(recs):
        w = f"{source}[{i}]"
        cols["image_id"].append(_int(r["gallery_image_id"], w, "gallery_image_id"))
        cols["bbox"].append(_box(r["bbox"], w, "bbox"))
        cols["style"].append(_int(r["style"], w, "style"))
        cols["pair_id"].append(_int(r["pair_id"], w, "pair_id"))
    return GalleryGT(**_arrays(cols), source=source)


def parse_submission(obj: Any, source: str = "<submission>") -> Submission:
    """Validate submission records; gallery lists may differ in length (padded with ``-1``)."""
    recs = _records(obj, source, ("query_image_id", "query_bbox", "query_cls", "query_score",
                                  "gallery_image_id", "gallery_bbox"))
    cols: dict[str, list] = {k: [] for k in ("image_id", "bbox", "cls", "score")}
    gids: list[list[int]] = []
    gboxes: list[list[list[float]]] = []
    for i, r in enumerate(recs):
        w = f"{source}[{i}]"
        cols["image_id"].append(_int(r["query_image_id"], w, "query_image_id"))
        cols["bbox"].append(_box(r["query_bbox"], w, "query_bbox"))
        cols["cls"].append(_int(r["query_cls"], w, "query_cls"))
        s = r["query_score"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise ContractError(f"{w}: 'query_score' must be a finite number, got {s!r}")
        cols["score"].append(float(s))
        ids, boxes = r["gallery_image_id"], r["gallery_bbox"]
        if not isinstance(ids, list) or not isinstance(boxes, list) or len(ids) != len(boxes):
            raise ContractError(f"{w}: 'gallery_image_id' and 'gallery_bbox' must be lists of the same length")
        gids.append([_int(g, w, f"gallery_image_id[{t}]") for t, g in enumerate(ids)])
        gboxes.append([_box(b, w, f"gallery_bbox[{t}]") for t, b in enumerate(boxes)])
    arr = _arrays(cols)
    width = max((len(g) for g in gids), default=0)
    gid = np.full((len(gids), width), -1, dtype=np.int64)
    gbox = np.zeros((len(gids), width, 4), dtype=np.float64)
    for i, (g, b) in enumerate(zip(gids, gboxes)):
        if g:
            gid[i, :len(g)] = g
            gbox[i, :len(g)] = b
    return Submission(image_id=arr["image_id"], bbox=arr["bbox"], cls=arr["cls"], score=arr["score"],
                      gallery_image_id=gid, gallery_bbox=gbox, source=source)


def _arrays(cols: dict[str, list]) -> dict[str, np.ndarray]:
    out = {}
    for k, v in cols.items():
        if k == "bbox":
            out[k] = np.asarray(v, dtype=np.float64).reshape(-1, 4)
        elif k == "score":
            out[k] = np.asarray(v, dtype=np.float64)
        else:
            out[k] = np.asarray(v, dtype=np.int64)
    return out


def _load(path: str | os.PathLike) -> Any:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def read_query_gt(path: str | os.PathLike) -> QueryGT:
    """Read ``val_query.json`` (or any file in its format)."""
    return parse_query_gt(_load(path), str(path))


def read_gallery_gt(path: str | os.PathLike) -> GalleryGT:
    """Read ``val_gallery.json`` (or any file in its format)."""
    return parse_gallery_gt(_load(path), str(path))


def read_submission(path: str | os.PathLike) -> Submission:
    """Read a retrieval submission JSON."""
    return parse_submission(_load(path), str(path))


# ----------------------------------------------------------------------------- scoring

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``x1 y1 x2 y2`` boxes ``[N, 4]`` x ``[M, 4]`` -> ``[N, M]``, pycocotools-style.

    No ``+1``; an empty intersection or a zero-area box gives 0 (``maskUtils.iou`` with
    ``iscrowd = 0``). Unlike :func:`fashionbench.detection.boxes.iou` it accepts zero-area boxes, which a
    submission may contain.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    try:
        vals = list(ks)
    except TypeError:
        raise ConfigError(f"ks: must be a list of integers >= 1, got {ks!r}") from None
    if not vals or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in vals):
        raise ConfigError(f"ks: must be a non-empty list of integers >= 1, got {ks!r}")
    return tuple(sorted({int(k) for k in vals}))


def _group(ids: np.ndarray) -> dict[int, np.ndarray]:
    """``id -> ascending positions`` for an int array (stable, so file order is kept)."""
    order = np.argsort(ids, kind="stable")
    uniq, starts = np.unique(ids[order], return_index=True)
    bounds = np.append(starts, len(ids))
    return {int(u): order[bounds[i]:bounds[i + 1]] for i, u in enumerate(uniq)}


@dataclass(frozen=True)
class Matching:
    """Per ground-truth query item (style > 0 ones, in file order) how the submission scored it."""

    item: np.ndarray       # [N] index into the query ground truth
    record: np.ndarray     # [N] selected submission record, -1 = no detection selected (a miss)
    first_hit: np.ndarray  # [N] 0-based rank of the first correct gallery entry, -1 = none


def match(query: QueryGT, gallery: GalleryGT, submission: Submission, *,
          iou_threshold: float = IOU_THRESHOLD, require_gallery_match: bool = True) -> Matching:
    """Steps 1-5 of the official rule: select a detection per GT item and find its first hit."""
    if not 0.0 < iou_threshold <= 1.0:
        raise ConfigError(f"iou_threshold: must be in (0, 1], got {iou_threshold!r}")
    keyed: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(zip(gallery.pair_id.tolist(), gallery.style.tolist())):
        keyed.setdefault(key, []).append(i)
    gal_by_key = {k: np.asarray(v, dtype=np.int64) for k, v in keyed.items()}

    positive = np.flatnonzero(query.style > 0)
    for i in positive:
        if (int(query.pair_id[i]), int(query.style[i])) not in gal_by_key and require_gallery_match:
            raise ContractError(f"{query.source}[{i}]: query item (pair_id={query.pair_id[i]}, style={query.style[i]}) "
                                f"has no gallery item in {gallery.source}; pass require_gallery_match=False to "
                                f"count it as a miss")
    record = np.full(len(query.style), -1, dtype=np.int64)
    first_hit = np.full(len(query.style), -1, dtype=np.int64)
    sub_by_image = _group(submission.image_id)
    for image, gt in _group(query.image_id).items():
        if len(np.unique(query.pair_id[gt])) != 1:
            raise ContractError(f"{query.source}[{gt[0]}]: query image {image} has items with different pair_ids "
                                f"{sorted(set(query.pair_id[gt].tolist()))}")
        recs = sub_by_image.get(image)
        if recs is None:
            continue  # no detection in this image: its items stay misses
        assigned = np.argmax(box_iou(submission.bbox[recs], query.bbox[gt]), axis=1)  # step 2
        for j, qi in enumerate(gt):
            if query.style[qi] <= 0:
                continue
            cand = recs[(assigned == j) & (submission.cls[recs] == query.cls[qi])]  # step 3
            if not len(cand):
                continue
            sel = int(cand[np.argmax(submission.score[cand])])
            record[qi] = sel
            first_hit[qi] = _first_hit(submission, sel, gallery,
                                       gal_by_key.get((int(query.pair_id[qi]), int(query.style[qi]))), iou_threshold)
    return Matching(item=positive, record=record[positive], first_hit=first_hit[positive])


def _first_hit(sub: Submission, rec: int, gallery: GalleryGT, gt: np.ndarray | None, thr: float) -> int:
    """0-based rank of the first retrieved entry that is a correct gallery box (step 4), or -1."""
    if gt is None or sub.gallery_image_id.shape[1] == 0:
        return -1
    ids = sub.gallery_image_id[rec]                                  # [L]
    same_image = ids[:, None] == gallery.image_id[gt][None, :]       # [L, G]
    overlap = box_iou(sub.gallery_bbox[rec], gallery.bbox[gt]) >= thr  # [L, G]
    ok = (same_image & overlap & (ids[:, None] >= 0)).any(axis=1)
    return int(np.argmax(ok)) if ok.any() else -1


def evaluate(query: QueryGT, gallery: GalleryGT, submission: Submission, ks: Iterable[int] = OFFICIAL_KS, *,
             iou_threshold: float = IOU_THRESHOLD, require_gallery_match: bool = True) -> dict[str, float]:
    """The official score: ``top{k}`` = hits@k / N for each k, plus counts.

    Returns a flat dict (a valid metrics file): ``top{k}`` for each ``k``, ``n_queries`` (N, GT
    query items with style > 0), ``n_selected`` (items represented by a detection) and
    ``n_missed`` (N - n_selected: undetected, wrong class, or image without records).
    """
    ks = _check_ks(ks)
    m = match(query, gallery, submission, iou_threshold=iou_threshold,
              require_gallery_match=require_gallery_match)
    n = len(m.item)
    out: dict[str, float] = {}
    for k in ks:
        hits = int(((m.first_hit >= 0) & (m.first_hit < k)).sum())
        out[f"top{k}"] = hits / n if n else 0.0
    n_sel = int((m.record >= 0).sum())
    out.update(n_queries=n, n_selected=n_sel, n_missed=n - n_sel)
    return out


def evaluate_files(query_path: str | os.PathLike, gallery_path: str | os.PathLike,
                   submission_path: str | os.PathLike, ks: Iterable[int] = OFFICIAL_KS, *,
                   iou_threshold: float = IOU_THRESHOLD, require_gallery_match: bool = True) -> dict[str, float]:
    """:func:`evaluate` on ``val_query.json``, ``val_gallery.json`` and a submission file."""
    return evaluate(read_query_gt(query_path), read_gallery_gt(gallery_path), read_submission(submission_path), ks,
                    iou_threshold=iou_threshold, require_gallery_match=require_gallery_match)


# ----------------------------------------------------------------------------- from the pipeline

#: where the official ground-truth files live under the DeepFashion2 root
OFFICIAL_GT_FILES: tuple[str, str] = ("json_for_validation/val_query.json", "json_for_validation/val_gallery.json")


def image_id_of(path: str) -> int:
    """DeepFashion2 ``image_id`` of a manifest path (``validation/image/000123.jpg`` -> 123)."""
    stem = str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not stem.isdigit():
        raise ContractError(f"path {path!r}: not a DeepFashion2 image name (<6 digits>.jpg)")
    return int(stem)


def _crop_boxes(rows: Any, crop: str, what: str) -> np.ndarray:
    """[n, 4] boxes of crop mode ``crop`` for manifest ``rows`` (NaN where a row has none)."""
    from fashionbench.data.imaging import box_columns

    cols = list(box_columns(crop))
    if not cols:  # "full": the whole image
        if not {"width", "height"} <= set(rows.columns):
            raise ConfigError(f"{what} crop 'full': the official score needs the image sizes; read the dataset "
                              f"with dataset.options.read_sizes: true")
        w, h = rows["width"].to_numpy(float), rows["height"].to_numpy(float)
        return np.stack([np.zeros_like(w), np.zeros_like(h), w, h], axis=1)
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise ConfigError(f"{what} crop {crop!r}: the manifest has no column(s) {missing}")
    return rows[cols].to_numpy(dtype=np.float64)


def ground_truth_from_manifest(manifest: Any) -> tuple[QueryGT, GalleryGT]:
    """Query/gallery ground truth rebuilt from a DeepFashion2 manifest (``query``/``gallery`` rows).

    The manifest holds no style-0 user items (the reader drops them as ``ignore``), so step 2
    of the rule (a detection goes to the item it overlaps most, style 0 included) can differ
    from the official files' when a detection overlaps a style-0 item most; prefer
    :func:`load_ground_truth`, which reads the official files when they are there.
    """
    need = {"pair_id", "style", "category_id", "path"}
    missing = need - set(manifest.columns)
    if missing:
        raise ContractError(f"manifest: the DeepFashion2 score needs column(s) {sorted(missing)}")
    gt_cols = ["gt_x1", "gt_y1", "gt_x2", "gt_y2"] if "gt_x1" in manifest.columns else ["x1", "y1", "x2", "y2"]
    q = manifest[manifest["split"] == "query"]
    g = manifest[manifest["split"] == "gallery"]
    i64 = lambda s: s.to_numpy().astype(np.int64)  # noqa: E731
    query = QueryGT(image_id=np.array([image_id_of(p) for p in q["path"]], np.int64),
                    bbox=q[gt_cols].to_numpy(np.float64).reshape(-1, 4), cls=i64(q["category_id"]),
                    style=i64(q["style"]), pair_id=i64(q["pair_id"]), source="manifest query rows")
    gallery = GalleryGT(image_id=np.array([image_id_of(p) for p in g["path"]], np.int64),
                        bbox=g[gt_cols].to_numpy(np.float64).reshape(-1, 4), style=i64(g["style"]),
                        pair_id=i64(g["pair_id"]), source="manifest gallery rows")
    return query, gallery


def load_ground_truth(root: str | os.PathLike | None, manifest: Any) -> tuple[QueryGT, GalleryGT, str]:
    """The official ``val_query.json``/``val_gallery.json`` under ``root`` when both exist, else
    :func:`ground_truth_from_manifest`; the third value says which was used."""
    if root is not None:
        files = [os.path.join(root, f) for f in OFFICIAL_GT_FILES]
        if all(os.path.isfile(f) for f in files):
            return read_query_gt(files[0]), read_gallery_gt(files[1]), "official files " + ", ".join(OFFICIAL_GT_FILES)
    q, g = ground_truth_from_manifest(manifest)
    return q, g, "rebuilt from the manifest (no json_for_validation/ under the root)"


def submission_from_ranking(ranking: Any, manifest: Any, query_crop: str, gallery_crop: str,
                            depth: int = 20) -> Submission:
    """A Track-2 submission from a ranking file: one record per query row that has a box.

    The record's ``query_bbox`` is the row's ``query_crop`` box (``given``/``gt``: the
    ground-truth box; ``detected`` etc.: the detect stage's box, rows without one are left out
    and so count as misses); ``query_cls`` is the manifest column ``<crop>_cls`` when present
    (the detector's 1-based DeepFashion2 class), else the item's ``category_id``;
    ``query_score`` is ``<crop>_score`` when present, else 1. Its gallery list is the first
    ``depth`` entries of the ranking, each an (image id, ``gallery_crop`` box) pair.
    """
    import pandas as pd

    m = manifest.set_index("uid", drop=False)
    q = m.loc[np.asarray(ranking.query_ids).astype(str)]
    g = m.loc[np.asarray(ranking.gallery_ids).astype(str)]
    qbox = _crop_boxes(q, query_crop, "query")
    gbox = _crop_boxes(g, gallery_crop, "gallery")
    has_box = np.isfinite(qbox).all(axis=1)
    cls_col, score_col = f"{query_crop}_cls", f"{query_crop}_score"
    cls = (q[cls_col] if cls_col in q.columns else q["category_id"]).to_numpy()
    score = q[score_col].to_numpy(np.float64) if score_col in q.columns else np.ones(len(q))
    has_box &= ~pd.isna(cls)
    idx = np.asarray(ranking.indices)[:, :depth]
    g_img = np.array([image_id_of(p) for p in g["path"]], np.int64)
    listed = idx >= 0
    gid = np.where(listed, g_img[np.maximum(idx, 0)], -1)
    gb = np.where(listed[..., None], gbox[np.maximum(idx, 0)], 0.0)
    gid = np.where(np.isfinite(gb).all(axis=2), gid, -1)  # a gallery row without a box cannot be a hit
    gb = np.nan_to_num(gb, nan=0.0)
    sel = np.flatnonzero(has_box)
    return Submission(image_id=np.array([image_id_of(p) for p in q["path"]], np.int64)[sel],
                      bbox=qbox[sel], cls=cls[sel].astype(np.int64), score=score[sel],
                      gallery_image_id=gid[sel], gallery_bbox=gb[sel], source="ranking")


def score_ranking(ranking: Any, manifest: Any, root: str | os.PathLike | None, query_crop: str,
                  gallery_crop: str, ks: Iterable[int] = OFFICIAL_KS) -> tuple[dict[str, float], str]:
    """The official Track-2 score of a pipeline ranking, as ``official/top{k}`` etc. keys.

    Ground truth from :func:`load_ground_truth`; the submission from
    :func:`submission_from_ranking` (so with ``given``/``gt`` crops it is the ground-truth-box
    variant of dataset-formats.md §7.6: every item is "detected" with its own box). Query
    items without a gallery match count as misses (``require_gallery_match=False``), like the
    official script. Returns the metrics and a note naming the ground-truth source.
    """
    ks = _check_ks(ks)
    query, gallery, note = load_ground_truth(root, manifest)
    sub = submission_from_ranking(ranking, manifest, query_crop, gallery_crop, depth=max(ks))
    out = evaluate(query, gallery, sub, ks, require_gallery_match=False)
    return {f"official/{k}": v for k, v in out.items()}, note
