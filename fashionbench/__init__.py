"""fashionbench: reproducible benchmark suite for fashion image retrieval.

The package is layered; a floor imports only the floors below it (``tests/test_layers.py``):

    core       errors, atomic writes, params and settings, paths, artifact contracts, statistics
    data       manifests, images, augmentation, samplers, splits, the prepared dataset, readers
    models     backbones, heads, losses (one ``build_model`` / ``build_loss``), ImageNet weights
    engine     training, distributed training, embedding
    retrieval  search, metrics, post-processing, re-ranking, fusion, dataset protocols
    detection  boxes, AP50, YOLO, weighted boxes fusion
    reporting  tables, plots, HTML rendering
    papers     one unit per reproduced paper (quoted tables, claims, report sections)
    pipeline   one module per DVC stage
    cli        ``python -m fashionbench.cli``

The functions users call from their own code are importable from here; they load lazily, so
``import fashionbench`` loads neither torch nor faiss.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings as _warnings

__version__ = "0.1.0"

# timm imports huggingface_hub, which imports tqdm.auto; inside a Jupyter kernel without ipywidgets
# that import warns "IProgress not found" in every stage notebook. fashionbench draws text bars
# (fashionbench.core.progress), so the hint about widget bars does not apply: silence that one message.
_warnings.filterwarnings("ignore", message="IProgress not found")

#: public name -> module that defines it (loaded on first access)
_API = {
    "evaluate": "fashionbench.retrieval.metrics",
    "search": "fashionbench.retrieval.search",
    "k_reciprocal": "fashionbench.retrieval.rerank",
    "load_manifest": "fashionbench.data.datasets",
    "read_manifest": "fashionbench.data.manifest",
    "iou": "fashionbench.detection.boxes",
    "union": "fashionbench.detection.boxes",
    "average_precision": "fashionbench.detection.boxes",
    "load_pretrained": "fashionbench.models.pretrained",
    "load_embeddings": "fashionbench.core.artifacts",
    "load_ranking": "fashionbench.core.artifacts",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fashionbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


#: modules that moved one to one in the restructure (old -> new): importing the old path still works
MOVED = {
    "errors": "core.errors", "atomic": "core.atomic", "validate": "core.validate", "progress": "core.progress",
    "config": "core.config", "artifacts": "core.artifacts", "stats": "core.stats", "setup_offline": "core.offline",
    "manifest": "data.manifest", "imaging": "data.imaging", "augment": "data.augment", "samplers": "data.samplers",
    "datasets": "data.datasets", "pretrained": "models.pretrained",
    "metrics": "retrieval.metrics", "postprocess": "retrieval.postprocess",
    "rerank": "retrieval.rerank", "fusion": "retrieval.fusion", "routing": "retrieval.routing",
    "compose": "retrieval.compose", "protocols": "retrieval.protocols", "boxes": "detection.boxes",
    "detect": "detection.yolo", "training": "engine.training", "distributed": "engine.distributed",
    "embedding": "engine.embedding", "report": "reporting.report", "render": "reporting.render",
    "postprocess_view": "pipeline.postprocess_view", "claims": "papers.claims",
    "shang_report": "papers.shang.report", "chen_report": "papers.chen.report", "ji_report": "papers.ji.report",
    "zhan_report": "papers.zhan.report",
}
#: modules that were split: importing the old path fails with a pointer to the new homes
SPLIT = {
    "stages": "fashionbench.pipeline.<stage> (prepare, train, embed, evaluate), fashionbench.core.paths "
              "(artifact paths) and fashionbench.data.prepared (load_dataset, load_card)",
    "detection_stage": "fashionbench.pipeline.detect, fashionbench.pipeline.crops, fashionbench.detection.settings, "
                       "fashionbench.detection.predictions and fashionbench.reporting.detection",
    "triplets": "fashionbench.papers.zhan.triplets, fashionbench.data.splits and fashionbench.pipeline.triplet_eval",
    "park_report": "fashionbench.papers.park.report and fashionbench.pipeline.category_eval",
    # the old module name is also the public function fashionbench.search (it would shadow it)
    "search": "fashionbench.retrieval.search (the function itself: fashionbench.search)",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Old module paths: an alias of the moved module (with a DeprecationWarning), or a clear
    ImportError naming the new modules for the ones that were split."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("fashionbench."):
            return None
        head, _, rest = fullname[len("fashionbench."):].partition(".")
        if head in SPLIT and not rest:
            return importlib.util.spec_from_loader(fullname, self)
        if head in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        head, _, rest = spec.name[len("fashionbench."):].partition(".")
        if head in SPLIT:
            raise ImportError(f"{spec.name} was split in the restructure: use {SPLIT[head]}")
        new = f"fashionbench.{MOVED[head]}" + (f".{rest}" if rest else "")
        _warnings.warn(f"{spec.name} moved to {new}", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new)
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module):  # the aliased module is already executed
        return None


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
