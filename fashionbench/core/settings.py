"""The typed schema of ``params.yaml``: every setting, its type, range and default.

``check_params(params)`` validates a whole parsed params file: the top level, every profile, every
``methods:`` row *as merged under each profile* (``profiles.<p>.train`` <- row <- the row's
``profiles.<p>`` block, see :mod:`fashionbench.core.config`), the fusion/rerank rows and the
stage blocks (detect, detectors, crop_eval, category_eval, triplet_eval, postprocess_view). It
raises one :class:`~fashionbench.core.errors.ConfigError` listing every problem, each as
``<full key path>: <what was expected>, got <value>``, e.g.
``methods.baseline.epochs: expected an integer >= 1, got 0``.

Why pydantic (v2) rather than dataclasses: each error comes with its location inside the
nested data for free (so the message can name ``methods.<row>.model.embedding_dim``),
``extra="forbid"`` refuses unknown keys (typos) at every level without hand-written key lists,
and constrained/``Literal``/tagged-union types state ranges and choices in the declaration
instead of in ~14 hand-written readers.

This module imports neither torch nor faiss: the allowed values of the torch-importing readers
(optimizers, model archs, losses, samplers, ...) are re-declared here. Those readers still check
their own blocks too; until they read their typed values from this schema, a new choice must be
added in both places (tests/test_settings.py accepts the real params.yaml, which catches a miss).
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PlainValidator, Tag, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from fashionbench.core import config
from fashionbench.core.errors import ConfigError

# ----------------------------------------------------------------------------- constrained scalars


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _range(ge: float | None, gt: float | None, le: float | None, lt: float | None) -> str:
    parts = []
    if ge is not None:
        parts.append(f">= {_fmt(ge)}")
    if gt is not None:
        parts.append(f"> {_fmt(gt)}")
    if le is not None:
        parts.append(f"<= {_fmt(le)}")
    if lt is not None:
        parts.append(f"< {_fmt(lt)}")
    return (" " + " and ".join(parts)) if parts else ""


def _int_check(ge: float | None = None, le: float | None = None):
    want = "expected an integer" + _range(ge, None, le, None)

    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or (ge is not None and v < ge) or (le is not None and v > le):
            raise PydanticCustomError("fb_value", want)
        return v
    return check


def _num_check(ge=None, gt=None, le=None, lt=None):
    want = "expected a number" + _range(ge, gt, le, lt)

    def check(v: Any) -> float:
        if isinstance(v, str):
            try:
                float(v)
                want_s = want + " (YAML reads this as a string: write e.g. 1.0e-3, not 1e-3)"
            except ValueError:
                want_s = want
            raise PydanticCustomError("fb_value", want_s)
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v
                or (ge is not None and v < ge) or (gt is not None and v <= gt)
                or (le is not None and v > le) or (lt is not None and v >= lt)):
            raise PydanticCustomError("fb_value", want)
        return v
    return check


def Int(ge: int | None = None, le: int | None = None) -> Any:
    """An integer (never a bool or float) in the given range."""
    return Annotated[int, PlainValidator(_int_check(ge, le))]


def Num(ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None) -> Any:
    """A number (int or float, never a bool or string) in the given range."""
    return Annotated[float, PlainValidator(_num_check(ge, gt, le, lt))]


def _bool_check(v: Any) -> bool:
    if not isinstance(v, bool):
        raise PydanticCustomError("fb_value", "expected true or false")
    return v


def _str_check(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise PydanticCustomError("fb_value", "expected a non-empty string")
    return v


Bool = Annotated[bool, PlainValidator(_bool_check)]
Str = Annotated[str, PlainValidator(_str_check)]
Names = list[Str]

CropMode = Literal["given", "gt", "full", "detected", "union", "fused"]
Pooling = Literal["avg", "spoc", "mac", "gem"]


class Strict(BaseModel):
    """Base of every block: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- model: blocks (per arch)


class _Backbone(Strict):
    backbone: Str
    in_chans: Int(ge=1) = 3
    output_stride: Literal[8, 16, 32] = 32
    # "imagenet" (packaged weights) or {path, sha256, key_map}: checked by models.pretrained
    pretrained: Optional[Union[Literal["imagenet"], dict[str, Any]]] = None


class _Pooled(_Backbone):
    pooling: Pooling = "avg"
    gem_p: Num(ge=1.0) = 3.0


class GlobalModel(_Pooled):
    arch: Literal["global"] = "global"
    embedding_dim: Optional[Int(ge=1)] = None


class TripletModel(_Pooled):
    arch: Literal["triplet"]


class CGDModel(_Backbone):
    arch: Literal["cgd"]
    descriptors: list[Pooling] = Field(default_factory=lambda: ["gem", "mac"], min_length=1)
    embedding_dim: Int(ge=1) = 1024
    gem_p: Num(ge=1.0) = 3.0

    @model_validator(mode="after")
    def _divides(self) -> "CGDModel":
        if self.embedding_dim % len(self.descriptors):
            raise PydanticCustomError("fb_value", "embedding_dim must divide by the number of descriptors")
        return self


class RelaxationModel(_Pooled):
    arch: Literal["relaxation"]
    embedding_dim: Optional[Int(ge=1)] = None
    relaxation_dim: Int(ge=1) = 512
    dropout: Num(ge=0.0, le=1.0) = 0.5


class MGPAModel(_Backbone):
    arch: Literal["mgpa"]
    output_stride: Literal[8, 16, 32] = 16
    parts: Union[Literal["all", "horizontal", "vertical", "annular"], list[Str]] = "all"  # list: models.mgpa
    reduce_dim: Int(ge=1) = 256


class CosineModel(_Pooled):
    arch: Literal["cosine"]
    embedding_dim: Int(ge=1) = 512
    scale: Num(gt=0.0) = 30.0


class ClassifierModel(_Pooled):
    arch: Literal["classifier"]


def _tag(key: str, default: str):
    def pick(v: Any) -> Any:
        return v.get(key, default) if isinstance(v, Mapping) else getattr(v, key, default)
    return pick


ModelSpec = Annotated[Union[
    Annotated[GlobalModel, Tag("global")], Annotated[TripletModel, Tag("triplet")],
    Annotated[CGDModel, Tag("cgd")], Annotated[RelaxationModel, Tag("relaxation")],
    Annotated[MGPAModel, Tag("mgpa")], Annotated[CosineModel, Tag("cosine")],
    Annotated[ClassifierModel, Tag("classifier")],
], Discriminator(_tag("arch", "global"), custom_error_type="fb_value",
                 custom_error_message="expected arch one of global, triplet, cgd, relaxation, mgpa, cosine, "
                                      "classifier")]

# ----------------------------------------------------------------------------- loss: blocks (per loss)

Miner = Literal["batch_hard", "semihard", "hard", "all"]


class CELoss(Strict):
    loss: Literal["ce"] = "ce"
    label_smoothing: Num(ge=0.0, le=1.0) = 0.0


class CategoryCELoss(Strict):
    loss: Literal["category_ce"]
    label_smoothing: Num(ge=0.0, le=1.0) = 0.0


class MGPACELoss(Strict):
    loss: Literal["mgpa_ce"]
    label_smoothing: Num(ge=0.0, le=1.0) = 0.0


class AMSoftmaxLoss(Strict):
    loss: Literal["am_softmax"]
    s: Num(gt=0.0) = 30.0
    m: Num(ge=0.0) = 0.35
    classifier: Literal["model", "loss"] = "model"


class ParkLoss(Strict):
    loss: Literal["park"]
    alpha: Num(ge=0.0) = 1.0
    beta: Num(ge=0.0) = 0.1
    margin: Num(ge=0.0) = 0.3
    labels: Literal["instance", "category", "none"] = "instance"
    miner: Miner = "batch_hard"
    normalize: Bool = True


class ZhanTripletLoss(Strict):
    loss: Literal["zhan_triplet"]
    margin: Num(ge=0.0) = 1.0
    negatives: Int(ge=1) = 4
    easy_fraction: Num(ge=0.0) = 0.25
    seed: Int(ge=0) = 0
    normalize: Bool = False


class JiWeights(Strict):
    ce: Num(ge=0.0) = 1.0
    center: Num(ge=0.0) = 0.0005
    triplet: Num(ge=0.0) = 1.0
    ms: Num(ge=0.0) = 1.0


class JiMultiLoss(Strict):
    loss: Literal["ji_multi"]
    weights: Optional[JiWeights] = None
    margin: Num(ge=0.0) = 0.3
    triplet_miner: Miner = "batch_hard"
    ms_alpha: Num(gt=0.0) = 2.0
    ms_beta: Num(gt=0.0) = 50.0
    ms_base: Num() = 0.5
    ms_miner: Bool = True
    ms_epsilon: Num(ge=0.0) = 0.1
    label_smoothing: Num(ge=0.0, le=1.0) = 0.0


LossSpec = Annotated[Union[
    Annotated[CELoss, Tag("ce")], Annotated[CategoryCELoss, Tag("category_ce")],
    Annotated[MGPACELoss, Tag("mgpa_ce")], Annotated[AMSoftmaxLoss, Tag("am_softmax")],
    Annotated[ParkLoss, Tag("park")], Annotated[ZhanTripletLoss, Tag("zhan_triplet")],
    Annotated[JiMultiLoss, Tag("ji_multi")],
], Discriminator(_tag("loss", "ce"), custom_error_type="fb_value",
                 custom_error_message="expected loss one of ce, category_ce, mgpa_ce, am_softmax, park, "
                                      "zhan_triplet, ji_multi")]

# ----------------------------------------------------------------------------- training blocks


class Distributed(Strict):
    """``train.distributed`` (engine.distributed.settings)."""

    nproc: Int(ge=1) = 1
    nnodes: Int(ge=1) = 1
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    batchnorm: Literal["auto", "sync", "local", "frozen"] = "auto"
    master_addr: Optional[Str] = None
    master_port: Int(ge=1, le=65535) = 29500

    @model_validator(mode="after")
    def _addr(self) -> "Distributed":
        if self.nnodes > 1 and not self.master_addr:
            raise PydanticCustomError("fb_value", "master_addr is required when nnodes > 1")
        return self


class Loader(Strict):
    """``train.loader`` (data.imaging.loader_settings)."""

    cache: Bool = True
    num_workers: Int(ge=0) = 0


class Augment(Strict):
    flip: Bool = True
    shift: Int(ge=0) = 0


class Expansion(Strict):
    """``expansion`` (data.augment.expansion_settings): shang's expansion crops."""

    n: Int(ge=1) = 5
    min: Union[Num(ge=0.0, le=1.0), tuple[Num(ge=0.0, le=1.0), Num(ge=0.0, le=1.0)]] = 0.15
    max: Union[Num(ge=0.0, le=1.0), tuple[Num(ge=0.0, le=1.0), Num(ge=0.0, le=1.0)]] = 0.85
    keep_original: Bool = True

    @model_validator(mode="after")
    def _ranges(self) -> "Expansion":
        lo = (0.0, self.min) if not isinstance(self.min, tuple) else self.min
        hi = (self.max, 1.0) if not isinstance(self.max, tuple) else self.max
        if lo[0] > lo[1] or hi[0] > hi[1] or lo[1] >= hi[0]:
            raise PydanticCustomError("fb_value", "expected 0 <= min <= max <= 1 with min below max")
        return self


class TrainSettings(Strict):
    """Training keys: a ``profiles.<p>.train`` block holds any of them (profile-wide defaults)."""

    img_size: Optional[Int(ge=8)] = None
    epochs: Int(ge=1) = 1
    batch_size: Int(ge=1) = 64
    threads: Int(ge=0) = 0
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    distributed: Distributed = Distributed()
    loader: Loader = Loader()
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: Num(gt=0.0) = 1e-3
    weight_decay: Num(ge=0.0) = 0.0
    momentum: Num(ge=0.0, lt=1.0) = 0.9
    schedule: Literal["none", "cosine", "step"] = "none"
    milestones: list[Int(ge=1)] = []
    gamma: Num(gt=0.0) = 0.1
    sampler: Literal["random", "identity", "domain"] = "random"
    samples_per_item: Int(ge=1) = 4
    shop_per_item: Int(ge=1) = 1
    consumer_per_item: Int(ge=1) = 1
    items_per_category: Optional[Int(ge=1)] = None
    drop_last: Bool = True
    augment: Augment = Augment()
    embed_storage: Literal["npz", "memmap"] = "npz"
    embed_batch_size: Int(ge=1) = 256


class MethodSettings(TrainSettings):
    """One ``methods:`` row after merging (profile train defaults <- row <- row's profile block)."""

    group: Str
    notebook: Str
    description: str = ""
    img_size: Int(ge=8)
    model: ModelSpec = GlobalModel(backbone="resnet18")
    loss: LossSpec = CELoss()
    crop: CropMode = "given"
    query_crop: Optional[CropMode] = None
    gallery_crop: Optional[CropMode] = None
    train_filter: Optional[dict[str, Union[Str, list[Str]]]] = None
    expansion: Optional[Expansion] = None
    category_column: Str = "category"
    holdout: Optional[Num(ge=0.0, lt=1.0)] = None
    embed_train: Bool = False
    #: seed of this row's training only (new layers' init, batch order, augmentation, crop expansion);
    #: None = the top-level ``seed``. The data, its splits and the held-out items keep the top-level seed,
    #: so rows that differ only in ``train_seed`` measure the seed-to-seed spread of one configuration.
    train_seed: Optional[Int(ge=0)] = None
    #: a seed replicate: the name of the row this one repeats with another ``train_seed`` (claims use the
    #: replicates' spread; tables show the row, not each replicate)
    replicate_of: Optional[Str] = None

    @model_validator(mode="before")
    @classmethod
    def _no_expansion(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("expansion") is False:  # expansion: false = none
            data = {**data, "expansion": None}
        return data

    @model_validator(mode="after")
    def _batches(self) -> "MethodSettings":
        per = {"identity": self.samples_per_item, "domain": self.shop_per_item + self.consumer_per_item}.get(self.sampler)
        if per and (self.batch_size % per or self.batch_size < per):
            raise PydanticCustomError("fb_value", f"batch_size {self.batch_size} must be a multiple of the images "
                                      f"per item of sampler {self.sampler!r} ({per})")
        if not self.notebook.endswith(".ipynb"):
            raise PydanticCustomError("fb_value", f"notebook must be a .ipynb file, got {self.notebook!r}")
        return self

# ----------------------------------------------------------------------------- post-processing steps


class PCAWhiten(Strict):
    name: Literal["pca_whiten"]
    fit_on: Literal["gallery", "train"] = "gallery"
    dim: Optional[Int(ge=1)] = None
    eps: Num(gt=0.0) = 1e-6


class QueryExpansion(Strict):
    name: Literal["query_expansion"]
    top_k: Int(ge=1) = 5
    alpha: Num(ge=0.0) = 0.0


class DBA(Strict):
    name: Literal["dba"]
    top_k: Int(ge=1) = 5
    alpha: Num(ge=0.0) = 0.0


class KReciprocal(Strict):
    name: Literal["k_reciprocal"]
    k1: Int(ge=1) = 20
    k2: Int(ge=1) = 6
    lambda_value: Num(ge=0.0, le=1.0) = 0.3


class Top1(Strict):
    name: Literal["top1"]
    depth: Int(ge=2) = 10
    metric: Optional[Literal["sqeuclidean", "cosine", "fused"]] = None


RANKING_STEPS = ("k_reciprocal", "top1")
Step = Annotated[Union[
    Annotated[PCAWhiten, Tag("pca_whiten")], Annotated[QueryExpansion, Tag("query_expansion")],
    Annotated[DBA, Tag("dba")], Annotated[KReciprocal, Tag("k_reciprocal")], Annotated[Top1, Tag("top1")],
], Discriminator(_tag("name", None), custom_error_type="fb_value",
                 custom_error_message="expected a step with name one of pca_whiten, query_expansion, dba, "
                                      "k_reciprocal, top1")]


def _steps_order(steps: list) -> list:
    for s in steps[:-1]:
        if s.name in RANKING_STEPS:
            raise PydanticCustomError("fb_value", f"ranking step {s.name!r} must be the last step")
    return steps


Steps = Annotated[list[Step], Field(min_length=1)]

# ----------------------------------------------------------------------------- rows of fusions / reranks


class ConcatFusion(Strict):
    group: Str
    kind: Literal["concat"] = "concat"
    inputs: Annotated[Names, Field(min_length=1)]
    weights: Optional[list[Num(ge=0.0)]] = None
    description: str = ""
    top_k: Optional[Int(ge=1)] = None

    @model_validator(mode="after")
    def _weights(self) -> "ConcatFusion":
        if self.weights is not None and len(self.weights) != len(self.inputs):
            raise PydanticCustomError("fb_value", "weights: one weight per input expected")
        return self


class RouteFusion(Strict):
    group: Str
    kind: Literal["route"]
    routes: Annotated[dict[str, Annotated[Names, Field(min_length=1)]], Field(min_length=1)]
    router: Str = "oracle"
    gallery_routing: Literal["router", "labels"] = "router"
    inputs: Optional[Names] = None
    description: str = ""
    top_k: Optional[Int(ge=1)] = None

    def methods(self) -> list[str]:
        """The method rows this fusion reads (routes, then the router)."""
        out = [m for ms in self.routes.values() for m in ms]
        return list(dict.fromkeys(out + ([] if self.router == "oracle" else [self.router])))


Fusion = Annotated[Union[Annotated[ConcatFusion, Tag("concat")], Annotated[RouteFusion, Tag("route")]],
                   Discriminator(_tag("kind", "concat"), custom_error_type="fb_value",
                                 custom_error_message="expected kind one of concat, route")]


class Rerank(Strict):
    group: Str
    input: Str
    steps: Steps
    description: str = ""

    @model_validator(mode="after")
    def _order(self) -> "Rerank":
        _steps_order(self.steps)
        return self

# ----------------------------------------------------------------------------- stage blocks


class WBF(Strict):
    iou_thr: Num(ge=0.0, le=1.0) = 0.55
    skip_box_thr: Num(ge=0.0, le=1.0) = 0.0
    conf_type: Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"] = "avg"


class Detect(Strict):
    """``detect:`` (detection.settings.DETECT_DEFAULTS), after its ``profiles.<p>`` override."""

    primary: Optional[Str] = None
    crop_conf: Num(ge=0.0, le=1.0) = 0.25
    conf: Num(ge=0.0, le=1.0) = 0.001
    iou: Num(ge=0.0, le=1.0) = 0.7
    max_det: Int(ge=1) = 100
    predict_batch: Int(ge=1) = 64
    val_fraction: Num(ge=0.0, le=0.99) = 0.1
    device: Union[Literal["auto", "cpu"], Int(ge=0), Str] = "auto"
    n_boot: Optional[Int(ge=1)] = None
    wbf: WBF = WBF()


class Detector(Strict):
    """One ``detectors:`` row (detection.settings.detector_settings), after its profile override."""

    arch: Str
    imgsz: Int(ge=32)
    epochs: Int(ge=1)
    batch: Int(ge=1) = 32
    seed: Optional[Int()] = None
    class_mode: Literal["product", "category"] = "product"
    max_train_images: Optional[Int(ge=2)] = None
    extra: Optional[dict[str, Any]] = None
    description: str = ""
    device: Optional[Union[Int(ge=0), Str]] = None


class CropEval(Strict):
    model: Str
    crops: Annotated[list[CropMode], Field(min_length=1)]
    gallery_crop: Union[Literal["same"], CropMode] = "same"


class CategoryEval(Strict):
    methods: Names = []
    splits: Annotated[list[Literal["query", "gallery"]], Field(min_length=1)] = ["query", "gallery"]
    ks: list[Int(ge=1)] = [1, 3, 5]


class TripletEval(Strict):
    methods: Names = []
    negatives: Int(ge=1) = 4
    easy_fraction: Num(ge=0.0) = 0.25


class PostprocessView(Strict):
    methods: Optional[Names] = None
    steps: Annotated[dict[str, Steps], Field(min_length=1)]
    compare: Names = ["AP", "top1", "top10"]
    metrics: Names = ["mAP", "top1", "top10"]

    @model_validator(mode="after")
    def _labels(self) -> "PostprocessView":
        if "none" in self.steps:
            raise PydanticCustomError("fb_value", "steps label 'none' is reserved for the untouched embeddings")
        for s in self.steps.values():
            _steps_order(s)
        return self

# ----------------------------------------------------------------------------- dataset, profiles, top level


class _DatasetBuild(Strict):
    """fmnist-c2s build knobs (data.datasets.fmnist_c2s.BuildConfig), usually set per profile."""

    seed: Optional[Int(ge=0)] = None
    n_train_items: Optional[Int(ge=2)] = None
    n_test_items: Optional[Int(ge=2)] = None
    n_distractor_items: Optional[Int(ge=0)] = None
    shop_per_item: Optional[tuple[Int(ge=1), Int(ge=1)]] = None
    consumer_per_item: Optional[tuple[Int(ge=1), Int(ge=1)]] = None
    shop_size: Optional[Int(ge=8)] = None
    scene_size: Optional[Int(ge=8)] = None
    product_size: Optional[Int(ge=8)] = None
    box_noise: Optional[Num(ge=0.0, le=1.0)] = None
    occlusion_prob: Optional[Num(ge=0.0, le=1.0)] = None
    workers: Optional[Int(ge=1)] = None


DatasetName = Literal["fmnist-c2s", "inshop", "consumer2shop", "deepfashion2", "street2shop", "manifest"]


class ProfileDataset(_DatasetBuild):
    name: Optional[DatasetName] = None
    root: Optional[Str] = None
    options: Optional[dict[str, Any]] = None  # reader options: checked by each dataset reader
    protocol: Optional[dict[str, Any]] = None
    source_dir: Optional[Str] = None
    allow_download: Optional[Bool] = None


class Dataset(ProfileDataset):
    name: DatasetName
    root: Optional[Str] = None


class IndexSpec(Strict):
    """``eval.index`` (retrieval.search.index_spec)."""

    type: Literal["exact", "ivf_flat", "ivf_pq", "hnsw"] = "exact"
    nlist: Optional[Int(ge=1)] = None
    nprobe: Int(ge=1) = 16
    m: Optional[Int(ge=1)] = None
    nbits: Int(ge=1, le=16) = 8
    hnsw_m: Int(ge=1) = 32
    ef_construction: Int(ge=1) = 200
    ef_search: Int(ge=1) = 128
    train_size: Optional[Int(ge=1)] = None
    rescore: Bool = False
    k_factor: Int(ge=1) = 1
    recall_queries: Optional[Int(ge=1)] = None
    seed: Int() = 0


class Eval(Strict):
    top_k: Int(ge=1) = 100
    n_boot: Int(ge=1) = 1000
    n_examples: Int(ge=0) = 8
    index: Optional[IndexSpec] = None


class Profile(Strict):
    dataset: ProfileDataset = ProfileDataset()
    train: TrainSettings = TrainSettings()
    eval: Eval = Eval()


class Params(Strict):
    """The top level of params.yaml. Rows (methods, detectors) are checked per profile by check_params."""

    seed: Int(ge=0)
    profile: Str
    dataset: Dataset
    profiles: dict[str, Profile]
    papers: list[Literal["shang", "park", "chen", "zhan", "ji"]] = []
    methods: Annotated[dict[str, dict[str, Any]], Field(min_length=1)]
    fusions: dict[str, Fusion] = {}
    reranks: dict[str, Rerank] = {}
    postprocess_view: Optional[PostprocessView] = None
    detect: dict[str, Any] = {}
    detectors: dict[str, dict[str, Any]] = {}
    triplet_eval: Optional[TripletEval] = None
    category_eval: Optional[CategoryEval] = None
    crop_eval: Optional[CropEval] = None

# ----------------------------------------------------------------------------- error messages


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _descend(tp: Any, part: Any) -> tuple[Any, bool]:
    """The type found at ``part`` below type ``tp`` (and whether ``part`` was consumed)."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        f = tp.model_fields.get(part)
        return (f.annotation if f else None), True
    if origin in (Union, types.UnionType):
        members = [_unwrap(a) for a in typing.get_args(tp)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        for m in models:  # a tagged union puts the tag (or class name) into the location
            tag = m.model_fields.get("arch") or m.model_fields.get("loss") or m.model_fields.get("name") \
                or m.model_fields.get("kind")
            if part == m.__name__ or (tag and typing.get_args(_unwrap(tag.annotation))[:1] == (part,)):
                return m, True
        for m in members:
            if typing.get_origin(m) in (list, dict, tuple) or (isinstance(m, type) and issubclass(m, BaseModel)):
                return _descend(m, part)
        return None, True
    if origin is dict:
        return typing.get_args(tp)[1], True
    if origin in (list, tuple):
        return typing.get_args(tp)[0], True
    return None, True


def _suggest(model: type[BaseModel], loc: tuple) -> str:
    """`` (did you mean 'epochs'?)`` for an unknown key at ``loc`` below ``model``."""
    tp: Any = model
    for part in loc[:-1]:
        tp, _ = _descend(tp, part)
        if tp is None:
            return ""
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        tp = next((m for m in map(_unwrap, typing.get_args(tp)) if isinstance(m, type) and issubclass(m, BaseModel)),
                  None)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(tp.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {sorted(tp.model_fields)}"


def _clean_loc(model: type[BaseModel], loc: tuple) -> tuple:
    """``loc`` without the tags pydantic inserts for tagged unions (``model.cosine.s`` -> ``model.s``)."""
    out: list[Any] = []
    tp: Any = model
    for part in loc:
        nxt, _ = _descend(tp, part)
        base = _unwrap(tp)
        if typing.get_origin(base) in (Union, types.UnionType) and isinstance(part, str) and nxt is not None \
                and (part == getattr(nxt, "__name__", None) or part not in getattr(nxt, "model_fields", {})):
            tp = nxt  # a union tag, not a key
            continue
        out.append(part)
        tp = nxt
    return tuple(out)


def _path(loc: tuple) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def _message(err: Mapping[str, Any], suggestion: str) -> str:
    t, got = err["type"], err.get("input")
    if t == "extra_forbidden":
        return "unknown key" + suggestion
    if t == "missing":
        return "required key missing"
    if t == "fb_value":
        return f"{err['msg']}" + (f", got {got!r}" if len(repr(got)) <= 100 else "")
    if t == "literal_error":
        return f"expected one of {err['ctx']['expected']}, got {got!r}"
    if t in ("too_short", "too_long"):
        return f"expected at least {err['ctx'].get('min_length', 1)} entr(y/ies), got {got!r}"
    if t in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {got!r}"
    if t in ("list_type", "tuple_type"):
        return f"expected a list, got {got!r}"
    if t in ("string_type",):
        return f"expected a string, got {got!r}"
    return f"{err['msg']}" + (f", got {got!r}" if len(repr(got)) <= 100 else "")


def _errors(model: type[BaseModel], data: Any, prefix: str = "", source=None) -> list[tuple[str, str]]:
    """``(full key path, message)`` of every problem of ``data`` against ``model`` (none: valid)."""
    try:
        model.model_validate(data)
        return []
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = _clean_loc(model, tuple(err["loc"]))
            sugg = _suggest(model, tuple(err["loc"])) if err["type"] == "extra_forbidden" else ""
            where = source(loc) if source else prefix
            path = ".".join(p for p in (where, _path(loc)) if p)
            out.append((path, _message(err, sugg)))
        return out

# ----------------------------------------------------------------------------- cross-row checks


def _has(block: Any, loc: tuple) -> bool:
    for part in loc:
        if not isinstance(block, Mapping) or part not in block:
            return False
        block = block[part]
    return True


def _at(block: Any, loc: tuple) -> Any:
    for part in loc:
        block = block[part]
    return block


def _with_profile(block: Mapping[str, Any], profile: str) -> dict[str, Any]:
    row = dict(block)
    per = row.pop("profiles", None) or {}
    return config.deep_merge(row, per.get(profile) or {}) if isinstance(per, Mapping) else row


def _row_profiles(where: str, block: Any, profiles: list[str]) -> list[tuple[str, str]]:
    per = block.get("profiles") if isinstance(block, Mapping) else None
    if per is None:
        return []
    if not isinstance(per, Mapping):
        return [(f"{where}.profiles", f"expected a mapping profile -> overrides, got {per!r}")]
    out = [(f"{where}.profiles.{p}", f"unknown profile; defined: {profiles}") for p in per if p not in profiles]
    return out + [(f"{where}.profiles.{p}", f"expected a mapping, got {v!r}")
                  for p, v in per.items() if p in profiles and v is not None and not isinstance(v, Mapping)]


def _method_errors(params: Mapping[str, Any], name: str, profile: str, train: Any) -> list[tuple[str, str]]:
    row = params["methods"][name]
    if not isinstance(row, Mapping):
        return [(f"methods.{name}", f"expected a mapping, got {row!r}")]
    per = ((row.get("profiles") or {}) if isinstance(row.get("profiles") or {}, Mapping) else {}).get(profile) or {}
    base = train if isinstance(train, Mapping) else {}
    merged = config.deep_merge(config.deep_merge(base, {k: v for k, v in row.items() if k != "profiles"}),
                               per if isinstance(per, Mapping) else {})

    def source(loc: tuple) -> str:
        if loc and _has(per, loc) and not (isinstance(_at(merged, loc), Mapping) and _has(row, loc)):
            return f"methods.{name}.profiles.{profile}"  # a whole block's rule: blame the row's block
        if loc and not _has(row, loc) and _has(base, loc):
            return f"profiles.{profile}.train"
        return f"methods.{name}"
    return _errors(MethodSettings, merged, source=source)


def _cross_errors(params: Mapping[str, Any], p: Params) -> list[tuple[str, str]]:
    methods = params["methods"]
    out: list[tuple[str, str]] = []

    def need(path: str, name: str, rows: Mapping[str, Any], what: str) -> None:
        if name not in rows:
            close = difflib.get_close_matches(name, list(rows), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append((path, f"{name!r} is not a {what} row{hint}"))

    for name, row in methods.items():
        origin = row.get("replicate_of") if isinstance(row, Mapping) else None
        if origin is None:
            continue
        need(f"methods.{name}.replicate_of", origin, methods, "methods")
        if origin in methods and isinstance(methods[origin], Mapping):
            base = methods[origin]
            if base.get("replicate_of") is not None:
                out.append((f"methods.{name}.replicate_of", f"{origin!r} is itself a replicate"))
            # a replicate repeats its row with another training seed, nothing else
            skip = {"replicate_of", "train_seed", "description"}
            diff = sorted(k for k in set(row) | set(base) if k not in skip and row.get(k) != base.get(k))
            if diff:
                out.append((f"methods.{name}", f"a replicate of {origin!r} may differ from it only in "
                            f"train_seed; it also differs in {diff}"))
            if row.get("train_seed", params.get("seed")) == base.get("train_seed", params.get("seed")):
                out.append((f"methods.{name}.train_seed", f"same training seed as {origin!r}"))
    for name, f in p.fusions.items():
        reads = f.inputs if isinstance(f, ConcatFusion) else f.methods()
        key = "inputs" if isinstance(f, ConcatFusion) else "routes"
        for m in reads:
            need(f"fusions.{name}.{key}" if m != getattr(f, "router", None) else f"fusions.{name}.router",
                 m, methods, "methods")
            if m in methods and isinstance(methods[m], Mapping) and methods[m].get("group") != f.group:
                out.append((f"fusions.{name}.{key}", f"input {m!r} has group {methods[m].get('group')!r}, "
                            f"the fusion's group is {f.group!r}"))
        if isinstance(f, RouteFusion) and f.inputs is not None and sorted(f.inputs) != sorted(f.methods()):
            out.append((f"fusions.{name}.inputs", f"differ from the methods named by routes/router {f.methods()}"))
        if name in methods:
            out.append((f"fusions.{name}", "a methods row has the same name"))
    for name, r in p.reranks.items():
        if r.input in p.fusions:
            fusion = p.fusions[r.input]
            if isinstance(fusion, RouteFusion) and [s.name for s in r.steps] != ["top1"]:
                out.append((f"reranks.{name}.steps", f"input {r.input!r} is a ranking (kind 'route'): the only "
                            "step it takes is a single top1"))
        else:
            need(f"reranks.{name}.input", r.input, {**methods, **p.fusions}, "methods or fusions")
        if name in methods or name in p.fusions:
            out.append((f"reranks.{name}", "a methods or fusions row has the same name"))
    if p.postprocess_view is not None:
        for m in p.postprocess_view.methods or []:
            need("postprocess_view.methods", m, methods, "methods")
    if p.crop_eval is not None:
        need("crop_eval.model", p.crop_eval.model, methods, "methods")
        if len(set(p.crop_eval.crops)) != len(p.crop_eval.crops):
            out.append(("crop_eval.crops", f"a crop mode is listed twice: {p.crop_eval.crops}"))
    for block, eval_ in (("category_eval", p.category_eval), ("triplet_eval", p.triplet_eval)):
        for m in (eval_.methods if eval_ else []):
            need(f"{block}.methods", m, methods, "methods")
    return out


def _stage_errors(params: Mapping[str, Any], p: Params, profile: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    detect = params.get("detect") or {}
    if isinstance(detect, Mapping):
        out += _row_profiles("detect", detect, list(p.profiles))
        d = _with_profile(detect, profile)
        out += _errors(Detect, d, source=lambda loc: f"detect.profiles.{profile}" if _has(
            ((detect.get("profiles") or {}).get(profile) or {}), loc) else "detect")
        prim = d.get("primary")
        if prim is not None and prim not in (params.get("detectors") or {}):
            out.append(("detect.primary", f"{prim!r} is not a detectors row"))
    for name, row in (params.get("detectors") or {}).items():
        where = f"detectors.{name}"
        if not isinstance(row, Mapping):
            out.append((where, f"expected a mapping, got {row!r}"))
            continue
        out += _row_profiles(where, row, list(p.profiles))
        per = (row.get("profiles") or {}).get(profile) or {} if isinstance(row.get("profiles") or {}, Mapping) else {}
        out += _errors(Detector, _with_profile(row, profile),
                       source=lambda loc, per=per, where=where: f"{where}.profiles.{profile}" if _has(per, loc)
                       else where)
    if p.triplet_eval is not None:
        for m in p.triplet_eval.methods:
            row = params["methods"].get(m)
            if isinstance(row, Mapping) and not _with_profile(row, profile).get("holdout"):
                out.append(("triplet_eval.methods", f"{m!r} has no 'holdout' (held-out items to build triplets "
                            "from)"))
    return out


def _format(problems: list[tuple[str, str, str | None]], profiles: list[str]) -> list[str]:
    seen: dict[tuple[str, str], list[str]] = {}
    for path, msg, prof in problems:
        seen.setdefault((path, msg), [])
        if prof is not None and prof not in seen[(path, msg)]:
            seen[(path, msg)].append(prof)
    lines = []
    for (path, msg), profs in seen.items():
        tail = "" if not profs or sorted(profs) == sorted(profiles) else f" [profile {', '.join(profs)}]"
        lines.append(f"{path}: {msg}{tail}")
    return lines

# ----------------------------------------------------------------------------- entry points


def problems(params: Any) -> list[str]:
    """Every problem of a parsed params file, one ``<key path>: <message>`` line each ([] = valid)."""
    if not isinstance(params, Mapping) or not params:
        return [f"params: expected a mapping with keys {sorted(Params.model_fields)}, got {params!r}"]
    top = _errors(Params, params)
    out: list[tuple[str, str, str | None]] = [(a, b, None) for a, b in top]
    try:
        p = Params.model_validate(params)
    except ValidationError:
        p = None
    profiles = list(params.get("profiles") or {}) if isinstance(params.get("profiles"), Mapping) else []
    for req in config.PROFILES:
        if profiles and req not in profiles:
            out.append((f"profiles.{req}", "required profile missing", None))
    prof = params.get("profile")
    if isinstance(prof, str) and profiles and prof not in profiles:
        close = difflib.get_close_matches(prof, profiles, n=1)
        out.append(("profile", f"unknown profile {prof!r}; defined: {profiles}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""), None))
    methods = params.get("methods")
    if isinstance(methods, Mapping):
        for name, row in methods.items():
            out += [(a, b, None) for a, b in _row_profiles(f"methods.{name}", row, profiles)]
        for profile in profiles:
            train = (params["profiles"][profile] or {}).get("train") if isinstance(params["profiles"][profile],
                                                                               Mapping) else None
            for name in methods:
                out += [(a, b, profile) for a, b in _method_errors(params, name, profile, train)]
            if p is not None:
                out += [(a, b, profile) for a, b in _stage_errors(params, p, profile)]
    if p is not None:
        out += [(a, b, None) for a, b in _cross_errors(params, p)]
    return _format(out, profiles)


def check_params(params: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem of parsed params (every row, every profile)."""
    lines = problems(params)
    if lines:
        n = len(lines)
        raise ConfigError(f"params.yaml: {n} problem{'s' if n > 1 else ''}:\n  " + "\n  ".join(lines))


def check_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load ``path`` with :func:`fashionbench.core.config.load_params`, check it; returns the params."""
    try:
        params = config.load_params(path)
    except (TypeError, AttributeError) as exc:  # not a mapping (e.g. an empty file): load_params cannot index it
        raise ConfigError(f"{path}: expected a mapping of settings (seed, profile, dataset, profiles, methods, ...), "
                          "got an empty or non-mapping document") from exc
    check_params(params)
    return params


def summary(params: Mapping[str, Any]) -> str:
    """``N method rows x P profiles, ...``: what a valid params file holds."""
    n = {k: len(params.get(k) or {}) for k in ("methods", "fusions", "reranks", "detectors")}
    return (f"{n['methods']} method rows x {len(params['profiles'])} profiles, {n['fusions']} fusions, "
            f"{n['reranks']} reranks, {n['detectors']} detectors")
