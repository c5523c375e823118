"""Detector predictions: tidy tables, weighted boxes fusion, crop boxes and AP50 summaries."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.detection import boxes as bx

_XYXY = ["x1", "y1", "x2", "y2"]


def select_detector_rows(manifest: pd.DataFrame, max_images: int | None, seed: int) -> pd.DataFrame:
    """The ``train`` rows of at most ``max_images`` images (a seeded sample of image paths).

    All rows of a chosen image are kept (an image with several items keeps all its boxes).
    The sample depends only on the sorted set of train image paths and ``seed``.
    """
    train = manifest[manifest["split"] == "train"]
    if train.empty:
        raise ContractError("detect: the manifest has no 'train' rows to train a detector on")
    paths = np.array(sorted(train["path"].unique()))
    if max_images is not None and len(paths) > int(max_images):
        keep = set(np.random.default_rng(seed).permutation(paths)[: int(max_images)].tolist())
        train = train[train["path"].isin(keep)]
    return train.reset_index(drop=True)


def image_sizes(manifest: pd.DataFrame, root: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """``{path: (width, height)}`` of every image: the manifest's ``width``/``height``, else the file."""
    out: dict[str, tuple[int, int]] = {}
    has = "width" in manifest.columns and "height" in manifest.columns
    root = Path(root)
    for row in manifest.drop_duplicates("path").itertuples(index=False):
        p = str(row.path)
        if has and pd.notna(row.width) and pd.notna(row.height):
            out[p] = (int(round(float(row.width))), int(round(float(row.height))))
        else:
            from PIL import Image

            try:
                with Image.open(root / p) as im:
                    out[p] = (int(im.size[0]), int(im.size[1]))
            except (FileNotFoundError, OSError) as exc:
                raise ContractError(f"detect: cannot read image {root / p} for its size ({exc})") from exc
    return out


def tidy_predictions(pred: pd.DataFrame, sizes: Mapping[str, tuple[int, int]]) -> pd.DataFrame:
    """Round (coords 1/1000 px, scores 1e-6), clip to the image, drop boxes left without area.

    Everything downstream is computed from the tidied frame, which is exactly what the CSV
    holds, so the saved predictions reproduce every number.
    """
    cols = ["path", "x1", "y1", "x2", "y2", "score", "class"]
    if pred.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "path" else ("int64" if c == "class" else "float64"))
                             for c in cols})
    missing = [p for p in pred["path"].unique() if p not in sizes]
    if missing:
        raise ContractError(f"detect: predictions for an image not in the manifest: {missing[0]}")
    out = pred[cols].copy()
    w = out["path"].map(lambda p: sizes[p][0]).to_numpy(np.float64)
    h = out["path"].map(lambda p: sizes[p][1]).to_numpy(np.float64)
    b = np.round(out[_XYXY].to_numpy(np.float64), 3)
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0.0, w[:, None])
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0.0, h[:, None])
    out[_XYXY] = b
    out["score"] = np.round(out["score"].to_numpy(np.float64), 6)
    keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return out[keep].reset_index(drop=True)


def _group(pred: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{path: (boxes [n, 4], scores [n])}``."""
    if pred.empty:
        return {}
    b = pred[_XYXY].to_numpy(np.float64)
    s = pred["score"].to_numpy(np.float64)
    idx = pred.groupby("path", sort=False).indices
    return {p: (b[i], s[i]) for p, i in idx.items()}


def fuse_predictions(preds: Sequence[pd.DataFrame], paths: Sequence[str], sizes: Mapping[str, tuple[int, int]],
                     wbf: Mapping[str, Any]) -> pd.DataFrame:
    """Weighted boxes fusion of several detectors' predictions, image by image.

    One detector: its own boxes unchanged (nothing to fuse; ``WBF_1``). Several: on each image
    of ``paths``, :func:`fashionbench.detection.boxes.weighted_boxes_fusion` of every detector's boxes (a
    detector without boxes there takes part as an empty list, as ``ensemble-boxes`` expects).
    Returns the prediction columns (``class`` is 0: fusion is class-agnostic), images in
    ``paths`` order, descending score inside an image.
    """
    if len(preds) == 0:
        raise ConfigError("fuse_predictions: needs at least one detector's predictions")
    cols = ["path", "x1", "y1", "x2", "y2", "score", "class"]
    wanted = set(map(str, paths))
    if len(preds) == 1:
        one = preds[0]
        return one[one["path"].isin(wanted)][cols].reset_index(drop=True)
    groups = [_group(p[p["path"].isin(wanted)]) for p in preds]
    empty_b, empty_s = np.zeros((0, 4)), np.zeros(0)
    parts_b, parts_s, parts_p = [], [], []
    for p in dict.fromkeys(map(str, paths)):
        bl = [g.get(p, (empty_b, empty_s))[0] for g in groups]
        sl = [g.get(p, (empty_b, empty_s))[1] for g in groups]
        if not any(len(b) for b in bl):
            continue
        w, h = sizes[p]
        fb, fs = bx.weighted_boxes_fusion(bl, sl, w, h, iou_thr=float(wbf["iou_thr"]),
                                          skip_box_thr=float(wbf["skip_box_thr"]), conf_type=str(wbf["conf_type"]))
        if len(fb):
            order = np.argsort(-fs, kind="stable")
            parts_b.append(fb[order])
            parts_s.append(fs[order])
            parts_p += [p] * len(fb)
    if not parts_p:
        return tidy_predictions(pd.DataFrame(columns=cols), sizes)
    out = pd.DataFrame(np.concatenate(parts_b), columns=_XYXY)
    out.insert(0, "path", parts_p)
    out["score"] = np.concatenate(parts_s)
    out["class"] = 0
    return tidy_predictions(out, sizes)


def fused_crop_predictions(preds: Sequence[pd.DataFrame], paths: Sequence[str], sizes: Mapping[str, tuple[int, int]],
                           wbf: Mapping[str, Any], crop_conf: float) -> pd.DataFrame:
    """WBF of every detector's boxes scored >= ``crop_conf``: the input of the ``fused`` crop box.

    Any fused box counts as found (pass ``fused_conf=0`` to :func:`crop_boxes_table`): a box
    that only one of n detectors found is kept, with its WBF score scaled down by n.
    """
    return fuse_predictions([p[p["score"] >= float(crop_conf)] for p in preds], paths, sizes, wbf)


def crop_boxes_table(manifest: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], primary: pd.DataFrame,
                     fused: pd.DataFrame, crop_conf: float,
                     fused_conf: float | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ``detected``/``union``/``fused`` crop boxes of every manifest row and the fallback counts.

    See the module docstring for the rules: a best box of ``primary`` scored below ``crop_conf``
    (a best box of ``fused`` below ``fused_conf``, default ``crop_conf``) counts as "nothing
    found"; ``detected`` then falls back to the whole image, ``union`` and ``fused`` to the row's
    given box. Returns (table with ``uid, path, split`` and the box, score and ``*_found``
    columns, ``{"n_fallback_detected", "n_fallback_union", "n_fallback_fused", "n_rows"}``).
    """
    from fashionbench.detection.yolo import best_box_per_image

    paths = manifest["path"].astype(str).tolist()
    wh = np.array([sizes[p] for p in paths], dtype=np.float64).reshape(-1, 2)
    full = np.column_stack([np.zeros(len(paths)), np.zeros(len(paths)), wh[:, 0], wh[:, 1]])
    given = manifest[_XYXY].to_numpy(np.float64)
    out = pd.DataFrame({"uid": manifest["uid"].astype(str).to_numpy(), "path": paths,
                        "split": manifest["split"].astype(str).to_numpy()})

    def best(pred: pd.DataFrame, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = best_box_per_image(pred, paths=paths)
        box = b[_XYXY].to_numpy(np.float64)
        score = b["score"].to_numpy(np.float64)
        found = b["found"].to_numpy(bool) & (np.nan_to_num(score, nan=-1.0) >= float(conf))
        if found.any():
            box[found] = bx.clip(box[found], wh[found, 0], wh[found, 1])
            found &= (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
        return box, np.where(found, score, np.nan), found

    det_box, det_score, det_found = best(primary, crop_conf)
    detected = np.where(det_found[:, None], det_box, full)
    # shang eq. 1: the box covering the given box and *all* the detected boxes (every box of the
    # primary detector on the image scored >= crop_conf), not only the best one
    enclosing = enclosing_boxes(primary, paths, sizes, crop_conf)
    union_found = np.isfinite(enclosing[:, 0])
    union = bx.union(given, enclosing, missing="keep_a")
    f_box, f_score, f_found = best(fused, crop_conf if fused_conf is None else fused_conf)
    fused_box = np.where(f_found[:, None], f_box, given)
    for mode, arr in (("detected", detected), ("union", union), ("fused", fused_box)):
        for j, c in enumerate(_XYXY):
            out[f"{mode}_{c}"] = np.round(arr[:, j], 3)
    out["detected_score"] = det_score
    out["detected_found"] = det_found
    out["union_found"] = union_found
    out["fused_score"] = f_score
    out["fused_found"] = f_found
    counts = {"n_rows": int(len(out)), "n_fallback_detected": int((~det_found).sum()),
              "n_fallback_union": int((~union_found).sum()), "n_fallback_fused": int((~f_found).sum())}
    return out, counts


def enclosing_boxes(pred: pd.DataFrame, paths: Sequence[str], sizes: Mapping[str, tuple[int, int]],
                    conf: float) -> np.ndarray:
    """Per entry of ``paths`` the smallest box enclosing every box of ``pred`` on that image scored
    >= ``conf`` (each clipped to the image first; degenerate ones dropped); NaN where there is none."""
    keep = pred[pd.to_numeric(pred["score"], errors="coerce") >= float(conf)]
    out = np.full((len(paths), 4), np.nan)
    if keep.empty:
        return out
    kp = keep["path"].astype(str).to_numpy()
    wh = np.array([sizes[q] for q in kp], dtype=np.float64).reshape(-1, 2)
    b = bx.clip(keep[_XYXY].to_numpy(np.float64), wh[:, 0], wh[:, 1])
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    if not ok.any():
        return out
    df = pd.DataFrame(b[ok], columns=_XYXY).assign(path=kp[ok])
    agg = df.groupby("path", sort=False).agg(x1=("x1", "min"), y1=("y1", "min"), x2=("x2", "max"), y2=("y2", "max"))
    hit = agg.reindex([str(q) for q in paths])
    return hit[_XYXY].to_numpy(np.float64)


def _matches(pred: pd.DataFrame, gt_paths: np.ndarray, gt_boxes: np.ndarray, max_det: int) -> bx.DetectionMatches:
    return bx.match_detections(pred["path"].to_numpy(str), pred[_XYXY].to_numpy(np.float64),
                               pred["score"].to_numpy(np.float64), gt_paths, gt_boxes, 0.5, max_dets=max_det)


def ap50_summary(gt: pd.DataFrame, detectors: Mapping[str, pd.DataFrame], wbf: Sequence[pd.DataFrame], *,
                 n_boot: int, seed: int, max_det: int = 100, alpha: float = 0.05) -> tuple[dict[str, float], pd.DataFrame]:
    """AP50 of each detector and of ``WBF_1..WBF_n``, with bootstrap CIs of the WBF gains.

    Args:
        gt: ground-truth boxes of the evaluated images (columns ``path, x1, y1, x2, y2``; one
            row per box). The image universe of the bootstrap is its unique ``path`` values;
            predictions on other images are ignored.
        detectors: ``{name: predictions}`` (prediction columns), in WBF order.
        wbf: ``wbf[k - 1]`` = predictions of ``WBF_k`` (see :func:`fuse_predictions`).
        n_boot, seed, alpha: paired bootstrap over images (same draws for every ``WBF_k``).
        max_det: COCO maxDets.

    Returns:
        (flat metrics: ``ap50_<detector>``, ``ap50_wbf_<k>``, and for ``k >= 2``
        ``ap50_wbf_<k>_gain``, ``..._gain_ci_low``, ``..._gain_ci_high`` (vs ``WBF_1``) and
        ``ap50_wbf_<k>_step``, ``..._step_ci_low``, ``..._step_ci_high`` (vs ``WBF_{k-1}``); plus ``n_eval_images``,
        ``n_gt_boxes``, ``n_boot``), and a table with one row per detector and per ``WBF_k``.
    """
    if gt.empty:
        raise ContractError("detect: no query/gallery ground-truth boxes to compute AP50 on")
    g_paths = gt["path"].to_numpy(str)
    g_boxes = bx.as_boxes(gt[_XYXY].to_numpy(np.float64), "detect: ground-truth boxes")
    universe = np.array(sorted(set(g_paths.tolist())))
    keep = set(universe.tolist())
    names = list(detectors)

    def restrict(p: pd.DataFrame) -> pd.DataFrame:
        return p[p["path"].isin(keep)]

    metrics: dict[str, float] = {}
    rows = []
    for n in names:
        ap = bx.ap_from_matches(_matches(restrict(detectors[n]), g_paths, g_boxes, max_det))
        metrics[f"ap50_{n}"] = ap
        rows.append({"row": n, "kind": "single detector", "detectors": n, "AP50": ap})
    wbf_matches = [_matches(restrict(p), g_paths, g_boxes, max_det) for p in wbf]
    diffs = bx.bootstrap_ap_differences(wbf_matches, universe, n_boot=n_boot, seed=seed, alpha=alpha)
    # each added detector's own step (WBF_k vs WBF_{k-1}), on the same bootstrap draws (claim ji-1)
    steps = bx.bootstrap_ap_differences(wbf_matches, universe, n_boot=n_boot, seed=seed, alpha=alpha,
                                        reference="previous")
    for k, m in enumerate(wbf_matches, start=1):
        ap = bx.ap_from_matches(m)
        metrics[f"ap50_wbf_{k}"] = ap
        row = {"row": f"WBF_{k}", "kind": "fusion of the first k" if k > 1 else "first detector alone",
               "detectors": " + ".join(names[:k]), "AP50": ap}
        if k >= 2:
            d, lo, hi = diffs[k - 1]
            metrics.update({f"ap50_wbf_{k}_gain": d, f"ap50_wbf_{k}_gain_ci_low": lo,
                            f"ap50_wbf_{k}_gain_ci_high": hi})
            sd, slo, shi = steps[k - 1]
            metrics.update({f"ap50_wbf_{k}_step": sd, f"ap50_wbf_{k}_step_ci_low": slo,
                            f"ap50_wbf_{k}_step_ci_high": shi})
            row.update({"gain vs WBF_1": d, "95% CI low": lo, "95% CI high": hi,
                        "step vs WBF_k-1": sd, "step CI low": slo, "step CI high": shi})
        rows.append(row)
    metrics.update({"n_detectors": len(names), "n_eval_images": len(universe), "n_gt_boxes": len(gt),
                    "n_boot": int(n_boot)})
    return metrics, pd.DataFrame(rows)


def crop_iou_metrics(manifest: pd.DataFrame) -> dict[str, float]:
    """Mean IoU of each crop mode's box with the ground-truth box, on query and gallery rows.

    Keys ``crop_iou_<mode>_<split>`` for ``given`` and the detect modes present; empty when the
    manifest has no ground-truth boxes.
    """
    gt_cols = [f"gt_{c}" for c in _XYXY]
    if not all(c in manifest.columns for c in gt_cols):
        return {}
    out: dict[str, float] = {}
    for split in ("query", "gallery"):
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            continue
        g = rows[gt_cols].to_numpy(np.float64)
        for mode in ("given", "detected", "union", "fused"):
            cols = _XYXY if mode == "given" else [f"{mode}_{c}" for c in _XYXY]
            if not all(c in rows.columns for c in cols):
                continue
            b = rows[cols].to_numpy(np.float64)
            inter_w = np.clip(np.minimum(b[:, 2], g[:, 2]) - np.maximum(b[:, 0], g[:, 0]), 0, None)
            inter_h = np.clip(np.minimum(b[:, 3], g[:, 3]) - np.maximum(b[:, 1], g[:, 1]), 0, None)
            inter = inter_w * inter_h
            area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            area_g = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
            out[f"crop_iou_{mode}_{split}"] = float(np.mean(inter / (area_b + area_g - inter)))
    return out
