"""Training: deterministic for a seed, and a run killed after an epoch resumes to the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionbench.data.datasets import load_manifest
from fashionbench.engine.embedding import embed_dataset
from fashionbench.data.imaging import CropDataset
from fashionbench.engine.training import augment_batch, load_trained, train

CFG = {"model": {"arch": "global", "backbone": "resnet18"}, "loss": {"loss": "ce"}, "epochs": 2,
       "batch_size": 16, "lr": 1e-3, "optimizer": "adam", "schedule": "cosine", "threads": 1,
       "augment": {"flip": True, "shift": 2}}


@pytest.fixture(scope="module")
def train_ds(tiny_dataset):
    df = load_manifest("fmnist-c2s", tiny_dataset)
    return CropDataset(df[df.split == "train"], tiny_dataset, "given", 16)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.dtype.is_floating_point])


def test_resume_after_kill_equals_uninterrupted(train_ds, tmp_path):
    full, hist_full = train(CFG, train_ds, tmp_path / "full", seed=5, progress=False)
    _, hist_part = train(CFG, train_ds, tmp_path / "killed", seed=5, progress=False, stop_after_epoch=1)
    assert len(hist_part) == 1 and not (tmp_path / "killed" / "model.pt").exists()
    assert (tmp_path / "killed" / "checkpoint.pt").is_file(), "a killed run keeps its checkpoint to resume from"
    assert not (tmp_path / "full" / "checkpoint.pt").exists(), "a finished run drops its checkpoint"
    resumed, hist_res = train(CFG, train_ds, tmp_path / "killed", seed=5, progress=False)
    assert torch.equal(_weights(full), _weights(resumed))
    assert not (tmp_path / "killed" / "checkpoint.pt").exists() and (tmp_path / "killed" / "model.pt").is_file()
    assert [h["loss"] for h in hist_full] == [h["loss"] for h in hist_res]
    other, _ = train(CFG, train_ds, tmp_path / "seed6", seed=6, progress=False)
    assert not torch.equal(_weights(full), _weights(other))


def test_changed_config_does_not_resume_stale_checkpoint(train_ds, tmp_path):
    train(CFG, train_ds, tmp_path / "r", seed=5, progress=False, stop_after_epoch=1)
    _, hist = train({**CFG, "lr": 5e-4}, train_ds, tmp_path / "r", seed=5, progress=False)
    assert [h["epoch"] for h in hist] == [1, 2]


def test_trained_model_reloads_and_embeds_normalised(train_ds, tmp_path):
    model, _ = train({**CFG, "epochs": 1}, train_ds, tmp_path / "m", seed=1, progress=False)
    again, saved = load_trained(tmp_path / "m")
    a = embed_dataset(model, train_ds, progress=False)
    b = embed_dataset(again, train_ds, progress=False)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert saved["item_vocab"] == train_ds.item_vocab


def test_augment_flip_and_shift_by_hand():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
    g = torch.Generator().manual_seed(0)
    y = augment_batch(x, g, flip=True, shift=0)
    for i in range(2):
        assert torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1))
    z = augment_batch(x, torch.Generator().manual_seed(0), flip=False, shift=1)
    assert z.shape == x.shape
    # every output pixel value comes from the same image (reflect padding, then a crop)
    for i in range(2):
        assert set(z[i].flatten().tolist()) <= set(x[i].flatten().tolist())


def test_progress_bar_output_stays_small_where_stderr_is_no_terminal(train_ds, tmp_path, capsys):
    """In a papermill kernel every refresh is one more saved output: the loss postfix must not force one."""
    train({**CFG, "epochs": 1, "batch_size": 2}, train_ds, tmp_path / "p", seed=1, progress=True)
    err = capsys.readouterr().err
    n_batches = -(-len(train_ds) // 2)
    assert "epoch 1/1" in err and n_batches > 10
    assert err.count("\r") <= 6, f"{err.count(chr(13))} refreshes for {n_batches} batches"
