"""What each DVC stage does, as functions the thin stage notebooks call.

Paths (relative to the project root) are fixed here so that dvc.yaml, the notebooks and the
reports agree on them:

- ``data/prepared/``                     the prepared dataset: manifest.csv and dataset.json (the
                                         card; its ``images_root`` says where images live: here
                                         for fmnist-c2s, ``dataset.root`` for real datasets)
- ``artifacts/models/<method>/``         model.pt, history.json (checkpoint.pt only while training)
- ``artifacts/embeddings/<group>/<method>.npz``  embedding file (contract in docs/contracts.md);
                                         ``group`` is the method row's family (``baseline``,
                                         ``shang``, …): fuse/rerank rows depend on one group
- ``artifacts/fused/<group>/<fusion>.npz``  output of a fuse row (embeddings or a ranking)
- ``artifacts/rankings/<name>.npz``      ranking file of every evaluated row
- ``artifacts/per_query/<name>.csv``     per-query scores (for bootstrap CIs)
- ``metrics/<name>.json``                metrics file (``dvc metrics show``)
- ``metrics/protocol/<name>.json``       the dataset protocol's scores: per category, and for
                                         DeepFashion2 the official Track-2 score
                                         (:mod:`fashionbench.protocols.retrieval`)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import config
from .artifacts import Embeddings, Ranking, load_embeddings, save_embeddings, save_metrics, save_ranking
from .atomic import atomic_path, write_json
from .errors import ConfigError, ContractError


def prepared_dir(root: Path | None = None) -> Path:
    """Folder of the prepared dataset (output of the prepare stage)."""
    return (root or config.project_root()) / "data" / "prepared"


def raw_dataset_root(params: Mapping[str, Any]) -> Path:
    """``dataset.root`` resolved against the project (real datasets)."""
    ds = config.dataset_settings(params)
    if not ds.get("root"):
        raise ConfigError(f"dataset.root: dataset {ds['name']!r} needs the folder holding its files "
                          f"(README 'Real datasets' lists each dataset's layout)")
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


def load_dataset(params: Mapping[str, Any] | None = None,
                 with_detections: bool = True) -> tuple[pd.DataFrame, Path]:
    """The prepared dataset's validated manifest and the folder its image paths resolve against.

    With ``with_detections`` (default) and ``artifacts/detect/boxes.csv`` present, the detect
    stage's crop boxes (``detected_*``, ``union_*``, ``fused_*``) are merged in by ``uid``
    (:func:`fashionbench.detection_stage.merge_detected_boxes`), enabling those crop modes.
    """
    from .manifest import read_manifest
    folder = prepared_dir()
    card = load_card()
    images_root = Path(card.get("images_root", "."))
    images_root = images_root if images_root.is_absolute() else (folder / images_root).resolve()
    manifest = read_manifest(folder / "manifest.csv")
    if with_detections:
        from .detection_stage import boxes_path, merge_detected_boxes
        if boxes_path().is_file():
            manifest = merge_detected_boxes(manifest, boxes_path())
    return manifest, images_root


def load_card() -> dict[str, Any]:
    """The prepared dataset's card (``data/prepared/dataset.json``)."""
    path = prepared_dir() / "dataset.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no prepared dataset; run the prepare stage (dvc repro prepare)")
    return json.loads(path.read_text(encoding="utf-8"))


def prepare(params: Mapping[str, Any], progress: bool = True) -> dict[str, Any]:
    """Build (fmnist-c2s) or read and validate (real datasets) the active dataset; return its card.

    Real datasets: ``dataset.root`` is read by the reader of ``dataset.name`` with
    ``dataset.options`` (:func:`fashionbench.datasets.load_manifest`; a missing or incomplete
    root raises the reader's :class:`ConfigError`, which names every expected file and the
    official download page), every image is ``stat``-ed (unless ``options.check_files`` is
    false), and manifest.csv + dataset.json are written together into ``data/prepared``
    atomically: on any error the previous ``data/prepared`` (or none) stays as it was. The
    card records the protocol (:mod:`fashionbench.protocols.retrieval`), the reader's counted
    skips and ``images_root`` (relative to ``data/prepared`` when the root is inside the
    project, so a clone that pulls both stays valid). fmnist-c2s: ``dataset.root`` is a stamp
    folder (``datasets/fmnist-c2s``); the four Fashion-MNIST files placed there are used when
    ``dataset.source_dir`` is not set.
    """
    import os

    from .protocols.retrieval import check_columns, resolve_protocol

    ds = config.dataset_settings(params)
    out = prepared_dir()
    protocol = resolve_protocol(ds["name"], ds.get("protocol"))
    if ds["name"] == "fmnist-c2s":
        from .datasets import fmnist_c2s
        from .datasets.fmnist_source import CONTENT_SHA256
        if ds.get("options"):
            raise ConfigError(f"dataset.options: fmnist-c2s takes no reader options (got {sorted(ds['options'])}); "
                              "its build settings are the dataset.* / profiles.<profile>.dataset keys")
        build_params = {k: v for k, v in ds.items()
                        if k not in ("name", "root", "source_dir", "allow_download", "options", "protocol")}
        build_params.setdefault("seed", int(params["seed"]))
        source_dir = ds.get("source_dir")
        if not source_dir and ds.get("root"):
            stamp = raw_dataset_root(params)
            source_dir = str(stamp) if all((stamp / f).is_file() for f in CONTENT_SHA256) else None
        try:
            card = fmnist_c2s.build(out, build_params, source_dir=source_dir,
                                    project_root=config.project_root(),
                                    allow_download=bool(ds.get("allow_download", False)), progress=progress)
        except ConfigError as exc:
            if source_dir or not ds.get("root"):
                raise
            raise ConfigError(f"{exc} Or put the four files in {raw_dataset_root(params)} (dataset.root).") from None
        if ds.get("protocol"):  # without overrides the card stays byte-identical (no downstream re-runs)
            card["protocol"] = protocol.card()
            write_json(out / "dataset.json", card)
        return card
    from .atomic import atomic_dir
    from .datasets import check_options, load_manifest
    from .datasets.fmnist_c2s import _counts
    from .manifest import validate_manifest, write_manifest
    root = raw_dataset_root(params)
    options = check_options(ds["name"], ds.get("options"))
    raw = load_manifest(ds["name"], root, options)
    report = raw.attrs.get("load_report", {})
    manifest = validate_manifest(raw, f"{ds['name']} under {root}", root=root,
                                 check_files=bool(options.get("check_files", True)))
    check_columns(manifest, protocol, f"{ds['name']} under {root}")
    for split in ("query", "gallery"):
        if not (manifest["split"] == split).any():
            raise ContractError(f"{ds['name']} under {root}: no {split!r} rows after reading (dataset.options "
                                f"{options}); nothing to evaluate")
    project = config.project_root()
    inside = root == project or project in root.parents
    counts = _counts(manifest)
    counts.update({f"skipped: {k}": int(v) for k, v in sorted(report.get("skipped", {}).items())})
    card = {"name": ds["name"], "synthetic": False,
            "images_root": os.path.relpath(root, out) if inside else str(root),
            "config": {"root": str(ds["root"]), "options": {k: (list(v) if isinstance(v, tuple) else v)
                                                          for k, v in options.items()}},
            "counts": counts, "protocol": protocol.card()}
    with atomic_dir(out) as tmp:
        write_manifest(manifest, tmp / "manifest.csv")
        write_json(tmp / "dataset.json", card)
    return card


def _crops(settings: Mapping[str, Any]) -> tuple[str, str, str]:
    crop = settings.get("crop", "given")
    return crop, settings.get("query_crop", crop), settings.get("gallery_crop", crop)


def _expanded(rows: pd.DataFrame, crop: str, settings: Mapping[str, Any], method: str,
              seed: int) -> tuple[pd.DataFrame, str]:
    """The row's ``expansion:`` (paper ``shang``, eqs. 2-4) applied to its training rows.

    Without an ``expansion`` block: ``(rows, crop)`` unchanged. With one: the rows expanded by
    :func:`fashionbench.augment.expand_manifest` inside their ``crop`` boxes (the whole image for
    ``full``, which needs ``width``/``height`` columns), drawn from ``numpy`` generator
    ``default_rng(seed)``: the same seed gives the same crops to every row with the same
    settings (the paper expands the data set once, offline). Returns the new rows and their crop
    mode (``expanded``).
    """
    import numpy as np

    from .augment import EXPANDED_CROP, expand_manifest, expansion_settings
    from .imaging import crop_boxes

    exp = expansion_settings(settings.get("expansion"), f"methods.{method}.expansion")
    if not exp:
        return rows, crop
    boxes = crop_boxes(rows, crop, f"methods.{method} (crop {crop!r})")
    if boxes is None:  # crop: full
        if not {"width", "height"} <= set(rows.columns):
            raise ConfigError(f"methods.{method}.expansion with crop 'full' needs 'width'/'height' "
                              "columns in the manifest")
        boxes = np.stack([np.zeros(len(rows)), np.zeros(len(rows)), rows["width"].to_numpy(float),
                          rows["height"].to_numpy(float)], axis=1)
    out = expand_manifest(rows, boxes, rng=np.random.default_rng(seed), **exp)
    return out, EXPANDED_CROP


def with_category_column(rows: pd.DataFrame, settings: Mapping[str, Any], method: str) -> pd.DataFrame:
    """``rows`` whose ``category`` (the class of category heads and losses) is taken from the
    manifest column named by the row's ``category_column`` (default ``category``: unchanged).

    Paper ``park`` trains its category classifier on fine categories (``category_column:
    subcategory``: the 10 Fashion-MNIST classes here, DeepFashion's fine categories on In-Shop),
    where the 3 super-categories would make top-3 accuracy trivially 100 %.
    """
    col = settings.get("category_column", "category")
    if col == "category":
        return rows
    if not isinstance(col, str) or col not in rows.columns:
        raise ConfigError(f"methods.{method}.category_column: the manifest has no column {col!r}")
    missing = rows[col].isna()
    if missing.any():
        raise ContractError(f"methods.{method}.category_column: row uid={rows['uid'][missing].iloc[0]!r} "
                            f"has no {col!r} value")
    return rows.assign(category=rows[col].astype(str))


def select_train_rows(params: Mapping[str, Any], method: str, manifest: pd.DataFrame
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out validation rows) of ``method``: the ``train`` split, after the
    row's ``train_filter`` ({column: value or list}); with ``holdout: f`` a share ``f`` of the
    items (per category, seeded) is held out for validation (``fashionbench.triplets``)."""
    settings = config.method_settings(params, method)
    train_rows = manifest[manifest["split"] == "train"]
    for col, allowed in (settings.get("train_filter") or {}).items():
        if col not in train_rows.columns:
            raise ConfigError(f"methods.{method}.train_filter: the manifest has no column {col!r}")
        allowed = [allowed] if isinstance(allowed, str) else list(allowed)
        train_rows = train_rows[train_rows[col].isin(allowed)]
    val_rows = train_rows.iloc[:0]
    if settings.get("holdout"):
        from .triplets import split_rows
        train_rows, val_rows = split_rows(train_rows, settings["holdout"], int(params["seed"]),
                                          f"methods.{method}.holdout")
    if train_rows.empty:
        raise ConfigError(f"method {method}: no 'train' rows to train on (after train_filter and holdout)")
    return train_rows, val_rows


def train(params: Mapping[str, Any], method: str, progress: bool = True) -> list[dict[str, Any]]:
    """Train ``method`` on the train split; returns the per-epoch history.

    With ``distributed: {nproc, nnodes}`` asking for more than one process, this launches
    torchrun (:mod:`fashionbench.distributed`), whose ranks come back here to train.
    """
    from .distributed import maybe_launch
    from .imaging import CropDataset, loader_settings
    from .training import train as run_training

    settings = config.method_settings(params, method)
    launched = maybe_launch(params, method, settings)
    if launched is not None:
        return launched
    manifest, root = load_dataset(params)
    train_rows, _ = select_train_rows(params, method, manifest)
    train_rows = with_category_column(train_rows, settings, method)
    crop, _, _ = _crops(settings)
    train_rows, crop = _expanded(train_rows, crop, settings, method, int(params["seed"]))
    cache, _ = loader_settings(settings, f"methods.{method}")
    ds = CropDataset(train_rows, root, crop, int(settings["img_size"]), cache=cache, progress=progress)
    _, history = run_training(settings, ds, model_dir(method), seed=int(params["seed"]), progress=progress)
    return history


def embed(params: Mapping[str, Any], method: str, progress: bool = True) -> Embeddings:
    """Embed the query and gallery splits with ``method``'s trained model.

    ``embed_storage: memmap`` streams the matrices to disk (large galleries; see
    docs/contracts.md); ``loader.num_workers`` decodes with DataLoader workers; ``device``.
    """
    from .distributed import resolve_device
    from .embedding import embed_splits
    from .imaging import loader_settings
    from .training import load_trained

    settings = config.method_settings(params, method)
    manifest, root = load_dataset(params)
    model, saved = load_trained(model_dir(method))
    _, qcrop, gcrop = _crops(settings)
    _, num_workers = loader_settings(settings, f"methods.{method}")
    storage = settings.get("embed_storage", "npz")
    if storage not in ("npz", "memmap"):
        raise ConfigError(f"methods.{method}.embed_storage: {storage!r} is not one of ['npz', 'memmap']")
    device = resolve_device(settings, f"methods.{method}")
    out = embeddings_path(method, params=params)
    emb = embed_splits(model.to(device), manifest, root, query_crop=qcrop, gallery_crop=gcrop,
                       size=int(saved["size"]), name=method, params={"settings": settings, "seed": params["seed"]},
                       batch_size=int(settings.get("embed_batch_size", 256)), progress=progress,
                       category_vocab=saved.get("category_vocab"), num_workers=num_workers,
                       out=out if storage == "memmap" else None, device=device)
    embed_train = settings.get("embed_train", False)
    if not isinstance(embed_train, bool):
        raise ConfigError(f"methods.{method}.embed_train: expected true or false, got {embed_train!r}")
    if embed_train:  # train-split features for post-processing fitted on train (pca_whiten fit_on: train)
        from .embedding import embed_extra_split
        emb.extra.update(embed_extra_split(model, manifest, root, split="train", crop=_crops(settings)[0],
                                           size=int(saved["size"]), progress=progress,
                                           batch_size=int(settings.get("embed_batch_size", 256))))
    save_embeddings(out, emb, storage=storage)
    return emb


def protocol_metrics_path(name: str, root: Path | None = None) -> Path:
    """Protocol metrics file of row ``name``: per-category scores (+ DeepFashion2's official score)."""
    return (root or config.project_root()) / "metrics" / "protocol" / f"{name}.json"


def _protocol(params: Mapping[str, Any]) -> tuple[pd.DataFrame, Path, Any]:
    """(prepared manifest, images root, the dataset's RetrievalProtocol from its card)."""
    from .protocols.retrieval import protocol_from_card

    manifest, images_root = load_dataset(params)
    return manifest, images_root, protocol_from_card(load_card())


def score_ranking(params: Mapping[str, Any], name: str, ranking: "Ranking",
                  extra: Mapping[str, float] | None = None) -> dict[str, float]:
    """Save ``ranking`` as row ``name``'s ranking file, with its per-query scores and metrics
    (plus ``extra`` entries, e.g. an approximate index's measured recall).

    The dataset's protocol (:mod:`fashionbench.protocols.retrieval`) is applied first: a
    ranking that crosses the gallery scope is restricted to it; the per-category scores (and,
    for DeepFashion2, the official score) go to :func:`protocol_metrics_path`.
    """
    from .metrics import evaluate_ranking_detailed
    from .protocols.retrieval import apply_scope, protocol_scores

    ev = config.profile_settings(params).get("eval", {})
    manifest, images_root, proto = _protocol(params)
    ranking = apply_scope(ranking, manifest, proto)
    save_ranking(ranking_path(name), ranking)
    metrics, per_query = evaluate_ranking_detailed(ranking, ks=tuple(ev.get("ks", (1, 5, 10, 20, 30, 40, 50))))
    metrics = {**metrics, **(extra or {})}
    with atomic_path(per_query_path(name)) as tmp:
        per_query.to_csv(tmp, index=False)
    save_metrics(metrics_path(name), metrics)
    # the crops matter only to DeepFashion2's official score (its query/gallery boxes)
    qcrop, gcrop = config.crop_settings(params, name) if proto.official else ("given", "given")
    save_metrics(protocol_metrics_path(name), protocol_scores(ranking, per_query, manifest, proto, images_root,
                                                              qcrop, gcrop))
    return metrics


def evaluate(params: Mapping[str, Any], method: str) -> dict[str, float]:
    """Search ``method``'s embedding file (within the protocol's gallery scope), then score and
    save (see :func:`score_ranking`). Exact unless ``eval.index`` names an approximate index;
    then its recall@k against exact search is measured and written with the metrics."""
    from .protocols.retrieval import rank_embeddings
    from .search import index_metrics, index_spec

    ev = config.profile_settings(params).get("eval", {})
    emb = load_embeddings(embeddings_path(method, params=params))
    manifest, _, proto = _protocol(params)
    spec = index_spec(ev.get("index"), f"profiles.{params['profile']}.eval.index")
    ranking = rank_embeddings(emb, int(ev.get("top_k", 100)), manifest, proto, index=spec)
    return score_ranking(params, method, ranking, extra=index_metrics(emb.query, emb.gallery, ranking.indices, spec))


def fuse(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Build fusion row ``name`` and score it; its extra numbers go to ``metrics/<name>.extra.json``
    (:func:`fashionbench.compose.run_fusion`'s ``stats``: ``n_inputs``, routing accuracy, ...)."""
    from .compose import extra_metrics_path, run_fusion
    from .protocols.retrieval import rank_embeddings

    ev = config.profile_settings(params).get("eval", {})
    stats: dict[str, float] = {}
    out = run_fusion(params, name, stats=stats)
    save_metrics(extra_metrics_path(name), stats)
    manifest, _, proto = _protocol(params)
    from .search import index_metrics, index_spec
    spec = index_spec(ev.get("index"), f"profiles.{params['profile']}.eval.index")
    ranking = out if isinstance(out, Ranking) else rank_embeddings(out, int(ev.get("top_k", 100)), manifest, proto,
                                                                    index=spec)
    ranking.model = name
    extra = {} if isinstance(out, Ranking) else index_metrics(out.query, out.gallery, ranking.indices, spec)
    return score_ranking(params, name, ranking, extra=extra)


def rerank(params: Mapping[str, Any], name: str) -> dict[str, float]:
    """Apply rerank row ``name``'s steps and score the result."""
    from .compose import run_rerank

    ev = config.profile_settings(params).get("eval", {})
    return score_ranking(params, name, run_rerank(params, name, int(ev.get("top_k", 100))))
