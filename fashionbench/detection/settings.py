"""The ``detect:`` block of params.yaml: defaults, detector rows, checks."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from fashionbench.core import config
from fashionbench.core.errors import ConfigError

#: stage-wide settings of the ``detect:`` block of params.yaml (a ``profiles:`` sub-block overrides them)
DETECT_DEFAULTS: dict[str, Any] = {
    "primary": None,          # detector whose best box is `detected` (and enters `union`); None = first row
    "crop_conf": 0.25,        # a best box scored below this is "nothing found" for cropping
    "conf": 0.001,            # prediction score threshold (low: AP needs the whole precision-recall curve)
    "iou": 0.7,               # NMS IoU of the predictions
    "max_det": 100,           # boxes kept per image (COCO's maxDets)
    "predict_batch": 64,      # images per forward pass when predicting
    "val_fraction": 0.1,      # share of the exported train images Ultralytics validates on
    "device": "auto",         # auto = GPU 0 when torch sees one, else cpu; or "cpu", 0, "0"...
    "n_boot": None,           # bootstrap replicates of the AP50 gains; None = profiles.<p>.eval.n_boot
    "wbf": {"iou_thr": 0.55, "skip_box_thr": 0.0, "conf_type": "avg"},
}


#: settings of one ``detectors:`` row (``arch``, ``imgsz`` and ``epochs`` are required)
DETECTOR_DEFAULTS: dict[str, Any] = {
    "batch": 32, "seed": None, "class_mode": "product", "max_train_images": None, "extra": None,
    "description": "",
}


_DETECTOR_REQUIRED = ("arch", "imgsz", "epochs")


_CROP_MODES = ("given", "gt", "full", "detected", "union", "fused")


#: what a crop mode puts around a QUERY (consumer photo): the report labels oracle boxes
CROP_QUERY_BOX: dict[str, str] = {
    "gt": "ORACLE: the ground-truth box",
    "given": "ORACLE: the dataset's given box (a real consumer photo has none)",
    "full": "the whole photo (no box)",
    "detected": "detector only (primary detector's best box; whole photo when it finds nothing)",
    "union": "detector box united with the given box (shang eq. 1): uses the dataset box, partly oracle",
    "fused": "WBF of all detectors (falls back to the given box when they find nothing: partly oracle)",
}


def _check_keys(block: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _profile_override(block: Mapping[str, Any], params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``block`` without its ``profiles`` sub-block, merged with the active profile's entry."""
    row = dict(block)
    per_profile = row.pop("profiles", None) or {}
    if not isinstance(per_profile, Mapping):
        raise ConfigError(f"{where}.profiles: must be a mapping of profile name -> overrides")
    unknown = sorted(set(per_profile) - set(params.get("profiles", {})))
    if unknown:
        raise ConfigError(f"{where}.profiles: unknown profile(s) {unknown}")
    return config.deep_merge(row, per_profile.get(params["profile"]) or {})


def detect_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved ``detect:`` block: :data:`DETECT_DEFAULTS` <- ``detect`` <- ``detect.profiles.<profile>``."""
    block = params.get("detect") or {}
    if not isinstance(block, Mapping):
        raise ConfigError("detect: must be a mapping (see DETECT_DEFAULTS in fashionbench/detection_stage.py)")
    merged = config.deep_merge(DETECT_DEFAULTS, _profile_override(block, params, "detect"))
    _check_keys(merged, set(DETECT_DEFAULTS), "detect")
    _check_keys(merged["wbf"], set(DETECT_DEFAULTS["wbf"]), "detect.wbf")
    for key, lo, hi in (("crop_conf", 0.0, 1.0), ("conf", 0.0, 1.0), ("iou", 0.0, 1.0), ("val_fraction", 0.0, 0.99)):
        v = merged[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo <= float(v) <= hi):
            raise ConfigError(f"detect.{key}: must be a number in [{lo}, {hi}], got {v!r}")
    for key in ("max_det", "predict_batch"):
        v = merged[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"detect.{key}: must be an integer >= 1, got {v!r}")
    if merged["n_boot"] is None:
        merged["n_boot"] = int(config.profile_settings(params).get("eval", {}).get("n_boot", 1000))
    if isinstance(merged["n_boot"], bool) or not isinstance(merged["n_boot"], int) or merged["n_boot"] < 1:
        raise ConfigError(f"detect.n_boot: must be an integer >= 1 (or null), got {merged['n_boot']!r}")
    return merged


def detector_names(params: Mapping[str, Any]) -> list[str]:
    """Names of the ``detectors:`` rows, in file order (the WBF order)."""
    rows = params.get("detectors") or {}
    if not isinstance(rows, Mapping) or not rows:
        raise ConfigError("detectors: params.yaml needs at least one detector row (e.g. yolov8n: {arch: yolov8n.yaml, "
                          "imgsz: 64, epochs: 8})")
    return [str(n) for n in rows]


def detector_settings(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The resolved settings of detector row ``name`` under the active profile (validated)."""
    rows = params.get("detectors") or {}
    if name not in rows:
        raise ConfigError(f"detector: unknown detector {name!r}; defined in params.yaml: {sorted(rows)}")
    where = f"detectors.{name}"
    if not isinstance(rows[name], Mapping):
        raise ConfigError(f"{where}: must be a mapping with at least {list(_DETECTOR_REQUIRED)}")
    row = config.deep_merge(DETECTOR_DEFAULTS, _profile_override(rows[name], params, where))
    _check_keys(row, set(DETECTOR_DEFAULTS) | set(_DETECTOR_REQUIRED) | {"device"}, where)
    missing = [k for k in _DETECTOR_REQUIRED if row.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing {missing}")
    for key, lo in (("imgsz", 32), ("epochs", 1), ("batch", 1)):
        v = row[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{where}.{key}: must be an integer >= {lo}, got {v!r}")
    if row["class_mode"] not in ("product", "category"):
        raise ConfigError(f"{where}.class_mode: must be 'product' or 'category', got {row['class_mode']!r}")
    mti = row["max_train_images"]
    if mti is not None and (isinstance(mti, bool) or not isinstance(mti, int) or mti < 2):
        raise ConfigError(f"{where}.max_train_images: must be an integer >= 2 or null (all), got {mti!r}")
    if row["extra"] is not None and not isinstance(row["extra"], Mapping):
        raise ConfigError(f"{where}.extra: must be a mapping of Ultralytics train arguments")
    row["seed"] = int(params["seed"]) if row["seed"] is None else int(row["seed"])
    row["arch"] = str(row["arch"])
    return row


def check_detectors(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Resolve and validate every detector row, architecture included, before anything is trained.

    An unknown architecture raises :class:`ConfigError` naming the row (``detectors.<name>.arch``)
    and how to list the valid names.
    """
    from fashionbench.detection import yolo as detect

    names = detector_names(params)
    rows = {n: detector_settings(params, n) for n in names}
    primary = detect_settings(params)["primary"]
    if primary is not None and primary not in rows:
        raise ConfigError(f"detect.primary: {primary!r} is not a detector row; rows: {names}")
    for n, r in rows.items():
        try:
            detect._load_model(r["arch"], None)
        except ConfigError as exc:
            raise ConfigError(f"detectors.{n}.arch: {exc}") from exc
    return rows


def ultralytics_device(device: Any) -> str:
    """``auto`` -> ``"0"`` when torch sees a CUDA GPU, else ``"cpu"``; anything else as a string."""
    if device is None or str(device) == "auto":
        import torch

        return "0" if torch.cuda.is_available() else "cpu"
    return str(device)


def crop_eval_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``crop_eval:`` block: ``model`` (a methods row), ``crops`` (modes), ``gallery_crop``."""
    ce = params.get("crop_eval")
    if not isinstance(ce, Mapping):
        raise ConfigError("crop_eval: params.yaml needs {model: baseline, crops: [given, detected, union, fused], "
                          "gallery_crop: same}")
    _check_keys(ce, {"model", "crops", "gallery_crop"}, "crop_eval")
    model = ce.get("model")
    if model not in (params.get("methods") or {}):
        raise ConfigError(f"crop_eval.model: {model!r} is not a methods row; rows: {sorted(params.get('methods') or {})}")
    crops = ce.get("crops")
    if isinstance(crops, str) or not isinstance(crops, Sequence) or not crops:
        raise ConfigError(f"crop_eval.crops: must be a non-empty list of crop modes {list(_CROP_MODES)}, got {crops!r}")
    bad = [c for c in crops if c not in _CROP_MODES]
    if bad or len(set(crops)) != len(crops):
        raise ConfigError(f"crop_eval.crops: unknown or repeated crop mode(s) {bad or list(crops)}; "
                          f"modes: {list(_CROP_MODES)}")
    gallery = ce.get("gallery_crop", "same")
    if gallery != "same" and gallery not in _CROP_MODES:
        raise ConfigError(f"crop_eval.gallery_crop: must be 'same' or a crop mode {list(_CROP_MODES)}, got {gallery!r}")
    return {"model": str(model), "crops": [str(c) for c in crops], "gallery_crop": str(gallery)}


def crop_eval_name(params: Mapping[str, Any], crop: str) -> str:
    """Evaluated-row name of crop mode ``crop``: ``<model>-crop-<crop>``."""
    return f"{crop_eval_settings(params)['model']}-crop-{crop}"
