"""Embeddings streamed to memory-mapped .npy files: the same numbers as in memory, the
``storage="memmap"`` embedding-file layout, its loaders and its integrity checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionbench.core.artifacts import Embeddings, load_embeddings, memmap_paths, save_embeddings, write_npy_blocks
from fashionbench.engine.embedding import embed_dataset, embed_splits
from fashionbench.core.errors import ContractError
from fashionbench.data.imaging import CropDataset
from fashionbench.models import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model({"arch": "global", "backbone": "test_resnet"}, 5, 3).eval()


@pytest.fixture(scope="module")
def manifest(tiny_dataset):
    from fashionbench.data.datasets import load_manifest
    return load_manifest("fmnist-c2s", tiny_dataset)


def test_streamed_equals_in_memory_for_any_num_workers(model, manifest, tiny_dataset, tmp_path):
    ds = CropDataset(manifest, tiny_dataset, "given", 16, cache=False)
    ref = embed_dataset(model, ds, batch_size=7, progress=False)
    mm = embed_dataset(model, ds, batch_size=7, progress=False, out=tmp_path / "f.npy", num_workers=2)
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    np.testing.assert_array_equal(np.asarray(mm), ref)
    assert not list(tmp_path.glob(".tmp-*"))  # temp file renamed
    np.testing.assert_array_equal(embed_dataset(model, ds, batch_size=7, progress=False, num_workers=2), ref)


def _emb(q, g, name="m"):
    ids = lambda n, p: np.array([f"{p}{i}" for i in range(n)])  # noqa: E731
    return Embeddings(query=q, gallery=g, query_ids=ids(len(q), "q"), gallery_ids=ids(len(g), "g"),
                      query_labels=ids(len(q), "l"), gallery_labels=ids(len(g), "l"),
                      query_categories=np.full(len(q), "c"), gallery_categories=np.full(len(g), "c"),
                      model=name, fingerprint="fp", extra={"note": np.arange(3)})


def test_memmap_storage_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    emb = _emb(rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((9, 4)).astype(np.float32))
    path = tmp_path / "g" / "m.npz"
    save_embeddings(path, emb, storage="memmap")
    files = memmap_paths(path)
    assert files["query"].name == "m.query.npy" and files["gallery"].name == "m.gallery.npy"
    with np.load(path) as z:
        assert "query" not in z.files and str(z["storage"]) == "memmap"
    back = load_embeddings(path)
    assert isinstance(back.gallery.base, np.memmap) or isinstance(back.gallery, np.memmap)
    np.testing.assert_array_equal(back.query, emb.query)
    np.testing.assert_array_equal(back.gallery, emb.gallery)
    np.testing.assert_array_equal(back.extra["note"], np.arange(3))
    # the default .npz storage is unchanged and loads the same
    save_embeddings(tmp_path / "n.npz", emb)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "n.npz").gallery, emb.gallery)


def test_memmap_integrity_errors(tmp_path):
    rng = np.random.default_rng(1)
    emb = _emb(rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32))
    path = tmp_path / "m.npz"
    save_embeddings(path, emb, storage="memmap")
    other = rng.standard_normal((6, 4)).astype(np.float32)
    write_npy_blocks(memmap_paths(path)["gallery"], other)  # a foreign write
    with pytest.raises(ContractError, match="SHA-256"):
        load_embeddings(path)
    load_embeddings(path, verify=False)  # shape still matches: loads when asked not to verify
    write_npy_blocks(memmap_paths(path)["gallery"], other[:5])
    with pytest.raises(ContractError, match="shape"):
        load_embeddings(path, verify=False)
    memmap_paths(path)["gallery"].unlink()
    with pytest.raises(ContractError, match="missing"):
        load_embeddings(path)
    bad = emb.gallery.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ContractError, match="row 4"):
        save_embeddings(tmp_path / "bad.npz", _emb(emb.query, bad), storage="memmap")


def test_embed_splits_streams_and_save_does_not_copy(model, manifest, tiny_dataset, tmp_path):
    out = tmp_path / "emb" / "m.npz"
    emb = embed_splits(model, manifest, tiny_dataset, query_crop="given", gallery_crop="given", size=16,
                       name="m", params={}, batch_size=8, progress=False, out=out)
    files = memmap_paths(out)
    before = files["gallery"].stat().st_mtime_ns
    save_embeddings(out, emb, storage="memmap")
    assert files["gallery"].stat().st_mtime_ns == before  # already the file: hashed, not rewritten
    ref = embed_splits(model, manifest, tiny_dataset, query_crop="given", gallery_crop="given", size=16,
                       name="m", params={}, batch_size=8, progress=False)
    back = load_embeddings(out)
    np.testing.assert_array_equal(back.query, ref.query)
    np.testing.assert_array_equal(back.gallery, ref.gallery)
    np.testing.assert_array_equal(back.gallery_ids, ref.gallery_ids)
