"""Offline Ultralytics YOLO: dataset export, training and batched box prediction.

The detector is the first step of ``shang`` (a YOLO box united with the given box, eq. 1) and
of ``ji`` (several detectors fused with WBF, see :mod:`fashionbench.detection.boxes`).

Nothing here may touch the network. :func:`setup_ultralytics` (called by every function
below before Ultralytics is imported) therefore

- sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=False``, ``HF_HUB_OFFLINE=1`` and
  ``YOLO_CONFIG_DIR`` (default ``<project>/.cache/ultralytics``) in ``os.environ``;
- copies matplotlib's DejaVuSans.ttf to ``$YOLO_CONFIG_DIR/Ultralytics/Arial.ttf`` and
  ``Arial.Unicode.ttf`` so that Ultralytics never downloads its fonts;
- turns every integration off in the Ultralytics settings (``sync``, ClearML, Comet, DVC,
  MLflow, Ray Tune, TensorBoard, W&B: the keys of the installed version) and forces its
  ``ONLINE`` flags to False (they are computed at import, so a process that imported
  Ultralytics before us would otherwise still run online checks);
- builds models from an architecture yaml (``yolov8n.yaml``, ``yolo11n.yaml``,
  ``yolo26n.yaml``...) or a local ``.pt`` file, never a download, and trains with
  ``pretrained=False, amp=False, workers=0, plots=False``.

Ultralytics sets process-wide state while it trains or predicts (torch deterministic mode,
the number of torch threads, the global RNG seeds); :func:`train_detector` and
:func:`predict_boxes` restore it afterwards so that they do not change other code's behaviour.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import yaml

from fashionbench.core.atomic import atomic_dir, atomic_path
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.manifest import (
    BOX_COLUMNS,
    GT_BOX_COLUMNS,
    SPLITS,
    validate_manifest,
)

__all__ = ["DEFAULT_CONFIG_DIR", "setup_ultralytics", "export_yolo_dataset", "train_detector",
           "predict_boxes", "best_box_per_image", "PREDICTION_COLUMNS"]

#: where Ultralytics keeps its settings.json and fonts unless the caller names another folder
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[1] / ".cache" / "ultralytics"
#: columns of :func:`predict_boxes`' DataFrame
PREDICTION_COLUMNS: tuple[str, ...] = ("path", "x1", "y1", "x2", "y2", "score", "class")

_OFFLINE_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1"}
# integrations that could log to a remote service; only the keys the installed version has are set
_INTEGRATION_KEYS = ("sync", "hub", "clearml", "comet", "dvc", "mlflow", "neptune", "raytune",
                     "tensorboard", "wandb", "vscode_msg", "openvino_msg")
# train() arguments fixed by this module; `extra` may not override them
_FORCED_TRAIN_ARGS = ("data", "epochs", "imgsz", "batch", "seed", "device", "project", "name",
                      "exist_ok", "pretrained", "amp", "workers", "plots", "deterministic", "resume")
_ARCH_HELP = ("valid names are an Ultralytics architecture yaml plus a scale letter n/s/m/l/x, e.g. "
              "'yolov8n.yaml', 'yolo11s.yaml', 'yolo26n.yaml' (list them with: "
              "python -c \"import ultralytics, pathlib; print(sorted(p.name for p in "
              "(pathlib.Path(ultralytics.__file__).parent / 'cfg/models').rglob('*.yaml')))\"), "
              "or the path of an existing local .pt file")


# ----------------------------------------------------------------------------- offline setup

def setup_ultralytics(config_dir: str | os.PathLike | None = None) -> ModuleType:
    """Configure Ultralytics to run fully offline and return the imported ``ultralytics`` module.

    Safe to call repeatedly. ``config_dir`` becomes ``YOLO_CONFIG_DIR`` (default
    :data:`DEFAULT_CONFIG_DIR`); it only takes effect if Ultralytics is not imported yet in this
    process, otherwise the folder chosen at that import is kept (and gets the fonts too).
    """
    config_dir = Path(config_dir) if config_dir is not None else DEFAULT_CONFIG_DIR
    os.environ.update(_OFFLINE_ENV)
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())
    _install_fonts(config_dir.resolve() / "Ultralytics")

    import ultralytics  # noqa: E402  (env vars above must be set first)
    from ultralytics import utils as uutils

    _install_fonts(Path(uutils.USER_CONFIG_DIR))  # the folder actually in use
    # ONLINE is computed at import and copied by `from ... import ONLINE`; force every copy off
    for name, module in list(sys.modules.items()):
        if name.startswith("ultralytics") and getattr(module, "ONLINE", None) is True:
            module.ONLINE = False
    with contextlib.suppress(ImportError, AttributeError):
        from ultralytics.utils.events import events

        events.enabled = False
    settings = uutils.SETTINGS
    wanted: dict[str, Any] = {k: False for k in _INTEGRATION_KEYS if k in settings}
    wanted.update({k: "" for k in ("api_key",) if k in settings})
    # keep Ultralytics' default folders under the config dir, not in the working tree
    base = Path(uutils.USER_CONFIG_DIR).parent
    wanted.update({k: str(base / sub) for k, sub in (("runs_dir", "runs"), ("weights_dir", "weights"),
                                                      ("datasets_dir", "datasets")) if k in settings})
    changed = {k: v for k, v in wanted.items() if settings.get(k) != v}
    if changed:  # settings.update rewrites settings.json: only when something differs
        settings.update(changed)
    return ultralytics


def _install_fonts(folder: Path) -> None:
    """Copy matplotlib's DejaVuSans.ttf as Arial.ttf / Arial.Unicode.ttf (Ultralytics would download them)."""
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        dst = folder / name
        if not dst.exists():
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)


@contextlib.contextmanager
def _preserve_global_state() -> Iterator[None]:
    """Restore what Ultralytics changes process-wide: RNGs, threads, deterministic mode, env."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    threads = torch.get_num_threads()
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_det = torch.backends.cudnn.deterministic
    fill = getattr(torch.utils.deterministic, "fill_uninitialized_memory", None)
    env = {k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")}
    # Ultralytics sets torch's CPU threads to cpu_count - 1 when it selects the CPU: half of a
    # 2-core machine. Use this process's setting (torch default: every core) instead.
    import ultralytics.utils.torch_utils as yolo_torch_utils
    yolo_threads = yolo_torch_utils.NUM_THREADS
    yolo_torch_utils.NUM_THREADS = threads
    try:
        yield
    finally:
        yolo_torch_utils.NUM_THREADS = yolo_threads
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_det
        if fill is not None:
            torch.utils.deterministic.fill_uninitialized_memory = fill
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _no_platform_key() -> Iterator[None]:
    """Hide ULTRALYTICS_API_KEY while training: with it the trainer would upload to Ultralytics' platform."""
    key = os.environ.pop("ULTRALYTICS_API_KEY", None)
    try:
        yield
    finally:
        if key is not None:
            os.environ["ULTRALYTICS_API_KEY"] = key


def _load_model(arch: str | os.PathLike, config_dir: str | os.PathLike | None) -> Any:
    """A detection YOLO model from an architecture yaml or a local .pt file (never downloaded)."""
    ul = setup_ultralytics(config_dir)
    arch_s = str(arch)
    if arch_s.endswith(".pt"):
        if not Path(arch_s).is_file():  # Ultralytics would try to download a missing .pt
            raise ConfigError(f"detector arch: weights file {arch_s!r} not found; {_ARCH_HELP}")
    elif not arch_s.endswith((".yaml", ".yml")):
        raise ConfigError(f"detector arch: {arch_s!r} is neither a .yaml architecture nor a .pt file; {_ARCH_HELP}")
    else:
        from ultralytics.nn.tasks import guess_model_task, yaml_model_load

        try:
            cfg = yaml_model_load(arch_s)
        except (FileNotFoundError, OSError) as exc:
            raise ConfigError(f"detector arch: unknown architecture {arch_s!r}; {_ARCH_HELP}") from exc
        task = guess_model_task(cfg)
        if task != "detect":
            raise ConfigError(f"detector arch: {arch_s!r} is a {task!r} model, a 'detect' model is needed; {_ARCH_HELP}")
    model = ul.YOLO(arch_s)
    if model.task != "detect":
        raise ConfigError(f"detector arch: {arch_s!r} is a {model.task!r} model, a 'detect' model is needed; {_ARCH_HELP}")
    return model


# ----------------------------------------------------------------------------- dataset export

def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as Ultralytics sees it (EXIF rotation applied)."""
    from PIL import Image
    from ultralytics.data.utils import exif_size

    with Image.open(path) as im:
        w, h = exif_size(im)
    return int(w), int(h)


def export_yolo_dataset(manifest: pd.DataFrame, root: str | os.PathLike, out_dir: str | os.PathLike, *,
                        class_mode: Literal["product", "category"] = "product",
                        splits: Sequence[str] = ("train",), val_fraction: float = 0.1, seed: int = 0,
                        link: Literal["symlink", "copy"] = "symlink",
                        config_dir: str | os.PathLike | None = None) -> Path:
    """Write a YOLO detection dataset for the manifest rows in ``splits``; return its ``data.yaml``.

    Layout of ``out_dir`` (a scratch folder owned by this function: it is rebuilt atomically,
    and it must be empty, missing or an earlier export)::

        data.yaml                 path (absolute out_dir), train/val folders, names
        index.csv                 split, image, label, manifest path, width, height, n_boxes
        images/{train,val}/NNNNNN_<file name>   symlinks to (or copies of) root/<path>
        labels/{train,val}/NNNNNN_<stem>.txt    one "class cx cy w h" line per box (normalised)

    Images are numbered in order of first appearance so that equal file names in different
    folders cannot collide. Boxes are ``gt_x1..gt_y2`` when the manifest has them, else the
    given ``x1..y2``; several rows with the same ``path`` become several lines of one label
    file. Boxes are clipped to the image; a box with no area inside the image is dropped, and
    an image left without boxes gets an EMPTY label file (Ultralytics trains on it as
    background). ``class_mode="product"``: one class ``product``; ``"category"``: one class per
    manifest ``category`` (sorted over the whole manifest, so ids do not depend on ``splits``).

    A deterministic (``seed``) ``val_fraction`` of the images (at least one, and at least one
    left for training) forms the validation set; ``val_fraction=0`` validates on the training
    images. Ultralytics later writes ``labels/*.cache`` inside ``out_dir``: keep ``out_dir``
    out of DVC outputs.
    """
    if class_mode not in ("product", "category"):
        raise ConfigError(f"export_yolo_dataset: class_mode must be 'product' or 'category', got {class_mode!r}")
    if isinstance(splits, str) or not splits or not set(splits) <= SPLITS:
        raise ConfigError(f"export_yolo_dataset: splits must be a non-empty list of {sorted(SPLITS)}, got {splits!r}")
    if not (0.0 <= float(val_fraction) < 1.0):
        raise ConfigError(f"export_yolo_dataset: val_fraction must be in [0, 1), got {val_fraction}")
    if link not in ("symlink", "copy"):
        raise ConfigError(f"export_yolo_dataset: link must be 'symlink' or 'copy', got {link!r}")
    setup_ultralytics(config_dir)
    from ultralytics.data.utils import IMG_FORMATS

    root = Path(root).resolve()
    out_dir = Path(out_dir).resolve()
    source = "export_yolo_dataset: manifest"
    df = validate_manifest(manifest, source, root=root)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "data.yaml").is_file():
        raise ContractError(f"export_yolo_dataset: {out_dir} is not empty and holds no earlier export "
                            "(data.yaml); refusing to replace it")
    names = ["product"] if class_mode == "product" else sorted(df["category"].unique())
    cols = list(GT_BOX_COLUMNS) if all(c in df.columns for c in GT_BOX_COLUMNS) else list(BOX_COLUMNS)
    sel = df[df["split"].isin(list(splits))]
    if sel.empty:
        raise ContractError(f"{source}: no rows in splits {list(splits)}")
    bad_ext = ~sel["path"].map(lambda p: Path(p).suffix.lower().lstrip(".") in IMG_FORMATS).to_numpy()
    if bad_ext.any():
        raise ContractError(f"{source}: {int(bad_ext.sum())} row(s) with an image type YOLO cannot read; first "
                            f"uid={sel['uid'].iloc[int(np.flatnonzero(bad_ext)[0])]!r} path="
                            f"{sel['path'].iloc[int(np.flatnonzero(bad_ext)[0])]!r}")

    # only the exported rows need their image (query/gallery files may live elsewhere)
    exists = np.array([(root / p).is_file() for p in sel["path"]])
    if not exists.all():
        first = int(np.flatnonzero(~exists)[0])
        raise ContractError(f"{source}: {int((~exists).sum())} exported row(s) point to a missing image; first "
                            f"uid={sel['uid'].iloc[first]!r}: {root / sel['path'].iloc[first]}")
    paths = list(dict.fromkeys(sel["path"]))  # unique, first-appearance order
    sizes = {p: _image_size(root / p) for p in paths}
    if "width" in sel.columns and "height" in sel.columns:
        for uid, p, w, h in zip(sel["uid"], sel["path"], sel["width"], sel["height"]):
            if (pd.notna(w) and int(round(float(w))) != sizes[p][0]) or (pd.notna(h) and int(round(float(h))) != sizes[p][1]):
                raise ContractError(f"{source}: row uid={uid!r}: width/height {w}x{h} differ from the image "
                                    f"{root / p} ({sizes[p][0]}x{sizes[p][1]})")

    n = len(paths)
    is_val = np.zeros(n, dtype=bool)
    if val_fraction > 0:
        if n < 2:
            raise ContractError(f"{source}: {n} image(s) in {list(splits)}: need >= 2 to hold out a "
                                "validation image (or set val_fraction=0)")
        n_val = int(min(max(round(val_fraction * n), 1), n - 1))
        is_val[np.random.default_rng(seed).permutation(n)[:n_val]] = True

    class_of = {c: i for i, c in enumerate(names)}
    labels: dict[str, list[str]] = {p: [] for p in paths}
    boxes = sel[cols].to_numpy(dtype=np.float64)
    for p, cat, (x1, y1, x2, y2) in zip(sel["path"], sel["category"], boxes):
        w, h = sizes[p]
        x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
        y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
        if x2 <= x1 or y2 <= y1:
            continue  # wholly outside the image
        cls = 0 if class_mode == "product" else class_of[cat]
        labels[p].append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                         f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")

    index_rows = []
    with atomic_dir(out_dir) as tmp:
        for i, p in enumerate(paths):
            split = "val" if is_val[i] else "train"
            name = f"{i:06d}_{Path(p).name}"
            img = tmp / "images" / split / name
            lbl = tmp / "labels" / split / f"{Path(name).stem}.txt"
            img.parent.mkdir(parents=True, exist_ok=True)
            lbl.parent.mkdir(parents=True, exist_ok=True)
            src = root / p
            if link == "symlink":
                try:
                    os.symlink(src, img)
                except OSError:  # e.g. no symlink permission: copy instead
                    shutil.copy2(src, img)
            else:
                shutil.copy2(src, img)
            lbl.write_text("".join(line + "\n" for line in labels[p]), encoding="utf-8")
            index_rows.append({"split": split, "image": str(img.relative_to(tmp)), "label": str(lbl.relative_to(tmp)),
                               "path": p, "width": sizes[p][0], "height": sizes[p][1], "n_boxes": len(labels[p])})
        (tmp / "images" / "val").mkdir(parents=True, exist_ok=True)
        data = {"path": str(out_dir), "train": "images/train",
                "val": "images/val" if is_val.any() else "images/train",
                "nc": len(names), "names": {i: str(c) for i, c in enumerate(names)}}
        (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        pd.DataFrame(index_rows).to_csv(tmp / "index.csv", index=False)
    return out_dir / "data.yaml"


# ----------------------------------------------------------------------------- training

def train_detector(data_yaml: str | os.PathLike, arch: str, *, imgsz: int, epochs: int, seed: int, batch: int,
                   device: str = "cpu", out_dir: str | os.PathLike,
                   extra: Mapping[str, Any] | None = None, verbose: bool = False,
                   config_dir: str | os.PathLike | None = None) -> Path:
    """Train a YOLO detector from scratch, offline; return the path of ``best.pt`` (else ``last.pt``).

    ``arch`` is an architecture yaml such as ``yolov8n.yaml`` / ``yolo11n.yaml`` / ``yolo26n.yaml``
    (random init: ``pretrained=False``) or an existing local ``.pt`` to fine-tune; an unknown
    name raises :class:`ConfigError` saying how to list valid ones. Ultralytics writes its run
    into ``out_dir`` (weights under ``out_dir/weights``). ``deterministic=True`` and ``seed`` make
    CPU runs repeatable as far as Ultralytics allows (GPU kernels may still vary). ``extra``
    passes further Ultralytics train arguments (e.g. ``lr0``, ``mosaic``), except the ones this
    function fixes (``pretrained``, ``amp``, ``workers``, ``plots``...).
    """
    for name, v, lo in (("imgsz", imgsz, 32), ("epochs", epochs, 1), ("batch", batch, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ConfigError(f"train_detector: {name} must be an integer >= {lo}, got {v!r}")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_FORCED_TRAIN_ARGS))
    if clash:
        raise ConfigError(f"train_detector: extra may not set {clash}; they are fixed by fashionbench.detect")
    data_yaml = Path(data_yaml).resolve()
    if not data_yaml.is_file():
        raise ContractError(f"train_detector: data yaml {data_yaml} not found (see export_yolo_dataset)")
    out_dir = Path(out_dir).resolve()
    with _preserve_global_state(), _no_platform_key():
        model = _load_model(arch, config_dir)
        model.train(data=str(data_yaml), epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), seed=int(seed),
                    deterministic=True, device=device, project=str(out_dir.parent), name=out_dir.name,
                    exist_ok=True, pretrained=False, amp=False, workers=0, plots=False, verbose=verbose,
                    **extra)
        save_dir = Path(model.trainer.save_dir)
    for name in ("best.pt", "last.pt"):
        if (save_dir / "weights" / name).is_file():
            return save_dir / "weights" / name
    raise ContractError(f"train_detector: Ultralytics wrote no weights under {save_dir / 'weights'}")


# ----------------------------------------------------------------------------- prediction

def weights_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a weights file (recorded when written, checked before loading)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def predict_boxes(weights: str | os.PathLike, image_paths: Sequence[str | os.PathLike], *, imgsz: int,
                  batch: int = 32, conf: float = 0.001, iou: float = 0.7, max_det: int = 100,
                  device: str = "cpu", config_dir: str | os.PathLike | None = None,
                  sha256: str) -> pd.DataFrame:
    """Detect boxes on ``image_paths`` in batches of ``batch`` images; one row per box.

    ``sha256``: the weights file's SHA-256, recorded when it was written (:func:`weights_sha256`).
    Ultralytics unpickles a ``.pt`` file, which can run code, so the file is checked against it
    before Ultralytics sees it; a mismatch raises :class:`ContractError` naming the file.

    Returns a DataFrame with :data:`PREDICTION_COLUMNS`: ``path`` (the caller's string),
    ``x1, y1, x2, y2`` (float64 pixels of the original image), ``score`` (float64) and
    ``class`` (int64), ordered as ``image_paths`` and by descending score within an image.
    An image on which the detector finds nothing (above ``conf``) has NO row: use
    :func:`best_box_per_image` with ``paths=`` to get one row per image with a ``found`` flag.
    ``conf=0.001`` keeps low-scored boxes as needed for AP; raise it for cropping. Images are
    read with Ultralytics' own reader (as in training); an unreadable or missing file raises
    :class:`ContractError`.
    """
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"predict_boxes: batch must be an integer >= 1, got {batch!r}")
    if not isinstance(imgsz, (int, np.integer)) or imgsz < 32:
        raise ConfigError(f"predict_boxes: imgsz must be an integer >= 32, got {imgsz!r}")
    weights = Path(weights)
    if weights.suffix != ".pt" or not weights.is_file():
        raise ContractError(f"predict_boxes: weights {weights} not found (a local .pt file is required)")
    actual = weights_sha256(weights)
    if not isinstance(sha256, str) or actual != sha256.lower():
        raise ContractError(f"{weights}: SHA-256 {actual} is not the one recorded when the detector was trained "
                            f"({sha256!r}); refusing to unpickle it (a .pt file can run code)")
    if isinstance(image_paths, (str, os.PathLike)):
        raise ContractError("predict_boxes: image_paths must be a list of paths, not a single path")
    paths = [str(p) for p in image_paths]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ContractError(f"predict_boxes: {len(missing)} image(s) not found; first: {missing[0]}")
    rows: list[tuple] = []
    with _preserve_global_state(), _no_platform_key():
        model = _load_model(weights, config_dir)
        from ultralytics.utils.patches import imread

        for start in range(0, len(paths), int(batch)):
            chunk = paths[start:start + int(batch)]
            images = [imread(p) for p in chunk]
            for p, im in zip(chunk, images):
                if im is None:
                    raise ContractError(f"predict_boxes: cannot read image {p}")
            # a list of arrays is one batch for Ultralytics: a single forward pass per chunk
            results = model.predict(images, imgsz=int(imgsz), conf=float(conf), iou=float(iou),
                                    max_det=int(max_det), device=device, verbose=False, save=False)
            for p, r in zip(chunk, results):
                b = r.boxes
                xyxy = b.xyxy.cpu().numpy().astype(np.float64)
                scores = b.conf.cpu().numpy().astype(np.float64)
                cls = b.cls.cpu().numpy().astype(np.int64)
                for k in np.argsort(-scores, kind="stable"):
                    rows.append((p, *xyxy[k], scores[k], cls[k]))
    out = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
    return out.astype({"path": str, "x1": np.float64, "y1": np.float64, "x2": np.float64, "y2": np.float64,
                       "score": np.float64, "class": np.int64})


def best_box_per_image(pred: pd.DataFrame, paths: Sequence[str | os.PathLike] | None = None) -> pd.DataFrame:
    """The highest-scored box of each image in a :func:`predict_boxes` DataFrame.

    Returns columns ``path, x1, y1, x2, y2, score, class, found``. With ``paths=None`` one row
    per image that has a box, in order of first appearance; with ``paths`` one row per entry
    of ``paths`` (in that order, repeats allowed, e.g. a manifest's ``path`` column), where an
    image without any box gets ``found=False``, NaN coordinates and score, and ``class=-1``.
    Equal scores: the earlier row wins.
    """
    missing_cols = [c for c in PREDICTION_COLUMNS if c not in pred.columns]
    if missing_cols:
        raise ContractError(f"best_box_per_image: prediction frame lacks column(s) {missing_cols}")
    pred = pred.reset_index(drop=True)
    score = pd.to_numeric(pred["score"], errors="coerce")
    if score.isna().any():
        raise ContractError(f"best_box_per_image: NaN/non-numeric score in row {int(np.flatnonzero(score.isna())[0])}")
    # stable sort by descending score, then the first row per path is its best box
    order = np.argsort(-score.to_numpy(dtype=np.float64), kind="stable")
    ranked = pred.iloc[order]
    best = ranked[~ranked["path"].astype(str).duplicated(keep="first")]
    best = best.assign(path=best["path"].astype(str), found=True)
    if paths is None:
        paths = pd.unique(pred["path"].astype(str))  # first-appearance order
    keys = pd.DataFrame({"path": [str(p) for p in paths]})
    out = keys.merge(best[list(PREDICTION_COLUMNS) + ["found"]], on="path", how="left", sort=False)
    out["found"] = out["found"].fillna(False).astype(bool)
    out["class"] = out["class"].fillna(-1).astype(np.int64)
    for c in ("x1", "y1", "x2", "y2", "score"):
        out[c] = out[c].astype(np.float64)
    return out
