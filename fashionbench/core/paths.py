"""Where every artifact lives, relative to the project root: the one place paths are built.

- ``data/prepared/``                     the prepared dataset: manifest.csv and dataset.json (the card)
- ``artifacts/models/<method>/``         model.pt, history.json
- ``artifacts/embeddings/<group>/<method>.npz``  embedding file (docs/contracts.md)
- ``artifacts/fused/<group>/<fusion>.npz``  output of a fuse row
- ``artifacts/rankings/<name>.npz``      ranking file of every evaluated row
- ``artifacts/per_query/<name>.csv``     per-query scores (bootstrap CIs)
- ``artifacts/per_triplet/<name>.csv``   per-triplet scores (paper zhan)
- ``artifacts/detect/``                  the detect stage's boxes and results
- ``metrics/<name>.json``                metrics file; ``metrics/<name>.extra.json`` extra numbers;
  ``metrics/protocol/<name>.json`` the dataset protocol's scores
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from fashionbench.core import config


def prepared_dir(root: Path | None = None) -> Path:
    """Folder of the prepared dataset (output of the prepare stage)."""
    return (root or config.project_root()) / "data" / "prepared"


def model_dir(method: str, root: Path | None = None) -> Path:
    return (root or config.project_root()) / "artifacts" / "models" / method


def embeddings_path(method: str, root: Path | None = None, params: Mapping[str, Any] | None = None) -> Path:
    """Embedding file of ``method`` (its folder is the method row's ``group``)."""
    params = params or config.load_params()
    group = config.method_group(params, method)
    return (root or config.project_root()) / "artifacts" / "embeddings" / group / f"{method}.npz"


def ranking_path(method: str, root: Path | None = None) -> Path:
    return (root or config.project_root()) / "artifacts" / "rankings" / f"{method}.npz"


def per_query_path(method: str, root: Path | None = None) -> Path:
    return (root or config.project_root()) / "artifacts" / "per_query" / f"{method}.csv"


def metrics_path(method: str, root: Path | None = None) -> Path:
    return (root or config.project_root()) / "metrics" / f"{method}.json"


def protocol_metrics_path(name: str, root: Path | None = None) -> Path:
    """Protocol metrics file of row ``name``: per-category scores (+ DeepFashion2's official score)."""
    return (root or config.project_root()) / "metrics" / "protocol" / f"{name}.json"


def detect_dir(root: Path | None = None) -> Path:
    """``artifacts/detect`` (the detect stage's DVC output)."""
    return (root or config.project_root()) / "artifacts" / "detect"


def boxes_path(root: Path | None = None) -> Path:
    """``artifacts/detect/boxes.csv``: the crop boxes of every manifest row."""
    return detect_dir(root) / "boxes.csv"


def scratch_dir(root: Path | None = None) -> Path:
    """``scratch/`` (gitignored, not a DVC output): YOLO exports, label caches and training runs."""
    return (root or config.project_root()) / "scratch"


def per_triplet_path(method: str, root: Path | None = None) -> Path:
    """``artifacts/per_triplet/<method>.csv``."""
    from fashionbench.core import config
    return (root or config.project_root()) / "artifacts" / "per_triplet" / f"{method}.csv"


def extra_metrics_path(method: str, root: Path | None = None) -> Path:
    """``metrics/<method>.extra.json``."""
    from fashionbench.core import config
    return (root or config.project_root()) / "metrics" / f"{method}.extra.json"


def fused_path(group: str, name: str, root: Path | None = None) -> Path:
    """Output of the fuse stage for row ``name``."""
    return (root or config.project_root()) / "artifacts" / "fused" / group / f"{name}.npz"
