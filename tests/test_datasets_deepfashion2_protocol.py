"""The official DeepFashion2 retrieval score: a hand-worked fixture, and agreement with a
near-literal transcription of ``deepfashion2_retrieval_test.py`` (pycocotools IoU) on random data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as maskUtils

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.protocols import deepfashion2 as df2

FIX = Path(__file__).parent / "fixtures" / "datasets" / "deepfashion2_protocol"


def _files() -> tuple[Path, Path, Path]:
    return FIX / "val_query.json", FIX / "val_gallery.json", FIX / "submission.json"


def test_hand_worked_fixture():
    # GT query items with style > 0: A (img 1), C, D (img 2), E (img 3), F (img 5) -> N = 5.
    # A: the 0.99 record sits on the style-0 item B (assigned to B by IoU, so not A's) and the
    #    0.5 record loses to the 0.9 one, whose first correct entry is rank 2 (rank 0 has IoU 0.25,
    #    rank 1 is a style-0 gallery item).            -> first hit 2
    # C: the 0.95 record has the wrong class; the 0.6 one hits at rank 0.   -> 0
    # D: two records with score 0.7; the first wins (rank 0 is image 201, which holds a D-pair
    #    item only far away; rank 9 has IoU exactly 0.5 with the GT box). -> 9
    # E: the only record has IoU 0 with E, but there is no minimum IoU.   -> 0
    # F: no record in image 5.                                             -> miss
    m = df2.match(*(f(p) for f, p in zip((df2.read_query_gt, df2.read_gallery_gt, df2.read_submission), _files())))
    assert m.item.tolist() == [0, 2, 3, 4, 5]
    assert m.record.tolist() == [0, 4, 5, 6, -1]
    assert m.first_hit.tolist() == [2, 0, 9, 0, -1]
    out = df2.evaluate_files(*_files())
    assert out == {"top1": 2 / 5, "top5": 3 / 5, "top10": 4 / 5, "top15": 4 / 5, "top20": 4 / 5,
                   "n_queries": 5, "n_selected": 4, "n_missed": 1}
    assert df2.evaluate_files(*_files(), ks=(1, 10)) == {"top1": 0.4, "top10": 0.8, "n_queries": 5,
                                                         "n_selected": 4, "n_missed": 1}


def test_fixture_agrees_with_official_transcription():
    q, g, s = (json.loads(p.read_text()) for p in _files())
    assert _official(s, q, g) == pytest.approx([0.4, 0.6, 0.8, 0.8, 0.8])


def _official(results: list, query: list, gallery: list, thresh: float = 0.5) -> list[float]:
    """``deepfashion2_retrieval_test.py`` transcribed (NameError ``gellery_box`` and prints fixed)."""
    r_img, r_score, r_cls, r_qbox, r_gid, r_gbox = [], [], [], [], [], []
    for i in results:
        box = i["query_bbox"]
        r_qbox.append([box[0], box[1], box[2] - box[0], box[3] - box[1]])
        box = np.array(i["gallery_bbox"], dtype=np.float64)
        r_gbox.append(np.transpose([box[:, 0], box[:, 1], box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]]).tolist())
        r_img.append(i["query_image_id"]); r_score.append(i["query_score"]); r_cls.append(i["query_cls"])
        r_gid.append(i["gallery_image_id"])
    r_img, r_score, r_cls = np.array(r_img), np.array(r_score), np.array(r_cls)
    r_qbox, r_gid, r_gbox = np.array(r_qbox, dtype=np.float64), np.array(r_gid), np.array(r_gbox)
    q_img = np.array([i["query_image_id"] for i in query])
    q_box = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in (i["bbox"] for i in query)], dtype=np.float64)
    q_cls = np.array([i["cls"] for i in query]); q_style = np.array([i["style"] for i in query])
    q_pair = np.array([i["pair_id"] for i in query])
    query_num = len(np.where(q_style > 0)[0])
    g_img = np.array([i["gallery_image_id"] for i in gallery])
    g_box = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in (i["bbox"] for i in gallery)], dtype=np.float64)
    g_style = np.array([i["style"] for i in gallery]); g_pair = np.array([i["pair_id"] for i in gallery])
    correct = {k: 0 for k in (1, 5, 10, 15, 20)}
    for id in np.unique(q_img):
        rid = np.where(r_img == id)[0]
        if len(rid) == 0:
            continue
        qid = np.where(q_img == id)[0]
        pair_id = q_pair[qid][0]
        iou_ind = np.argmax(maskUtils.iou(r_qbox[rid], q_box[qid], np.zeros(len(qid))), axis=1)
        for id_ind in range(len(qid)):
            style, cls = q_style[qid][id_ind], q_cls[qid][id_ind]
            if style > 0:
                ind = np.intersect1d(np.where(iou_ind == id_ind)[0], np.where(r_cls[rid] == cls)[0])
                if len(ind) > 0:
                    sel = ind[np.argmax(r_score[rid][ind])]
                    gal_id, gal_box = r_gid[rid][sel], r_gbox[rid][sel]
                    gt = np.intersect1d(np.where(g_pair == pair_id)[0], np.where(g_style == style)[0])
                    gt_img, gt_box = g_img[gt], g_box[gt]
                    for k in correct:
                        for t in range(k):
                            if gal_id[t] in gt_img:
                                which = np.where(gt_img == gal_id[t])[0]
                                o = maskUtils.iou([gal_box[t]], gt_box[which], np.zeros(len(which)))
                                if len(np.where(o >= thresh)[0]) > 0:
                                    correct[k] += 1
                                    break
    return [correct[k] / query_num for k in (1, 5, 10, 15, 20)]


def _random_case(rng: np.random.Generator) -> tuple[list, list, list]:
    """GT with several items per image (some style 0), detections near/far/degenerate, 20-entry lists."""
    query, gallery, results = [], [], []
    for img in range(1, 13):
        pair = 100 + img
        styles = rng.permutation([0, 1, 2, 3])[: rng.integers(1, 4)]
        for st in styles:
            x, y = rng.integers(0, 60, 2)
            query.append({"query_image_id": img, "style": int(st), "cls": int(rng.integers(1, 4)), "pair_id": pair,
                          "bbox": [int(x), int(y), int(x + rng.integers(10, 60)), int(y + rng.integers(10, 60))]})
            for gimg in rng.choice(np.arange(1000 + 10 * img, 1000 + 10 * img + 4), size=2, replace=False):
                gx, gy = rng.integers(0, 50, 2)
                gallery.append({"gallery_image_id": int(gimg), "style": int(st), "pair_id": pair,
                                "bbox": [int(gx), int(gy), int(gx + rng.integers(10, 40)), int(gy + rng.integers(10, 40))]})
    gal_ids = sorted({g["gallery_image_id"] for g in gallery})
    for img in range(1, 15):  # images 13, 14 are not query images
        items = [i for i in query if i["query_image_id"] == img]
        for _ in range(int(rng.integers(0, 5))):
            if items and rng.random() < 0.7:  # near a GT item, usually with its class
                it = items[rng.integers(len(items))]
                x1, y1, x2, y2 = np.array(it["bbox"], dtype=float) + rng.normal(0, 5, 4)
                cls = it["cls"] if rng.random() < 0.7 else int(rng.integers(1, 4))
                own = [g["gallery_image_id"] for g in gallery if g["pair_id"] == it["pair_id"]]
            else:  # anywhere, ~10% degenerate
                x1, y1 = rng.uniform(0, 80, 2)
                x2, y2 = np.array([x1, y1]) + rng.uniform(0, 60, 2) * (rng.random() > 0.1)
                cls, own = int(rng.integers(1, 4)), gal_ids
            ids = np.where(rng.random(20) < 0.3, rng.choice(own, size=20), rng.choice(gal_ids, size=20))
            boxes = []
            for gid in ids:
                cands = [g["bbox"] for g in gallery if g["gallery_image_id"] == gid]
                b = np.array(cands[rng.integers(len(cands))], dtype=float) + rng.normal(0, 6, 4)
                boxes.append([float(b[0]), float(b[1]), float(max(b[2], b[0])), float(max(b[3], b[1]))])
            results.append({"query_image_id": img,
                            "query_bbox": [float(x1), float(y1), float(max(x1, x2)), float(max(y1, y2))],
                            "query_cls": int(cls), "query_score": float(rng.choice([0.5, 0.7, rng.random()])),
                            "gallery_image_id": [int(i) for i in ids], "gallery_bbox": boxes})
    return query, gallery, results


@pytest.mark.parametrize("seed", range(6))
def test_random_cases_agree_with_official_transcription(seed):
    rng = np.random.default_rng(seed)
    q, g, s = _random_case(rng)
    ours = df2.evaluate(df2.parse_query_gt(q), df2.parse_gallery_gt(g), df2.parse_submission(s))
    ref = _official(s, q, g)
    assert [ours[f"top{k}"] for k in (1, 5, 10, 15, 20)] == pytest.approx(ref, abs=1e-12)
    assert ours["n_queries"] == sum(1 for i in q if i["style"] > 0)
    # the case is informative: some hits, some misses, and k matters
    assert 0 < ours["top20"] < 1 and ours["top1"] < ours["top20"] and ours["n_missed"] > 0


def test_box_iou_matches_pycocotools_including_degenerate_boxes():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 50, (30, 2))
    a = np.hstack([a, a + rng.uniform(0, 40, (30, 2)) * (rng.random((30, 1)) > 0.2)])  # some zero-area
    b = rng.uniform(0, 50, (25, 2))
    b = np.hstack([b, b + rng.uniform(1, 40, (25, 2))])
    xywh = lambda x: np.hstack([x[:, :2], x[:, 2:] - x[:, :2]])  # noqa: E731
    ref = maskUtils.iou(xywh(a), xywh(b), np.zeros(len(b)))
    np.testing.assert_allclose(df2.box_iou(a, b), ref, rtol=0, atol=1e-12)
    assert df2.box_iou([[0, 0, 100, 50]], [[0, 0, 100, 100]])[0, 0] == 0.5  # the >= 0.5 boundary is exact


def test_gallery_list_shorter_than_k_and_records_of_other_images():
    q = [{"query_image_id": 1, "style": 1, "cls": 1, "pair_id": 1, "bbox": [0, 0, 10, 10]}]
    g = [{"gallery_image_id": 7, "style": 1, "pair_id": 1, "bbox": [0, 0, 10, 10]}]
    s = [{"query_image_id": 1, "query_bbox": [0, 0, 10, 10], "query_cls": 1, "query_score": 1,
          "gallery_image_id": [3, 7], "gallery_bbox": [[0, 0, 10, 10], [1, 1, 10, 10]]}]
    out = df2.evaluate(df2.parse_query_gt(q), df2.parse_gallery_gt(g), df2.parse_submission(s))
    assert (out["top1"], out["top5"], out["top20"]) == (0.0, 1.0, 1.0)


def test_query_without_gallery_match():
    q = [{"query_image_id": 1, "style": 1, "cls": 1, "pair_id": 1, "bbox": [0, 0, 10, 10]},
         {"query_image_id": 2, "style": 1, "cls": 1, "pair_id": 2, "bbox": [0, 0, 10, 10]}]
    g = [{"gallery_image_id": 7, "style": 1, "pair_id": 1, "bbox": [0, 0, 10, 10]},
         {"gallery_image_id": 8, "style": 2, "pair_id": 2, "bbox": [0, 0, 10, 10]}]  # style differs
    s = [{"query_image_id": i, "query_bbox": [0, 0, 10, 10], "query_cls": 1, "query_score": 1,
          "gallery_image_id": [7, 8], "gallery_bbox": [[0, 0, 10, 10]] * 2} for i in (1, 2)]
    args = df2.parse_query_gt(q, "q.json"), df2.parse_gallery_gt(g), df2.parse_submission(s)
    with pytest.raises(ContractError, match=r"q\.json\[1\].*pair_id=2, style=1"):
        df2.evaluate(*args)
    out = df2.evaluate(*args, require_gallery_match=False)
    assert (out["top1"], out["n_queries"], out["n_selected"]) == (0.5, 2, 2)


def test_image_with_two_pair_ids_is_rejected():
    q = [{"query_image_id": 1, "style": 1, "cls": 1, "pair_id": p, "bbox": [0, 0, 10, 10]} for p in (1, 2)]
    g = [{"gallery_image_id": 7, "style": 1, "pair_id": p, "bbox": [0, 0, 10, 10]} for p in (1, 2)]
    with pytest.raises(ContractError, match="different pair_ids"):
        df2.evaluate(df2.parse_query_gt(q), df2.parse_gallery_gt(g), df2.parse_submission([]))


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("query_score"), r"\[1\]: missing key\(s\) \['query_score'\]"),
    (lambda r: r.update(query_bbox=[10, 0, 5, 10]), r"\[1\]: 'query_bbox' is inverted"),
    (lambda r: r.update(query_bbox=[0, 0, 5]), r"\[1\]: 'query_bbox' must be"),
    (lambda r: r.update(query_score=float("nan")), r"\[1\]: 'query_score' must be a finite"),
    (lambda r: r.update(query_cls="1"), r"\[1\]: 'query_cls' must be an integer"),
    (lambda r: r["gallery_bbox"].pop(), r"\[1\]: 'gallery_image_id' and 'gallery_bbox'"),
    (lambda r: r["gallery_bbox"].__setitem__(3, [5, 5, 1, 1]), r"\[1\]: 'gallery_bbox\[3\]' is inverted"),
])
def test_bad_submission_records_are_named(tmp_path, mutate, message):
    recs = json.loads((FIX / "submission.json").read_text())
    mutate(recs[1])
    p = tmp_path / "sub.json"
    p.write_text(json.dumps(recs))
    with pytest.raises(ContractError, match=message):
        df2.read_submission(p)


def test_bad_files_and_parameters(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text('[{"query_image_id": 1, "style": 1,')
    with pytest.raises(ContractError, match="q.json:1: malformed JSON"):
        df2.read_query_gt(bad)
    with pytest.raises(ConfigError, match="not found"):
        df2.read_gallery_gt(tmp_path / "nope.json")
    bad.write_text('{"query_image_id": 1}')
    with pytest.raises(ContractError, match="expected a JSON array"):
        df2.read_query_gt(bad)
    with pytest.raises(ConfigError, match="ks"):
        df2.evaluate_files(*_files(), ks=(0, 1))
    with pytest.raises(ConfigError, match="iou_threshold"):
        df2.evaluate_files(*_files(), iou_threshold=0)
