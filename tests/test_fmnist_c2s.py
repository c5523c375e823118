"""fmnist-c2s: source verification, determinism and the dataset's structural promises."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, TINY_BUILD
from fashionbench.data.datasets import fmnist_c2s, load_manifest
from fashionbench.data.datasets.fmnist_source import CONTENT_SHA256, load_fashion_mnist
from fashionbench.core.errors import ChecksumError, ConfigError


def test_source_verified_and_parsed():
    fm = load_fashion_mnist(project_root=ROOT)
    assert fm.images.shape == (70000, 28, 28) and fm.labels.shape == (70000,)
    # the first labels documented in shared/data/fashion-mnist/README.md
    assert fm.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fm.labels[60000:60010].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


def test_recompressed_copy_accepted_but_changed_content_rejected(tmp_path):
    src = ROOT.parent / "shared" / "data" / "fashion-mnist"
    for name in CONTENT_SHA256:  # re-compress like Debian does: other gzip header, same content
        (tmp_path / name).write_bytes(gzip.compress(gzip.decompress((src / name).read_bytes()), mtime=0))
    assert load_fashion_mnist(tmp_path, project_root=tmp_path).source == str(tmp_path)
    raw = bytearray(gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] ^= 1
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz: SHA-256"):
        load_fashion_mnist(tmp_path, project_root=tmp_path)


def test_missing_source_lists_places(tmp_path, monkeypatch):
    monkeypatch.setattr("fashionbench.datasets.fmnist_source.DEBIAN_DIR", tmp_path / "nope")
    with pytest.raises(ConfigError, match="Fashion-MNIST not found.*dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "empty", project_root=tmp_path)


def test_build_is_byte_reproducible(tiny_dataset, tmp_path):
    card = fmnist_c2s.build(tmp_path / "again", TINY_BUILD, project_root=ROOT, progress=False)
    assert card["content_sha256"] == fmnist_c2s.content_hash(tiny_dataset)
    other = fmnist_c2s.build(tmp_path / "seed4", {**TINY_BUILD, "seed": 4}, project_root=ROOT, progress=False)
    assert other["content_sha256"] != card["content_sha256"]


def test_structure(tiny_dataset):
    df = load_manifest("fmnist-c2s", tiny_dataset)
    train_items = set(df.loc[df.split == "train", "item_id"])
    test_items = set(df.loc[df.split != "train", "item_id"])
    assert not train_items & test_items, "train items must be disjoint from test items"
    assert len(train_items) == 12 and len(test_items) == 10
    assert set(df.loc[df.split == "query", "domain"]) == {"consumer"}
    assert set(df.loc[df.split == "gallery", "domain"]) == {"shop"}
    shop = df[df.domain == "shop"].groupby("item_id").size()
    assert shop.between(2, 5).all(), "2-5 shop images per item"
    cons = df[(df.domain == "consumer")].groupby("item_id").size()
    assert cons.between(1, 3).all()
    # every query item has shop images in the gallery; distractors have none in the queries
    q, g = set(df.loc[df.split == "query", "item_id"]), set(df.loc[df.split == "gallery", "item_id"])
    assert q <= g and len(g - q) == 4
    assert set(df["category"]) <= {"clothes", "shoes", "bags"}
    # given boxes are noisy versions of the ground truth, and differ from it
    gt = df[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].to_numpy()
    given = df[["x1", "y1", "x2", "y2"]].to_numpy()
    assert np.abs(gt - given).max() > 1 and (given[:, 2:] > given[:, :2]).all()


def test_items_differ_by_more_than_shape(tiny_dataset):
    """Two shop images of one item share the item's colours; another item's colours differ."""
    df = load_manifest("fmnist-c2s", tiny_dataset)
    shop = df[df.domain == "shop"]

    def mean_colour(row: pd.Series) -> np.ndarray:
        im = np.asarray(Image.open(tiny_dataset / row.path).convert("RGB"), float)
        x1, y1, x2, y2 = (int(v) for v in (row.gt_x1, row.gt_y1, row.gt_x2, row.gt_y2))
        crop = im[y1:y2, x1:x2].reshape(-1, 3)
        return crop[crop.sum(1) < 600].mean(0)  # product pixels, not the light canvas

    items = shop.item_id.unique()[:6]
    cols = {it: [mean_colour(r) for _, r in shop[shop.item_id == it].iterrows()] for it in items}
    within = np.mean([np.linalg.norm(c[0] - c[1]) for c in cols.values()])
    between = np.mean([np.linalg.norm(cols[a][0] - cols[b][0]) for a in items for b in items if a < b])
    assert between > 2 * within


def test_unknown_build_parameter(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter.*n_itmes"):
        fmnist_c2s.build(tmp_path / "x", {"n_itmes": 3}, project_root=ROOT)
    assert not (tmp_path / "x").exists()


def test_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    def boom(task):
        raise RuntimeError("killed")
    monkeypatch.setattr(fmnist_c2s, "_render_item", boom)
    with pytest.raises(RuntimeError):
        fmnist_c2s.build(tmp_path / "x", TINY_BUILD, project_root=ROOT, progress=False)
    assert list(tmp_path.iterdir()) == []
