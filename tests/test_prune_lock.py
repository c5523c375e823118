"""prune-lock: a removed row's lock entries and outputs go; everything a current stage declares stays."""

from __future__ import annotations

import pytest

from fashionbench.cli import prune_lock
from fashionbench.core.errors import ConfigError

LOCK = """schema: '2.0'
stages:
  evaluate@kept:
    cmd: run kept
    outs:
    - path: metrics/kept.json
      hash: md5
      md5: 1
    - path: shared/report.html
      hash: md5
      md5: 2
  evaluate@gone:
    cmd: run gone   # a comment DVC would not write
    outs:
    - path: metrics/gone.json
      hash: md5
      md5: 3
    - path: artifacts/models/gone
      hash: md5
      md5: 4
    - path: shared/report.html
      hash: md5
      md5: 2
"""


def _project(tmp_path):
    for f in ("metrics/kept.json", "metrics/gone.json", "artifacts/models/gone/model.pt", "shared/report.html"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    (tmp_path / "dvc.lock").write_text(LOCK)
    return tmp_path


def test_stale_stage_and_its_own_outputs_are_removed(tmp_path):
    root = _project(tmp_path)
    assert prune_lock(root, {"evaluate@kept"}, dry_run=True) == ["evaluate@gone", "metrics/gone.json",
                                                                    "artifacts/models/gone"]
    assert (root / "metrics/gone.json").exists() and "evaluate@gone" in (root / "dvc.lock").read_text()
    gone = prune_lock(root, {"evaluate@kept"})
    assert gone == ["evaluate@gone", "metrics/gone.json", "artifacts/models/gone"]
    lock = (root / "dvc.lock").read_text()
    assert "evaluate@gone" not in lock and "evaluate@kept" in lock and "schema: '2.0'" in lock
    assert not (root / "metrics/gone.json").exists() and not (root / "artifacts/models/gone").exists()
    # what a current stage also declares stays
    assert (root / "metrics/kept.json").exists() and (root / "shared/report.html").exists()
    assert prune_lock(root, {"evaluate@kept"}) == []        # nothing left to do


def test_an_output_outside_the_project_is_refused_before_anything_changes(tmp_path):
    root = _project(tmp_path / "proj")
    (root / "dvc.lock").write_text(LOCK.replace("metrics/gone.json", "../outside.json"))
    (tmp_path / "outside.json").write_text("keep me")
    before = (root / "dvc.lock").read_text()
    with pytest.raises(ConfigError, match="outside the project"):
        prune_lock(root, {"evaluate@kept"})
    assert (tmp_path / "outside.json").read_text() == "keep me" and (root / "dvc.lock").read_text() == before
    assert (root / "artifacts/models/gone").exists()
