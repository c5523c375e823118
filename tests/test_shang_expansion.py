"""Paper shang's training-data expansion (eqs. 2-4) as a method-row option of the train stage.

The box distribution itself (uniform fractions, independence) is tested in test_augment.py;
here: the row option, the expanded manifest (counts, ids, boxes inside each crop box with the
eqs. 2-4 distribution relative to that box), determinism, and that the train stage's dataset is
built from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fashionbench.data.augment import EXPANDED_CROP, expand_manifest, expansion_settings
from fashionbench.core.errors import ConfigError


def _rows(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"uid": [f"u{i}" for i in range(n)], "path": [f"p{i}.png" for i in range(n)],
                         "item_id": [f"i{i // 2}" for i in range(n)], "category": ["bags"] * n,
                         "domain": ["shop", "consumer"] * (n // 2), "split": ["train"] * n,
                         "x1": 10.0, "y1": 20.0, "x2": 50.0, "y2": 100.0})


def test_settings_defaults_are_the_papers():
    s = expansion_settings({})
    assert s == {"n": 5, "min_range": (0.0, 0.15), "max_range": (0.85, 1.0), "keep_original": True}
    assert expansion_settings(None) == {} and expansion_settings(False) == {}
    s = expansion_settings({"n": 2, "min": 0.1, "max": 0.8, "keep_original": False})
    assert s == {"n": 2, "min_range": (0.0, 0.1), "max_range": (0.8, 1.0), "keep_original": False}
    assert expansion_settings({"min": [0.05, 0.1]})["min_range"] == (0.05, 0.1)


@pytest.mark.parametrize("bad,match", [({"n": 0}, r"methods.m.expansion.n"), ({"n": 1.5}, r"\.n"),
                                       ({"crops": 5}, "unknown key"), ({"min": 0.6, "max": 0.5}, "below"),
                                       ({"keep_original": "yes"}, "keep_original"), ([5], "mapping")])
def test_settings_errors_name_the_row(bad, match):
    with pytest.raises(ConfigError, match=match):
        expansion_settings(bad, "methods.m.expansion")


def test_expand_manifest_counts_ids_and_originals():
    rows = _rows()
    boxes = rows[["x1", "y1", "x2", "y2"]].to_numpy(float)
    out = expand_manifest(rows, boxes, n=3, rng=np.random.default_rng(0))
    assert len(out) == 4 * 4 and out["uid"].is_unique
    assert out["uid"].tolist()[:4] == ["u0#orig", "u0#exp0", "u0#exp1", "u0#exp2"]
    assert out["expansion"].tolist()[:4] == [-1, 0, 1, 2]
    # every expanded row keeps its source row's identity fields
    src = out["uid"].str.split("#").str[0]
    for col in ("item_id", "category", "domain", "path", "split"):
        assert (out[col].to_numpy() == rows.set_index("uid").loc[src, col].to_numpy()).all()
    orig = out[out["expansion"] == -1]
    cols = [f"{EXPANDED_CROP}_{c}" for c in ("x1", "y1", "x2", "y2")]
    assert np.array_equal(orig[cols].to_numpy(), boxes)
    no_orig = expand_manifest(rows, boxes, n=5, rng=np.random.default_rng(0), keep_original=False)
    assert len(no_orig) == 20 and (no_orig["expansion"] >= 0).all()


def test_expanded_boxes_follow_eqs_2_to_4_inside_each_crop_box():
    rows = _rows(2)
    boxes = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 64.0, 48.0]])
    out = expand_manifest(rows, boxes, n=20000, rng=np.random.default_rng(5), keep_original=False)
    b = out[[f"{EXPANDED_CROP}_{c}" for c in ("x1", "y1", "x2", "y2")]].to_numpy()
    src = np.repeat(boxes, 20000, axis=0)
    w, h = src[:, 2] - src[:, 0], src[:, 3] - src[:, 1]
    fx1, fy1 = (b[:, 0] - src[:, 0]) / w, (b[:, 1] - src[:, 1]) / h
    fx2, fy2 = (b[:, 2] - src[:, 0]) / w, (b[:, 3] - src[:, 1]) / h
    for f in (fx1, fy1):
        assert 0 <= f.min() and f.max() <= 0.15
        assert stats.kstest(f, stats.uniform(0, 0.15).cdf).pvalue > 0.001
    for f in (fx2, fy2):
        assert 0.85 <= f.min() and f.max() <= 1.0
        assert stats.kstest(f, stats.uniform(0.85, 0.15).cdf).pvalue > 0.001
    # inside the crop box, so inside the image
    assert (b[:, 0] >= src[:, 0]).all() and (b[:, 2] <= src[:, 2]).all()


def test_stage_helper_is_deterministic_for_the_seed_and_checks_the_row():
    from fashionbench.pipeline.train import _expanded

    rows = _rows()
    settings = {"expansion": {"n": 2}}
    a, crop = _expanded(rows, "given", settings, "m", seed=3)
    b, _ = _expanded(rows, "given", settings, "m", seed=3)
    c, _ = _expanded(rows, "given", settings, "m", seed=4)
    assert crop == EXPANDED_CROP and len(a) == 12
    assert a.equals(b) and not a.equals(c)
    same, crop0 = _expanded(rows, "given", {}, "m", seed=3)
    assert same is rows and crop0 == "given"
    with pytest.raises(ConfigError, match="methods.m.expansion.n"):
        _expanded(rows, "given", {"expansion": {"n": -1}}, "m", seed=3)
    with pytest.raises(ConfigError, match="width"):
        _expanded(rows, "full", settings, "m", seed=3)
    full = rows.assign(width=64, height=128)
    f, _ = _expanded(full, "full", settings, "m", seed=3)
    assert f[f["expansion"] == -1][[f"{EXPANDED_CROP}_x2", f"{EXPANDED_CROP}_y2"]].to_numpy().tolist() == [[64, 128]] * 4


def test_train_stage_trains_on_the_expanded_set(tiny_dataset, tmp_path, monkeypatch):
    """fashionbench.pipeline.train.train with an expansion row: the dataset holds (n + 1) crops per training image."""
    import shutil

    import yaml

    from fashionbench.core import config
    from fashionbench.engine import training
    import fashionbench.data.prepared
    import fashionbench.pipeline.train

    root = tmp_path / "proj"
    shutil.copytree(tiny_dataset, root / "data" / "prepared")
    params = {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s"},
              "profiles": {"tiny": {"train": {"img_size": 16, "epochs": 1, "batch_size": 16, "threads": 1}}},
              "methods": {"m": {"group": "g", "notebook": "notebooks/train.ipynb", "train_filter": {"category": "bags"},
                                "model": {"arch": "cosine", "backbone": "resnet18", "embedding_dim": 8},
                                "loss": {"loss": "am_softmax"}, "crop": "given",
                                "expansion": {"n": 2, "min": 0.15, "max": 0.85}}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("FASHIONBENCH_ROOT", str(root))
    seen = {}
    real = training.train

    def spy(cfg, ds, out_dir, **kw):
        seen["n"], seen["uids"] = len(ds), ds.df["uid"].tolist()
        return real(cfg, ds, out_dir, **kw)

    monkeypatch.setattr(training, "train", spy)
    manifest, _ = fashionbench.data.prepared.load_dataset(config.load_params())
    n_bags = int(((manifest["split"] == "train") & (manifest["category"] == "bags")).sum())
    history = fashionbench.pipeline.train.train(config.load_params(), "m", progress=False)
    assert len(history) == 1
    assert seen["n"] == 3 * n_bags and all("#" in u for u in seen["uids"])
