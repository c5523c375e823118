"""DeepFashion Consumer-to-Shop reader on a tiny fixture in the official layout; bad inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fashionbench.data.datasets import load_manifest
from fashionbench.data.datasets.consumer2shop import PAGE, load
from fashionbench.core.errors import ConfigError, ContractError

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

DIRNAME = "Consumer-to-shop Clothes Retrieval Benchmark"
PART = "Eval/list_eval_partition.txt"
BBOX = "Anno/list_bbox_consumer2shop.txt"
ITEMS = "Anno/list_item_consumer2shop.txt"
I500 = "img/CLOTHING/Summer_Wear/id_00000500"
I218 = "img/TOPS/T_Shirt/id_00000218"
I900 = "img/TOPS/Blouse/id_00000900"
VAL_SKIP = "consumer images of 'val' pairs (not in the query/gallery protocol)"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fixtures.materialise("consumer2shop", tmp_path) / DIRNAME


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def test_rows_checked_by_hand(root):
    df = load(root)
    # unique images in order of first appearance; val consumer images dropped
    assert [u.removeprefix("df_c2s:img/") for u in df["uid"]] == [
        "TOPS/T_Shirt/id_00000218/comsumer_01.jpg", "TOPS/T_Shirt/id_00000218/shop_01.jpg",
        "TOPS/T_Shirt/id_00000218/comsumer_02.jpg",
        "CLOTHING/Summer_Wear/id_00000500/comsumer_01.jpg", "CLOTHING/Summer_Wear/id_00000500/shop_01.jpg",
        "CLOTHING/Summer_Wear/id_00000500/shop_02.jpg",
        "TOPS/Blouse/id_00000777/shop_01.jpg", "TOPS/Blouse/id_00000900/comsumer_01.jpg",
        "TOPS/Blouse/id_00000900/shop_01.jpg"]
    assert list(df["split"]) == ["train"] * 3 + ["query", "gallery", "gallery", "gallery", "query", "gallery"]
    assert list(df["domain"]) == ["consumer", "shop", "consumer", "consumer", "shop", "shop", "shop", "consumer", "shop"]
    r = df.iloc[3]
    assert r["path"] == f"Img/{I500}/comsumer_01.jpg"  # the real "comsumer" spelling is kept
    assert (r["item_id"], r["category"], r["subcategory"], r["source"]) == (
        "df_c2s:id_00000500", "clothes", "CLOTHING/Summer_Wear", f"{PART}:5")
    assert [r[c] for c in ("x1", "y1", "x2", "y2", "gt_x1", "gt_y2")] == [12, 8, 210, 296, 12, 296]
    assert (r["clothes_type"], r["source_type"]) == (3, 2)
    s = df.iloc[5]  # shop_02 of item 500 is in a test row and a val row: one gallery row
    assert (s["split"], s["source"], s["source_type"], s["x1"], s["y2"]) == ("gallery", f"{PART}:6", 1, 60, 300)
    assert df.attrs["load_report"]["skipped"] == {
        VAL_SKIP: 2, f"images in {BBOX} missing from {PART}": 1}


def test_protocol_split_by_hand(root):
    df = load_manifest("consumer2shop", root)
    q, g = df[df["split"] == "query"], df[df["split"] == "gallery"]
    # queries: unique column-1 images of test rows; gallery: unique column-2 images of val + test rows
    assert sorted(q["item_id"]) == ["df_c2s:id_00000500", "df_c2s:id_00000900"]
    assert g["item_id"].value_counts().to_dict() == {
        "df_c2s:id_00000500": 2, "df_c2s:id_00000777": 1, "df_c2s:id_00000900": 1}
    assert load(root, read_sizes=True)[["width", "height"]].drop_duplicates().values.tolist() == [[225, 300], [300, 300]]


def test_item_list_spellings(root):
    (root / ITEMS).rename(root / "Anno/list_items_consumer2shop.txt")
    assert len(load(root)) == 9
    _edit(root / "Anno/list_items_consumer2shop.txt", "5\nid_00000218\n", "4\n")
    with pytest.raises(ContractError, match=r"list_eval_partition\.txt:3: item 'id_00000218' is not listed in "
                                            r".*list_items_consumer2shop\.txt"):
        load(root)


def test_missing_root_and_files(tmp_path, root):
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "none")
    assert PART in str(e.value) and BBOX in str(e.value) and PAGE in str(e.value)
    (root / PART).unlink()
    with pytest.raises(ConfigError, match=r"missing: Eval/list_eval_partition\.txt"):
        load(root)


@pytest.mark.parametrize("file, old, new, message", [
    (BBOX, "12\n", "13\n", r"list_bbox_consumer2shop\.txt:1: the count line says 13 data rows but the file holds 12"),
    (PART, "7\n", "8\n", r"list_eval_partition\.txt:1: the count line says 8 data rows but the file holds 7"),
    (BBOX, "045  030  260  290", "045  030  040  290", r"list_bbox_consumer2shop\.txt:3: inverted box"),
    (BBOX, "1  1  045", "1  3  045", r"list_bbox_consumer2shop\.txt:3: source_type must be one of \[1, 2\]"),
    # the box file says shop for a column-1 (consumer) image
    (BBOX, "1  2  005  015", "1  1  005  015", r"list_bbox_consumer2shop\.txt:13: source_type 1 says shop but "
     r".*list_eval_partition\.txt:9 lists .* as the consumer image"),
    (PART, "id_00000900 test", "id_00000900 Test", r"list_eval_partition\.txt:9: evaluation_status must be one of"),
    # shop_01 of item 218 is a train image (line 3) and now also a test one
    (PART, f"{I900}/shop_01.jpg".ljust(70) + "id_00000900", f"{I218}/shop_01.jpg".ljust(70) + "id_00000218",
     r"list_eval_partition\.txt:9: image .*id_00000218/shop_01\.jpg' gets split 'gallery' \(status 'test'\) here "
     r"but 'train' at line 3: conflicting evaluation statuses"),
    (PART, f"{I900}/comsumer_01.jpg", f"{I500}/shop_01.jpg", r"list_eval_partition\.txt:9: image .* is a consumer "
     r"image here but a shop image at line 5"),
    (PART, f"{I500}/shop_02.jpg".ljust(70) + "id_00000500 test", f"{I500}/shop_02.jpg".ljust(70) + "id_00000777 test",
     r"list_eval_partition\.txt:6: image .*comsumer_01\.jpg' belongs to item 'id_00000777' here but to "
     r"'id_00000500' at line 5"),
    (PART, f"{I900}/comsumer_01.jpg", "img/../x/comsumer_01.jpg", r"list_eval_partition\.txt:9: path .* escapes"),
    (PART, f"{I900}/comsumer_01.jpg", "img\\TOPS/Blouse\\id_00000900/comsumer_01.jpg",
     r"list_eval_partition\.txt:9: path .* uses '\\' separators"),
    (PART, f"{I900}/comsumer_01.jpg", f"{I900}/consumer_01.jpg", r"list_eval_partition\.txt:9: image "
     r"'img/TOPS/Blouse/id_00000900/consumer_01\.jpg' has no box"),
    (PART, f"{I900}/shop_01.jpg".ljust(70), f"{I900}/comsumer_01.jpg".ljust(70),
     r"list_eval_partition\.txt:9: the same image .* is both the consumer and the shop image"),
])
def test_bad_input_names_file_and_line(root, file, old, new, message):
    _edit(root / file, old, new)
    with pytest.raises(ContractError, match=message):
        load(root)


def test_missing_image(root):
    (root / f"Img/{I500}/shop_02.jpg").unlink()
    with pytest.raises(ContractError, match=r"list_eval_partition\.txt:6: image .*shop_02\.jpg' is listed but"):
        load(root)
    assert len(load(root, check_files=False)) == 9
    (root / f"Img/{I500}/comsumer_02.jpg").unlink()  # a dropped val consumer image is never looked at
    assert len(load(root, check_files=False)) == 9


def test_zero_area_shop_box_orphans_its_query(root):
    _edit(root / BBOX, "045  030  260  290", "045  030  045  290")  # item 900's only shop image
    df = load(root)
    assert len(df) == 7 and "df_c2s:id_00000900" not in set(df["item_id"])
    assert df.attrs["load_report"]["skipped"] == {
        VAL_SKIP: 2, f"images in {BBOX} missing from {PART}": 1, f"zero-area box in {BBOX}": 1,
        "queries without a gallery match (dropped)": 1}
    with pytest.raises(ContractError, match=r"list_eval_partition\.txt:9 \(item 'df_c2s:id_00000900'\): 1 query"):
        load(root, orphan_queries="error")
    assert len(load(root, orphan_queries="keep")) == 8
