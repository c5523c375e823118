"""Bad settings in params.yaml: `fashionbench.cli check` (settings.check_file) names each key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from fashionbench.core import config, settings
from fashionbench.core.errors import ConfigError
from tests.bad_input import expect, known_gap

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def edited(tmp_path: Path, edit) -> Path:
    p = copy.deepcopy(BASE)
    edit(p)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


@pytest.mark.parametrize("edit, names", [
    (lambda p: p.update(bogus=1), ["bogus: unknown key"]),
    (lambda p: p.update(seed=1.5), ["seed: expected an integer >= 0"]),
    (lambda p: p["methods"]["baseline"].update(epochs="ten"), ["methods.baseline.epochs", "'ten'"]),
    (lambda p: p["methods"]["baseline"].update(lr=-1), ["methods.baseline.lr", "> 0"]),
    (lambda p: p["methods"]["baseline"].update(lrr=0.1), ["methods.baseline.lrr", "did you mean 'lr'"]),
    (lambda p: p["methods"]["baseline"].update(holdout=2), ["methods.baseline.holdout"]),
    (lambda p: p["methods"]["baseline"].update(loss={"loss": "nope"}), ["methods.baseline.loss"]),
    (lambda p: p["profiles"]["default"]["eval"].update(top_k=0), ["profiles.default.eval.top_k"]),
])
def test_a_bad_setting_is_named_by_its_key(tmp_path, edit, names):
    expect(lambda: settings.check_file(edited(tmp_path, edit)), ConfigError, *names)


def test_an_empty_or_missing_params_file_is_named(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    expect(lambda: settings.check_file(tmp_path / "empty.yaml"), ConfigError, "empty.yaml")
    expect(lambda: config.load_params(tmp_path / "missing.yaml"), ConfigError, "missing.yaml", "not found")
    (tmp_path / "broken.yaml").write_text("methods: [\n")
    expect(lambda: config.load_params(tmp_path / "broken.yaml"), ConfigError, "broken.yaml", "not valid YAML")


@known_gap("config.load_params on an empty file raises TypeError (config.py), not a ConfigError",
           raises=(TypeError,))
def test_load_params_names_an_empty_file(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    expect(lambda: config.load_params(tmp_path / "empty.yaml"), ConfigError, "empty.yaml")


@known_gap("the settings check names 'params.yaml' whatever file it read")
def test_the_settings_check_names_the_file_it_read(tmp_path):
    path = edited(tmp_path, lambda p: p.update(bogus=1)).rename(tmp_path / "mine.yaml")
    expect(lambda: settings.check_file(path), ConfigError, "mine.yaml")
