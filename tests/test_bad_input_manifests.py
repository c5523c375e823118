"""Bad manifests: each gives a ContractError naming the file and the first offending row."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashionbench.core.errors import ContractError
from fashionbench.data.manifest import read_manifest, validate_manifest, write_manifest
from tests.bad_input import expect, known_gap


def rows(n: int = 3, **over) -> pd.DataFrame:
    df = pd.DataFrame({"uid": [f"u{i}" for i in range(n)], "path": [f"img/{i}.jpg" for i in range(n)],
                       "item_id": [f"i{i}" for i in range(n)], "category": ["clothes"] * n,
                       "domain": ["shop"] * n, "split": ["gallery"] * n,
                       "x1": [1.0] * n, "y1": [1.0] * n, "x2": [5.0] * n, "y2": [5.0] * n})
    for col, (i, v) in over.items():
        df[col] = df[col].astype(object)
        df.loc[i, col] = v
    return df


@pytest.fixture()
def root(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "img" / f"{i}.jpg")
    return tmp_path


def write(root, df: pd.DataFrame, name: str = "manifest.csv"):
    df.to_csv(root / name, index=False)
    return root / name


@pytest.mark.parametrize("over, names", [
    ({"uid": (2, "u0")}, ["repeat an earlier 'uid'", "line 4", "uid='u0'"]),
    ({"uid": (1, "")}, ["empty 'uid'", "line 3"]),
    ({"domain": (1, "street")}, ["'domain' outside", "'street'", "uid='u1'"]),
    ({"split": (0, "val")}, ["'split' outside", "uid='u0'"]),
    ({"path": (1, "/etc/passwd")}, ["absolute or escapes", "uid='u1'"]),
    ({"path": (2, "img/../../x.jpg")}, ["absolute or escapes", "uid='u2'"]),
    ({"path": (1, "img\\1.jpg")}, ["use '\\'", "uid='u1'"]),
    ({"x1": (1, "left")}, ["non-numeric 'x1'", "uid='u1'"]),
    ({"x2": (2, 0.5)}, ["degenerate box", "uid='u2'"]),
    ({"y1": (0, -3.0)}, ["outside the image", "uid='u0'"]),
])
def test_a_bad_row_is_named_with_its_file_and_line(root, over, names):
    path = write(root, rows(**over))
    expect(lambda: read_manifest(path), ContractError, str(path), *names)


def test_a_missing_column_is_named(root):
    path = write(root, rows().drop(columns=["item_id"]))
    expect(lambda: read_manifest(path), ContractError, str(path), "missing column(s) ['item_id']")


def test_a_missing_or_unparseable_file_is_named(root):
    expect(lambda: read_manifest(root / "nope.csv"), ContractError, "nope.csv", "not found")
    (root / "bad.parquet").write_bytes(b"not parquet")
    expect(lambda: read_manifest(root / "bad.parquet"), ContractError, "bad.parquet", "cannot be parsed")


def test_a_missing_image_is_named(root):
    path = write(root, rows(path=(1, "img/9.jpg")))
    expect(lambda: read_manifest(path, check_files=True), ContractError, "missing image", "img/9.jpg", "uid='u1'")


def test_a_box_outside_the_given_image_size_is_named(root):
    df = rows().assign(width=8, height=8)
    df.loc[2, "x2"] = 20.0
    expect(lambda: validate_manifest(df, "m.csv"), ContractError, "m.csv", "outside the image", "uid='u2'")


@known_gap("containment is checked on the path's text; a symlink out of the root passes")
def test_a_symlink_out_of_the_root_is_refused(root):
    os.symlink("/etc/passwd", root / "img" / "evil.jpg")
    path = write(root, rows(path=(1, "img/evil.jpg")))
    expect(lambda: read_manifest(path, check_files=True), ContractError, "uid='u1'")


@known_gap("paths are not normalised: img/./0.jpg and img/0.jpg pass as two images")
def test_two_spellings_of_one_image_are_refused(root):
    path = write(root, rows(path=(1, "img/./0.jpg")))
    expect(lambda: read_manifest(path), ContractError, "uid='u1'")


@known_gap("the writer rounds boxes to 0.01 px, so a 0.003-px box is written and then refused on read",
           raises=(ContractError,))
def test_what_the_writer_writes_its_reader_reads(root):
    df = rows()
    df.loc[1, "x2"] = df.loc[1, "x1"] + 0.003
    try:
        write_manifest(df, root / "out.csv")
    except ContractError as exc:   # refusing it, naming the row, is as good as writing it exactly
        assert "uid='u1'" in str(exc)
        return
    back = read_manifest(root / "out.csv")
    assert back.loc[1, "x2"] > back.loc[1, "x1"]
