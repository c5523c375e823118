"""Stage ``crops@<mode>``: one trained model evaluated under each crop mode (claim shang-3)."""

from __future__ import annotations

from typing import Any, Mapping

from fashionbench.core.paths import model_dir
from fashionbench.data.prepared import load_card, load_dataset
from fashionbench.detection.settings import crop_eval_name, crop_eval_settings

from fashionbench.core import config
from fashionbench.pipeline.evaluate import score_ranking
from fashionbench.core.errors import ConfigError


def run_crop_eval(params: Mapping[str, Any], crop: str, progress: bool = True) -> dict[str, float]:
    """Embed query/gallery with ``crop_eval.model``'s trained model under crop ``crop``; score it.

    Saves the ranking, per-query scores and metrics of row ``<model>-crop-<crop>`` through
    :func:`fashionbench.pipeline.score_ranking` and returns the metrics.
    """
    from fashionbench.engine.embedding import embed_splits
    from fashionbench.engine.training import load_trained
    from fashionbench.retrieval.protocols.retrieval import (
        protocol_from_card,
        rank_embeddings,
    )

    s = crop_eval_settings(params)
    if crop not in s["crops"]:
        raise ConfigError(f"crop: {crop!r} is not in crop_eval.crops {s['crops']}")
    name = crop_eval_name(params, crop)
    qcrop, gcrop = config.crop_settings(params, name)
    mdir = model_dir(s["model"])
    if not (mdir / "model.pt").is_file():
        raise ConfigError(f"crop_eval.model: no trained model in {mdir}; run train@{s['model']} first")
    manifest, images_root = load_dataset(params)
    model, saved = load_trained(mdir)
    msettings = config.method_settings(params, s["model"])
    emb = embed_splits(model, manifest, images_root, query_crop=qcrop, gallery_crop=gcrop, size=int(saved["size"]),
                       name=name, params={"crop_eval": s, "crop": crop, "settings": msettings, "seed": params["seed"]},
                       batch_size=int(msettings.get("embed_batch_size", 256)), progress=progress)
    ev = config.profile_settings(params).get("eval", {})
    ranking = rank_embeddings(emb, int(ev.get("top_k", 100)), manifest, protocol_from_card(load_card()))
    ranking.model = name
    return score_ranking(params, name, ranking)
