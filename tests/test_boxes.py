"""Tests of fashionbench.boxes against hand-worked cases, torchvision, pycocotools and ensemble-boxes."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch
from ensemble_boxes import weighted_boxes_fusion as eb_wbf
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import box_iou

from fashionbench.detection import boxes
from fashionbench.core.errors import ConfigError, ContractError


# ----------------------------------------------------------------------------- helpers

def random_boxes(rng: np.random.Generator, n: int, size: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, size * 0.8, (n, 2))
    wh = rng.uniform(1, size * 0.5, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def coco_ap(pred_ids, pred_boxes, pred_scores, gt_ids, gt_boxes, iou: float = 0.5) -> float:
    """AP from pycocotools' COCOeval (single category, area all, maxDets=100); stats[1] / stats[2]."""
    pred_boxes = np.asarray(pred_boxes, float).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, float).reshape(-1, 4)
    image_ids = sorted({int(i) for i in pred_ids} | {int(i) for i in gt_ids})

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    anns = [{"id": k + 1, "image_id": int(i), "category_id": 1, "bbox": xywh(b),
             "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0}
            for k, (i, b) in enumerate(zip(gt_ids, gt_boxes))]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in image_ids], "annotations": anns,
                      "categories": [{"id": 1, "name": "item"}]}
        gt.createIndex()
        dets = [{"image_id": int(i), "category_id": 1, "bbox": xywh(b), "score": float(s)}
                for i, b, s in zip(pred_ids, pred_boxes, pred_scores)]
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.params.maxDets[2] == 100
    return float(ev.stats[{0.5: 1, 0.75: 2}[iou]])


def random_detection_case(seed: int, n_images: int = 15):
    """GT boxes per image (some images without), predictions = jittered GT + duplicates + noise."""
    rng = np.random.default_rng(seed)
    gt_ids, gt_boxes, p_ids, p_boxes = [], [], [], []
    for img in range(n_images):
        n_gt = int(rng.integers(0, 5))
        g = random_boxes(rng, n_gt)
        gt_ids += [img] * n_gt
        gt_boxes.append(g)
        if rng.random() < 0.15:  # image with no predictions
            continue
        jitter = g + rng.normal(0, 4, g.shape)
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        dup = jitter[rng.random(len(jitter)) < 0.4] + rng.normal(0, 1, (1, 4))
        dup[:, 2:] = np.maximum(dup[:, 2:], dup[:, :2] + 1)
        noise = random_boxes(rng, int(rng.integers(0, 4)))
        p = np.concatenate([jitter, dup, noise])
        p_ids += [img] * len(p)
        p_boxes.append(p)
    p_boxes = np.concatenate(p_boxes)
    scores = rng.random(len(p_boxes))
    return np.array(p_ids), p_boxes, scores, np.array(gt_ids), np.concatenate(gt_boxes)


# ----------------------------------------------------------------------------- validation

def test_as_boxes_rejects_bad_input_naming_the_row():
    with pytest.raises(ContractError, match=r"shape \[N, 4\]"):
        boxes.iou(np.zeros((3, 3)), np.zeros((1, 4)))
    bad = np.array([[0, 0, 1, 1], [0, 0, 2, 2], [0, np.nan, 3, 3.0]])
    with pytest.raises(ContractError, match=r"iou: a.*row 2"):
        boxes.iou(bad, bad[:1])
    degenerate = np.array([[0, 0, 1, 1], [5, 0, 5, 3.0]])  # x2 == x1
    with pytest.raises(ContractError, match=r"degenerate.*row 1"):
        boxes.iou(degenerate[:1], degenerate)
    with pytest.raises(ContractError, match=r"degenerate.*row 0"):
        boxes.union([[0, 4, 1, 3]], [[0, 0, 1, 1]])  # y2 < y1
    assert boxes.as_boxes([]).shape == (0, 4)
    assert boxes.iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


# ----------------------------------------------------------------------------- IoU

def test_iou_hand_worked():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4]], float)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [5, 5, 6, 6]], float)
    got = boxes.iou(a, b)
    # [0,0,2,2] vs [1,1,3,3]: inter 1, union 4 + 4 - 1 = 7 (no +1 pixel convention)
    expected = np.array([[1 / 7, 1.0, 0.0, 0.0],      # touching edge at x=2 -> 0
                         [4 / 16, 4 / 16, 4 / 16, 0.0]])  # [1,1,3,3] lies inside [0,0,4,4]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    assert got.shape == (2, 4) and got.dtype == np.float64


def test_iou_matches_torchvision():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 37), random_boxes(rng, 23)
    ref = box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(boxes.iou(a, b), ref, rtol=1e-12, atol=1e-12)
    assert (ref > 0).sum() > 20  # the case exercises overlaps, not only zeros


# ----------------------------------------------------------------------------- union / clip

def test_union_is_shang_eq1():
    given = np.array([[10, 20, 50, 60], [0, 0, 5, 5]], float)
    yolo = np.array([[15, 10, 70, 55], [1, 1, 4, 4]], float)
    # [min(x1,x1'), min(y1,y1'), max(x2,x2'), max(y2,y2')]
    np.testing.assert_array_equal(boxes.union(given, yolo), [[10, 10, 70, 60], [0, 0, 5, 5]])
    np.testing.assert_array_equal(boxes.union(yolo, given), boxes.union(given, yolo))
    with pytest.raises(ContractError, match="rows"):
        boxes.union(given, yolo[:1])


def test_union_missing_detector_box():
    given = np.array([[10, 20, 50, 60], [0, 0, 5, 5]], float)
    yolo = np.array([[15, 10, 70, 55], [np.nan] * 4])
    with pytest.raises(ContractError, match="row 1"):
        boxes.union(given, yolo)
    np.testing.assert_array_equal(boxes.union(given, yolo, missing="keep_a"), [[10, 10, 70, 60], [0, 0, 5, 5]])


def test_clip_scalar_and_per_row():
    b = np.array([[-5, -1, 30, 40], [10, 10, 200, 300]], float)
    np.testing.assert_array_equal(boxes.clip(b, 100, 50), [[0, 0, 30, 40], [10, 10, 100, 50]])
    # per-row sizes: width applies to x, height to y
    np.testing.assert_array_equal(boxes.clip(b, [20, 150], [35, 250]), [[0, 0, 20, 35], [10, 10, 150, 250]])
    assert b[0, 0] == -5  # input untouched
    with pytest.raises(ContractError, match="width"):
        boxes.clip(b, [20, 30, 40], 10)
    with pytest.raises(ContractError, match="height"):
        boxes.clip(b, 10, 0)


# ----------------------------------------------------------------------------- AP vs pycocotools

def test_ap_hand_worked():
    # img 1: one GT, a TP (0.9) and a duplicate FP (0.8); img 2: one GT, a TP (0.7)
    # ranked: TP, FP, TP -> recall .5 .5 1, precision 1 .5 .667 -> envelope 1 .667 .667
    # 101-point: thresholds 0..0.50 (51) read 1.0, 0.51..1.0 (50) read 2/3
    ap = boxes.average_precision([1, 1, 2], [[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 9, 9]], [0.9, 0.8, 0.7],
                                 [1, 2], [[0, 0, 10, 10], [5, 5, 9, 9]])
    assert ap == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)


def test_ap_threshold_is_inclusive_and_no_plus_one():
    gt = [[0, 0, 10, 10]]
    # [0,0,10,5]: IoU exactly 50/100 = 0.5 -> matched (COCO uses >=); with a +1 convention it would be 66/121
    # (precision is tp / (tp + fp + eps) in COCOeval, hence approx)
    assert boxes.average_precision([0], [[0, 0, 10, 5]], [1.0], [0], gt) == pytest.approx(1.0, abs=1e-12)
    assert boxes.average_precision([0], [[0, 0, 10, 4.99]], [1.0], [0], gt) == 0.0
    assert coco_ap([0], [[0, 0, 10, 5]], [1.0], [0], gt) == pytest.approx(1.0, abs=1e-12)
    assert coco_ap([0], [[0, 0, 10, 4.99]], [1.0], [0], gt) == 0.0


def test_ap_tied_iou_goes_to_later_gt_as_cocoeval():
    # det A overlaps both GTs with IoU exactly 0.6; COCOeval matches it to the LATER gt, so the
    # lower-scored det B (identical to that later gt) is left with IoU 1/3 against the first: FP
    gt = [[0, 0, 10, 10], [5, 0, 15, 10]]
    pred = [[2.5, 0, 12.5, 10], [5, 0, 15, 10]]
    ref = coco_ap([0, 0], pred, [0.9, 0.8], [0, 0], gt)
    assert ref == pytest.approx(51 / 101)  # recall stops at 0.5 with precision 1
    assert boxes.average_precision([0, 0], pred, [0.9, 0.8], [0, 0], gt) == pytest.approx(ref, abs=1e-12)


def test_ap_tied_scores_follow_image_order_as_cocoeval():
    # equal scores across images: COCOeval ranks image 1's FP before image 2's TP (sorted image ids)
    gt_ids, gt = [2], [[0, 0, 10, 10]]
    pred_ids, pred = [2, 1], [[0, 0, 10, 10], [50, 50, 60, 60]]
    ref = coco_ap(pred_ids, pred, [0.5, 0.5], gt_ids, gt)
    assert ref == pytest.approx(0.5)  # FP then TP: precision 0.5 at recall 1
    assert boxes.average_precision(pred_ids, pred, [0.5, 0.5], gt_ids, gt) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_ap_matches_pycocotools_random(seed):
    p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(seed)
    if seed % 2:  # coarse scores -> many ties, exercising the stable orderings
        scores = np.round(scores, 1)
    ours = boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes)
    ref = coco_ap(p_ids, p_boxes, scores, g_ids, g_boxes)
    assert 0.05 < ref < 0.999  # a non-trivial case
    assert ours == pytest.approx(ref, abs=1e-12)
    ours75 = boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes, iou_threshold=0.75)
    assert ours75 == pytest.approx(coco_ap(p_ids, p_boxes, scores, g_ids, g_boxes, iou=0.75), abs=1e-12)


def test_ap_string_image_ids_equal_int_ids():
    p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(11)
    as_str = lambda ids: np.array([f"img{i:03d}" for i in ids])  # zero-padded: same sort order
    assert boxes.average_precision(as_str(p_ids), p_boxes, scores, as_str(g_ids), g_boxes) == pytest.approx(
        boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes), abs=1e-15)


def test_ap_max_dets_100_per_image():
    # 120 FPs on image 0 scored above image 1's TP: only the top 100 count, as COCO's maxDets=100
    rng = np.random.default_rng(3)
    fp = random_boxes(rng, 120) + 1000  # far from the GT
    p_ids = np.array([0] * 120 + [1])
    p_boxes = np.concatenate([fp, [[0, 0, 10, 10]]])
    scores = np.concatenate([rng.uniform(0.5, 1, 120), [0.1]])
    g_ids, g_boxes = [1, 0], [[0, 0, 10, 10], [0, 0, 1, 1]]
    ref = coco_ap(p_ids, p_boxes, scores, g_ids, g_boxes)
    ours = boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes)
    assert ours == pytest.approx(ref, abs=1e-12)
    assert ours == pytest.approx(51 / 101 / 101, abs=1e-12)  # precision 1/101 up to recall 0.5
    assert boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes, max_dets=1000) < ours


def test_ap_block_split_does_not_change_result(monkeypatch):
    p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(4, n_images=30)
    full = boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes)
    monkeypatch.setattr(boxes, "_AP_BLOCK_ELEMENTS", 1)  # one image per block
    assert boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes) == full


def test_ap_edge_cases():
    gt = [[0, 0, 10, 10]]
    # no predictions at all -> 0 (pycocotools cannot load an empty result list)
    assert boxes.average_precision([], np.zeros((0, 4)), [], [0], gt) == 0.0
    # no ground truth at all -> undefined: nan (pycocotools reports -1)
    assert np.isnan(boxes.average_precision([0], gt, [1.0], [], np.zeros((0, 4))))
    assert coco_ap([0], gt, [1.0], [], np.zeros((0, 4))) == -1
    # predictions only on an image without GT -> all FP
    assert boxes.average_precision([1], gt, [1.0], [0], gt) == 0.0 == coco_ap([1], gt, [1.0], [0], gt)
    with pytest.raises(ContractError, match="pred_scores"):
        boxes.average_precision([0], gt, [np.nan], [0], gt)
    with pytest.raises(ContractError, match="pred_image_ids"):
        boxes.average_precision([0, 1], gt, [1.0], [0], gt)
    with pytest.raises(ConfigError, match="iou_threshold"):
        boxes.average_precision([0], gt, [1.0], [0], gt, iou_threshold=0)


# ----------------------------------------------------------------------------- WBF

def test_wbf_hand_worked_and_empty_detector():
    a, b = [10, 10, 50, 50], [12, 12, 52, 52]  # IoU 1444/1756 = 0.82 > 0.55 -> one cluster
    fused, score = boxes.weighted_boxes_fusion([np.array([a]), np.array([b])], [[0.9], [0.6]], 100, 200)
    # score-weighted coordinates (0.9*a + 0.6*b) / 1.5; score = mean(0.9, 0.6) * min(2, 2) / 2
    np.testing.assert_allclose(fused, [[10.8, 10.8, 50.8, 50.8]], atol=1e-4)
    np.testing.assert_allclose(score, [0.75], atol=1e-6)
    # a third detector that found nothing still counts: score * min(3, 2) / 3
    fused3, score3 = boxes.weighted_boxes_fusion([np.array([a]), np.array([b]), np.zeros((0, 4))],
                                                 [[0.9], [0.6], []], 100, 200)
    np.testing.assert_allclose(fused3, fused, atol=1e-6)
    np.testing.assert_allclose(score3, [0.5], atol=1e-6)


def test_wbf_no_boxes_at_all():
    fused, score = boxes.weighted_boxes_fusion([np.zeros((0, 4)), []], [[], []], 64, 48)
    assert fused.shape == (0, 4) and score.shape == (0,)
    # everything below skip_box_thr -> empty too
    fused, score = boxes.weighted_boxes_fusion([[[1, 1, 5, 5]]], [[0.1]], 64, 48, skip_box_thr=0.5)
    assert fused.shape == (0, 4) and score.shape == (0,)


def test_wbf_uses_width_for_x_and_height_for_y():
    # tall image: y up to 190 is inside; swapping width and height would clip y2 at 60
    box = np.array([[10, 100, 50, 190]], float)
    fused, _ = boxes.weighted_boxes_fusion([box], [[0.8]], 60, 200)
    np.testing.assert_allclose(fused, box, atol=1e-4)
    # boxes crossing the border are clipped to the image before fusing
    fused, _ = boxes.weighted_boxes_fusion([[[-10, 100, 70, 190]]], [[0.8]], 60, 200)
    np.testing.assert_allclose(fused, [[0, 100, 60, 190]], atol=1e-4)


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
def test_wbf_matches_ensemble_boxes_on_normalised_coordinates(conf_type):
    rng = np.random.default_rng(5)
    width, height = 320.0, 240.0
    base = random_boxes(rng, 6, size=200)
    boxes_list, scores_list = [], []
    for det in range(4):
        if det == 2:  # one detector found nothing on this image
            boxes_list.append(np.zeros((0, 4)))
            scores_list.append(np.zeros(0))
            continue
        keep = rng.random(len(base)) < 0.8
        b = base[keep] + rng.normal(0, 5, (int(keep.sum()), 4))
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 2)
        b = np.clip(b, 0, [width, height, width, height])
        boxes_list.append(b)
        scores_list.append(rng.uniform(0.05, 1, len(b)))
    weights = [2, 1, 1, 1.5]
    ours_b, ours_s = boxes.weighted_boxes_fusion(boxes_list, scores_list, width, height, iou_thr=0.5,
                                                 skip_box_thr=0.1, weights=weights, conf_type=conf_type)
    scale = np.array([width, height, width, height])
    ref_b, ref_s, ref_l = eb_wbf([b / scale for b in boxes_list], scores_list,
                                 [np.zeros(len(b)) for b in boxes_list], weights=weights, iou_thr=0.5,
                                 skip_box_thr=0.1, conf_type=conf_type)
    assert len(ref_b) >= 4 and (ref_l == 0).all()
    np.testing.assert_allclose(ours_b, ref_b * scale, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours_s, ref_s, rtol=0, atol=1e-12)
    assert (np.diff(ours_s) <= 0).all()


def test_wbf_bad_parameters():
    with pytest.raises(ConfigError, match="conf_type"):
        boxes.weighted_boxes_fusion([[[1, 1, 5, 5]]], [[0.5]], 10, 10, conf_type="mean")
    with pytest.raises(ConfigError, match="weights"):
        boxes.weighted_boxes_fusion([[[1, 1, 5, 5]]], [[0.5]], 10, 10, weights=[1, 2])
    with pytest.raises(ContractError, match="3 box arrays but 2"):
        boxes.weighted_boxes_fusion([[], [], []], [[], []], 10, 10)
    with pytest.raises(ContractError, match=r"boxes_list\[1\].*row 0"):
        boxes.weighted_boxes_fusion([[[1, 1, 5, 5]], [[5, 5, 1, 1]]], [[0.5], [0.5]], 10, 10)
    with pytest.raises(ContractError, match=r"scores_list\[0\]"):
        boxes.weighted_boxes_fusion([[[1, 1, 5, 5]]], [[0.5, 0.4]], 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ensemble_boxes warning leaks for a box outside the image
        fused, _ = boxes.weighted_boxes_fusion([[[20, 20, 30, 30], [1, 1, 5, 5]]], [[0.9, 0.5]], 10, 10)
    np.testing.assert_allclose(fused, [[1, 1, 5, 5]], atol=1e-5)
