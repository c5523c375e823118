"""Dataset readers: each turns a dataset's official files into a manifest DataFrame.

``load_manifest(name, root, options)`` is the one entry point; the registry below maps a
dataset name (the ``dataset.name`` parameter) to the module that reads it. Modules are
imported lazily so that a reader's optional dependencies never slow down or break the others.

``options`` (the ``dataset.options`` parameter) are passed to the reader's ``load`` as keyword
arguments; :func:`reader_options` lists what each reader accepts (its keyword-only parameters
and their defaults). An unknown option is a :class:`~fashionbench.errors.ConfigError` naming
``dataset.options.<key>`` and the accepted ones. The readers' own options:

=================  ==========================================================================
inshop             ``check_files``, ``read_sizes``, ``orphan_queries`` (error)
consumer2shop      ``check_files``, ``read_sizes``, ``orphan_queries`` (skip)
deepfashion2       ``splits`` (train, validation), ``check_files``, ``read_sizes``,
                   ``orphan_queries`` (keep)
street2shop        ``categories`` (all 11), ``gallery_exclude_train_products`` (False),
                   ``skip_incomplete_products`` (True), ``orphan_queries`` (skip)
manifest           ``check_files``, ``orphan_queries`` (error)
=================  ==========================================================================
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Mapping

import pandas as pd

from fashionbench.core.errors import ConfigError
from fashionbench.data.manifest import validate_manifest

#: dataset name -> module under fashionbench.data.datasets exposing ``load(root, **options) -> DataFrame``
READERS: dict[str, str] = {
    "fmnist-c2s": "fmnist_c2s",
    "inshop": "inshop",
    "consumer2shop": "consumer2shop",
    "deepfashion2": "deepfashion2",
    "street2shop": "street2shop",
    "manifest": "generic",
}


def _reader(name: str) -> Any:
    if name not in READERS:
        raise ConfigError(f"dataset.name: unknown dataset {name!r}; known: {sorted(READERS)}")
    return importlib.import_module(f"{__name__}.{READERS[name]}")


def reader_options(name: str) -> dict[str, Any]:
    """The options reader ``name`` accepts (``dataset.options`` keys) with their defaults."""
    sig = inspect.signature(_reader(name).load)
    return {p.name: p.default for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``options`` as a dict, or raise :class:`ConfigError` for a key reader ``name`` lacks."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"dataset.options: must be a mapping of reader options, got {options!r}")
    known = reader_options(name)
    for key, value in options.items():
        if key not in known:
            raise ConfigError(f"dataset.options.{key}: dataset {name!r} has no such option; its reader "
                              f"accepts {sorted(known) or 'none'}")
        if isinstance(known[key], tuple) and not isinstance(value, (list, tuple)):
            raise ConfigError(f"dataset.options.{key}: must be a list, e.g. [{value}], got {value!r}")
        if isinstance(known[key], bool) and not isinstance(value, bool):
            raise ConfigError(f"dataset.options.{key}: must be true or false, got {value!r}")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items()}


def load_manifest(name: str, root: str | os.PathLike, options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Read dataset ``name`` stored under ``root`` into a validated manifest DataFrame.

    ``options`` are the reader's keyword options (``dataset.options``, see the module
    docstring). Rows the reader dropped on purpose are counted in ``df.attrs['load_report']``.
    """
    module = _reader(name)
    df = module.load(root, **check_options(name, options))
    report = df.attrs.get("load_report")
    out = validate_manifest(df, f"{name} manifest under {root}")
    if report is not None:
        out.attrs["load_report"] = report
    return out
