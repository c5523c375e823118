"""The manifest contract: each kind of bad input stops with an error naming the file and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashionbench.core.errors import ContractError
from fashionbench.data.manifest import read_manifest, validate_manifest, write_manifest


def _good() -> pd.DataFrame:
    return pd.DataFrame({
        "uid": ["a", "b", "c"], "path": ["img/a.png", "img/b.png", "img/c.png"],
        "item_id": ["1", "1", "2"], "category": ["clothes"] * 3,
        "domain": ["shop", "consumer", "shop"], "split": ["gallery", "query", "gallery"],
        "x1": [0, 1, 2], "y1": [0, 1, 2], "x2": [10, 11, 12], "y2": [10, 11, 12],
        "width": [20, 20, 20], "height": [20, 20, 20]})


def test_valid_manifest_round_trips(tmp_path):
    write_manifest(_good(), tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    assert list(back["uid"]) == ["a", "b", "c"]
    assert back["x2"].dtype == np.float64


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns=["item_id"]), "missing column"),
    (lambda d: d.assign(uid=["a", "b", "a"]), "repeat an earlier 'uid'"),
    (lambda d: d.assign(domain=["shop", "street", "shop"]), "'domain' outside"),
    (lambda d: d.assign(split=["gallery", "query", "test"]), "'split' outside"),
    (lambda d: d.assign(x2=[10, 0, 12]), "degenerate box"),
    (lambda d: d.assign(x2=[10, 11, 25]), "outside the image"),
    (lambda d: d.assign(y1=[0, -3, 2]), "outside the image"),
    (lambda d: d.assign(x1=[0, "oops", 2]), "non-numeric 'x1'"),
    (lambda d: d.assign(path=["img/a.png", "../b.png", "img/c.png"]), "escapes the dataset root"),
    (lambda d: d.assign(path=["img/a.png", "/abs/b.png", "img/c.png"]), "escapes the dataset root"),
    (lambda d: d.assign(path=["img/a.png", "img\\b.png", "img/c.png"]), "use '\\'"),
    (lambda d: d.assign(item_id=["1", None, "2"]), "empty 'item_id'"),
])
def test_bad_manifest_names_source_and_row(mutate, message):
    with pytest.raises(ContractError) as err:
        validate_manifest(mutate(_good()), "m.csv")
    text = str(err.value)
    assert message in text and "m.csv" in text


def test_bad_row_is_located():
    with pytest.raises(ContractError, match=r"data row 2 \(line 4\), uid='c'"):
        validate_manifest(_good().assign(x2=[10, 11, 1]), "m.csv")


def test_missing_image_named(tmp_path):
    (tmp_path / "img").mkdir()
    for n in "ab":
        (tmp_path / "img" / f"{n}.png").write_bytes(b"x")
    with pytest.raises(ContractError, match="missing image.*c.png"):
        validate_manifest(_good(), "m.csv", root=tmp_path, check_files=True)


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "m.csv"
    with pytest.raises(ContractError):
        write_manifest(_good().assign(uid=["a", "a", "b"]), target)
    assert list(tmp_path.iterdir()) == []
