"""DeepFashion In-Shop reader on a tiny fixture in the official layout; every bad input case."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from fashionbench.data.datasets import load_manifest
from fashionbench.data.datasets.inshop import PAGE, load
from fashionbench.core.errors import ConfigError, ContractError

_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

DIRNAME = "In-shop Clothes Retrieval Benchmark"
PART = "Eval/list_eval_partition.txt"
BBOX = "Anno/list_bbox_inshop.txt"
FRONT = "img/WOMEN/Dresses/id_00000002/02_1_front.jpg"  # partition line 3, bbox line 4


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fixtures.materialise("inshop", tmp_path) / DIRNAME


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, count))


def test_fixture_is_padded_like_the_official_files(root):
    # a parser that splits on single spaces (or uses fixed widths) would fail on these files
    for f in (PART, BBOX):
        row = (root / f).read_text().splitlines()[2]
        assert "" in row.split(" ") and len(row.split()) in (3, 7)
    assert (root / BBOX).read_text().splitlines()[3].split()[3:] == ["065", "045", "233", "252"]


def test_rows_checked_by_hand(root):
    df = load(root)
    assert list(df["uid"]) == [f"df_inshop:{n}" for n in (
        FRONT, "img/WOMEN/Dresses/id_00000002/02_2_side.jpg", "img/MEN/Denim/id_00000080/01_1_front.jpg",
        "img/MEN/Denim/id_00000080/01_2_side.jpg", "img/MEN/Denim/id_00000080/01_4_full.jpg",
        "img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg", "img/WOMEN/Blouses_Shirts/id_00000001/02_3_back.jpg",
        "img/WOMEN/Blouses_Shirts/id_00000001/02_7_additional.jpg")]  # partition order
    r = df.iloc[0]
    assert r["path"] == "Img/" + FRONT
    assert (r["item_id"], r["category"], r["subcategory"], r["domain"], r["split"]) == (
        "df_inshop:id_00000002", "clothes", "WOMEN/Dresses", "shop", "train")
    assert [r[c] for c in ("x1", "y1", "x2", "y2")] == [65, 45, 233, 252]  # zero-padded "065 045 233 252"
    assert [r[c] for c in ("gt_x1", "gt_y1", "gt_x2", "gt_y2")] == [65, 45, 233, 252]
    assert (r["clothes_type"], r["pose_type"], r["source"]) == (3, 1, f"{PART}:3")
    last = df.iloc[7]
    assert (last["split"], last["item_id"], last["pose_type"], last["source"]) == (
        "gallery", "df_inshop:id_00000001", 6, f"{PART}:10")
    assert [last[c] for c in ("x1", "y1", "x2", "y2")] == [0, 0, 256, 256]
    assert df.loc[df["uid"].str.endswith("id_00000080/01_1_front.jpg"), ["x1", "y1", "x2", "y2"]].values.tolist() == \
        [[50, 100, 200, 256]]
    assert df.attrs["load_report"]["skipped"] == {}
    assert df.attrs["load_report"]["splits"] == {"gallery": 4, "query": 2, "train": 2}


def test_protocol_counts_and_a_top_k_hit_by_hand(root):
    from fashionbench.retrieval.metrics import evaluate

    df = load_manifest("inshop", root)  # validated by the registry
    q, g = df[df["split"] == "query"], df[df["split"] == "gallery"]
    # queries: id_80 (01_1_front), id_1 (02_1_front); gallery: id_80 x2, id_1 x2
    assert list(q["item_id"]) == ["df_inshop:id_00000080", "df_inshop:id_00000001"]
    assert g["item_id"].value_counts().to_dict() == {"df_inshop:id_00000080": 2, "df_inshop:id_00000001": 2}
    # query 0 ranks an id_1 image first (miss at k=1, hit at k=2); query 1 hits at rank 1
    qe = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    ge = np.array([[0.8, 0, 0.6], [0, 0, 1], [0.9, 0.1, 0.42], [0, 1, 0]], np.float32)
    out = evaluate(qe, ge, q["item_id"].to_numpy(), g["item_id"].to_numpy(), ks=(1, 2))
    assert (out["top1"], out["top2"]) == (0.5, 1.0)


def test_crlf_files_and_sizes(root):
    for f in (PART, BBOX):
        p = root / f
        p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    df = load(root, read_sizes=True)
    assert len(df) == 8 and set(df["width"]) == {256} and set(df["height"]) == {256}


def test_missing_root_and_files_name_the_layout_and_page(tmp_path, root):
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "nowhere")
    msg = str(e.value)
    assert PART in msg and BBOX in msg and "Img/" in msg and PAGE in msg and "(the root folder itself)" in msg
    (root / BBOX).unlink()
    with pytest.raises(ConfigError, match=r"missing: Anno/list_bbox_inshop\.txt\."):
        load(root)
    with pytest.raises(ConfigError, match="list_bbox_inshop.txt"):
        load_manifest("inshop", root)


@pytest.mark.parametrize("file, old, new, message", [
    # truncated: the count line says 8, one row is gone
    (PART, f"{'img/WOMEN/Blouses_Shirts/id_00000001/02_7_additional.jpg':<64}id_00000001 gallery\n", "",
     r"list_eval_partition\.txt:1: the count "
     r"line says 8 data rows but the file holds 7 \(truncated\?\)"),
    (BBOX, "8\n", "7\n", r"list_bbox_inshop\.txt:1: the count line says 7 data rows but the file holds 8"),
    (BBOX, "065  045  233", "065  045  033", r"list_bbox_inshop\.txt:4: inverted box x1,y1,x2,y2=65,45,33,252"),
    (BBOX, "065  045  233  252", "065  045  233  02x", r"list_bbox_inshop\.txt:4: y_2 must be an integer"),
    (BBOX, "3  1  065", "3  9  065", r"list_bbox_inshop\.txt:4: pose_type must be one of"),
    (PART, "id_00000080 query", "id_00000080 test", r"list_eval_partition\.txt:5: evaluation_status must be"),
    (PART, "img/MEN/Denim/id_00000080/01_1_front.jpg", "img/../../../etc/01_1_front.jpg",
     r"list_eval_partition\.txt:5: path 'img/\.\./\.\./\.\./etc/01_1_front\.jpg' is absolute or escapes"),
    (PART, "img/MEN/Denim/id_00000080/01_1_front.jpg", "img\\MEN\\Denim\\id_00000080\\01_1_front.jpg",
     r"list_eval_partition\.txt:5: path .* uses '\\' separators"),
    (PART, "id_00000080 query", "id_00000080 query extra", r"list_eval_partition\.txt:5: expected 3 "
     r"whitespace-separated columns, got 4"),
    (PART, "image_name item_id evaluation_status\n", "", r"list_eval_partition\.txt:2: expected the header line"),
    (PART, "8\n", "eight\n", r"list_eval_partition\.txt:1: expected the row count"),
    (PART, "img/WOMEN/Dresses/id_00000002/02_2_side.jpg", FRONT, r"list_eval_partition\.txt:4: image .* is already "
     r"listed on line 3"),
    (PART, "img/MEN/Denim/id_00000080/01_1_front.jpg", "img/MEN/Denim/id_00000080/01_9_back.jpg",
     r"list_eval_partition\.txt:5: image 'img/MEN/Denim/id_00000080/01_9_back\.jpg' has no box"),
    (PART, "id_00000001 query", "id_00000003 query", r"list_eval_partition\.txt:8: item 'id_00000003' is not listed"),
    (PART, "id_00000002 train", "id_00000080 train", r"list_eval_partition\.txt:5: item 'id_00000080' is in the "
     r"test set .* train at .*:3"),
])
def test_bad_input_names_file_and_line(root, file, old, new, message):
    _edit(root / file, old, new)
    with pytest.raises(ContractError, match=message):
        load(root)


def test_missing_image_is_an_error_unless_not_checked(root):
    (root / "Img/img/MEN/Denim/id_00000080/01_2_side.jpg").unlink()
    with pytest.raises(ContractError, match=r"list_eval_partition\.txt:6: image 'img/MEN/Denim/id_00000080/"
                                            r"01_2_side\.jpg' is listed but .* does not exist"):
        load(root)
    assert len(load(root, check_files=False)) == 8


def test_query_item_without_gallery_image(root):
    _edit(root / PART, "id_00000080 gallery", "id_00000080 query", count=2)
    with pytest.raises(ContractError, match=r"list_eval_partition\.txt:5 \(item 'df_inshop:id_00000080'\): 3 query "
                                            r"row\(s\) have no gallery image"):
        load(root)
    df = load(root, orphan_queries="skip")
    assert len(df) == 5 and df.attrs["load_report"]["skipped"] == {"queries without a gallery match (dropped)": 3}
    df = load(root, orphan_queries="keep")
    assert len(df) == 8 and df.attrs["load_report"]["skipped"] == {"queries without a gallery match (kept as misses)": 3}
    with pytest.raises(ConfigError, match="orphan_queries"):
        load(root, orphan_queries="drop")


def test_zero_area_box_and_unlisted_box_are_counted(root):
    _edit(root / BBOX, "065  045  233  252", "065  045  065  252")
    _edit(root / BBOX, "8\n", "9\n")
    with open(root / BBOX, "a") as f:
        f.write("img/WOMEN/Dresses/id_00000002/02_4_full.jpg   3  4  001  002  100  200\n")
    df = load(root)
    assert len(df) == 7 and FRONT not in set(df["uid"].str[10:])
    assert df.attrs["load_report"]["skipped"] == {
        "zero-area box in Anno/list_bbox_inshop.txt": 1,
        "images in Anno/list_bbox_inshop.txt missing from Eval/list_eval_partition.txt": 1}


def test_item_list_is_optional(root):
    os.remove(root / "Anno/list_item_inshop.txt")
    _edit(root / PART, "id_00000001 query", "id_00000003 query")  # no longer checked
    _edit(root / PART, "id_00000001 gallery", "id_00000003 gallery")
    assert "df_inshop:id_00000003" in set(load(root)["item_id"])
