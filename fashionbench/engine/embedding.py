"""Embedding extraction: a trained model's L2-normalised features for the query and gallery splits.

A model that also outputs ``category_logits`` (a category classifier, e.g. ``shang``'s router,
arch ``classifier``) gets its category predictions saved beside the features, as ``extra_*``
arrays of the embedding file: ``query_category_logits`` / ``gallery_category_logits`` [N, C]
float32, ``query_category_pred`` / ``gallery_category_pred`` [N] str (argmax, first on ties,
mapped through the training category vocabulary) and ``category_vocab`` [C] str.

Large runs stream to disk: ``embed_dataset(..., out=path)`` writes each batch's features into
a memory-mapped ``.npy`` (temp name, renamed when complete) and returns it opened read-only, so
a gallery of millions of images never has to fit in RAM; ``embed_splits(..., out=<name>.npz)``
does so for both splits, in the ``storage="memmap"`` layout of ``fashionbench.core.artifacts``.
``num_workers`` decodes with ``torch.utils.data`` workers (same result for any value).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from fashionbench.core.artifacts import Embeddings, fingerprint, memmap_paths
from fashionbench.core.atomic import atomic_path
from fashionbench.data.imaging import CropDataset, batch_loader


@torch.no_grad()
def embed_dataset(model: nn.Module, ds: CropDataset, batch_size: int = 256, progress: bool = True,
                  desc: str = "embed", collect: dict[str, list[np.ndarray]] | None = None, *,
                  num_workers: int = 0, out: str | os.PathLike | None = None,
                  device: torch.device | str | None = None) -> np.ndarray:
    """Features [N, D] float32, L2-normalised, in ``ds`` row order (model in eval mode).

    With a ``collect`` dict, the model's ``category_logits`` (when it outputs them) are appended
    to ``collect["category_logits"]`` batch by batch (float32 numpy arrays).
    ``num_workers``: DataLoader workers decoding the batches (same result for any value).
    ``out``: stream the features into this ``.npy`` file (written under a temp name, renamed
    when complete) and return it memory-mapped read-only; one batch at a time is in RAM.
    ``device``: where the model runs (default: where its parameters are).
    """
    from fashionbench.core.progress import progress_bar

    model.eval()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    batches = [torch.arange(i, min(i + batch_size, len(ds))) for i in range(0, len(ds), batch_size)]

    def features() -> Iterator[np.ndarray]:
        for b in progress_bar(batch_loader(ds, batches, num_workers), total=len(batches), desc=desc,
                              disable=not progress):
            outputs = model(b[0].to(dev))
            if collect is not None and "category_logits" in outputs:
                collect.setdefault("category_logits", []).append(outputs["category_logits"].float().cpu().numpy())
            yield torch.nn.functional.normalize(outputs["embedding"].float(), dim=1).cpu().numpy()

    if out is None:
        parts = list(features())
        dim = parts[0].shape[1] if parts else 0
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)
    if not len(ds):
        raise ValueError(f"{out}: nothing to embed (0 rows)")
    with atomic_path(out, suffix=".npy") as tmp:
        mm, row = None, 0
        for f in features():
            if mm is None:  # the dimension is known after the first batch
                mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ds), f.shape[1]))
            mm[row:row + len(f)] = f
            row += len(f)
        mm.flush()
        del mm
    return np.load(out, mmap_mode="r")


def embed_extra_split(model: nn.Module, manifest: pd.DataFrame, root: str | os.PathLike, *, split: str,
                      crop: str, size: int, batch_size: int = 256, progress: bool = True) -> dict[str, np.ndarray]:
    """Features of every ``split`` row of the manifest, as ``extra_*`` arrays of an embedding file.

    Returns ``{split: [N, D] float32 L2-normalised, f"{split}_ids": uids, f"{split}_labels":
    item ids}`` in manifest order (e.g. ``split="train"`` for PCA whitening learned on the train
    split, ``fashionbench.postprocess`` ``fit_on: train``). An empty split is a ContractError.
    """
    from fashionbench.core.errors import ContractError

    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ContractError(f"manifest: no {split!r} rows to embed")
    ds = CropDataset(rows, root, crop, size, cache=False)
    feats = embed_dataset(model, ds, batch_size, progress, desc=f"embed {split}")
    return {split: feats, f"{split}_ids": rows["uid"].to_numpy(str),
            f"{split}_labels": rows["item_id"].to_numpy(str)}


def embed_splits(model: nn.Module, manifest: pd.DataFrame, root: str | os.PathLike, *, query_crop: str,
                 gallery_crop: str, size: int, name: str, params: Mapping[str, Any],
                 batch_size: int = 256, progress: bool = True,
                 category_vocab: Sequence[str] | None = None, num_workers: int = 0,
                 out: str | os.PathLike | None = None, device: torch.device | str | None = None) -> Embeddings:
    """Embed the manifest's ``query`` and ``gallery`` rows into an :class:`Embeddings` artifact.

    ``out`` (the embedding file ``<name>.npz`` to be written with ``storage="memmap"``): stream
    the two matrices to its ``<name>.query.npy`` / ``<name>.gallery.npy`` (the returned artifact
    holds them memory-mapped; save it with ``save_embeddings(out, emb, storage="memmap")``).

    When the model outputs ``category_logits`` and ``category_vocab`` (the training category
    vocabulary, ``model.pt``'s ``category_vocab``) is given, the category logits and predictions
    are added as extras (module docstring).
    """
    from fashionbench.core.errors import ContractError

    sides = {}
    extra: dict[str, np.ndarray] = {}
    files = memmap_paths(out) if out is not None else {}
    for split, crop in (("query", query_crop), ("gallery", gallery_crop)):
        rows = manifest[manifest["split"] == split].reset_index(drop=True)
        ds = CropDataset(rows, root, crop, size, cache=False)
        collect: dict[str, list[np.ndarray]] = {}
        sides[split] = (rows, embed_dataset(model, ds, batch_size, progress, desc=f"embed {split}",
                                            collect=collect, num_workers=num_workers, out=files.get(split),
                                            device=device))
        if collect.get("category_logits") and category_vocab is not None:
            logits = np.concatenate(collect["category_logits"]).astype(np.float32)
            vocab = np.asarray(list(category_vocab), dtype=str)
            if logits.shape != (len(rows), len(vocab)):
                raise ContractError(f"{name}: category logits {logits.shape} do not match {len(rows)} {split} "
                                    f"rows x {len(vocab)} categories of the training vocabulary")
            extra[f"{split}_category_logits"] = logits
            extra[f"{split}_category_pred"] = vocab[np.argmax(logits, axis=1)]
            extra["category_vocab"] = vocab
    (q_rows, q), (g_rows, g) = sides["query"], sides["gallery"]
    return Embeddings(query=q, gallery=g,
                      query_ids=q_rows["uid"].to_numpy(str), gallery_ids=g_rows["uid"].to_numpy(str),
                      query_labels=q_rows["item_id"].to_numpy(str), gallery_labels=g_rows["item_id"].to_numpy(str),
                      query_categories=q_rows["category"].to_numpy(str),
                      gallery_categories=g_rows["category"].to_numpy(str),
                      model=name, fingerprint=fingerprint(name, params), extra=extra).validate(name)
