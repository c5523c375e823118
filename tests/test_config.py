"""params.yaml resolution: profiles, method merge order, and clear errors."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import ROOT
from fashionbench.core import config
from fashionbench.cli import set_profile
from fashionbench.core.errors import ConfigError


def _params() -> dict:
    return {"seed": 0, "profile": "tiny", "dataset": {"name": "fmnist-c2s", "root": None},
            "profiles": {"tiny": {"train": {"epochs": 1, "lr": 0.1}, "dataset": {"n_train_items": 5}},
                         "default": {"train": {"epochs": 9}}},
            "methods": {"m": {"lr": 0.01, "model": {"arch": "global", "backbone": "resnet18"},
                              "profiles": {"tiny": {"epochs": 3, "model": {"backbone": "resnet10t"}}}}}}


def test_merge_order():
    s = config.method_settings(_params(), "m")
    assert s["epochs"] == 3 and s["lr"] == 0.01
    assert s["model"] == {"arch": "global", "backbone": "resnet10t"}
    assert "profiles" not in s
    p = {**_params(), "profile": "default"}
    assert config.method_settings(p, "m")["epochs"] == 9
    assert config.dataset_settings(_params())["n_train_items"] == 5


def test_unknown_names():
    with pytest.raises(ConfigError, match="unknown method 'x'.*\\['m'\\]"):
        config.method_settings(_params(), "x")
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        config.profile_settings({**_params(), "profile": "huge"})


def test_project_params_file_is_valid():
    p = config.load_params(ROOT / "params.yaml")
    assert set(config.PROFILES) <= set(p["profiles"])
    for m in config.method_names(p):
        for prof in config.PROFILES:
            s = config.method_settings({**p, "profile": prof}, m)
            assert s["notebook"].startswith("notebooks/") and (ROOT / s["notebook"]).is_file()
            assert int(s["img_size"]) > 0 and int(s["epochs"]) > 0


def test_set_profile_keeps_comments(tmp_path):
    f = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", f)
    set_profile("tiny", f)
    text = f.read_text()
    assert yaml.safe_load(text)["profile"] == "tiny" and "# fashionbench parameters" in text
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        set_profile("fast", f)
    assert yaml.safe_load(f.read_text())["profile"] == "tiny"


def test_set_profile_repairs_a_file_whose_profile_is_invalid(tmp_path):
    """Issue 14: set-profile reads only `profiles:`, so it can fix a bad `profile:` line; a file with
    nothing to choose from is named in the error."""
    f = tmp_path / "params.yaml"
    f.write_text((ROOT / "params.yaml").read_text().replace("\nprofile: default", "\nprofile: bogus", 1))
    assert yaml.safe_load(f.read_text())["profile"] == "bogus"
    set_profile("default", f)
    assert yaml.safe_load(f.read_text())["profile"] == "default"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"empty.yaml: no 'profiles:' mapping"):
        set_profile("tiny", empty)
    with pytest.raises(ConfigError, match=r"missing.yaml: params file not found"):
        set_profile("tiny", tmp_path / "missing.yaml")


def test_missing_key(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    with pytest.raises(ConfigError, match="missing top-level key 'profile'"):
        config.load_params(tmp_path / "params.yaml")
