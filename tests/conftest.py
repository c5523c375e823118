"""Shared fixtures: a tiny fmnist-c2s build, made once per test session."""

from __future__ import annotations

import os
import shutil
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
    """The Markdown section of ``text`` headed ``<title>`` (any level, ``#`` to ``######``), from its
    heading up to the next heading of the same or a higher level; ``#`` lines inside fenced code
    blocks are not headings. A missing section is an AssertionError naming the title."""
    lines = text.splitlines(keepends=True)
    fence, start, level = None, None, 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fence = None if fence and stripped.startswith(fence) else (fence or stripped[:3])
            continue
        if fence is not None or not line.startswith("#"):
            continue
        hashes = len(line) - len(line.lstrip("#"))
        if hashes > 6 or line[hashes:hashes + 1] != " ":
            continue
        if start is None:
            if line[hashes:].strip() == title:
                start, level = i, hashes
        elif hashes <= level:
            return "".join(lines[start:i])
    assert start is not None, f"no section headed {title!r}"
    return "".join(lines[start:])


def doc_section(path: str | Path, title: str) -> str:
    """The section headed ``<title>`` of the Markdown file ``path`` (relative to the project root:
    ``README.md``, ``docs/datasets.md``, ...); see :func:`readme_section`."""
    return readme_section((ROOT / path).read_text(encoding="utf-8"), title)


TINY_BUILD = {"n_train_items": 12, "n_test_items": 6, "n_distractor_items": 4, "workers": 1, "seed": 3}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A very small fmnist-c2s build (22 items) in a temp folder."""
    from fashionbench.data.datasets import fmnist_c2s

    out = tmp_path_factory.mktemp("fmnist") / "prepared"
    fmnist_c2s.build(out, TINY_BUILD, project_root=ROOT, progress=False)
    return out


#: folders of a working project that a copy for an end-to-end run leaves out (at the project root only:
#: ``data`` is also the package's ``fashionbench/data`` floor)
_ROOT_ONLY = {".venv", ".git", "data", "artifacts", ".cache", "cache", "tmp", "runs", "scratch", "reports",
              "metrics", "dvc.lock"}
_EVERYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")


def project_copy_ignore(root):
    """``shutil.copytree`` ignore function for a copy of the project at ``root``."""
    root = Path(root).resolve()

    def ignore(folder, names):
        out = set(_EVERYWHERE(folder, names))
        if Path(folder).resolve() == root:
            out |= {n for n in names if n in _ROOT_ONLY}
        return out
    return ignore
