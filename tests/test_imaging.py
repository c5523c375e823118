"""Crops: bad images, bad boxes and missing crop columns fail with the file or row named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.imaging import CropDataset, crop_boxes, load_crop


def _img(path, w=20, h=10):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = 255  # left half white
    Image.fromarray(arr).save(path)


def test_crop_picks_the_box(tmp_path):
    _img(tmp_path / "a.png")
    left = load_crop(tmp_path / "a.png", (0, 0, 10, 10), 4)
    right = load_crop(tmp_path / "a.png", (10, 0, 20, 10), 4)
    assert left.shape == (4, 4, 3) and left.min() == 255 and right.max() == 0


def test_missing_and_corrupt_images(tmp_path):
    with pytest.raises(ContractError, match="nope.png: image file not found"):
        load_crop(tmp_path / "nope.png", None, 4)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ContractError, match="bad.png: image cannot be decoded"):
        load_crop(tmp_path / "bad.png", None, 4)


def test_box_outside_image(tmp_path):
    _img(tmp_path / "a.png")
    with pytest.raises(ContractError, match="a.png: box .* outside the 20x10 image"):
        load_crop(tmp_path / "a.png", (0, 0, 30, 10), 4)


def test_crop_modes():
    df = pd.DataFrame({"uid": ["u1", "u2"], "x1": [0, 1], "y1": [0, 1], "x2": [5, 6], "y2": [5, 6],
                       "detected_x1": [0.0, np.nan], "detected_y1": [0, 0], "detected_x2": [3, 3], "detected_y2": [3, 3]})
    assert crop_boxes(df, "given").tolist() == [[0, 0, 5, 5], [1, 1, 6, 6]]
    assert crop_boxes(df, "full") is None
    with pytest.raises(ConfigError, match="crop='union'.*no column"):
        crop_boxes(df, "union")
    with pytest.raises(ContractError, match="uid='u2' has no 'detected' box"):
        crop_boxes(df, "detected")


def test_dataset_labels_use_vocab(tmp_path):
    _img(tmp_path / "a.png")
    df = pd.DataFrame({"uid": ["u1", "u2"], "path": ["a.png", "a.png"], "item_id": ["x", "y"],
                       "category": ["bags", "shoes"], "domain": ["shop", "consumer"],
                       "x1": [0, 0], "y1": [0, 0], "x2": [10, 20], "y2": [10, 10]})
    ds = CropDataset(df, tmp_path, "given", 8, item_vocab=["y", "z"], category_vocab=["shoes", "bags"])
    x, y, c, d = ds.batch([0, 1])
    assert x.shape == (2, 3, 8, 8)
    assert y.tolist() == [-1, 0] and c.tolist() == [1, 0] and d.tolist() == [0, 1]
