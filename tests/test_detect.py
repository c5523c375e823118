"""Tests of fashionbench.detect: YOLO export checked by hand, offline 1-epoch training and prediction.

The network check runs export + train + predict in a FRESH interpreter (so Ultralytics' import-
time checks are covered too) with every socket entry point replaced by a recorder that raises,
and, where ``unshare -rn`` works, inside an empty network namespace as well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from fashionbench.detection import yolo as detect
from fashionbench.core.errors import ConfigError, ContractError

SIZE = 64
N_IMAGES = 12


def make_dataset(root: Path, seed: int = 0) -> pd.DataFrame:
    """12 noise images 64x64, each with one bright rectangle whose box is known (gt_* columns).

    The given box x1..y2 is deliberately offset from the gt box so that the export must choose
    gt; image 0 holds a second item (two label lines); the categories are bags/shoes.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(N_IMAGES):
        im = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
        if i == 0:
            gx1, gy1, gx2, gy2 = 8, 16, 40, 48  # hand-checked in test_export_labels_by_hand
        else:
            gx1, gy1 = (int(v) for v in rng.integers(2, 24, 2))
            gx2, gy2 = (int(min(v, SIZE - 2)) for v in (gx1 + rng.integers(18, 36), gy1 + rng.integers(18, 36)))
        im[gy1:gy2, gx1:gx2] = 230
        name = f"sub{i % 2}/img{i:02d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / name)
        rows.append(dict(uid=f"u{i}", path=name, item_id=f"item{i}", category="bags" if i % 3 else "shoes",
                         domain="shop", split="train", x1=gx1 + 1, y1=gy1 + 1, x2=gx2 - 1, y2=gy2 - 1,
                         gt_x1=gx1, gt_y1=gy1, gt_x2=gx2, gt_y2=gy2))
    # second item in image 0 and a query row that the default splits=("train",) must skip
    rows.append(dict(rows[0], uid="u0b", item_id="item0b", category="shoes",
                     x1=50, y1=2, x2=62, y2=10, gt_x1=48, gt_y1=0, gt_x2=64, gt_y2=12))
    rows.append(dict(rows[1], uid="q1", split="query", domain="consumer"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    return root, make_dataset(root)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ultralytics_cfg")


# ----------------------------------------------------------------------------- export

def read_labels(path: Path) -> np.ndarray:
    txt = path.read_text()
    return np.array([[float(v) for v in line.split()] for line in txt.splitlines()]).reshape(-1, 5)


def test_export_labels_by_hand(data, tmp_path, config_dir):
    root, df = data
    data_yaml = detect.export_yolo_dataset(df, root, tmp_path / "yolo", val_fraction=0.25, seed=1,
                                           config_dir=config_dir)
    cfg = yaml.safe_load(data_yaml.read_text())
    assert cfg["path"] == str((tmp_path / "yolo").resolve())
    assert cfg["names"] == {0: "product"} and cfg["nc"] == 1
    index = pd.read_csv(tmp_path / "yolo" / "index.csv")
    assert len(index) == N_IMAGES  # the query row is not exported; image 0 appears once
    assert (index["split"] == "val").sum() == 3  # round(0.25 * 12)
    assert sorted(index["path"]) == sorted(df.loc[df["split"] == "train", "path"].unique())
    n_img = {s: len(list((tmp_path / "yolo" / "images" / s).iterdir())) for s in ("train", "val")}
    assert n_img == {"train": 9, "val": 3}

    row0 = index[index["path"] == "sub0/img00.png"].iloc[0]
    img = tmp_path / "yolo" / row0["image"]
    assert img.is_symlink() and img.resolve() == (root / "sub0/img00.png").resolve()
    labels = read_labels(tmp_path / "yolo" / row0["label"])
    # gt box (8, 16, 40, 48) in 64x64: cx = 24/64, cy = 32/64, w = h = 32/64 (not the given box)
    # gt box (48, 0, 64, 12): cx = 56/64, cy = 6/64, w = 16/64, h = 12/64
    np.testing.assert_allclose(labels, [[0, 0.375, 0.5, 0.5, 0.5],
                                        [0, 0.875, 0.09375, 0.25, 0.1875]], atol=1e-6)
    # every label of a single-box image encodes that image's gt box
    for _, r in index.iterrows():
        rows = df[(df["path"] == r["path"]) & (df["split"] == "train")]
        lab = read_labels(tmp_path / "yolo" / r["label"])
        assert len(lab) == len(rows)
        g = rows[["gt_x1", "gt_y1", "gt_x2", "gt_y2"]].to_numpy(float)
        expect = np.stack([(g[:, 0] + g[:, 2]) / 2, (g[:, 1] + g[:, 3]) / 2, g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]], 1)
        np.testing.assert_allclose(lab[:, 1:], expect / SIZE, atol=1e-6)
    # same seed -> same split; the folder is replaced, not appended to
    detect.export_yolo_dataset(df, root, tmp_path / "yolo", val_fraction=0.25, seed=1, config_dir=config_dir)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "yolo" / "index.csv"), index)


def test_export_given_boxes_categories_and_empty_label(data, tmp_path, config_dir):
    root, df = data
    df = df.drop(columns=["gt_x1", "gt_y1", "gt_x2", "gt_y2"])
    # image 2's only box lies wholly outside the 64x64 image -> dropped, empty label file
    df.loc[df["uid"] == "u2", ["x1", "x2"]] = [70.0, 90.0]
    data_yaml = detect.export_yolo_dataset(df, root, tmp_path / "yolo", class_mode="category", val_fraction=0,
                                           link="copy", config_dir=config_dir)
    cfg = yaml.safe_load(data_yaml.read_text())
    assert cfg["names"] == {0: "bags", 1: "shoes"}
    assert cfg["val"] == "images/train"  # val_fraction=0 validates on the training images
    index = pd.read_csv(tmp_path / "yolo" / "index.csv").set_index("path")
    lab0 = read_labels(tmp_path / "yolo" / index.loc["sub0/img00.png", "label"])
    # image 0: given box (9, 17, 39, 47) of a 'shoes' item (class 1) and (50, 2, 62, 10), also 'shoes'
    np.testing.assert_allclose(lab0, [[1, 24 / 64, 32 / 64, 30 / 64, 30 / 64],
                                      [1, 56 / 64, 6 / 64, 12 / 64, 8 / 64]], atol=1e-6)
    assert read_labels(tmp_path / "yolo" / index.loc["sub1/img01.png", "label"])[0, 0] == 0  # bags
    empty = tmp_path / "yolo" / index.loc["sub0/img02.png", "label"]
    assert empty.is_file() and empty.read_text() == ""
    assert index.loc["sub0/img02.png", "n_boxes"] == 0
    assert not (tmp_path / "yolo" / index.loc["sub0/img00.png", "image"]).is_symlink()  # link="copy"


def test_export_rejects_bad_input(data, tmp_path, config_dir):
    root, df = data
    with pytest.raises(ConfigError, match="class_mode"):
        detect.export_yolo_dataset(df, root, tmp_path / "a", class_mode="item", config_dir=config_dir)
    with pytest.raises(ConfigError, match="splits"):
        detect.export_yolo_dataset(df, root, tmp_path / "a", splits=("test",), config_dir=config_dir)
    bad = df.copy()
    bad.loc[3, "path"] = "sub1/missing.png"
    with pytest.raises(ContractError, match="uid='u3'.*missing.png"):
        detect.export_yolo_dataset(bad, root, tmp_path / "a", config_dir=config_dir)
    # a missing image outside the exported splits does not matter
    detect.export_yolo_dataset(bad.assign(split=np.where(bad.index == 3, "gallery", bad["split"])), root,
                               tmp_path / "b", config_dir=config_dir)
    wrong = df.assign(width=64, height=64)
    wrong.loc[5, "width"] = 100  # disagrees with the file
    with pytest.raises(ContractError, match="uid='u5'"):
        detect.export_yolo_dataset(wrong, root, tmp_path / "a", config_dir=config_dir)
    foreign = tmp_path / "not_an_export"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ContractError, match="refusing"):
        detect.export_yolo_dataset(df, root, foreign, config_dir=config_dir)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_unknown_architecture_is_a_config_error(tmp_path, config_dir):
    (tmp_path / "data.yaml").write_text("path: x\n")
    for arch in ("yolov99n.yaml", "resnet50", "missing_weights.pt"):
        with pytest.raises(ConfigError, match="yolov8n.yaml") as info:
            detect.train_detector(tmp_path / "data.yaml", arch, imgsz=64, epochs=1, seed=0, batch=4,
                                  out_dir=tmp_path / "run", config_dir=config_dir)
        assert arch in str(info.value)
    with pytest.raises(ConfigError, match="'classify'"):
        detect.train_detector(tmp_path / "data.yaml", "yolov8n-cls.yaml", imgsz=64, epochs=1, seed=0, batch=4,
                              out_dir=tmp_path / "run", config_dir=config_dir)
    with pytest.raises(ConfigError, match="amp"):
        detect.train_detector(tmp_path / "data.yaml", "yolov8n.yaml", imgsz=64, epochs=1, seed=0, batch=4,
                              out_dir=tmp_path / "run", extra={"amp": True}, config_dir=config_dir)


# ----------------------------------------------------------------------------- offline train + predict

GUARD = '''
import socket
ATTEMPTS = []

def _deny(name):
    def blocked(*args, **kwargs):
        ATTEMPTS.append(name + repr(args[1:] if name.startswith("socket.socket") else args)[:200])
        raise OSError("network disabled by test_detect: " + name)
    return blocked

for _attr in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, _attr, _deny("socket.socket." + _attr))
socket.create_connection = _deny("socket.create_connection")
socket.getaddrinfo = _deny("socket.getaddrinfo")
socket.gethostbyname = _deny("socket.gethostbyname")
'''

PIPELINE = '''
import json, sys, random
import numpy as np, torch
sys.path.insert(0, {test_dir!r})
from test_detect import make_dataset
from pathlib import Path
from fashionbench.detection import yolo as detect

work = Path({work!r})
df = make_dataset(work / "imgs")
torch.set_num_threads(3); random.seed(123); np.random.seed(123)
before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), random.random(), np.random.rand())
random.seed(123); np.random.seed(123)
data_yaml = detect.export_yolo_dataset(df, work / "imgs", work / "yolo", config_dir=work / "cfg")
weights = detect.train_detector(data_yaml, "yolov8n.yaml", imgsz=64, epochs=1, seed=0, batch=4,
                                out_dir=work / "run", config_dir=work / "cfg")
paths = [str(work / "imgs" / p) for p in df["path"].unique()]
pred = detect.predict_boxes(weights, paths, imgsz=64, batch=5, config_dir=work / "cfg", sha256=detect.weights_sha256(weights))
after = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), random.random(), np.random.rand())
pred.to_csv(work / "pred.csv", index=False)
offline_attempts = list(ATTEMPTS)

# positive control: the guard does see Ultralytics' download path when it is exercised
from ultralytics.utils.downloads import is_url
is_url("https://ultralytics.com/assets/Arial.ttf", check=True)
json.dump({{"weights": str(weights), "attempts": offline_attempts, "control": ATTEMPTS[len(offline_attempts):],
           "before": before, "after": after, "paths": paths}}, open(work / "result.json", "w"))
'''


def _unshare_prefix() -> list[str]:
    """['unshare', '-rn'] when an empty network namespace can be created here, else []."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    try:
        ok = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return [exe, "-rn"] if ok else []


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Export + 1-epoch yolov8n training + prediction in a fresh, network-guarded interpreter."""
    work = tmp_path_factory.mktemp("offline")
    script = work / "run_pipeline.py"
    script.write_text(GUARD + textwrap.dedent(PIPELINE.format(test_dir=str(Path(__file__).parent), work=str(work))))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    prefix = _unshare_prefix()
    proc = subprocess.run([*prefix, sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=240, cwd=work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads((work / "result.json").read_text())
    result.update(work=work, unshare=bool(prefix), log=proc.stdout + proc.stderr)
    return result


def test_train_and_predict_open_no_network_connection(trained):
    assert trained["attempts"] == [], trained["attempts"]
    # the guard is live: a deliberate URL check inside the same process was caught
    assert trained["control"], "socket guard did not record the positive-control connection"
    assert "Downloading" not in trained["log"]
    fonts = Path(trained["work"]) / "cfg" / "Ultralytics"
    assert (fonts / "Arial.ttf").is_file() and (fonts / "Arial.Unicode.ttf").is_file()
    settings = json.loads((fonts / "settings.json").read_text())
    assert settings["sync"] is False
    assert not any(settings.get(k) for k in ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb"))


def test_train_restores_global_state(trained):
    # threads, deterministic mode and the global RNG streams are as before training
    assert trained["after"] == trained["before"]


def test_training_writes_weights_and_labels_cache(trained):
    weights = Path(trained["weights"])
    assert weights.is_file() and weights.name in ("best.pt", "last.pt")
    assert weights.parent == Path(trained["work"]) / "run" / "weights"
    # Ultralytics' label cache lands inside the scratch export folder, nowhere else
    assert (Path(trained["work"]) / "yolo" / "labels" / "train.cache").is_file()


def test_prediction_schema(trained):
    pred = pd.read_csv(Path(trained["work"]) / "pred.csv")
    assert list(pred.columns) == list(detect.PREDICTION_COLUMNS)
    assert len(pred) > 0
    assert set(pred["path"]) <= set(trained["paths"])
    assert (pred["x2"] > pred["x1"]).all() and (pred["y2"] > pred["y1"]).all()
    assert pred[["x1", "y1"]].min().min() >= 0 and pred[["x2", "y2"]].max().max() <= SIZE
    assert ((pred["score"] >= 0.001) & (pred["score"] <= 1)).all()
    assert (pred["class"] == 0).all()
    # caller's order, descending score inside an image
    first = pred.groupby("path", sort=False).head(1)["path"].tolist()
    assert first == [p for p in trained["paths"] if p in set(first)]
    assert all((np.diff(g["score"].to_numpy()) <= 0).all() for _, g in pred.groupby("path", sort=False))


def test_predict_in_process_batching_and_best_box(trained, tmp_path, config_dir, monkeypatch):
    import socket

    calls = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: calls.append(a) or (_ for _ in ()).throw(OSError()))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError()))
    weights, paths = trained["weights"], trained["paths"][:6]
    # a larger, non-square copy of an image: boxes come back in ITS pixel frame
    big = tmp_path / "big.png"
    Image.open(paths[0]).resize((128, 96)).save(big)
    paths = paths + [str(big)]
    one = detect.predict_boxes(weights, paths, imgsz=64, batch=1, config_dir=config_dir, sha256=detect.weights_sha256(weights))
    many = detect.predict_boxes(weights, paths, imgsz=64, batch=4, config_dir=config_dir, sha256=detect.weights_sha256(weights))
    assert len(one) > 0 and list(one.dtypes.astype(str))[1:] == ["float64"] * 5 + ["int64"]
    pd.testing.assert_frame_equal(one[["path", "class"]], many[["path", "class"]])
    np.testing.assert_allclose(one[["x1", "y1", "x2", "y2", "score"]], many[["x1", "y1", "x2", "y2", "score"]],
                               atol=1e-3)
    b = one[one["path"] == str(big)]
    assert len(b) and b["x2"].max() <= 128 and b["y2"].max() <= 96
    assert calls == []

    none = detect.predict_boxes(weights, paths, imgsz=64, conf=0.999, config_dir=config_dir, sha256=detect.weights_sha256(weights))
    assert none.empty and list(none.columns) == list(detect.PREDICTION_COLUMNS)
    best = detect.best_box_per_image(none, paths)
    assert len(best) == len(paths) and not best["found"].any()
    assert best[["x1", "y1", "x2", "y2", "score"]].isna().all().all() and (best["class"] == -1).all()

    best = detect.best_box_per_image(one)
    assert best["path"].tolist() == list(dict.fromkeys(one["path"]))
    top = one.loc[one.groupby("path", sort=False)["score"].idxmax()].reset_index(drop=True)
    np.testing.assert_array_equal(best[["x1", "y1", "x2", "y2", "score"]].to_numpy(),
                                  top[["x1", "y1", "x2", "y2", "score"]].to_numpy())
    with pytest.raises(ContractError, match="not found"):
        detect.predict_boxes(tmp_path / "nope.pt", paths, imgsz=64, config_dir=config_dir, sha256="0")
    with pytest.raises(ContractError, match="missing.png"):
        detect.predict_boxes(weights, [str(tmp_path / "missing.png")], imgsz=64, config_dir=config_dir, sha256=detect.weights_sha256(weights))


def test_best_box_per_image_by_hand():
    pred = pd.DataFrame({"path": ["a", "b", "a", "a", "c"], "x1": [0, 1, 2, 3, 4.0], "y1": [0, 0, 0, 0, 0.0],
                         "x2": [5, 6, 7, 8, 9.0], "y2": [5, 5, 5, 5, 5.0], "score": [0.2, 0.5, 0.9, 0.9, 0.1],
                         "class": [0, 1, 2, 3, 4]})
    best = detect.best_box_per_image(pred, ["c", "missing", "a", "a"])
    assert best["path"].tolist() == ["c", "missing", "a", "a"]
    assert best["found"].tolist() == [True, False, True, True]
    assert best["x1"].tolist()[0] == 4 and np.isnan(best["x1"].iloc[1])
    assert best["x1"].iloc[2] == 2 and best["class"].iloc[2] == 2  # tie 0.9: the earlier row wins
    assert best["class"].tolist() == [4, -1, 2, 2]
    # without paths: images in order of first appearance (a before b although b's best comes first)
    assert detect.best_box_per_image(pred)["path"].tolist() == ["a", "b", "c"]
    with pytest.raises(ContractError, match="score"):
        detect.best_box_per_image(pred.drop(columns="score"))
