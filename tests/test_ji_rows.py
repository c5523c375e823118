"""The ji method rows of params.yaml build, train (one short epoch) and embed the train split."""

from __future__ import annotations

import numpy as np
import torch

from conftest import ROOT
from fashionbench.core import config
from fashionbench.data.datasets import load_manifest
from fashionbench.engine.embedding import embed_dataset, embed_extra_split
from fashionbench.data.imaging import CropDataset
from fashionbench.engine.training import train

ROWS = ("ji-single-gem-mac", "ji-single-gem-spoc")


def test_ji_rows_share_everything_but_the_descriptors():
    params = config.load_params(ROOT / "params.yaml")
    a, b = (config.method_settings(params, r) for r in ROWS)
    assert a["model"]["descriptors"] == ["gem", "mac"] and b["model"]["descriptors"] == ["gem", "spoc"]
    strip = lambda s: {k: v for k, v in s.items() if k not in ("model", "description")}  # noqa: E731
    assert strip(a) == strip(b)
    assert {k: v for k, v in a["model"].items() if k != "descriptors"} == \
           {k: v for k, v in b["model"].items() if k != "descriptors"}
    assert a["optimizer"] == "sgd" and a["schedule"] == "cosine" and a["loss"]["loss"] == "ji_multi"
    assert set(params["fusions"]["ji-concat"]["inputs"]) == set(ROWS)
    for r in ("ji-pcaw", "ji-qe", "ji-dba"):
        assert params["reranks"][r]["input"] == "ji-concat" and len(params["reranks"][r]["steps"]) == 1
    # Table 7 applies k-reciprocal re-ranking to the single model m4
    assert params["reranks"]["ji-kreciprocal"]["input"] == "ji-single-gem-mac"
    paper = config.method_settings({**params, "profile": "paper"}, ROWS[0])
    assert paper["model"]["backbone"] == "resnet152d" and paper["model"]["embedding_dim"] == 1024
    assert paper["img_size"] == 224 and paper["lr"] == 0.2 and paper["epochs"] == 200


def test_ji_rows_train_and_embed_the_train_split(tiny_dataset, tmp_path):
    params = {**config.load_params(ROOT / "params.yaml"), "profile": "tiny"}
    df = load_manifest("fmnist-c2s", tiny_dataset)
    ds = CropDataset(df[df.split == "train"], tiny_dataset, "given", 32)
    for name in ROWS:
        cfg = {**config.method_settings(params, name), "epochs": 1, "batch_size": 16, "threads": 1}
        model, hist = train(cfg, ds, tmp_path / name, seed=0, progress=False)
        assert {"ce", "center", "triplet", "ms"} <= set(hist[0]) and np.isfinite(hist[0]["loss"])
        assert model.backbone(torch.zeros(1, 3, 64, 64)).shape[-2:] == (2, 2)  # default 64 px: GeM != MAC != SPoC
    extra = embed_extra_split(model, df, tiny_dataset, split="train", crop="given", size=32, progress=False)
    rows = df[df.split == "train"].reset_index(drop=True)
    np.testing.assert_array_equal(extra["train_ids"], rows["uid"].to_numpy(str))
    np.testing.assert_array_equal(extra["train_labels"], rows["item_id"].to_numpy(str))
    assert extra["train"].shape == (len(rows), 256) and extra["train"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(extra["train"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(extra["train"], embed_dataset(model, CropDataset(rows, tiny_dataset, "given", 32),
                                                             progress=False), atol=1e-6)
