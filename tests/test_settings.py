"""The params.yaml schema (fashionbench.core.settings): the real file passes, bad values name their key."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from fashionbench.cli import main
from fashionbench.core import config, settings
from fashionbench.core.errors import ConfigError

PARAMS = config.load_params(ROOT / "params.yaml")


def _bad(edit) -> dict:
    p = copy.deepcopy(PARAMS)
    edit(p)
    return p


def test_real_params_valid_under_every_profile():
    settings.check_params(PARAMS)
    assert settings.problems(PARAMS) == []
    for prof in config.PROFILES:  # also with each profile active, and every row resolves to a full schema row
        p = {**PARAMS, "profile": prof}
        settings.check_params(p)
        for m in p["methods"]:
            s = settings.MethodSettings.model_validate(config.method_settings(p, m))
            assert s.img_size >= 8 and s.epochs >= 1


def test_check_file_on_real_file():
    assert settings.check_file(ROOT / "params.yaml")["methods"].keys() == PARAMS["methods"].keys()


CASES = [
    ("typo key", lambda p: p["methods"]["baseline"].update(epoch=3),
     "methods.baseline.epoch: unknown key (did you mean 'epochs'?)"),
    ("epochs 0", lambda p: p["methods"]["baseline"].update(epochs=0),
     "methods.baseline.epochs: expected an integer >= 1, got 0"),
    ("epochs -1", lambda p: p["methods"]["baseline"].update(epochs=-1), "methods.baseline.epochs:"),
    ("lr fast", lambda p: p["methods"]["zhan-imagenet-m2"].update(lr="fast"), "methods.zhan-imagenet-m2.lr:"),
    ("lr -1", lambda p: p["methods"]["baseline"].update(lr=-1), "methods.baseline.lr: expected a number > 0"),
    ("optimizer", lambda p: p["methods"]["baseline"].update(optimizer="rmsprop"), "methods.baseline.optimizer:"),
    ("crop mode", lambda p: p["methods"]["baseline"].update(crop="box"), "methods.baseline.crop:"),
    ("profile name", lambda p: p.update(profile="huge"), "profile: unknown profile 'huge'"),
    ("fusion input", lambda p: p["fusions"]["ji-concat"].update(inputs=["ji-single-gem-mac", "nope"]),
     "fusions.ji-concat.inputs: 'nope' is not a methods row"),
    ("top-level key", lambda p: p.update(sead=1), "sead: unknown key (did you mean 'seed'?)"),
    ("detect type", lambda p: p["detect"].update(max_det="many"), "detect.max_det: expected an integer >= 1"),
    ("row profile block", lambda p: p["methods"]["shang-clothes-512"]["profiles"]["tiny"].update(epochs=0),
     "methods.shang-clothes-512.profiles.tiny.epochs:"),
    ("profile train block", lambda p: p["profiles"]["paper"]["train"].update(batch_size=0),
     "profiles.paper.train.batch_size:"),
    ("model key", lambda p: p["methods"]["chen-all"]["model"].update(reduce_dims=8),
     "methods.chen-all.model.reduce_dims: unknown key (did you mean 'reduce_dim'?)"),
    ("loss range", lambda p: p["methods"]["park-oc"]["loss"].update(margin=-0.3), "methods.park-oc.loss.margin:"),
    ("rerank step", lambda p: p["reranks"]["ji-qe"]["steps"][0].update(topk=3), "reranks.ji-qe.steps[0].topk:"),
    ("rerank input", lambda p: p["reranks"]["ji-qe"].update(input="ji-concatt"), "reranks.ji-qe.input:"),
    ("detector row", lambda p: p["detectors"]["yolo11n"].update(imgsz=16), "detectors.yolo11n.imgsz:"),
    ("crop_eval model", lambda p: p["crop_eval"].update(model="nope"), "crop_eval.model:"),
    ("expansion", lambda p: p["methods"]["shang-bags-512"]["expansion"].update(min=0.9), "methods.shang-bags-512"),
    ("distributed", lambda p: p["profiles"]["tiny"]["train"]["distributed"].update(nproc=0),
     "profiles.tiny.train.distributed.nproc:"),
]


@pytest.mark.parametrize("name,edit,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_values_name_their_key(name, edit, expected):
    with pytest.raises(ConfigError) as info:
        settings.check_params(_bad(edit))
    assert expected in str(info.value), str(info.value)


def test_every_problem_listed_once():
    def edit(p):
        p["methods"]["baseline"]["epochs"] = 0
        p["methods"]["baseline"]["lr"] = "fast"
    msg = str(pytest.raises(ConfigError, settings.check_params, _bad(edit)).value)
    assert "2 problems" in msg and msg.count("methods.baseline.epochs") == 1 and "methods.baseline.lr" in msg


def test_error_names_only_the_profile_at_fault():
    msg = str(pytest.raises(ConfigError, settings.check_params,
                            _bad(lambda p: p["methods"]["park-oc"]["profiles"]["paper"].update(lr=0))).value)
    assert "methods.park-oc.profiles.paper.lr" in msg and "[profile paper]" in msg


def test_empty_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("")
    with pytest.raises(ConfigError, match="params.yaml"):
        settings.check_file(f)
    with pytest.raises(ConfigError, match="expected a mapping"):
        settings.check_params({})


def test_import_does_not_load_torch():
    code = "import sys, fashionbench.core.settings; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_cli_check(tmp_path, capsys):
    assert main(["check", "--params", str(ROOT / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "params.yaml: valid (" in out and f"{len(PARAMS['methods'])} method rows x 3 profiles" in out
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["methods"]["baseline"]["epochs"] = 0
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["check", "--params", str(bad)]) == 2
    assert "methods.baseline.epochs: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_cli_check_subprocess(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["methods"]["baseline"]["epoch"] = 3
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    r = subprocess.run([sys.executable, "-m", "fashionbench.cli", "check", "--params", str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "methods.baseline.epoch: unknown key" in r.stderr

