"""Pretrained weights from a local file only: SHA-256 verified, loaded strictly.

Nothing here downloads. Weights come from a file the user supplies (or a file shipped inside an
installed Python package, passed by its path). ``load_pretrained`` refuses a file whose SHA-256
differs from the expected one (``ChecksumError``) and a state dict whose keys or shapes do not
match the model exactly (``ContractError`` naming the keys), so a wrong or partial checkpoint can
never be half-loaded without notice.

A torchvision/timm ImageNet ResNet checkpoint carries the classifier (``fc.weight``,
``fc.bias``) that a headless backbone lacks: drop it explicitly with
``key_map={"fc.weight": None, "fc.bias": None}``.
"""

from __future__ import annotations

import hashlib
import os
import re
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
