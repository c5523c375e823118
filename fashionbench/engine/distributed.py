"""Data-parallel training on several processes (``torch.distributed``, launched by ``torchrun``).

A method row trains on ``nproc x nnodes`` processes when its train settings say so::

    distributed: {nproc: 2, nnodes: 1}        # in profiles.<profile>.train or a method's row

``fashionbench.pipeline.train`` then launches ``torchrun`` (``python -m torch.distributed.run``) on
this module's worker, which trains with the same ``fashionbench.engine.training.train`` loop. The
design keeps a distributed run equivalent to a single-process run with the same *global* batch:

- Every rank builds the same seeded list of global batches (``_epoch_generator(seed, epoch)``;
  the samplers of ``fashionbench.data.samplers`` included) and takes a contiguous slice of each
  (:func:`shard`). A slice is a whole number of sampler *units* (the K images of an identity in
  an identity-balanced batch, the shop + consumer images of an item in a domain batch), so
  each rank holds P / world complete identities and no identity is split across ranks.
- The model is wrapped in ``DistributedDataParallel``; each rank runs the model on its slice.
  The outputs are all-gathered (:func:`gather_outputs`, differentiable) and every rank
  computes the loss of the *global* batch, so batch-mining losses (triplet, multi-similarity,
  zhan's cross-domain triplets) see the same batch as in one process. The gradient is exact:
  the gather's backward sums the gradient over ranks and DDP averages over ranks.
  Parameters owned by a loss (classifier weights of AM-Softmax, centers) get identical
  gradients on every rank; they are all-reduced (averaged) anyway, so ranks cannot drift.
- Augmentation draws are made for the whole global batch and each rank applies its rows
  (``augment_batch(..., total=, offset=)``); dropout and other global-RNG draws are seeded per
  rank (``seed``, epoch, rank) - they cannot match a single-process run.
- BatchNorm (``distributed.batchnorm``): statistics of a split batch differ from the global
  batch's. ``sync`` converts BN layers to ``SyncBatchNorm`` (global statistics, CUDA/NCCL only:
  PyTorch's SyncBatchNorm has no CPU kernels); ``local`` keeps per-rank statistics (the only
  choice with BN in training mode on CPU/gloo: the result then differs from one process by
  the BN statistics of a batch of ``batch_size / world`` instead of ``batch_size``; measured in
  tests/test_distributed.py); ``frozen`` puts BN layers in eval mode during training (running
  statistics, in one process too), which makes the split exact; ``auto`` = ``sync`` on CUDA,
  ``local`` on CPU.
- Only rank 0 writes checkpoints, ``history.json`` and ``model.pt`` (atomically, as in one
  process). Every rank reads the checkpoint when resuming.

Settings (``distributed:`` block; all optional): ``nproc`` (processes per node, 1),
``nnodes`` (1), ``backend`` (``auto`` = nccl on CUDA, gloo on CPU | ``gloo`` | ``nccl``),
``batchnorm`` (``auto`` | ``sync`` | ``local`` | ``frozen``), ``master_addr`` / ``master_port``
(node 0's address and a free port; required when ``nnodes > 1``; port default 29500).

Multi-node: the DVC stage launches node 0 (``node_rank 0``, which holds rank 0 and writes the
outputs); start every other node by hand with the same project, data and params::

    python -m fashionbench.pipeline.train launch --method <name> --node-rank <r>

CLI: ``python -m fashionbench.pipeline.train launch --method M [--params P] [--node-rank R]``
(runs torchrun); ``python -m fashionbench.pipeline.train worker --method M --params P`` (what
torchrun runs on every rank).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn

from fashionbench.core.errors import ConfigError

BACKENDS = ("auto", "gloo", "nccl")
BATCHNORM_MODES = ("auto", "sync", "local", "frozen")
_KEYS = ("nproc", "nnodes", "backend", "batchnorm", "master_addr", "master_port")


@dataclass(frozen=True)
class DistSettings:
    """The validated ``distributed:`` block of a method's train settings."""

    nproc: int = 1
    nnodes: int = 1
    backend: str = "auto"
    batchnorm: str = "auto"
    master_addr: str | None = None
    master_port: int = 29500

    @property
    def world(self) -> int:
        """Total number of processes."""
        return self.nproc * self.nnodes


def settings(cfg: Mapping[str, Any], where: str = "train") -> DistSettings:
    """Validate ``cfg['distributed']`` (missing = one process); errors name ``where.distributed.<key>``."""
    block = cfg.get("distributed") or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}.distributed: expected a mapping like {{nproc: 2, nnodes: 1}}, got {block!r}")
    unknown = sorted(set(block) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}.distributed: unknown key(s) {unknown}; known: {list(_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("nproc", "nnodes", "master_port"):
        if key in block:
            v = block[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{where}.distributed.{key}: expected an integer >= 1, got {v!r}")
            out[key] = v
    for key, allowed in (("backend", BACKENDS), ("batchnorm", BATCHNORM_MODES)):
        if key in block:
            if block[key] not in allowed:
                raise ConfigError(f"{where}.distributed.{key}: {block[key]!r} is not one of {list(allowed)}")
            out[key] = block[key]
    if block.get("master_addr") is not None:
        out["master_addr"] = str(block["master_addr"])
    s = DistSettings(**out)
    if s.nnodes > 1 and not s.master_addr:
        raise ConfigError(f"{where}.distributed.master_addr: required when nnodes > 1 (node 0's host name or IP)")
    return s


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank, the world size and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that writes files)."""
        return self.rank == 0


def in_torchrun() -> bool:
    """True inside a process started by torchrun (it sets ``TORCHELASTIC_RUN_ID``/``WORLD_SIZE``)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def resolve_device(cfg: Mapping[str, Any], where: str = "train") -> torch.device:
    """``cfg['device']``: ``cpu`` (default), ``cuda`` or ``auto`` (CUDA when available).

    Under torchrun a CUDA device is ``cuda:<LOCAL_RANK>``.
    """
    name = cfg.get("device", "cpu")
    if name not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"{where}.device: {name!r} is not one of ['cpu', 'cuda', 'auto']")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{where}.device: 'cuda' but torch sees no CUDA device (use 'cpu' or 'auto')")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def context(device: torch.device | None = None) -> Context:
    """This process's :class:`Context` (rank 0 of 1 when no process group is initialised)."""
    dev = device or torch.device("cpu")
    if not (dist.is_available() and dist.is_initialized()):
        return Context(device=dev)
    return Context(rank=dist.get_rank(), world=dist.get_world_size(),
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                   local_world=int(os.environ.get("LOCAL_WORLD_SIZE", "1")), device=dev)


@contextmanager
def process_group(cfg: Mapping[str, Any], where: str = "train") -> Iterator[Context]:
    """Initialise the default process group from torchrun's environment (and destroy it after).

    Outside torchrun (or when a group exists already) it only yields the current context.
    """
    s = settings(cfg, where)
    device = resolve_device(cfg, where)
    if not in_torchrun() or dist.is_initialized():
        yield context(device)
        return
    backend = s.backend if s.backend != "auto" else ("nccl" if device.type == "cuda" else "gloo")
    if backend == "nccl" and device.type != "cuda":
        raise ConfigError(f"{where}.distributed.backend: nccl needs device cuda (got {device.type}); use gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    try:
        yield context(device)
    finally:
        dist.destroy_process_group()


def batch_unit(cfg: Mapping[str, Any]) -> int:
    """Images per sampler unit: a rank's slice of a batch is a whole number of units.

    ``identity``: K (``samples_per_item``); ``domain``: shop + consumer images per item, times
    ``items_per_category`` (a category group is kept whole); ``random``: 1.
    """
    sampler = cfg.get("sampler", "random")
    if sampler == "identity":
        return int(cfg.get("samples_per_item", 4))
    if sampler == "domain":
        per_item = int(cfg.get("shop_per_item", 1)) + int(cfg.get("consumer_per_item", 1))
        return per_item * int(cfg.get("items_per_category") or 1)
    return 1


def shard(batch: torch.Tensor, rank: int, world: int, unit: int = 1, where: str = "train") -> torch.Tensor:
    """Rank ``rank``'s contiguous slice of a global ``batch`` of indices.

    The batch must split into ``world`` equal slices of whole ``unit``s (so every rank sees
    complete identities and DDP's gradient average is the global batch's mean).
    """
    n = len(batch)
    if world == 1:
        return batch
    if n % (world * unit):
        raise ConfigError(
            f"{where}: a batch of {n} images does not split into {world} ranks x whole units of {unit} "
            f"images; make batch_size a multiple of {world * unit} (and keep drop_last: true)")
    per = n // world
    return batch[rank * per:(rank + 1) * per]


class _GatherBatch(torch.autograd.Function):
    """All-gather along dim 0; backward sums the gradient over ranks and returns this rank's rows."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def gather_outputs(outputs: Mapping[str, Any], n_local: int, ctx: Context) -> dict[str, Any]:
    """The model outputs of the global batch: every tensor with ``n_local`` rows is all-gathered
    (differentiably) in rank order; other values pass through."""
    if ctx.world == 1:
        return dict(outputs)
    return {k: _GatherBatch.apply(v) if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == n_local else v
            for k, v in outputs.items()}


def average_gradients(params: Sequence[nn.Parameter], ctx: Context) -> None:
    """All-reduce-average the gradients of parameters outside DDP (a loss's own parameters)."""
    if ctx.world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(ctx.world)


def batchnorm_mode(cfg: Mapping[str, Any], ctx: Context, where: str = "train") -> str:
    """The effective BatchNorm mode (``sync``/``local``/``frozen``; ``none`` in one process)."""
    mode = settings(cfg, where).batchnorm
    if mode == "frozen":
        return mode
    if ctx.world == 1:
        return "none"
    if mode == "auto":
        return "sync" if ctx.device.type == "cuda" else "local"
    if mode == "sync" and ctx.device.type != "cuda":
        raise ConfigError(f"{where}.distributed.batchnorm: 'sync' needs CUDA (PyTorch's SyncBatchNorm has no "
                          "CPU kernels); use 'local' or 'frozen' on CPU")
    return mode


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm layer in eval mode (running statistics; call after ``model.train()``)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def wrap_model(model: nn.Module, mode: str, ctx: Context) -> tuple[nn.Module, nn.Module]:
    """``(module, network)``: the (SyncBN-converted) model to save, and what to call in training
    (the DDP wrapper when ``world > 1``, else the model itself)."""
    if ctx.world == 1:
        return model, model
    if mode == "sync":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return model, DDP(model, device_ids=ids, find_unused_parameters=True)


# --------------------------------------------------------------------------------------------
# Launcher (outer process) and worker (every rank)

def torchrun_command(method: str, params_file: Path, s: DistSettings, node_rank: int = 0) -> list[str]:
    """The ``torchrun`` command line that trains ``method`` on this node."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(s.nproc),
           "--nnodes", str(s.nnodes)]
    if s.nnodes == 1:
        cmd += ["--standalone"]
    else:
        cmd += ["--node_rank", str(node_rank), "--master_addr", str(s.master_addr), "--master_port", str(s.master_port)]
    return cmd + ["-m", "fashionbench.pipeline.train", "worker", "--method", method, "--params", str(params_file)]


def launch(params: Mapping[str, Any], method: str, node_rank: int = 0) -> list[dict[str, Any]]:
    """Train ``method`` with torchrun on this node; returns rank 0's history (node 0 only).

    ``params`` is written to a temporary YAML file that every rank reads, so the workers see
    exactly the parameters of the caller.
    """
    import yaml

    from fashionbench.core import config
    from fashionbench.core.paths import model_dir

    s = settings(config.method_settings(params, method), f"methods.{method}")
    root = config.project_root()
    with tempfile.TemporaryDirectory(prefix="fashionbench-dist-") as tmp:
        pfile = Path(tmp) / "params.yaml"
        pfile.write_text(yaml.safe_dump(json.loads(json.dumps(dict(params), default=str)), sort_keys=False),
                         encoding="utf-8")
        cmd = torchrun_command(method, pfile, s, node_rank)
        env = {**os.environ, "FASHIONBENCH_ROOT": str(root)}
        print("launching:", " ".join(cmd), flush=True)
        res = subprocess.run(cmd, env=env, cwd=root)
    if res.returncode != 0:
        raise RuntimeError(f"methods.{method}: distributed training failed (torchrun exit code {res.returncode}); "
                           "see the workers' output above")
    if node_rank != 0:
        return []
    hist = model_dir(method) / "history.json"
    return json.loads(hist.read_text(encoding="utf-8")) if hist.is_file() else []


def maybe_launch(params: Mapping[str, Any], method: str, cfg: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Launch torchrun when ``cfg`` asks for more than one process and we are not inside it yet;
    returns the history then, ``None`` when the caller should train in this process."""
    s = settings(cfg, f"methods.{method}")
    if s.world == 1 or in_torchrun():
        return None
    return launch(params, method)

