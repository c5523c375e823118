"""Stage ``prepare``: build (fmnist-c2s) or read and validate (real datasets) the active dataset."""

from __future__ import annotations

from typing import Any, Mapping

from fashionbench.core import config
from fashionbench.core.atomic import write_json
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.core.paths import prepared_dir
from fashionbench.data.prepared import raw_dataset_root


def prepare(params: Mapping[str, Any], progress: bool = True) -> dict[str, Any]:
    """Build (fmnist-c2s) or read and validate (real datasets) the active dataset; return its card.

    Real datasets: ``dataset.root`` is read by the reader of ``dataset.name`` with
    ``dataset.options`` (:func:`fashionbench.data.datasets.load_manifest`; a missing or incomplete
    root raises the reader's :class:`ConfigError`, which names every expected file and the
    official download page), every image is ``stat``-ed (unless ``options.check_files`` is
    false), and manifest.csv + dataset.json are written together into ``data/prepared``
    atomically: on any error the previous ``data/prepared`` (or none) stays as it was. The
    card records the protocol (:mod:`fashionbench.retrieval.protocols.retrieval`), the reader's counted
    skips and ``images_root`` (relative to ``data/prepared`` when the root is inside the
    project, so a clone that pulls both stays valid). fmnist-c2s: ``dataset.root`` is a stamp
    folder (``datasets/fmnist-c2s``); the four Fashion-MNIST files placed there are used when
    ``dataset.source_dir`` is not set.
    """
    import os

    from fashionbench.retrieval.protocols.retrieval import (
        check_columns,
        resolve_protocol,
    )

    ds = config.dataset_settings(params)
    out = prepared_dir()
    protocol = resolve_protocol(ds["name"], ds.get("protocol"))
    if ds["name"] == "fmnist-c2s":
        from fashionbench.data.datasets import fmnist_c2s
        from fashionbench.data.datasets.fmnist_source import CONTENT_SHA256
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
    from fashionbench.core.atomic import atomic_dir
    from fashionbench.data.datasets import check_options, load_manifest
    from fashionbench.data.datasets.fmnist_c2s import _counts
    from fashionbench.data.manifest import validate_manifest, write_manifest
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
