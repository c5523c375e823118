"""Street2Shop reader on a tiny fixture in the official layout (meta/json + downloaded images)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fashionbench.data.datasets import load_manifest
from fashionbench.data.datasets.street2shop import PAGE, load
from fashionbench.core.errors import ConfigError, ContractError

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

META = "meta/json"
SKIPS = {  # what the fixture drops, each for one entry
    "duplicate retrieval entries": 1,                           # 200003/product 5 listed twice
    "shop photos missing or unreadable (not downloaded)": 1,    # 200002 never downloaded
    "zero-size street boxes": 1,                                # photo 000008288 (known bad box)
    "street photos missing (test)": 1,                          # 3004
    "queries whose product has a missing shop photo": 1,        # 3002 -> product 47270 lacks 200002
    "queries without a gallery match (dropped)": 1,             # 3003 -> product 999 has no shop photo
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fixtures.materialise("street2shop", tmp_path)


def test_rows_checked_by_hand(root):
    df = load(root)
    assert list(df["uid"]) == [
        "s2s:dresses:shop:000163478:1", "s2s:dresses:shop:000163479:1", "s2s:dresses:shop:000200001:47270",
        "s2s:dresses:shop:000200003:5", "s2s:dresses:train:000002847#0",
        "s2s:dresses:test:000003001#0", "s2s:dresses:test:000003001#1",
        "s2s:footwear:shop:000300001:1", "s2s:footwear:test:000003001#0"]
    assert list(df["split"]) == ["gallery"] * 4 + ["train", "query", "query", "gallery", "query"]
    assert list(df["domain"]) == ["shop"] * 4 + ["consumer"] * 3 + ["shop", "consumer"]
    shop = df.iloc[0]  # whole image as box, size read from the JPEG header
    assert (shop["path"], shop["item_id"], shop["category"], shop["subcategory"]) == (
        "images/000163478.jpg", "s2s:dresses:1", "clothes", "dresses")
    assert [shop[c] for c in ("x1", "y1", "x2", "y2", "width", "height")] == [0, 0, 300, 400, 300, 400]
    assert shop["source"] == f"{META}/retrieval_dresses.json[0]"
    street = df.iloc[6]  # second box of photo 3001: left 250, top 40, width 180, height 310
    assert [street[c] for c in ("x1", "y1", "x2", "y2", "gt_x1", "gt_y1", "gt_x2", "gt_y2")] == [250, 40, 430, 350] * 2
    assert (street["path"], street["item_id"], street["source"]) == (
        "images/000003001.jpg", "s2s:dresses:5", f"{META}/test_pairs_dresses.json[2]")
    foot = df.iloc[8]  # same street photo, another category; product id 1 exists in dresses too
    assert (foot["item_id"], foot["category"], foot["subcategory"]) == ("s2s:footwear:1", "shoes", "footwear")
    train = df.iloc[4]  # the bbox example of dataset-formats.md: {"width": 693, "top": 307, "left": 146, "height": 993}
    assert [train[c] for c in ("x1", "y1", "x2", "y2")] == [146, 307, 839, 1300]
    assert df.attrs["load_report"]["skipped"] == SKIPS


def test_protocol_counts_by_hand(root):
    df = load_manifest("street2shop", root)
    q, g = df[df["split"] == "query"], df[df["split"] == "gallery"]
    # every kept query has exactly one downloaded shop photo of its product, in its own category
    n_pos = [int(((g["item_id"] == i) & (g["subcategory"] == c)).sum()) for i, c in zip(q["item_id"], q["subcategory"])]
    assert n_pos == [1, 1, 1]
    assert g.groupby("subcategory").size().to_dict() == {"dresses": 4, "footwear": 1}


def test_reproduction_choices(root):
    df = load(root, gallery_exclude_train_products=True)  # centroids-reid: product 1 is a training product
    assert df.loc[df["uid"].str.startswith("s2s:dresses:shop:00016347"), "split"].tolist() == ["train", "train"]
    assert (df["split"] == "gallery").sum() == 3
    df = load(root, skip_incomplete_products=False)  # 3002 still has one shop photo of its product
    assert "s2s:dresses:test:000003002#0" in set(df["uid"]) and (df["split"] == "query").sum() == 4
    df = load(root, orphan_queries="keep")
    assert "s2s:dresses:test:000003003#0" in set(df["uid"])
    with pytest.raises(ContractError, match=r"test_pairs_dresses\.json\[4\] \(item 's2s:dresses:999'\)"):
        load(root, orphan_queries="error")
    df = load(root, categories=("footwear",))
    assert list(df["uid"]) == ["s2s:footwear:shop:000300001:1", "s2s:footwear:test:000003001#0"]
    with pytest.raises(ConfigError, match="categories"):
        load(root, categories=("shoes",))


def test_unreadable_download_is_skipped(root):
    (root / "images/000200003.jpg").write_bytes(b"<html>404</html>")  # a dead link saved as .jpg
    df = load(root)
    # product 5 lost its only shop photo: both of its queries go too
    assert "s2s:dresses:5" not in set(df["item_id"])
    assert df.attrs["load_report"]["skipped"]["shop photos missing or unreadable (not downloaded)"] == 2
    assert df.attrs["load_report"]["skipped"]["queries whose product has a missing shop photo"] == 3


def test_missing_meta_files_name_them(tmp_path, root):
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "none")
    assert "meta/json/retrieval_bags.json" in str(e.value) and "images/" in str(e.value) and PAGE in str(e.value)
    (root / META / "test_pairs_tops.json").unlink()
    with pytest.raises(ConfigError, match=r"missing: meta/json/test_pairs_tops\.json\."):
        load(root)


@pytest.mark.parametrize("file, change, message", [
    ("test_pairs_dresses.json", lambda a: a[1]["bbox"].update(width=-5),
     r"test_pairs_dresses\.json\[1\]: inverted box"),
    ("test_pairs_dresses.json", lambda a: a[1].update(bbox={"left": 10, "width": 2, "height": 3}),
     r"test_pairs_dresses\.json\[1\]: expected 'bbox'"),
    ("train_pairs_dresses.json", lambda a: a[0].update(photo="2847a"), r"train_pairs_dresses\.json\[0\]: photo must "
     r"be an integer"),
    ("retrieval_dresses.json", lambda a: a.append({"photo": 5}), r"retrieval_dresses\.json\[6\]: expected an object "
     r"with 'photo' and 'product'"),
    ("retrieval_footwear.json", lambda a: {"photo": 1}, r"retrieval_footwear\.json: expected a JSON array"),
])
def test_bad_meta_names_file_and_entry(root, file, change, message):
    p = root / META / file
    data = json.loads(p.read_text())
    out = change(data)
    p.write_text(json.dumps(out if out is not None else data))
    with pytest.raises(ContractError, match=message):
        load(root)


def test_truncated_json(root):
    p = root / META / "retrieval_dresses.json"
    p.write_text(p.read_text()[:-10])
    with pytest.raises(ContractError, match=r"retrieval_dresses\.json:1: malformed JSON"):
        load(root)
