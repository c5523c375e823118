"""DeepFashion2 reader on a tiny fixture in the official layout; bad inputs; consistency with
the retrieval ground-truth files the official metric reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fashionbench.data.datasets import load_manifest
from fashionbench.data.datasets.deepfashion2 import PAGE, load
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.retrieval.protocols.deepfashion2 import read_gallery_gt, read_query_gt

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

IGNORE = "validation user items with style 0 (never positive; 'ignore')"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fixtures.materialise("deepfashion2", tmp_path)


def _rewrite(path: Path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def test_rows_checked_by_hand(root):
    df = load(root)
    assert list(df["uid"]) == [
        "df2:train:000001:item1", "df2:train:000001:item2", "df2:train:000002:item1",
        "df2:validation:000001:item1", "df2:validation:000001:item3",  # item2 (user, style 0) dropped
        "df2:validation:000002:item1", "df2:validation:000003:item1", "df2:validation:000003:item2",
        "df2:validation:000004:item1", "df2:validation:000004:item2", "df2:validation:000005:item1"]
    assert list(df["split"]) == ["train"] * 3 + ["query"] * 3 + ["gallery"] * 5
    assert list(df["domain"]) == ["consumer", "consumer", "shop"] + ["consumer"] * 3 + ["shop"] * 5
    r = df.iloc[4]
    assert (r["path"], r["item_id"], r["category"], r["subcategory"], r["pair_id"], r["style"]) == (
        "validation/image/000001.jpg", "df2:validation:7:2", "clothes", "shorts", 7, 2)
    assert [r[c] for c in ("x1", "y1", "x2", "y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2")] == [90, 310, 310, 470] * 2
    assert (r["category_id"], r["scale"], r["occlusion"], r["zoom_in"], r["viewpoint"], r["source"]) == (
        7, 2, 1, 1, 2, "validation/annos/000001.json#item3")
    t = df.iloc[1]  # the trousers of the worked example in dataset-formats.md
    assert (t["item_id"], t["subcategory"], t["style"]) == ("df2:train:unmatched:000001:item2", "trousers", 0)
    assert [t[c] for c in ("x1", "y1", "x2", "y2")] == [249, 423, 466, 623]
    s0 = df.iloc[9]  # a style-0 shop item is a gallery distractor that matches nothing
    assert (s0["split"], s0["item_id"]) == ("gallery", "df2:validation:unmatched:000004:item2")
    assert df.attrs["load_report"]["skipped"] == {IGNORE: 1}


def test_protocol_by_hand_and_agreement_with_official_gt_files(root):
    df = load_manifest("deepfashion2", root)
    q, g = df[df["split"] == "query"], df[df["split"] == "gallery"]
    # positives: (pair 7, style 1) -> 2 shop items, (7, 2) -> 1, (8, 1) -> 1
    assert [int((g["item_id"] == i).sum()) for i in q["item_id"]] == [2, 1, 1]
    qgt = read_query_gt(root / "json_for_validation/val_query.json")
    keep = qgt.style > 0
    image_id = q["path"].str[17:23].astype(int)  # validation/image/000001.jpg -> 1
    assert sorted(zip(image_id, q["pair_id"], q["style"], q["x1"], q["y1"], q["x2"], q["y2"])) == \
        sorted(zip(qgt.image_id[keep], qgt.pair_id[keep], qgt.style[keep], *qgt.bbox[keep].T))
    ggt = read_gallery_gt(root / "json_for_validation/val_gallery.json")
    assert sorted(zip(g["path"].str[17:23].astype(int), g["pair_id"], g["style"], g["x1"], g["y2"])) == \
        sorted(zip(ggt.image_id, ggt.pair_id, ggt.style, ggt.bbox[:, 0], ggt.bbox[:, 3]))


def test_validation_only_and_sizes(root):
    df = load(root, splits=("validation",), read_sizes=True)
    assert set(df["split"]) == {"query", "gallery"} and len(df) == 8
    assert set(df["width"]) == {420} and set(df["height"]) == {640}
    with pytest.raises(ConfigError, match="splits"):
        load(root, splits=("test",))


def test_missing_layout(tmp_path, root):
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "none")
    assert "train/annos/" in str(e.value) and "validation/image/" in str(e.value) and PAGE in str(e.value)
    for p in (root / "train/annos").iterdir():
        p.unlink()
    with pytest.raises(ConfigError, match=r"no annotation files \(\*\.json\) in .*train/annos"):
        load(root)


ANNO = "validation/annos/000001.json"


@pytest.mark.parametrize("change, message", [
    (lambda o: o["item1"].update(bounding_box=[330, 40, 80, 320]), r"000001\.json#item1: inverted box"),
    (lambda o: o["item3"].update(bounding_box=[90, 310, 310]), r"000001\.json#item3: bounding_box must be"),
    (lambda o: o["item1"].update(category_name="long sleeve shirt"), r"000001\.json#item1: category_name "
     r"'long sleeve shirt' does not match category_id 2"),
    (lambda o: o["item1"].update(category_id=14), r"000001\.json#item1: category_id must be in 1\.\.13"),
    (lambda o: o["item1"].update(style=-1), r"000001\.json#item1: style must be >= 0"),
    (lambda o: o["item1"].pop("style"), r"000001\.json#item1: item has no 'style'"),
    (lambda o: o.update(source="consumer"), r"000001\.json: 'source' must be 'user' or 'shop'"),
    (lambda o: o.pop("pair_id"), r"000001\.json: no 'pair_id'"),
    (lambda o: o.update(itemX=o["item1"]), r"000001\.json: item key 'itemX'"),
])
def test_bad_annotation_names_file_and_item(root, change, message):
    _rewrite(root / ANNO, change)
    with pytest.raises(ContractError, match=message):
        load(root)


def test_truncated_json_and_bad_names(root):
    p = root / ANNO
    p.write_text(p.read_text()[:-40])
    with pytest.raises(ContractError, match=r"validation/annos/000001\.json:1: malformed JSON"):
        load(root)
    p.unlink()
    (root / "validation/annos/extra.json").write_text("{}")
    with pytest.raises(ContractError, match=r"extra\.json: annotation file names must be numbers"):
        load(root)


def test_missing_image(root):
    (root / "validation/image/000003.jpg").unlink()
    with pytest.raises(ContractError, match=r"validation/annos/000003\.json: image 'validation/image/000003\.jpg' is "
                                            r"listed but .* does not exist"):
        load(root)
    assert len(load(root, check_files=False)) == 11


def test_zero_area_box_and_image_without_items_are_counted(root):
    _rewrite(root / "validation/annos/000004.json", lambda o: o["item2"].update(bounding_box=[60, 300, 60, 590]))
    (root / "validation/annos/000006.json").write_text('{"source": "shop", "pair_id": 9}')
    fixtures.make_images(_listing(root, "validation/image/000006.jpg 10 10"), root)
    df = load(root)
    assert len(df) == 10
    assert df.attrs["load_report"]["skipped"] == {
        IGNORE: 1, "zero-area bounding_box": 1, "images without items": 1}


def _listing(root: Path, line: str) -> Path:
    p = root / "extra.images.txt"
    p.write_text(line + "\n")
    return p


def test_query_without_gallery_match_is_kept_as_a_miss(root):
    _rewrite(root / "validation/annos/000005.json", lambda o: o.update(pair_id=9))
    df = load(root)
    assert "df2:validation:8:1" in set(df.loc[df["split"] == "query", "item_id"])
    assert df.attrs["load_report"]["skipped"] == {IGNORE: 1, "queries without a gallery match (kept as misses)": 1}
    with pytest.raises(ContractError, match=r"validation/annos/000002\.json#item1 \(item 'df2:validation:8:1'\)"):
        load(root, orphan_queries="error")
    assert len(load(root, orphan_queries="skip")) == 10


def test_item_keys_in_numeric_order(root):
    def add(o):
        o["item10"] = dict(o["item1"], bounding_box=[1, 2, 3, 4])
    _rewrite(root / ANNO, add)
    uids = list(load(root)["uid"])
    assert uids.index("df2:validation:000001:item3") < uids.index("df2:validation:000001:item10")
