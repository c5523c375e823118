"""Stage ``embed@<method>``: embed the query and gallery splits with a trained model."""

from __future__ import annotations

from typing import Any, Mapping

from fashionbench.core import config
from fashionbench.core.artifacts import Embeddings, save_embeddings
from fashionbench.core.errors import ConfigError
from fashionbench.core.paths import embeddings_path, model_dir
from fashionbench.data.prepared import load_dataset


def embed(params: Mapping[str, Any], method: str, progress: bool = True) -> Embeddings:
    """Embed the query and gallery splits with ``method``'s trained model.

    ``embed_storage: memmap`` streams the matrices to disk (large galleries; see
    docs/contracts.md); ``loader.num_workers`` decodes with DataLoader workers; ``device``.
    """
    from fashionbench.data.imaging import loader_settings
    from fashionbench.engine.distributed import resolve_device
    from fashionbench.engine.embedding import embed_splits
    from fashionbench.engine.training import load_trained

    settings = config.method_settings(params, method)
    manifest, root = load_dataset(params)
    model, saved = load_trained(model_dir(method))
    _, qcrop, gcrop = config.row_crops(settings)
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
        from fashionbench.engine.embedding import embed_extra_split
        emb.extra.update(embed_extra_split(model, manifest, root, split="train", crop=config.row_crops(settings)[0],
                                           size=int(saved["size"]), progress=progress,
                                           batch_size=int(settings.get("embed_batch_size", 256))))
    save_embeddings(out, emb, storage=storage)
    return emb
