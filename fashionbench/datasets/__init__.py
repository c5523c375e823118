"""Dataset readers: each turns a dataset's official files into a manifest DataFrame.

``load_manifest(name, root)`` is the one entry point; the registry below maps a dataset name
(the ``dataset.name`` parameter) to the module that reads it. Modules are imported lazily so
that a reader's optional dependencies never slow down or break the others.
"""

from __future__ import annotations

import importlib
import os

import pandas as pd

from ..errors import ConfigError
from ..manifest import validate_manifest

#: dataset name -> module under fashionbench.datasets exposing ``load(root) -> DataFrame``
READERS: dict[str, str] = {
    "fmnist-c2s": "fmnist_c2s",
    "inshop": "inshop",
    "consumer2shop": "consumer2shop",
    "deepfashion2": "deepfashion2",
    "street2shop": "street2shop",
    "manifest": "generic",
}


def load_manifest(name: str, root: str | os.PathLike) -> pd.DataFrame:
    """Read dataset ``name`` stored under ``root`` into a validated manifest DataFrame."""
    if name not in READERS:
        raise ConfigError(f"dataset.name: unknown dataset {name!r}; known: {sorted(READERS)}")
    module = importlib.import_module(f"{__name__}.{READERS[name]}")
    df = module.load(root)
    return validate_manifest(df, f"{name} manifest under {root}")
