"""Shared fixtures: a tiny fmnist-c2s build, made once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))

def readme_section(text: str, title: str) -> str:
    """The README section headed ``## <title>``, up to the next ``## `` heading."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


TINY_BUILD = {"n_train_items": 12, "n_test_items": 6, "n_distractor_items": 4, "workers": 1, "seed": 3}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A very small fmnist-c2s build (22 items) in a temp folder."""
    from fashionbench.datasets import fmnist_c2s

    out = tmp_path_factory.mktemp("fmnist") / "prepared"
    fmnist_c2s.build(out, TINY_BUILD, project_root=ROOT, progress=False)
    return out
