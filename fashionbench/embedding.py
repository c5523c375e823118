"""Embedding extraction: a trained model's L2-normalised features for the query and gallery splits."""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from .artifacts import Embeddings, fingerprint
from .imaging import CropDataset


@torch.no_grad()
def embed_dataset(model: nn.Module, ds: CropDataset, batch_size: int = 256, progress: bool = True,
                  desc: str = "embed") -> np.ndarray:
    """Features [N, D] float32, L2-normalised, in ``ds`` row order (model in eval mode)."""
    from tqdm.auto import tqdm

    model.eval()
    out = []
    for i in tqdm(range(0, len(ds), batch_size), desc=desc, disable=not progress):
        x = ds.batch(torch.arange(i, min(i + batch_size, len(ds))))[0]
        f = model(x)["embedding"].float()
        out.append(torch.nn.functional.normalize(f, dim=1).numpy())
    dim = out[0].shape[1] if out else 0
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


def embed_splits(model: nn.Module, manifest: pd.DataFrame, root: str | os.PathLike, *, query_crop: str,
                 gallery_crop: str, size: int, name: str, params: Mapping[str, Any],
                 batch_size: int = 256, progress: bool = True) -> Embeddings:
    """Embed the manifest's ``query`` and ``gallery`` rows into an :class:`Embeddings` artifact."""
    sides = {}
    for split, crop in (("query", query_crop), ("gallery", gallery_crop)):
        rows = manifest[manifest["split"] == split].reset_index(drop=True)
        ds = CropDataset(rows, root, crop, size, cache=False)
        sides[split] = (rows, embed_dataset(model, ds, batch_size, progress, desc=f"embed {split}"))
    (q_rows, q), (g_rows, g) = sides["query"], sides["gallery"]
    return Embeddings(query=q, gallery=g,
                      query_ids=q_rows["uid"].to_numpy(str), gallery_ids=g_rows["uid"].to_numpy(str),
                      query_labels=q_rows["item_id"].to_numpy(str), gallery_labels=g_rows["item_id"].to_numpy(str),
                      query_categories=q_rows["category"].to_numpy(str),
                      gallery_categories=g_rows["category"].to_numpy(str),
                      model=name, fingerprint=fingerprint(name, params)).validate(name)
