"""The "Adding a method" row of docs/adding-a-method.md works as written, and params.yaml's shared
(merge-key) rows stay independent."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from conftest import ROOT, doc_section
from fashionbench.core import config
from fashionbench.models import build_loss, build_model

#: the page that holds the worked example (README.md links it)
METHOD_DOC = "docs/adding-a-method.md"


def _readme_row() -> dict:
    section = doc_section(METHOD_DOC, "Adding a method (worked example)")
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    methods = yaml.safe_load(block)["methods"]
    assert list(methods) == ["my-gem"], "the worked example adds exactly one row"
    return methods


def _params_with_example() -> dict:
    params = config.load_params(ROOT / "params.yaml")
    params["methods"].update(_readme_row())
    return params


def test_readme_row_resolves_and_builds_under_every_profile():
    params = _params_with_example()
    for profile in config.PROFILES:
        s = config.method_settings({**params, "profile": profile}, "my-gem")
        assert (ROOT / s["notebook"]).is_file() and s["group"]
        model = build_model(s["model"], num_classes=7, num_categories=3)
        build_loss(s["loss"], num_classes=7, num_categories=3, embedding_dim=s["model"]["embedding_dim"])
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, 3, 32, 32))
        assert out["embedding"].shape == (2, s["model"]["embedding_dim"])


def test_readme_row_becomes_train_embed_evaluate_stages(tmp_path: Path):
    """DVC expands the row into its stages (`${item.group}` etc. must resolve), without running anything."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    row = yaml.safe_dump(_readme_row(), sort_keys=False)
    # append the row at the end of the methods block, as a user would (indented under `methods:`)
    head, tail = text.split("\nfusions:", 1)
    indented = "".join(f"  {line}\n" for line in row.splitlines())
    (tmp_path / "params.yaml").write_text(f"{head.rstrip()}\n{indented}\nfusions:{tail}", encoding="utf-8")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True)
    res = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    stages = set(res.stdout.split())
    assert {"train@my-gem", "embed@my-gem", "evaluate@my-gem"} <= stages
    assert "train@baseline" in stages


def test_rows_sharing_yaml_anchors_resolve_independently():
    """Resolving rows written with `<<: *family` changes neither params nor another row; merged values are right."""
    params = config.load_params(ROOT / "params.yaml")
    before = copy.deepcopy(params)
    resolved = {(p, m): config.method_settings({**params, "profile": p}, m)
                for p in config.PROFILES for m in config.method_names(params)}
    assert params == before
    resolved[("tiny", "shang-clothes-512")]["model"]["embedding_dim"] = -1
    assert config.method_settings({**params, "profile": "tiny"}, "shang-shoes-512")["model"]["embedding_dim"] == 64
    # the merge keys give each row the same keys a written-out row has (spot checks against the paper's rows)
    assert params["methods"]["shang-bags-2048"]["model"] == {"arch": "cosine", "backbone": "efficientnet_lite0",
                                                              "pretrained": "imagenet", "embedding_dim": 2048}
    assert params["methods"]["shang-bags-2048"]["train_filter"] == {"category": "bags"}
    assert params["methods"]["park-oc-is"]["loss"]["labels"] == "instance"
    assert params["methods"]["park-oc"]["loss"] == {"loss": "park", "alpha": 1.0, "beta": 0.1, "margin": 0.3,
                                                    "labels": "none"}
    assert params["methods"]["zhan-hardeasy-m4"]["loss"]["easy_fraction"] == 0.25
    assert params["methods"]["zhan-imagenet-m8"]["loss"]["easy_fraction"] == 0.0
    assert params["methods"]["chen-all"]["profiles"]["paper"]["model"]["backbone"] == "resnet101"
    assert params["methods"]["chen-annular"]["profiles"]["paper"]["model"]["backbone"] == "resnet50"
    assert params["detectors"]["yolo26n"]["arch"] == "yolo26n.yaml"


def test_loaded_params_share_no_dict_or_list():
    """PyYAML returns ONE object for every use of an anchor; load_params hands out independent copies."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert raw["methods"]["chen-horizontal"]["profiles"] is raw["methods"]["chen-vertical"]["profiles"]

    def containers(x, out):
        if isinstance(x, (dict, list)):
            out.append(id(x))
            for v in (x.values() if isinstance(x, dict) else x):
                containers(v, out)
        return out
    ids = containers(config.load_params(ROOT / "params.yaml"), [])
    assert len(ids) == len(set(ids))
    params = config.load_params(ROOT / "params.yaml")
    params["methods"]["chen-horizontal"]["profiles"]["paper"]["model"].pop("backbone")
    assert params["methods"]["chen-vertical"]["profiles"]["paper"]["model"]["backbone"] == "resnet50"


def test_params_yaml_reads_the_same_in_dvc_and_fashionbench():
    """DVC reads params.yaml with ruamel.yaml, fashionbench with PyYAML: merge keys must mean the same to both."""
    from ruamel.yaml import YAML

    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    ours = yaml.safe_load(text)
    theirs = YAML(typ="safe").load(text)
    assert theirs == ours
    assert "<<" not in str(ours), "a merge key was read as a plain key"
