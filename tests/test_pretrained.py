"""Strict, checksum-verified loading of local pretrained weights."""

import hashlib

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from fashionbench.core.errors import ChecksumError, ConfigError, ContractError
from fashionbench.models import build_model
from fashionbench.models.pretrained import load_pretrained, sha256_file


def tiny(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def save(tmp_path, state, name="w.pt"):
    path = tmp_path / name
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_correct_checksum_loads(tmp_path):
    src, dst = tiny(1), tiny(2)
    path, digest = save(tmp_path, src.state_dict())
    assert sha256_file(path) == digest
    assert not same(src, dst)
    assert load_pretrained(dst, path, digest.upper()) is dst  # hex case does not matter
    assert same(src, dst)


def test_wrong_checksum_is_refused_and_nothing_loaded(tmp_path):
    src, dst = tiny(1), tiny(2)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    path, digest = save(tmp_path, src.state_dict())
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(ChecksumError, match=digest):
        load_pretrained(dst, path, wrong)
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())
    with pytest.raises(ConfigError, match="64 hex"):
        load_pretrained(dst, path, "abc")


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = tiny(1).state_dict()
    del state["1.running_var"]
    state["2.weight"] = torch.zeros(1)
    path, digest = save(tmp_path, state)
    with pytest.raises(ContractError, match=r"missing keys \['1.running_var'\].*unexpected keys \['2.weight'\]"):
        load_pretrained(tiny(2), path, digest)


def test_shape_mismatch_is_named(tmp_path):
    state = tiny(1).state_dict()
    state["0.weight"] = torch.zeros(4, 3)
    path, digest = save(tmp_path, state)
    with pytest.raises(ContractError, match=r"0.weight: file \(4, 3\) vs model \(2, 3\)"):
        load_pretrained(tiny(2), path, digest)


def test_key_map_renames_and_drops(tmp_path):
    src = tiny(1)
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(5, 2)
    path, digest = save(tmp_path, {"state_dict": state})  # a wrapped training checkpoint
    dst = tiny(2)
    load_pretrained(dst, path, digest,
                    key_map=lambda k: None if k.startswith("module.fc.") else k.removeprefix("module."))
    assert same(src, dst)
    with pytest.raises(ContractError, match="unexpected keys"):
        load_pretrained(tiny(2), path, digest, key_map={"module.fc.weight": None})
    with pytest.raises(ContractError, match="onto '0.bias'"):
        load_pretrained(tiny(2), path, digest, key_map=lambda k: "0.bias")


def test_safetensors_and_missing_file(tmp_path):
    src, dst = tiny(1), tiny(2)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    load_pretrained(dst, path, sha256_file(path))
    assert same(src, dst)
    with pytest.raises(ContractError, match="not found"):
        load_pretrained(dst, tmp_path / "nope.pt", "0" * 64)


def test_model_spec_loads_a_torchvision_style_resnet_checkpoint(tmp_path):
    import torchvision
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)  # same key names as timm's resnet18 + fc.*
    path, digest = save(tmp_path, tv.state_dict())
    spec = {"arch": "triplet", "backbone": "resnet18",
            "pretrained": {"path": str(path), "sha256": digest, "key_map": {"fc.weight": None, "fc.bias": None}}}
    model = build_model(spec, 3, 2)
    assert torch.equal(model.backbone.conv1.weight, tv.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, tv.layer4[1].bn2.running_var)
    with pytest.raises(ContractError, match="fc.bias"):  # strict: the classifier must be dropped
        build_model({**spec, "pretrained": {"path": str(path), "sha256": digest}}, 3, 2)
    with pytest.raises(ConfigError, match="pretrained"):
        build_model({**spec, "pretrained": {"path": str(path)}}, 3, 2)
