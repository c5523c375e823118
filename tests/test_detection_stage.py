"""Tests of fashionbench.detection_stage (the detect and crops stages) and the AP50 bootstrap.

Pieces are checked against hand-worked cases and independent references: pycocotools (AP50,
also on explicitly duplicated images for the bootstrap weights) and ``ensemble_boxes`` called
directly (WBF). The whole stage runs once on the session's tiny fmnist-c2s build in a FRESH
interpreter inside an empty network namespace (``unshare -rn`` where available) with every
socket entry point replaced by a recorder (the guard of ``test_detect``): no connection attempt
may be recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from ensemble_boxes import weighted_boxes_fusion as eb_wbf

from conftest import ROOT
from fashionbench.detection import boxes
from fashionbench.core import config
import fashionbench.papers.claims
import fashionbench.data.prepared
import fashionbench.detection.predictions
import fashionbench.detection.settings
import fashionbench.pipeline.detect
import fashionbench.reporting.detection
from fashionbench.core.errors import ConfigError, ContractError
from test_boxes import coco_ap, random_detection_case
from test_detect import GUARD, _unshare_prefix

XY = ["x1", "y1", "x2", "y2"]


def params_for(**over) -> dict:
    """A minimal params dict (profiles tiny/default) with two detectors and a crop_eval block."""
    p = {"seed": 0, "profile": "tiny",
         "profiles": {"tiny": {"eval": {"n_boot": 50}}, "default": {"eval": {"n_boot": 1000}}},
         "dataset": {"name": "fmnist-c2s"},
         "methods": {"baseline": {"group": "baseline", "crop": "given"}},
         "detect": {"crop_conf": 0.25},
         "detectors": {"a": {"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 3,
                             "profiles": {"tiny": {"epochs": 1, "max_train_images": 10}}},
                       "b": {"arch": "yolo11n.yaml", "imgsz": 64, "epochs": 3, "class_mode": "category"}},
         "crop_eval": {"model": "baseline", "crops": ["given", "detected", "union", "fused"], "gallery_crop": "same"}}
    p.update(over)
    return p


# ----------------------------------------------------------------------------- settings

def test_settings_resolve_profiles_and_defaults():
    p = params_for()
    a, b = fashionbench.detection.settings.detector_settings(p, "a"), fashionbench.detection.settings.detector_settings(p, "b")
    assert (a["epochs"], a["max_train_images"], a["seed"], a["class_mode"], a["batch"]) == (1, 10, 0, "product", 32)
    assert (b["epochs"], b["class_mode"], b["max_train_images"]) == (3, "category", None)
    s = fashionbench.detection.settings.detect_settings(p)
    assert s["n_boot"] == 50 and s["crop_conf"] == 0.25 and s["wbf"]["iou_thr"] == 0.55
    assert fashionbench.detection.settings.detect_settings({**p, "profile": "default"})["n_boot"] == 1000
    assert fashionbench.detection.settings.detector_names(p) == ["a", "b"]


@pytest.mark.parametrize("row, match", [
    ({"arch": "yolov8n.yaml", "imgsz": 64}, r"detectors\.x: missing \['epochs'\]"),
    ({"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1, "class_mode": "item"}, r"detectors\.x\.class_mode"),
    ({"arch": "yolov8n.yaml", "imgsz": 16, "epochs": 1}, r"detectors\.x\.imgsz"),
    ({"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1, "max_train_images": 1}, r"detectors\.x\.max_train_images"),
    ({"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1, "lr": 0.1}, r"detectors\.x: unknown key"),
    ({"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1, "profiles": {"huge": {}}}, r"detectors\.x\.profiles"),
])
def test_bad_detector_rows_are_config_errors(row, match):
    with pytest.raises(ConfigError, match=match):
        fashionbench.detection.settings.detector_settings(params_for(detectors={"x": row}), "x")


def test_bad_stage_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"detect\.crop_conf"):
        fashionbench.detection.settings.detect_settings(params_for(detect={"crop_conf": 2}))
    with pytest.raises(ConfigError, match=r"detect\.wbf: unknown key"):
        fashionbench.detection.settings.detect_settings(params_for(detect={"wbf": {"iou": 0.5}}))
    with pytest.raises(ConfigError, match="detectors: params.yaml needs"):
        fashionbench.detection.settings.detector_names(params_for(detectors={}))
    with pytest.raises(ConfigError, match=r"detect\.primary"):
        fashionbench.detection.settings.check_detectors(params_for(detect={"primary": "zzz"}))


def test_unknown_architecture_names_the_row():
    p = params_for(detectors={"good": {"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1},
                              "bad": {"arch": "yolov99n.yaml", "imgsz": 64, "epochs": 1}})
    with pytest.raises(ConfigError, match=r"detectors\.bad\.arch: .*yolov99n\.yaml.*yolov8n\.yaml"):
        fashionbench.detection.settings.check_detectors(p)


def test_crop_eval_rows_are_evaluated_names():
    p = params_for()
    names = config.evaluated_names(p)
    assert names[-4:] == ["baseline-crop-given", "baseline-crop-detected", "baseline-crop-union", "baseline-crop-fused"]
    assert config.crop_settings(p, "baseline-crop-union") == ("union", "union")
    p2 = params_for(crop_eval={"model": "baseline", "crops": ["detected"], "gallery_crop": "given"})
    assert config.crop_settings(p2, "baseline-crop-detected") == ("detected", "given")
    assert config.crop_settings(p2, "baseline") == ("given", "given")
    with pytest.raises(ConfigError, match="crop_eval.crops"):
        fashionbench.detection.settings.crop_eval_settings(params_for(crop_eval={"model": "baseline", "crops": ["union", "bogus"]}))
    with pytest.raises(ConfigError, match="crop_eval.model"):
        fashionbench.detection.settings.crop_eval_settings(params_for(crop_eval={"model": "nope", "crops": ["union"]}))


# ----------------------------------------------------------------------------- data helpers

def tiny_manifest() -> pd.DataFrame:
    """Three images (A: 2 items, B, C), 100x80 px; hand-checked below."""
    rows = [dict(uid="a1", path="A.png", split="query", x1=10, y1=10, x2=50, y2=50),
            dict(uid="a2", path="A.png", split="query", x1=60, y1=5, x2=90, y2=30),
            dict(uid="b", path="B.png", split="gallery", x1=20, y1=20, x2=40, y2=70),
            dict(uid="c", path="C.png", split="train", x1=0, y1=0, x2=30, y2=30)]
    df = pd.DataFrame(rows)
    df["width"], df["height"] = 100, 80
    return df


def pred_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["path", "x1", "y1", "x2", "y2", "score", "class"])


def test_select_train_rows_caps_images_deterministically():
    df = pd.DataFrame({"uid": [f"u{i}" for i in range(12)], "path": [f"p{i // 2}.png" for i in range(12)],
                       "split": ["train"] * 10 + ["query"] * 2})
    sub = fashionbench.detection.predictions.select_detector_rows(df, 3, seed=1)
    assert sub["path"].nunique() == 3 and len(sub) == 6  # both rows of each chosen image
    # the sample depends on the set of train paths and the seed, not on the row order
    shuffled = fashionbench.detection.predictions.select_detector_rows(df.sample(frac=1, random_state=0), 3, seed=1)
    assert set(shuffled["uid"]) == set(sub["uid"])
    assert len(fashionbench.detection.predictions.select_detector_rows(df, None, seed=1)) == 10
    with pytest.raises(ContractError, match="no 'train' rows"):
        fashionbench.detection.predictions.select_detector_rows(df[df["split"] == "query"], 3, seed=0)


def test_image_sizes_from_manifest_or_file(tmp_path):
    from PIL import Image

    Image.new("RGB", (33, 21)).save(tmp_path / "x.png")
    df = pd.DataFrame({"path": ["x.png"]})
    assert fashionbench.detection.predictions.image_sizes(df, tmp_path) == {"x.png": (33, 21)}
    assert fashionbench.detection.predictions.image_sizes(tiny_manifest(), tmp_path) == {"A.png": (100, 80), "B.png": (100, 80), "C.png": (100, 80)}
    with pytest.raises(ContractError, match="cannot read image"):
        fashionbench.detection.predictions.image_sizes(pd.DataFrame({"path": ["missing.png"]}), tmp_path)


def test_tidy_predictions_rounds_clips_and_drops():
    sizes = {"A.png": (100, 80)}
    p = pred_frame([("A.png", -5.0, 10.00049, 50.0, 90.0, 0.12345678, 0),   # clipped to the image
                    ("A.png", 120.0, 10.0, 130.0, 20.0, 0.5, 0)])           # wholly outside: dropped
    t = fashionbench.detection.predictions.tidy_predictions(p, sizes)
    assert len(t) == 1
    assert t.loc[0, XY].tolist() == [0.0, 10.0, 50.0, 80.0] and t.loc[0, "score"] == 0.123457
    with pytest.raises(ContractError, match="not in the manifest"):
        fashionbench.detection.predictions.tidy_predictions(pred_frame([("Z.png", 0, 0, 1, 1, 0.5, 0)]), sizes)
    assert fashionbench.detection.predictions.tidy_predictions(pred_frame([]), sizes).empty


def test_crop_boxes_by_hand_with_fallbacks():
    m = tiny_manifest()
    sizes = fashionbench.detection.predictions.image_sizes(m, ".")
    primary = pred_frame([("A.png", 5, 8, 45, 60, 0.9, 0), ("A.png", 0, 0, 99, 79, 0.3, 0),  # best: 0.9
                          ("B.png", 25, 10, 45, 60, 0.1, 0)])                                # below crop_conf
    fused = pred_frame([("A.png", 6, 9, 46, 61, 0.8, 0), ("B.png", 21, 19, 41, 71, 0.6, 0)])
    t, counts = fashionbench.detection.predictions.crop_boxes_table(m, sizes, primary, fused, crop_conf=0.25)
    t = t.set_index("uid")
    box = lambda uid, mode: t.loc[uid, [f"{mode}_{c}" for c in XY]].tolist()
    # image A found: detected = best box; union = eq. 1 with each row's own given box
    assert box("a1", "detected") == box("a2", "detected") == [5, 8, 45, 60]
    # union (eq. 1) covers the given box and ALL confident boxes: both of A's (0.9 and 0.3 >= 0.25)
    assert box("a1", "union") == [0, 0, 99, 79]          # given [10,10,50,50] U [5,8,45,60] U [0,0,99,79]
    assert box("a2", "union") == [0, 0, 99, 79]          # given [60,5,90,30] inside it too
    only_best = primary.iloc[[0, 2]]                     # without the 0.3 box: given U best box
    t2, _ = fashionbench.detection.predictions.crop_boxes_table(m, sizes, only_best, fused, crop_conf=0.25)
    t2 = t2.set_index("uid")
    assert t2.loc["a1", [f"union_{c}" for c in XY]].tolist() == [5, 8, 50, 60]   # [min(10,5), min(10,8), max(50,45), max(50,60)]
    assert t2.loc["a2", [f"union_{c}" for c in XY]].tolist() == [5, 5, 90, 60]   # given [60,5,90,30] U [5,8,45,60]
    assert box("a1", "fused") == [6, 9, 46, 61]
    # image B: best score 0.1 < 0.25 -> nothing found: whole image / given box; fused found (0.6)
    assert box("b", "detected") == [0, 0, 100, 80]
    assert box("b", "union") == [20, 20, 40, 70]
    assert box("b", "fused") == [21, 19, 41, 71]
    # image C: no box at all anywhere -> every fallback
    assert box("c", "detected") == [0, 0, 100, 80] and box("c", "union") == box("c", "fused") == [0, 0, 30, 30]
    assert t["detected_found"].tolist() == [True, True, False, False]
    assert t["fused_found"].tolist() == [True, True, True, False]
    assert np.isnan(t.loc["b", "detected_score"]) and t.loc["a1", "detected_score"] == 0.9
    assert counts == {"n_rows": 4, "n_fallback_detected": 2, "n_fallback_union": 2, "n_fallback_fused": 1}


def test_fused_crop_uses_confident_boxes_of_every_detector():
    """The fused crop fuses boxes >= crop_conf only; a box only one detector is sure of still counts."""
    m = tiny_manifest()
    sizes = fashionbench.detection.predictions.image_sizes(m, ".")
    wbf = fashionbench.detection.settings.DETECT_DEFAULTS["wbf"]
    d1 = pred_frame([("A.png", 10, 10, 50, 50, 0.9, 0), ("A.png", 12, 12, 52, 52, 0.05, 0),
                     ("B.png", 20, 20, 40, 70, 0.1, 0)])
    d2 = pred_frame([("A.png", 14, 10, 54, 50, 0.7, 0), ("B.png", 22, 18, 42, 68, 0.6, 0)])
    fused = fashionbench.detection.predictions.fused_crop_predictions([d1, d2], ["A.png", "B.png", "C.png"], sizes, wbf, crop_conf=0.25)
    a = fused[fused["path"] == "A.png"].iloc[0]
    # A: 0.9 box of d1 and 0.7 box of d2 fuse (IoU 0.82); the 0.05 duplicate is left out:
    # score-weighted mean x1 = (0.9*10 + 0.7*14) / 1.6 = 11.75, mean score (0.9+0.7)/2 = 0.8
    assert a[XY].tolist() == pytest.approx([11.75, 10, 51.75, 50]) and a["score"] == pytest.approx(0.8)
    b = fused[fused["path"] == "B.png"].iloc[0]
    assert b[XY].tolist() == [22, 18, 42, 68] and b["score"] == pytest.approx(0.3)  # one of 2 detectors: 0.6/2
    t, counts = fashionbench.detection.predictions.crop_boxes_table(m, sizes, d1, fused, 0.25, fused_conf=0.0)
    assert t.set_index("uid").loc["b", "fused_found"] and counts["n_fallback_fused"] == 1  # only C


def test_detector_that_returns_nothing_falls_back_everywhere():
    """Documented behaviour: no box at all -> detected = whole image, union = fused = given; AP50 = 0."""
    m = tiny_manifest()
    sizes = fashionbench.detection.predictions.image_sizes(m, ".")
    empty = fashionbench.detection.predictions.tidy_predictions(pred_frame([]), sizes)
    fused = fashionbench.detection.predictions.fuse_predictions([empty, empty], m["path"].unique(), sizes, fashionbench.detection.settings.DETECT_DEFAULTS["wbf"])
    assert fused.empty
    t, counts = fashionbench.detection.predictions.crop_boxes_table(m, sizes, empty, fused, 0.25)
    assert counts["n_fallback_detected"] == counts["n_fallback_union"] == counts["n_fallback_fused"] == 4
    assert (t[[f"union_{c}" for c in XY]].to_numpy() == m[XY].to_numpy()).all()
    assert (t[[f"detected_{c}" for c in XY]].to_numpy() == [[0, 0, 100, 80]] * 4).all()
    gt = m.loc[m["split"] != "train", ["path", *XY]]
    metrics, _ = fashionbench.detection.predictions.ap50_summary(gt, {"a": empty, "b": empty}, [empty, fused], n_boot=20, seed=0)
    assert metrics["ap50_a"] == metrics["ap50_wbf_1"] == metrics["ap50_wbf_2"] == 0.0
    assert metrics["ap50_wbf_2_gain"] == 0.0


# ----------------------------------------------------------------------------- WBF and AP50

def test_fuse_predictions_matches_ensemble_boxes_directly():
    rng = np.random.default_rng(0)
    sizes = {"A.png": (100, 80), "B.png": (100, 80)}
    def rand(n, path):
        xy = rng.uniform(0, 50, (n, 2))
        return pred_frame([(path, *xy[i], *(xy[i] + rng.uniform(10, 30, 2)), rng.uniform(0.01, 1), 0) for i in range(n)])
    d1 = fashionbench.detection.predictions.tidy_predictions(pd.concat([rand(4, "A.png"), rand(3, "B.png")]), sizes)
    d2 = fashionbench.detection.predictions.tidy_predictions(rand(5, "A.png"), sizes)  # detector 2 finds nothing on B
    wbf = {"iou_thr": 0.55, "skip_box_thr": 0.0, "conf_type": "avg"}
    assert fashionbench.detection.predictions.fuse_predictions([d1], ["A.png", "B.png"], sizes, wbf).equals(d1)  # WBF_1 = the detector alone
    fused = fashionbench.detection.predictions.fuse_predictions([d1, d2], ["A.png", "B.png"], sizes, wbf)
    scale = np.array([100, 80, 100, 80])
    for path in ("A.png", "B.png"):
        bl = [d[d["path"] == path][XY].to_numpy() / scale for d in (d1, d2)]
        sl = [d[d["path"] == path]["score"].to_numpy() for d in (d1, d2)]
        ref_b, ref_s, _ = eb_wbf(bl, sl, [np.zeros(len(b)) for b in bl], iou_thr=0.55, skip_box_thr=0.0)
        ours = fused[fused["path"] == path]
        order = np.argsort(-ref_s, kind="stable")
        np.testing.assert_allclose(ours[XY].to_numpy(), np.round(ref_b[order] * scale, 3), atol=1e-9)
        np.testing.assert_allclose(ours["score"].to_numpy(), np.round(ref_s[order], 6), atol=1e-12)


def _frames(p_ids, p_boxes, scores, g_ids, g_boxes):
    pred = pd.DataFrame(np.asarray(p_boxes, float), columns=XY)
    pred.insert(0, "path", [f"img{i:03d}" for i in p_ids])
    pred["score"], pred["class"] = scores, 0
    gt = pd.DataFrame(np.asarray(g_boxes, float), columns=XY)
    gt.insert(0, "path", [f"img{i:03d}" for i in g_ids])
    return pred, gt


def test_ap50_table_wbf1_equals_single_detector_and_pycocotools():
    case = random_detection_case(2, n_images=20)
    pred, gt = _frames(*case)
    pred2 = pred.assign(score=np.random.default_rng(1).uniform(size=len(pred)))
    metrics, table = fashionbench.detection.predictions.ap50_summary(gt, {"first": pred, "second": pred2}, [pred, pred2], n_boot=30, seed=0)
    assert metrics["ap50_wbf_1"] == metrics["ap50_first"]
    # images without GT are outside the evaluated universe: drop them from the reference too
    keep = np.isin(case[0], case[3])
    ref = coco_ap(np.asarray(case[0])[keep], np.asarray(case[1])[keep], np.asarray(case[2])[keep], case[3], case[4])
    assert metrics["ap50_first"] == pytest.approx(ref, abs=1e-12)
    assert list(table["row"]) == ["first", "second", "WBF_1", "WBF_2"]
    assert metrics["ap50_wbf_2_gain"] == pytest.approx(metrics["ap50_wbf_2"] - metrics["ap50_wbf_1"], abs=1e-15)
    assert metrics["ap50_wbf_2_gain_ci_low"] <= metrics["ap50_wbf_2_gain_ci_high"]


def test_weighted_ap_equals_pycocotools_on_duplicated_images():
    """ap_from_matches(weights) == COCOeval on a data set where image i appears w[i] times."""
    for seed in range(3):
        p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(seed, n_images=12)
        m = boxes.match_detections(p_ids, p_boxes, scores, g_ids, g_boxes)
        w = np.random.default_rng(seed).integers(0, 4, len(m.image_ids))
        dp, db, dsc, dg, dgb = [], [], [], [], []
        for i, img in enumerate(m.image_ids):
            for copy in range(w[i]):
                new = int(img) * 10 + copy
                sel = np.asarray(p_ids) == img
                dp += [new] * int(sel.sum()); db += list(np.asarray(p_boxes)[sel]); dsc += list(np.asarray(scores)[sel])
                gsel = np.asarray(g_ids) == img
                dg += [new] * int(gsel.sum()); dgb += list(np.asarray(g_boxes)[gsel])
        ref = coco_ap(dp, np.array(db).reshape(-1, 4), dsc, dg, np.array(dgb).reshape(-1, 4))
        assert boxes.ap_from_matches(m, w) == pytest.approx(ref, abs=1e-12)
        assert boxes.ap_from_matches(m) == boxes.average_precision(p_ids, p_boxes, scores, g_ids, g_boxes)


def test_bootstrap_single_replicate_by_hand():
    """With n_boot=1 the CI ends are that replicate's difference, recomputed here by duplication."""
    p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(5, n_images=10)
    scores2 = np.random.default_rng(9).uniform(size=len(scores))
    universe = np.unique(np.concatenate([p_ids, g_ids]))
    m1 = boxes.match_detections(p_ids, p_boxes, scores, g_ids, g_boxes)
    m2 = boxes.match_detections(p_ids, p_boxes, scores2, g_ids, g_boxes)
    out = boxes.bootstrap_ap_differences([m1, m2], universe, n_boot=1, seed=4)
    counts = np.bincount(np.random.default_rng(4).integers(0, len(universe), len(universe)), minlength=len(universe))
    expect = boxes.ap_from_matches(m2, counts) - boxes.ap_from_matches(m1, counts)
    assert out[1, 1] == pytest.approx(expect, abs=1e-12) and out[1, 2] == pytest.approx(expect, abs=1e-12)
    assert out[1, 0] == pytest.approx(boxes.ap_from_matches(m2) - boxes.ap_from_matches(m1), abs=1e-15)
    assert (out[0] == 0).all()


def test_bootstrap_identical_and_clearly_better_detectors():
    p_ids, p_boxes, scores, g_ids, g_boxes = random_detection_case(7, n_images=40)
    m = boxes.match_detections(p_ids, p_boxes, scores, g_ids, g_boxes)
    universe = np.unique(np.concatenate([p_ids, g_ids]))
    same = boxes.bootstrap_ap_differences([m, m], universe, n_boot=50, seed=0)
    assert (same[1] == 0).all()
    perfect = boxes.match_detections(g_ids, g_boxes, np.ones(len(g_ids)), g_ids, g_boxes)
    better = boxes.bootstrap_ap_differences([m, perfect], universe, n_boot=200, seed=0)
    assert better[1, 0] > 0 and better[1, 1] > 0  # CI above zero
    with pytest.raises(ContractError, match="not in image_ids"):
        boxes.bootstrap_ap_differences([m], universe[:3], n_boot=2)


# ----------------------------------------------------------------------------- claim ji-1

def _det(steps: dict[int, tuple[float, float, float]], base: float = 0.8) -> dict[str, float]:
    out = {"ap50_wbf_1": base, "n_eval_images": 100}
    ap = base
    for k, (d, lo, hi) in sorted(steps.items()):
        ap += d
        out.update({f"ap50_wbf_{k}": ap, f"ap50_wbf_{k}_step": d, f"ap50_wbf_{k}_step_ci_low": lo,
                    f"ap50_wbf_{k}_step_ci_high": hi})
    return out


@pytest.mark.parametrize("detection, verdict", [
    (_det({2: (0.02, 0.012, 0.028), 3: (0.02, 0.012, 0.03)}), "holds"),          # every added detector helps
    (_det({2: (0.03, 0.01, 0.05), 3: (-0.02, -0.03, -0.012)}), "does not hold"),  # the third one hurts
    (_det({2: (0.03, 0.015, 0.05), 3: (0.004, -0.001, 0.01)}), "unclear"),       # the third: no sure change
    (_det({}), "untested"),                                                     # one detector
    (None, "untested"),                                                          # no detect stage
])
def test_ji1_verdict_rule(detection, verdict):
    """ji-1 is tested per added detector (WBF_k vs WBF_k-1), on Holm-adjusted CIs (family: 2 steps here)."""
    spec = [c for c in fashionbench.papers.claims.CLAIMS if c.id == "ji-1"]
    r = fashionbench.papers.claims.evaluate_claims({}, spec, detection=detection)[0]
    assert r.verdict == verdict
    if verdict != "untested":
        assert [(d["a"], d["b"]) for d in r.details] == [("WBF_2", "WBF_1"), ("WBF_3", "WBF_2")]
        assert r.details[0]["mean_b"] == 0.8
    else:
        assert r.reason


def test_step_differences_are_each_detector_against_the_previous():
    rng = np.random.default_rng(0)
    g_ids = np.repeat(np.arange(30), 1).astype(str)
    g_boxes = np.tile([[10.0, 10.0, 40.0, 40.0]], (30, 1))
    universe = np.unique(g_ids)
    scores = rng.uniform(0.1, 1.0, 30)
    half = boxes.match_detections(g_ids[:15], g_boxes[:15], scores[:15], g_ids, g_boxes)
    most = boxes.match_detections(g_ids[:25], g_boxes[:25], scores[:25], g_ids, g_boxes)
    full = boxes.match_detections(g_ids, g_boxes, scores, g_ids, g_boxes)
    first = boxes.bootstrap_ap_differences([half, most, full], universe, n_boot=50, seed=0)
    prev = boxes.bootstrap_ap_differences([half, most, full], universe, n_boot=50, seed=0, reference="previous")
    ap = [boxes.ap_from_matches(m) for m in (half, most, full)]
    assert first[2, 0] == pytest.approx(ap[2] - ap[0]) and prev[2, 0] == pytest.approx(ap[2] - ap[1])
    assert prev[1, 0] == pytest.approx(first[1, 0])


# ----------------------------------------------------------------------------- merging boxes.csv

def test_merge_detected_boxes(tmp_path):
    m = tiny_manifest()
    t, _ = fashionbench.detection.predictions.crop_boxes_table(m, fashionbench.detection.predictions.image_sizes(m, "."), pred_frame([("A.png", 5, 8, 45, 60, 0.9, 0)]),
                               pred_frame([]), 0.25)
    t.to_csv(tmp_path / "boxes.csv", index=False)
    merged = fashionbench.data.prepared.merge_detected_boxes(m, tmp_path / "boxes.csv")
    assert list(merged["uid"]) == list(m["uid"]) and merged.loc[0, "union_x2"] == 50
    from fashionbench.data.imaging import crop_boxes
    assert crop_boxes(merged, "union").shape == (4, 4)
    t.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ContractError, match=r"short\.csv: 1 manifest uid\(s\) have no detect boxes \(first 'a1'\)"):
        fashionbench.data.prepared.merge_detected_boxes(m, tmp_path / "short.csv")
    t.assign(fused_x2=t["fused_x1"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ContractError, match=r"bad\.csv: 4 row\(s\) with a missing or degenerate box"):
        fashionbench.data.prepared.merge_detected_boxes(m, tmp_path / "bad.csv")


# ----------------------------------------------------------------------------- the whole stage, offline

STAGE = '''
import json, sys
from pathlib import Path
import yaml
import fashionbench.data.prepared, fashionbench.pipeline.detect
params = yaml.safe_load(open("params.yaml"))
metrics = fashionbench.pipeline.detect.run_detect(params, progress=False)
manifest, _ = fashionbench.data.prepared.load_dataset(params)
offline_attempts = list(ATTEMPTS)
from ultralytics.utils.downloads import is_url  # positive control: the guard sees a real attempt
is_url("https://ultralytics.com/assets/Arial.ttf", check=True)
json.dump({"metrics": metrics, "attempts": offline_attempts, "control": ATTEMPTS[len(offline_attempts):],
           "columns": list(manifest.columns), "n_rows": len(manifest)}, open("result.json", "w"))
'''


@pytest.fixture(scope="module")
def stage_run(tiny_dataset, tmp_path_factory):
    """run_detect on the tiny build (2 detectors, 1 epoch) in a fresh, network-guarded interpreter."""
    proj = tmp_path_factory.mktemp("detect_project")
    shutil.copytree(tiny_dataset, proj / "data" / "prepared")
    p = params_for()
    p["detectors"] = {"v8": {"arch": "yolov8n.yaml", "imgsz": 64, "epochs": 1, "batch": 16, "max_train_images": 40},
                      "v11": {"arch": "yolo11n.yaml", "imgsz": 64, "epochs": 1, "batch": 16, "max_train_images": 40,
                              "class_mode": "category"}}
    p["detect"] = {"crop_conf": 0.0, "n_boot": 30}
    (proj / "params.yaml").write_text(json.dumps(p))
    (proj / "run_stage.py").write_text(GUARD + textwrap.dedent(STAGE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), FASHIONBENCH_ROOT=str(proj))
    prefix = _unshare_prefix()
    proc = subprocess.run([*prefix, sys.executable, "run_stage.py"], capture_output=True, text=True, env=env,
                          timeout=400, cwd=proj)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads((proj / "result.json").read_text())
    result.update(proj=proj, unshare=bool(prefix), log=proc.stdout + proc.stderr)
    return result


def test_stage_opens_no_network_connection(stage_run):
    assert stage_run["attempts"] == [], stage_run["attempts"]
    assert stage_run["control"], "socket guard did not record the positive-control connection"
    assert "Downloading" not in stage_run["log"]


def test_stage_outputs(stage_run):
    proj, m = stage_run["proj"], stage_run["metrics"]
    out = proj / "artifacts" / "detect"
    for f in ("weights/v8.pt", "weights/v11.pt", "predictions/v8.csv", "predictions/v11.csv", "predictions/wbf.csv",
              "boxes.csv", "ap50.csv", "summary.json", "train/v8/results.csv"):
        assert (out / f).is_file(), f
    # Ultralytics' label cache stays in the scratch export, never in the DVC output
    assert not list(out.rglob("*.cache"))
    assert (proj / "scratch" / "yolo" / "v8" / "labels" / "train.cache").is_file()
    manifest = pd.read_csv(proj / "data" / "prepared" / "manifest.csv")
    boxes_csv = pd.read_csv(out / "boxes.csv")
    assert list(boxes_csv["uid"]) == list(manifest["uid"])
    assert stage_run["n_rows"] == len(manifest) and "union_x1" in stage_run["columns"]
    # every box is inside its image and has area
    for mode in ("detected", "union", "fused"):
        b = boxes_csv[[f"{mode}_{c}" for c in XY]].to_numpy()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= manifest["width"]).all() and (b[:, 3] <= manifest["height"]).all()
    # union contains the given box (shang eq. 1)
    u = boxes_csv[[f"union_{c}" for c in XY]].to_numpy()
    g = manifest[XY].to_numpy()
    assert (u[:, :2] <= g[:, :2] + 1e-6).all() and (u[:, 2:] >= g[:, 2:] - 1e-6).all()
    # metrics: Table-5 keys, WBF_1 is the first detector, fallbacks counted consistently
    assert m["ap50_wbf_1"] == m["ap50_v8"] and 0 <= m["ap50_wbf_2"] <= 1
    assert {"ap50_wbf_2_gain_ci_low", "ap50_wbf_2_gain_ci_high", "n_fallback_union", "n_fallback_fused"} <= set(m)
    assert m["n_fallback_detected"] == int((~boxes_csv["detected_found"]).sum())
    assert m["n_eval_images"] == manifest.loc[manifest["split"] != "train", "path"].nunique()
    assert json.loads((proj / "metrics" / "detect.json").read_text()) == pytest.approx(m, nan_ok=True)
    # every image of every split was predicted on
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == manifest["path"].nunique()
    assert summary["detectors"]["v11"]["class_mode"] == "category"


def test_stage_report_helpers(stage_run, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    proj = stage_run["proj"]
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(proj))
    det = fashionbench.reporting.detection.load_detect_results(proj)
    table = fashionbench.reporting.detection.ap50_table(det)
    assert list(table.index) == ["v8", "v11", "WBF_1", "WBF_2"]
    assert fashionbench.reporting.detection.plot_ap50_vs_detectors(det) is not None
    assert fashionbench.reporting.detection.plot_training_curves(det) is not None
    manifest, root = fashionbench.data.prepared.load_dataset()
    assert fashionbench.reporting.detection.plot_detection_examples(det, manifest, root, n_images=4) is not None
    assert set(fashionbench.reporting.detection.crop_iou_table(det).index) == {"given", "detected", "union", "fused"}
    assert fashionbench.reporting.detection.load_detect_results(proj / "nowhere") is None
