"""Data versioning as README "Data versioning" shows it: track a local dataset copy with
`dvc add` (and one with `dvc import-url`), push it to a local-folder DVC remote, clone the
repo afresh, `dvc pull`, get the same bytes with `dvc status` clean, and prepare from them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from test_datasets_pipeline import _run, copy_repo, fixtures

pytestmark = pytest.mark.slow
GIT_ID = {"GIT_AUTHOR_NAME": "fashionbench test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
          "GIT_COMMITTER_NAME": "fashionbench test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _status(cwd: Path, *args: str) -> dict:
    return json.loads(_run(["dvc", "status", "--json", *args], cwd).stdout or "{}")


def test_push_to_local_remote_and_pull_into_a_fresh_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GIT_ID.items():
        monkeypatch.setenv(k, v)
    repo = copy_repo(tmp_path / "origin")
    fixtures.materialise("inshop", repo / "datasets")
    elsewhere = fixtures.materialise("street2shop", tmp_path / "downloads")  # a copy outside the repo
    remote = tmp_path / "dvc-remote"

    # README "Data versioning", step by step
    _run(["dvc", "add", "datasets/inshop"], repo)
    _run(["dvc", "import-url", str(elsewhere), "datasets/street2shop"], repo)
    _run(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-q", "-m", "track the datasets with DVC"], repo)
    _run(["dvc", "push"], repo)
    assert (repo / "datasets" / "inshop.dvc").is_file() and "/inshop" in (repo / "datasets" / ".gitignore").read_text()
    assert any(remote.rglob("*")), "the remote holds the data"

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "datasets" / "inshop").exists(), "git holds only the .dvc pointer"
    os.rename(elsewhere, tmp_path / "gone")  # the import's source is gone: the data must come from the remote
    _run(["dvc", "pull", "datasets/inshop.dvc", "datasets/street2shop.dvc"], clone)
    for name in ("inshop", "street2shop"):
        assert _tree(clone / "datasets" / name) == _tree(repo / "datasets" / name)
    assert _status(clone, "datasets/inshop.dvc", "datasets/street2shop.dvc") == {}
    assert _status(clone, "--cloud", "datasets/inshop.dvc", "datasets/street2shop.dvc") == {}

    # the pulled copy is the pipeline's dataset: prepare runs on it, and is then up to date
    p = yaml.safe_load((clone / "params.yaml").read_text())
    p["dataset"].update(name="inshop", root="datasets/inshop/In-shop Clothes Retrieval Benchmark")
    (clone / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run(["dvc", "repro", "prepare"], clone)
    assert _status(clone, "prepare") == {}
    card = json.loads((clone / "data" / "prepared" / "dataset.json").read_text())
    assert card["name"] == "inshop" and card["counts"]["images"] == 8
