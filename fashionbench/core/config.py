"""Reading ``params.yaml``: the active profile, the dataset, and each method's resolved settings.

A method's effective settings are, merged in this order (later wins):
``profiles.<profile>.train`` (profile-wide defaults) -> ``methods.<name>`` (without its
``profiles`` block) -> ``methods.<name>.profiles.<profile>`` (the method's per-profile override).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from fashionbench.core.errors import ConfigError

PROFILES: tuple[str, ...] = ("tiny", "default", "paper")


def project_root() -> Path:
    """The project folder: ``$FASHIONBENCH_ROOT`` or the nearest parent holding params.yaml."""
    env = os.environ.get("FASHIONBENCH_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "params.yaml").is_file():
            return p
    return here


def load_params(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read params.yaml (default: the project's) and check its top-level shape."""
    p = Path(path) if path else project_root() / "params.yaml"
    try:
        # YAML merge keys (`<<: *shang`) make rows share parsed dicts: unshare them, so that code
        # changing one row's settings in place can never change another row's
        params = _unshared(yaml.safe_load(p.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: params file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc
    for key in ("seed", "profile", "profiles", "dataset", "methods"):
        if key not in params:
            raise ConfigError(f"{p}: missing top-level key '{key}'")
    profile_settings(params)  # validates the profile name early
    return params


def _unshared(value: Any) -> Any:
    """A copy of parsed YAML in which no dict or list appears twice (``copy.deepcopy`` keeps aliases)."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (dicts merge, other values replace)."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def profile_settings(params: Mapping[str, Any], profile: str | None = None) -> dict[str, Any]:
    """The settings block of ``profile`` (default: the active ``params['profile']``)."""
    name = profile or params["profile"]
    profiles = params.get("profiles", {})
    if name not in profiles:
        raise ConfigError(f"profile: unknown profile {name!r}; defined in params.yaml: {sorted(profiles)}")
    return dict(profiles[name])


def dataset_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The active dataset: ``dataset`` merged with the profile's ``dataset`` block."""
    return deep_merge(params["dataset"], profile_settings(params).get("dataset", {}))


def method_names(params: Mapping[str, Any]) -> list[str]:
    """Names of the methods defined in params.yaml, in file order."""
    return list(params["methods"])


def method_settings(params: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The fully resolved settings of ``method`` under the active profile."""
    methods = params["methods"]
    if method not in methods:
        raise ConfigError(f"method: unknown method {method!r}; defined in params.yaml: {sorted(methods)}")
    row = dict(methods[method])
    per_profile = row.pop("profiles", {}) or {}
    prof = params["profile"]
    unknown = sorted(set(per_profile) - set(params["profiles"]))
    if unknown:
        raise ConfigError(f"methods.{method}.profiles: unknown profile(s) {unknown}")
    base = profile_settings(params).get("train", {})
    return deep_merge(deep_merge(base, row), per_profile.get(prof, {}))


def method_group(params: Mapping[str, Any], method: str) -> str:
    """The ``group`` (family folder) of method row ``method``."""
    row = (params.get("methods") or {}).get(method)
    if row is None:
        raise ConfigError(f"method: unknown method {method!r}; defined in params.yaml: {sorted(params['methods'])}")
    if not row.get("group"):
        raise ConfigError(f"methods.{method}: missing 'group' (the family folder of its embedding file)")
    return str(row["group"])


def evaluated_names(params: Mapping[str, Any]) -> list[str]:
    """Every evaluated row, in report order: methods, fusions, reranks, then the crop comparison rows."""
    out: list[str] = []
    for section in ("methods", "fusions", "reranks"):
        out += list(params.get(section) or {})
    return out + crop_eval_names(params)


def crop_eval_names(params: Mapping[str, Any]) -> list[str]:
    """Rows of the crop comparison (``crop_eval``, detect stage): ``<model>-crop-<mode>`` per mode."""
    ce = params.get("crop_eval") or {}
    return [f"{ce.get('model')}-crop-{c}" for c in (ce.get("crops") or [])] if ce else []


def crop_settings(params: Mapping[str, Any], name: str) -> tuple[str, str]:
    """(query crop, gallery crop) of an evaluated row; fusions/reranks use their first input's.

    A crop comparison row ``<model>-crop-<mode>`` has query crop ``<mode>`` and gallery crop
    ``<mode>`` (``crop_eval.gallery_crop: same``) or the named one.
    """
    ce = params.get("crop_eval") or {}
    for mode in (ce.get("crops") or []) if ce else []:
        if name == f"{ce.get('model')}-crop-{mode}":
            gallery = ce.get("gallery_crop", "same")
            return mode, mode if gallery == "same" else gallery
    for section, key in (("fusions", "inputs"), ("reranks", "input")):
        row = (params.get(section) or {}).get(name)
        if row is not None:
            first = row.get(key)
            if first is None and isinstance(row.get("routes"), Mapping) and row["routes"]:
                first = next(iter(row["routes"].values()))  # a route fusion (shang): its first model
            first = first[0] if isinstance(first, list) else first
            return crop_settings(params, first)
    s = method_settings(params, name)
    crop = s.get("crop", "given")
    return s.get("query_crop", crop), s.get("gallery_crop", crop)


def row_crops(settings: Mapping[str, Any]) -> tuple[str, str, str]:
    """(train crop, query crop, gallery crop) of a method row (``crop``, ``query_crop``, ``gallery_crop``)."""
    crop = settings.get("crop", "given")
    return crop, settings.get("query_crop", crop), settings.get("gallery_crop", crop)
