"""Generic manifest reader (manifest.csv / manifest.parquet under the root): row-level errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from fashionbench.data.datasets import load_manifest
from fashionbench.data.datasets.generic import load
from fashionbench.core.errors import ConfigError, ContractError

CSV = """uid,path,item_id,category,domain,split,x1,y1,x2,y2,width,height,subcategory
jd:q1,query/q1.jpg,jd:0001,clothes,consumer,query,1,2,30,40,64,48,dress
jd:g1,gallery/g1.jpg,jd:0001,clothes,shop,gallery,0,0,64,48,64,48,dress
jd:g2,gallery/g2.jpg,jd:0002,shoes,shop,gallery,5.5,6,20.25,30,64,48,boots
jd:t1,train/t1.jpg,jd:0003,bags,shop,train,0,0,10,10,64,48,tote
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "manifest.csv").write_text(CSV)
    for p in ("query/q1.jpg", "gallery/g1.jpg", "gallery/g2.jpg", "train/t1.jpg"):
        (tmp_path / p).parent.mkdir(exist_ok=True)
        (tmp_path / p).write_bytes(b"")  # existence is all the reader checks
    return tmp_path


def test_reads_rows_as_written(root):
    df = load_manifest("manifest", root)
    assert list(df["uid"]) == ["jd:q1", "jd:g1", "jd:g2", "jd:t1"]
    assert df.loc[2, ["x1", "y1", "x2", "y2"]].tolist() == [5.5, 6.0, 20.25, 30.0]
    assert (df.loc[0, "item_id"], df.loc[0, "subcategory"]) == ("jd:0001", "dress")
    assert load(root).attrs["load_report"]["splits"] == {"gallery": 2, "query": 1, "train": 1}


@pytest.mark.parametrize("old, new, message", [
    ("jd:g2,gallery/g2.jpg", "jd:g2,../g2.jpg", r"row\(s\) have a 'path' that is absolute or escapes.* data row 2 "
     r"\(line 4\), uid='jd:g2'"),
    ("jd:g2,gallery/g2.jpg", "jd:g2,gallery\\g2.jpg", r"use '\\' in 'path'.*line 4"),
    ("5.5,6,20.25,30", "5.5,6,2.25,30", r"degenerate box .*\(line 4\), uid='jd:g2'"),
    ("5.5,6,20.25,30", "5.5,6,20.25,x", r"non-numeric 'y2'.*line 4"),
    ("consumer,query", "street,query", r"'domain' outside .*\(line 2\), uid='jd:q1'"),
    ("jd:t1,train", "jd:q1,train", r"repeat an earlier 'uid'.*line 5"),
    ("1,2,30,40,64,48", "1,2,70,40,64,48", r"outside the image.*line 2"),
])
def test_row_level_errors(root, old, new, message):
    p = root / "manifest.csv"
    p.write_text(p.read_text().replace(old, new))
    with pytest.raises(ContractError, match=message):
        load(root)


def test_missing_image_and_missing_column(root):
    (root / "gallery/g1.jpg").unlink()
    with pytest.raises(ContractError, match=r"missing image .*gallery/g1\.jpg.*line 3\), uid='jd:g1'"):
        load(root)
    assert len(load(root, check_files=False)) == 4
    pd.read_csv(root / "manifest.csv").drop(columns=["item_id"]).to_csv(root / "manifest.csv", index=False)
    with pytest.raises(ContractError, match=r"missing column\(s\) \['item_id'\]"):
        load(root)


def test_missing_or_ambiguous_manifest(tmp_path, root):
    with pytest.raises(ConfigError, match=r"expected exactly one of .*manifest\.csv or .*manifest\.parquet"):
        load(tmp_path / "nowhere")
    (root / "manifest.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match="both"):
        load(root)


@pytest.mark.skipif(any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")),
                    reason="a parquet engine is installed")
def test_parquet_without_engine_is_a_config_error(tmp_path):
    (tmp_path / "manifest.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match="needs pyarrow or fastparquet"):
        load(tmp_path)


def test_parquet_round_trip(root):
    pytest.importorskip("pyarrow")
    df = pd.read_csv(root / "manifest.csv")
    (root / "manifest.csv").unlink()
    df.to_parquet(root / "manifest.parquet")
    assert list(load(root)["uid"]) == ["jd:q1", "jd:g1", "jd:g2", "jd:t1"]


def test_truncated_manifest_names_the_line(root):
    p = root / "manifest.csv"
    text = p.read_text()
    for cut in (25, 15):  # the last row loses its split and box, or its y2 and the optional columns
        p.write_text(text[:-cut])
        with pytest.raises(ContractError, match=r"manifest\.csv: 1 row\(s\) have .*; first at data row 3 \(line 5\), "
                                                r"uid='jd:t1'"):
            load(root)


def test_query_item_without_gallery_match(root):
    p = root / "manifest.csv"
    p.write_text(p.read_text().replace("jd:g1,gallery/g1.jpg,jd:0001", "jd:g1,gallery/g1.jpg,jd:0009"))
    with pytest.raises(ContractError, match=r"manifest\.csv:2 \(item 'jd:0001'\): 1 query row\(s\) have no gallery "
                                            r"image of the same item.*orphan_queries"):
        load(root)
    df = load(root, orphan_queries="keep")
    assert len(df) == 4 and "source" not in df.columns
    assert df.attrs["load_report"]["skipped"] == {"queries without a gallery match (kept as misses)": 1}
    assert len(load_manifest("manifest", root, {"orphan_queries": "skip"})) == 3
    with pytest.raises(ConfigError, match="orphan_queries"):
        load(root, orphan_queries="drop")
