"""What each DVC stage does, as functions the thin stage notebooks call.

Paths (relative to the project root) are fixed here so that dvc.yaml, the notebooks and the
reports agree on them:

- ``data/prepared/``                     the prepared dataset: manifest.csv and dataset.json (the
                                         card; its ``images_root`` says where images live: here
                                         for fmnist-c2s, ``dataset.root`` for real datasets)
- ``artifacts/models/<method>/``         checkpoint.pt, model.pt, history.json
- ``artifacts/embeddings/<group>/<method>.npz``  embedding file (contract in docs/contracts.md);
                                         ``group`` is the method row's family (``baseline``,
                                         ``shang``, …): fuse/rerank rows depend on one group
- ``artifacts/fused/<group>/<fusion>.npz``  output of a fuse row (embeddings or a ranking)
- ``artifacts/rankings/<name>.npz``      ranking file of every evaluated row
- ``artifacts/per_query/<name>.csv``     per-query scores (for bootstrap CIs)
- ``metrics/<name>.json``                metrics file (``dvc metrics show``)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import config
from .artifacts import Embeddings, Ranking, load_embeddings, save_embeddings, save_metrics, save_ranking
from .atomic import atomic_path, write_json
from .errors import ConfigError


def prepared_dir(root: Path | None = None) -> Path:
    """Folder of the prepared dataset (output of the prepare stage)."""
    return (root or config.project_root()) / "data" / "prepared"


def raw_dataset_root(params: Mapping[str, Any]) -> Path:
    """``dataset.root`` resolved against the project (real datasets)."""
    ds = config.dataset_settings(params)
    if not ds.get("root"):
        raise ConfigError(f"dataset.root: dataset {ds['name']!r} needs the folder holding its files")
    p = Path(ds["root"])
    return p if p.is_absolute() else (config.project_root() / p).resolve()


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


def load_dataset(params: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, Path]:
    """The prepared dataset's validated manifest and the folder its image paths resolve against."""
    from .manifest import read_manifest
    folder = prepared_dir()
    card = load_card()
    images_root = Path(card.get("images_root", "."))
    images_root = images_root if images_root.is_absolute() else (folder / images_root).resolve()
    manifest = read_manifest(folder / "manifest.csv")
    return manifest, images_root


def load_card() -> dict[str, Any]:
    """The prepared dataset's card (``data/prepared/dataset.json``)."""
    path = prepared_dir() / "dataset.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no prepared dataset; run the prepare stage (dvc repro prepare)")
    return json.loads(path.read_text(encoding="utf-8"))


def prepare(params: Mapping[str, Any], progress: bool = True) -> dict[str, Any]:
    """Build (fmnist-c2s) or read and validate (real datasets) the active dataset; return its card."""
    ds = config.dataset_settings(params)
    out = prepared_dir()
    if ds["name"] == "fmnist-c2s":
        from .datasets import fmnist_c2s
        build_params = {k: v for k, v in ds.items()
                        if k not in ("name", "root", "source_dir", "allow_download")}
        build_params.setdefault("seed", int(params["seed"]))
        return fmnist_c2s.build(out, build_params, source_dir=ds.get("source_dir"),
                                project_root=config.project_root(),
                                allow_download=bool(ds.get("allow_download", False)), progress=progress)
    from .datasets import load_manifest
    from .manifest import validate_manifest, write_manifest
    root = raw_dataset_root(params)
    manifest = validate_manifest(load_manifest(ds["name"], root), f"{ds['name']} under {root}",
                                 root=root, check_files=True)
    card = {"name": ds["name"], "synthetic": False, "images_root": str(root),
            "images": int(len(manifest)), "items": int(manifest["item_id"].nunique())}
    from .atomic import atomic_dir
    with atomic_dir(out) as tmp:
        write_manifest(manifest, tmp / "manifest.csv")
        write_json(tmp / "dataset.json", card)
    return card


def _crops(settings: Mapping[str, Any]) -> tuple[str, str, str]:
    crop = settings.get("crop", "given")
    return crop, settings.get("query_crop", crop), settings.get("gallery_crop", crop)


def train(params: Mapping[str, Any], method: str, progress: bool = True) -> list[dict[str, Any]]:
    """Train ``method`` on the train split; returns the per-epoch history."""
    from .imaging import CropDataset
    from .training import train as run_training

    settings = config.method_settings(params, method)
    manifest, root = load_dataset(params)
    train_rows = manifest[manifest["split"] == "train"]
    for col, allowed in (settings.get("train_filter") or {}).items():
        if col not in train_rows.columns:
            raise ConfigError(f"methods.{method}.train_filter: the manifest has no column {col!r}")
        allowed = [allowed] if isinstance(allowed, str) else list(allowed)
        train_rows = train_rows[train_rows[col].isin(allowed)]
    if train_rows.empty:
        raise ConfigError(f"method {method}: no 'train' rows to train on (after train_filter)")
    crop, _, _ = _crops(settings)
    ds = CropDataset(train_rows, root, crop, int(settings["img_size"]), progress=progress)
    _, history = run_training(settings, ds, model_dir(method), seed=int(params["seed"]), progress=progress)
    return history


def embed(params: Mapping[str, Any], method: str, progress: bool = True) -> Embeddings:
    """Embed the query and gallery splits with ``method``'s trained model."""
    from .embedding import embed_splits
    from .training import load_trained

    settings = config.method_settings(params, method)
    manifest, root = load_dataset(params)
    model, saved = load_trained(model_dir(method))
    _, qcrop, gcrop = _crops(settings)
    emb = embed_splits(model, manifest, root, query_crop=qcrop, gallery_crop=gcrop, size=int(saved["size"]),
                       name=method, params={"settings": settings, "seed": params["seed"]},
                       batch_size=int(settings.get("embed_batch_size", 256)), progress=progress)
    save_embeddings(embeddings_path(method, params=params), emb)
    return emb


def score_ranking(params: Mapping[str, Any], name: str, ranking: "Ranking") -> dict[str, float]:
    """Save ``ranking`` as row ``name``'s ranking file, with its per-query scores and metrics."""
    from .metrics import evaluate_ranking_detailed

    ev = config.profile_settings(params).get("eval", {})
    save_ranking(ranking_path(name), ranking)
    metrics, per_query = evaluate_ranking_detailed(ranking, ks=tuple(ev.get("ks", (1, 5, 10, 20, 30, 40, 50))))
    with atomic_path(per_query_path(name)) as tmp:
        per_query.to_csv(tmp, index=False)
    save_metrics(metrics_path(name), metrics)
    return metrics


def evaluate(params: Mapping[str, Any], method: str) -> dict[str, float]:
    """Exact search of ``method``'s embedding file, then score and save (see :func:`score_ranking`)."""
    from .search import to_ranking

    ev = config.profile_settings(params).get("eval", {})
    emb = load_embeddings(embeddings_path(method, params=params))
    return score_ranking(params, method, to_ranking(emb, int(ev.get("top_k", 100))))


def fuse(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Build fusion row ``name`` and score it."""
    from .compose import run_fusion
    from .search import to_ranking

    ev = config.profile_settings(params).get("eval", {})
    out = run_fusion(params, name)
    ranking = out if isinstance(out, Ranking) else to_ranking(out, int(ev.get("top_k", 100)))
    ranking.model = name
    return score_ranking(params, name, ranking)


def rerank(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Apply rerank row ``name``'s steps and score the result."""
    from .compose import run_rerank

    ev = config.profile_settings(params).get("eval", {})
    return score_ranking(params, name, run_rerank(params, name, int(ev.get("top_k", 100))))
