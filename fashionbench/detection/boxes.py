"""Box operations on ``[N, 4]`` arrays of ``x1, y1, x2, y2`` pixel boxes, detection AP and WBF.

- :func:`iou` — pairwise intersection over union (area convention without ``+1``, as COCO and
  torchvision use).
- :func:`union` — the smallest box enclosing two boxes, row by row (``shang`` eq. 1: the crop
  box is the union of the dataset's given box and a YOLO box).
- :func:`clip` — clip boxes to the image.
- :func:`average_precision` — single-class AP at one IoU threshold, computed exactly as
  pycocotools' ``COCOeval`` does for AP50 (101-point interpolation, ``maxDets=100``, area
  range ``all``); the detection metric of ``ji`` (Table 5).
- :func:`weighted_boxes_fusion` — fuse several detectors' boxes for one image with the
  ``ensemble-boxes`` implementation of WBF (``ji``, Table 5), in pixel coordinates.

Every function validates its boxes: a wrong shape, a NaN/inf coordinate or a degenerate box
(``x2 <= x1`` or ``y2 <= y1``) raises :class:`~fashionbench.errors.ContractError` naming the
argument and the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from fashionbench.core.errors import ConfigError, ContractError

__all__ = ["as_boxes", "iou", "union", "clip", "average_precision", "DetectionMatches", "match_detections",
           "ap_from_matches", "bootstrap_ap_differences", "weighted_boxes_fusion"]

# pycocotools' recall thresholds, computed the same way so that floating-point values match
_COCO_REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
_WBF_CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")
# element budget of one [images, detections, gt] IoU block in average_precision (~32 MB float64)
_AP_BLOCK_ELEMENTS = 4_000_000


def as_boxes(b: object, name: str = "boxes", *, allow_degenerate: bool = False) -> np.ndarray:
    """Return ``b`` as a float64 ``[N, 4]`` array of ``x1, y1, x2, y2`` boxes, validated.

    Raises :class:`ContractError` naming ``name`` and the first bad row if the shape is not
    ``[N, 4]``, a coordinate is NaN/inf, or (unless ``allow_degenerate``) a box has
    ``x2 <= x1`` or ``y2 <= y1``.
    """
    try:
        arr = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{name}: cannot be read as a numeric [N, 4] box array ({exc})") from exc
    if arr.ndim == 2 and arr.shape[0] == 0 and arr.shape[1] in (0, 4):
        return arr.reshape(0, 4)  # np.asarray([]) -> [0]; [[]] -> [1, 0] is still an error
    if arr.ndim == 1 and arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ContractError(f"{name}: expected shape [N, 4] (x1, y1, x2, y2), got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ContractError(f"{name}: {int(bad.sum())} box(es) with NaN/inf coordinates; "
                            f"first at row {row}: {arr[row].tolist()}")
    if not allow_degenerate:
        degenerate = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
        if degenerate.any():
            row = int(np.flatnonzero(degenerate)[0])
            raise ContractError(f"{name}: {int(degenerate.sum())} degenerate box(es) (x2<=x1 or y2<=y1); "
                                f"first at row {row}: {arr[row].tolist()}")
    return arr


def _as_vector(v: object, n: int, name: str) -> np.ndarray:
    """A finite float64 vector of length ``n``."""
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ContractError(f"{name}: expected shape [{n}], got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ContractError(f"{name}: {int(bad.sum())} NaN/inf value(s); first at row {int(np.flatnonzero(bad)[0])}")
    return arr


def area(b: np.ndarray) -> np.ndarray:
    """Areas ``(x2 - x1) * (y2 - y1)`` of validated boxes ``[N, 4]`` -> ``[N]``."""
    b = as_boxes(b)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def iou(a: object, b: object) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` ``[N, 4]`` and ``b`` ``[M, 4]`` (pixels) -> float64 ``[N, M]``.

    Area convention without ``+1`` (a box ``[0, 0, 2, 2]`` has area 4), as in torchvision and
    pycocotools. The result is ``N x M``: chunk ``a`` yourself for very large inputs.
    """
    a = as_boxes(a, "iou: a")
    b = as_boxes(b, "iou: b")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0.0, None) * np.clip(h, 0.0, None)
    # degenerate boxes are rejected above, so the union is > 0
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def union(a: object, b: object, *, missing: Literal["error", "keep_a"] = "error") -> np.ndarray:
    """Row-wise smallest box enclosing ``a[i]`` and ``b[i]`` (``shang`` eq. 1) -> ``[N, 4]``.

    ``[min(x1, x1'), min(y1, y1'), max(x2, x2'), max(y2, y2')]``. ``a`` and ``b`` must have the
    same number of rows. With ``missing="keep_a"`` a row of ``b`` that is all NaN (e.g. the
    detector found nothing, see :func:`fashionbench.detection.yolo.best_box_per_image`) yields ``a``'s
    box unchanged; with the default ``"error"`` any NaN raises :class:`ContractError`.
    """
    a = as_boxes(a, "union: a")
    b_arr = np.asarray(b, dtype=np.float64)
    if missing not in ("error", "keep_a"):
        raise ConfigError(f"union: missing must be 'error' or 'keep_a', got {missing!r}")
    absent = np.zeros(len(a), dtype=bool)
    if missing == "keep_a" and b_arr.ndim == 2 and b_arr.shape[1] == 4:
        absent = np.isnan(b_arr).all(axis=1)
        b_arr = b_arr.copy()
        b_arr[absent] = [0.0, 0.0, 1.0, 1.0]  # placeholder that passes validation, replaced below
    b = as_boxes(b_arr, "union: b")
    if len(a) != len(b):
        raise ContractError(f"union: a has {len(a)} rows but b has {len(b)}; boxes are paired row by row")
    out = np.concatenate([np.minimum(a[:, :2], b[:, :2]), np.maximum(a[:, 2:], b[:, 2:])], axis=1)
    out[absent] = a[absent]
    return out


def clip(b: object, width: float | Sequence[float] | np.ndarray,
         height: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """Clip boxes ``[N, 4]`` to the image ``[0, width] x [0, height]`` -> new float64 ``[N, 4]``.

    ``width``/``height`` are scalars (one image) or length-``N`` vectors (one size per row), all
    > 0. A box lying wholly outside its image comes back with zero width or height; such a box
    is degenerate and is rejected by the other functions of this module.
    """
    b = as_boxes(b, "clip: boxes")
    sizes = []
    for name, v in (("width", width), ("height", height)):
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(len(b), float(arr))
        elif arr.shape != (len(b),):
            raise ContractError(f"clip: {name} must be a scalar or have shape [{len(b)}], got {arr.shape}")
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            raise ContractError(f"clip: {name} must be finite and > 0; row {int(np.flatnonzero(bad)[0])} "
                                f"has {arr[bad][0]}")
        sizes.append(arr)
    w, h = sizes
    out = b.copy()
    out[:, 0] = np.clip(b[:, 0], 0.0, w)
    out[:, 2] = np.clip(b[:, 2], 0.0, w)
    out[:, 1] = np.clip(b[:, 1], 0.0, h)
    out[:, 3] = np.clip(b[:, 3], 0.0, h)
    return out


def _coco_iou(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of ``d`` ``[..., D, 4]`` with ``g`` ``[..., G, 4]`` exactly as pycocotools' C ``bbIou``.

    Both hold ``x, y, w, h`` boxes; the operations and their order follow ``maskApi.c`` so that
    values at a threshold (e.g. exactly 0.5) compare the same way.
    """
    dx, dy, dw, dh = (d[..., :, None, k] for k in range(4))
    gx, gy, gw, gh = (g[..., None, :, k] for k in range(4))
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        out = inter / ((dw * dh + gw * gh) - inter)
    return np.where((w > 0) & (h > 0), out, 0.0)


def _image_index(pred_image_ids: object, gt_image_ids: object, n_pred: int,
                 n_gt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map image ids (any sortable type) to 0-based positions in their sorted unique order.

    Returns (positions of the predictions, positions of the ground-truth boxes, sorted unique ids).
    """
    p = np.asarray(pred_image_ids)
    g = np.asarray(gt_image_ids)
    for name, arr, n in (("pred_image_ids", p, n_pred), ("gt_image_ids", g, n_gt)):
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ContractError(f"average_precision: {name} must have shape [{n}], got {arr.shape}")
    if n_pred and n_gt and (p.dtype.kind in "US") != (g.dtype.kind in "US"):
        raise ContractError(f"average_precision: pred_image_ids ({p.dtype}) and gt_image_ids ({g.dtype}) "
                            "must both be strings or both numbers")
    try:
        uniq, inv = np.unique(np.concatenate([p, g]) if n_pred and n_gt else (p if n_pred else g),
                              return_inverse=True)
    except TypeError as exc:
        raise ContractError(f"average_precision: image ids are not sortable ({exc})") from exc
    inv = inv.reshape(-1)
    if n_pred and n_gt:
        return inv[:n_pred], inv[n_pred:], uniq
    return ((inv, np.zeros(0, np.int64), uniq) if n_pred else (np.zeros(0, np.int64), inv, uniq))


@dataclass(frozen=True)
class DetectionMatches:
    """Single-class detections matched to ground truth as ``COCOeval`` matches them.

    The detections kept (at most ``max_dets`` per image) are listed in COCO's global rank order
    (descending score, ties in image-id then per-image order), so AP only needs cumulative sums
    of ``tp``. Matching happens inside one image, so resampling whole images (bootstrap) never
    changes a detection's ``tp`` flag: see :func:`ap_from_matches`' ``image_weights``.

    Attributes:
        image_ids: ``[I]`` sorted unique image ids (of the detections and the ground truth).
        n_gt: ``[I]`` ground-truth boxes per image.
        image: ``[K]`` index into ``image_ids`` of each kept detection, in rank order.
        score: ``[K]`` its score (descending).
        tp: ``[K]`` whether it matched a ground-truth box at the IoU threshold.
    """

    image_ids: np.ndarray
    n_gt: np.ndarray
    image: np.ndarray
    score: np.ndarray
    tp: np.ndarray


def match_detections(pred_image_ids: object, pred_boxes: object, pred_scores: object,
                     gt_image_ids: object, gt_boxes: object, iou_threshold: float = 0.5,
                     *, max_dets: int = 100) -> DetectionMatches:
    """Match detections to ground truth exactly as ``COCOeval`` does (see :func:`average_precision`).

    Arguments as :func:`average_precision`; returns a :class:`DetectionMatches`.
    """
    if not (0.0 < float(iou_threshold) <= 1.0):
        raise ConfigError(f"average_precision: iou_threshold must be in (0, 1], got {iou_threshold}")
    if int(max_dets) < 1:
        raise ConfigError(f"average_precision: max_dets must be >= 1, got {max_dets}")
    pb = as_boxes(pred_boxes, "average_precision: pred_boxes")
    gb = as_boxes(gt_boxes, "average_precision: gt_boxes")
    ps = _as_vector(pred_scores, len(pb), "average_precision: pred_scores")
    p_img, g_img, image_ids = _image_index(pred_image_ids, gt_image_ids, len(pb), len(gb))
    n_img = len(image_ids)
    if len(pb) == 0:
        return DetectionMatches(image_ids, np.bincount(g_img, minlength=n_img).astype(np.int64),
                                np.zeros(0, np.int64), np.zeros(0), np.zeros(0, dtype=bool))
    # COCO works on x, y, w, h boxes; convert the same way it is fed (w = x2 - x1)
    pb = np.concatenate([pb[:, :2], pb[:, 2:] - pb[:, :2]], axis=1)
    gb = np.concatenate([gb[:, :2], gb[:, 2:] - gb[:, :2]], axis=1)

    # detections grouped by image (sorted id order), descending score inside (stable), cut to max_dets
    order = np.lexsort((-ps, p_img))
    img_sorted = p_img[order]
    starts = np.searchsorted(img_sorted, img_sorted, side="left")
    rank = np.arange(len(order)) - starts
    keep = rank < max_dets
    order, img_sorted, rank = order[keep], img_sorted[keep], rank[keep]

    # ground truth grouped by image, input order kept inside an image
    g_order = np.argsort(g_img, kind="stable")
    g_img_sorted = g_img[g_order]
    g_count = np.bincount(g_img_sorted, minlength=n_img)
    g_start = np.concatenate([[0], np.cumsum(g_count)[:-1]])
    d_count = np.bincount(img_sorted, minlength=n_img)
    d_start = np.concatenate([[0], np.cumsum(d_count)[:-1]])

    tp = np.zeros(len(order), dtype=bool)  # aligned with `order`
    thr = min(float(iou_threshold), 1 - 1e-10)  # as COCOeval
    images = np.flatnonzero((d_count > 0) & (g_count > 0))  # only these can have true positives
    pos = 0
    while pos < len(images):
        # a block of images whose padded [B, D, G] IoU tensor stays under the element budget
        end = pos + 1
        d_max, g_max = int(d_count[images[pos]]), int(g_count[images[pos]])
        while end < len(images):
            d2 = max(d_max, int(d_count[images[end]]))
            g2 = max(g_max, int(g_count[images[end]]))
            if (end + 1 - pos) * d2 * g2 > _AP_BLOCK_ELEMENTS:
                break
            d_max, g_max, end = d2, g2, end + 1
        blk = images[pos:end]
        pos = end
        nb = len(blk)
        d_idx = d_start[blk][:, None] + np.arange(d_max)[None, :]  # positions in `order`
        d_valid = np.arange(d_max)[None, :] < d_count[blk][:, None]
        g_idx = g_start[blk][:, None] + np.arange(g_max)[None, :]
        g_valid = np.arange(g_max)[None, :] < g_count[blk][:, None]
        d_box = pb[order[np.where(d_valid, d_idx, 0)]]
        g_box = gb[g_order[np.where(g_valid, g_idx, 0)]]
        ious = _coco_iou(d_box, g_box)  # [B, D, G]
        ious[~np.broadcast_to(g_valid[:, None, :], ious.shape)] = -np.inf
        taken = np.zeros((nb, g_max), dtype=bool)
        rows = np.arange(nb)
        for r in range(d_max):
            cand = np.where(taken, -np.inf, ious[:, r, :])
            best = g_max - 1 - np.argmax(cand[:, ::-1], axis=1)  # last maximum, as COCOeval
            hit = d_valid[:, r] & (cand[rows, best] >= thr)
            taken[rows[hit], best[hit]] = True
            tp[d_idx[hit, r]] = True

    # rank all kept detections by score; ties keep the (image, per-image rank) order, as COCOeval
    g_rank = np.argsort(-ps[order], kind="mergesort")
    return DetectionMatches(image_ids, g_count.astype(np.int64), img_sorted[g_rank].astype(np.int64),
                            ps[order][g_rank], tp[g_rank])


def ap_from_matches(matches: DetectionMatches, image_weights: object | None = None) -> float:
    """COCO 101-point AP of :func:`match_detections`' output, optionally with image weights.

    ``image_weights`` (``[I]`` non-negative integers aligned with ``matches.image_ids``, e.g.
    bootstrap counts) makes each image count that many times: the result equals
    :func:`average_precision` on a data set where image ``i`` appears ``w[i]`` times under new
    ids (exactly, as long as no two detections of different images share a score: copies of
    one detection are adjacent in the ranking, and an intermediate point of a run of equal
    flags never raises the precision envelope). ``nan`` when no ground-truth box has weight.
    """
    n_gt_img = matches.n_gt.astype(np.float64)
    tp = matches.tp
    if image_weights is None:
        w_det = np.ones(len(tp))
        n_gt = float(n_gt_img.sum())
    else:
        w = np.asarray(image_weights, dtype=np.float64)
        if w.shape != n_gt_img.shape or not (np.isfinite(w) & (w >= 0)).all():
            raise ContractError(f"ap_from_matches: image_weights must be {len(n_gt_img)} finite values >= 0, "
                                f"got shape {w.shape}")
        n_gt = float((n_gt_img * w).sum())
        w_det = w[matches.image]
        keep = w_det > 0
        tp, w_det = tp[keep], w_det[keep]
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    tp_sum = np.cumsum(tp * w_det)
    fp_sum = np.cumsum(~tp * w_det)
    rc = tp_sum / n_gt
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
    inds = np.searchsorted(rc, _COCO_REC_THRS, side="left")
    q = np.where(inds < len(pr), pr[np.minimum(inds, len(pr) - 1)], 0.0)
    return float(np.mean(q))


def average_precision(pred_image_ids: object, pred_boxes: object, pred_scores: object,
                      gt_image_ids: object, gt_boxes: object, iou_threshold: float = 0.5,
                      *, max_dets: int = 100) -> float:
    """Single-class detection AP at one IoU threshold, identical to pycocotools' ``COCOeval``.

    With the defaults this is COCO's AP50 (``stats[1]``) for one category: area range ``all``,
    ``maxDets=100`` per image, no crowd or ignored boxes, 101-point interpolated precision.
    Following ``COCOeval`` exactly: per image the detections are sorted by descending score
    (stable) and cut to ``max_dets``; each detection, in that order, is matched to the
    not-yet-matched ground-truth box with the highest IoU if that IoU >= ``iou_threshold``
    (ties go to the later ground-truth row); detections of all images are then ranked by score
    (stable, images in sorted id order), and precision is made monotone and read at the recall
    thresholds ``0, 0.01, ..., 1``. Images with predictions but no ground truth contribute only
    false positives; images with ground truth but no predictions only lower recall.

    Args:
        pred_image_ids: ``[P]`` image id of each detection (ints or strings, matching ``gt_image_ids``).
        pred_boxes: ``[P, 4]`` detections ``x1, y1, x2, y2`` in pixels.
        pred_scores: ``[P]`` confidences.
        gt_image_ids: ``[G]`` image id of each ground-truth box.
        gt_boxes: ``[G, 4]`` ground-truth boxes ``x1, y1, x2, y2`` in pixels.
        iou_threshold: match threshold in ``(0, 1]``.
        max_dets: detections kept per image (COCO's ``maxDets``).

    Returns:
        AP in ``[0, 1]``; ``nan`` when there is no ground-truth box at all (pycocotools reports
        -1 there: AP is undefined).
    """
    return ap_from_matches(match_detections(pred_image_ids, pred_boxes, pred_scores, gt_image_ids, gt_boxes,
                                            iou_threshold, max_dets=max_dets))


def bootstrap_ap_differences(matches: Sequence[DetectionMatches], image_ids: object, *, n_boot: int = 1000,
                             seed: int = 0, alpha: float = 0.05, reference: str = "first") -> np.ndarray:
    """Paired per-image bootstrap of AP differences ``AP(matches[k]) - AP(matches[0])``
    (``reference="previous"``: ``AP(matches[k]) - AP(matches[k - 1])``, each added entry's step).

    All entries of ``matches`` must be evaluations of the same images: ``image_ids`` (``[I]``)
    is the universe resampled with replacement (e.g. every evaluated image, with or without
    ground truth); every id of every ``matches[k].image_ids`` must be in it. Each replicate
    draws ``I`` images and computes every AP with the same draw (:func:`ap_from_matches` with
    the draw's counts as weights), so the differences are paired.

    Returns:
        ``[len(matches), 3]`` float64: for each ``k`` the observed difference and the
        ``alpha/2`` and ``1 - alpha/2`` percentiles of the replicated differences (row 0 is all
        zeros). ``nan`` where an AP is undefined (no ground truth).
    """
    if len(matches) == 0:
        raise ConfigError("bootstrap_ap_differences: needs at least one DetectionMatches")
    if int(n_boot) < 1:
        raise ConfigError(f"bootstrap_ap_differences: n_boot must be >= 1, got {n_boot}")
    if not (0.0 < float(alpha) < 1.0):
        raise ConfigError(f"bootstrap_ap_differences: alpha must be in (0, 1), got {alpha}")
    universe = np.asarray(image_ids)
    if universe.ndim != 1 or len(universe) == 0:
        raise ContractError("bootstrap_ap_differences: image_ids must be a non-empty 1-d array")
    order = np.argsort(universe, kind="stable")
    if len(np.unique(universe)) != len(universe):
        raise ContractError("bootstrap_ap_differences: image_ids repeat an id")
    positions = []
    for k, m in enumerate(matches):
        ids = np.asarray(m.image_ids).astype(universe.dtype) if len(m.image_ids) else np.zeros(0, universe.dtype)
        pos = np.searchsorted(universe[order], ids)
        pos = np.minimum(pos, len(universe) - 1)
        bad = universe[order][pos] != ids if len(ids) else np.zeros(0, dtype=bool)
        if bad.any():
            raise ContractError(f"bootstrap_ap_differences: matches[{k}] has image id {ids[bad][0]!r} "
                                "that is not in image_ids")
        positions.append(order[pos])
    observed = np.array([ap_from_matches(m) for m in matches])
    rng = np.random.default_rng(seed)
    n = len(universe)
    reps = np.empty((int(n_boot), len(matches)))
    for b in range(int(n_boot)):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        reps[b] = [ap_from_matches(m, counts[p]) for m, p in zip(matches, positions)]
    if reference not in ("first", "previous"):
        raise ConfigError(f"bootstrap_ap_differences: reference must be 'first' or 'previous', got {reference!r}")
    base = reps[:, :1] if reference == "first" else np.concatenate([reps[:, :1], reps[:, :-1]], axis=1)
    diffs = reps - base
    out = np.zeros((len(matches), 3))
    out[:, 0] = observed - (observed[0] if reference == "first" else np.concatenate([observed[:1], observed[:-1]]))
    with np.errstate(invalid="ignore"):
        out[:, 1] = np.nanpercentile(diffs, 100 * alpha / 2, axis=0) if np.isfinite(diffs).any() else np.nan
        out[:, 2] = np.nanpercentile(diffs, 100 * (1 - alpha / 2), axis=0) if np.isfinite(diffs).any() else np.nan
    return out


def weighted_boxes_fusion(boxes_list: Sequence[object], scores_list: Sequence[object],
                          width: float, height: float, *, iou_thr: float = 0.55,
                          skip_box_thr: float = 0.0, weights: Sequence[float] | None = None,
                          conf_type: str = "avg") -> tuple[np.ndarray, np.ndarray]:
    """Fuse several detectors' boxes for ONE image with weighted boxes fusion (``ensemble-boxes``).

    Args:
        boxes_list: one ``[n_i, 4]`` pixel box array per detector; ``n_i`` may be 0 (the
            detector found nothing on this image: it still counts in the score rescaling,
            exactly as an empty list does in ``ensemble_boxes``).
        scores_list: one ``[n_i]`` score array per detector.
        width, height: image size in pixels; boxes are clipped to the image, normalised to
            ``[0, 1]`` for ``ensemble_boxes`` and scaled back. Boxes with no area inside the
            image are dropped (``ensemble_boxes`` would skip them too, with a warning).
        iou_thr, skip_box_thr, weights, conf_type: as ``ensemble_boxes.weighted_boxes_fusion``
            (single class: all labels 0).

    Returns:
        ``(boxes [K, 4] float64 pixels, scores [K] float64)`` sorted by descending score;
        ``K = 0`` (empty ``[0, 4]``/``[0]`` arrays) when no detector returned a box.
    """
    from ensemble_boxes import weighted_boxes_fusion as _wbf

    if len(boxes_list) != len(scores_list):
        raise ContractError(f"weighted_boxes_fusion: {len(boxes_list)} box arrays but {len(scores_list)} score arrays")
    if len(boxes_list) == 0:
        raise ConfigError("weighted_boxes_fusion: needs at least one detector (boxes_list is empty)")
    if conf_type not in _WBF_CONF_TYPES:  # ensemble_boxes would call exit() here
        raise ConfigError(f"weighted_boxes_fusion: conf_type must be one of {list(_WBF_CONF_TYPES)}, got {conf_type!r}")
    if not (0.0 <= iou_thr <= 1.0):
        raise ConfigError(f"weighted_boxes_fusion: iou_thr must be in [0, 1], got {iou_thr}")
    if weights is not None:
        w_arr = np.asarray(weights, dtype=np.float64)
        if w_arr.shape != (len(boxes_list),) or not (np.isfinite(w_arr) & (w_arr > 0)).all():
            raise ConfigError(f"weighted_boxes_fusion: weights must be {len(boxes_list)} finite values > 0 "
                              f"(one per detector), got {list(np.atleast_1d(w_arr))}")
        weights = w_arr.tolist()
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ContractError(f"weighted_boxes_fusion: image size must be > 0, got width={width}, height={height}")
    scale = np.array([width, height, width, height], dtype=np.float64)
    norm_boxes, norm_scores, labels = [], [], []
    for i, (b, s) in enumerate(zip(boxes_list, scores_list)):
        b = as_boxes(b, f"weighted_boxes_fusion: boxes_list[{i}]")
        s = _as_vector(s, len(b), f"weighted_boxes_fusion: scores_list[{i}]")
        b = clip(b, width, height) if len(b) else b
        inside = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b, s = b[inside] / scale, s[inside]
        norm_boxes.append(b)
        norm_scores.append(s)
        labels.append(np.zeros(len(b)))
    fused, fused_scores, _ = _wbf(norm_boxes, norm_scores, labels, weights=weights, iou_thr=iou_thr,
                                  skip_box_thr=skip_box_thr, conf_type=conf_type)
    fused = np.asarray(fused, dtype=np.float64).reshape(-1, 4) * scale
    return fused, np.asarray(fused_scores, dtype=np.float64).reshape(-1)
