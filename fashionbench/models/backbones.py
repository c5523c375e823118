"""timm backbones that return the last feature map, with the keys every model spec shares.

Shared model-spec keys (read by ``backbone_from_spec``):

- ``backbone`` (required): a timm model name, e.g. ``resnet18``, ``resnet50``, ``densenet121``.
  Always built with random weights (``pretrained=False``): nothing is downloaded.
- ``in_chans`` (default 3): input channels.
- ``output_stride`` (default 32; 16 or 8 keep a larger final map by dilating the last stages, as
  PCB's "last stride 1" does): for a ResNet a 64 px input gives a 2x2 map at stride 32 and a 4x4
  map at stride 16.
- ``pretrained`` (optional): ``imagenet`` -> the ImageNet weights shipped in an installed package
  (``fashionbench.models.pretrained.IMAGENET_WEIGHTS``: ``efficientnet_lite0``); or
  ``{path, sha256, key_map}`` -> ``fashionbench.models.pretrained.load_pretrained`` into the
  backbone (strict keys, SHA-256 verified). ``key_map`` maps checkpoint keys to backbone keys,
  ``null`` drops a key (e.g. ``fc.weight: null``). Absent: random init.
"""

from __future__ import annotations

from typing import Any, Mapping

import timm
from torch import nn

from fashionbench.core.errors import ConfigError
from fashionbench.models.pretrained import load_imagenet, load_pretrained
from fashionbench.models.spec import integer

#: model-spec keys handled here, shared by every architecture
BACKBONE_KEYS: tuple[str, ...] = ("arch", "backbone", "in_chans", "output_stride", "pretrained")


def create_backbone(name: str, in_chans: int = 3, output_stride: int = 32,
                    global_pool: str = "") -> nn.Module:
    """A headless timm model (``num_classes=0``); with ``global_pool=''`` it returns the map."""
    if not isinstance(name, str) or not timm.is_model(name):
        raise ConfigError(f"model.backbone: unknown timm model {name!r} (e.g. 'resnet18', 'resnet50')")
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"model.output_stride: must be 8, 16 or 32, got {output_stride!r}")
    kwargs: dict[str, Any] = {}
    if output_stride != 32:
        kwargs["output_stride"] = output_stride
    try:
        return timm.create_model(name, pretrained=False, num_classes=0, global_pool=global_pool,
                                 in_chans=in_chans, **kwargs)
    except TypeError as exc:  # a timm family that does not take output_stride
        raise ConfigError(f"model.output_stride: backbone {name!r} does not support "
                          f"output_stride={output_stride} ({exc})") from exc


def apply_pretrained(backbone: nn.Module, pre: Any, name: str | None = None) -> None:
    """Load the ``pretrained`` spec entry (``imagenet`` or ``{path, sha256[, key_map]}``) into
    ``backbone``, the timm model ``name``."""
    if not pre:
        return
    if pre == "imagenet":
        load_imagenet(backbone, str(name))
        return
    if not isinstance(pre, Mapping) or not {"path", "sha256"} <= set(pre) or \
            set(pre) - {"path", "sha256", "key_map"}:
        raise ConfigError(f"model.pretrained: expected {{path, sha256[, key_map]}}, got {pre!r}")
    load_pretrained(backbone, pre["path"], pre["sha256"], key_map=pre.get("key_map"))


def backbone_from_spec(spec: Mapping[str, Any], global_pool: str = "") -> nn.Module:
    """Build (and optionally load pretrained weights into) the backbone a model spec names."""
    if "backbone" not in spec:
        raise ConfigError("model.backbone: required (a timm model name such as 'resnet18')")
    backbone = create_backbone(spec["backbone"], integer(spec, "in_chans", 3, "model", low=1),
                               integer(spec, "output_stride", 32, "model", low=1), global_pool)
    apply_pretrained(backbone, spec.get("pretrained"), spec["backbone"])
    return backbone
