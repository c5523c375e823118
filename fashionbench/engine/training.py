"""The training loop shared by every method: seeded, checkpointed each epoch, resumable.

Determinism: every epoch draws its batch order, augmentation and dropout from generators seeded
with ``(seed, epoch)``, so an epoch's result depends only on the state at its start. Together
with a checkpoint written (atomically) after every epoch, a run killed at any point and resumed
gives the same weights as an uninterrupted run.

Distributed (``distributed: {nproc, nnodes}``, see :mod:`fashionbench.engine.distributed`): under
torchrun every rank builds the same global batches, trains on its slice inside
DistributedDataParallel, computes the loss of the gathered global batch, and only rank 0
writes files. Data path (``loader: {cache, num_workers}``): with ``num_workers > 0`` batches
are decoded by ``torch.utils.data`` workers (:func:`fashionbench.data.imaging.batch_loader`); the
result does not depend on ``num_workers``. ``device``: ``cpu`` (default) | ``cuda`` | ``auto``.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from fashionbench.engine.distributed import (
    average_gradients,
    batch_unit,
    batchnorm_mode,
    context,
    freeze_batchnorm,
    gather_outputs,
    resolve_device,
    shard,
    wrap_model,
)
from torch import nn

from fashionbench.core.atomic import atomic_path, write_json
from fashionbench.core.errors import ConfigError, ContractError
from fashionbench.data.imaging import CropDataset, batch_loader, loader_settings
from fashionbench.models import build_loss, build_model

CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    import random
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)


def augment_batch(x: torch.Tensor, g: torch.Generator, flip: bool = True, shift: int = 0, *,
                  total: int | None = None, offset: int = 0) -> torch.Tensor:
    """Random horizontal flip and random translation by up to ``shift`` pixels (reflect padding).

    ``x`` may be rows ``offset:offset + len(x)`` of a batch of ``total`` images (a rank's
    slice): the draws are made for all ``total`` images, so every slice gets exactly the
    augmentation it would get in the whole batch.
    """
    n = x.shape[0] if total is None else int(total)
    rows = slice(offset, offset + x.shape[0])
    if flip:
        mask = (torch.rand(n, generator=g) < 0.5)[rows]
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)
    if shift > 0:
        h, w = x.shape[-2:]
        padded = torch.nn.functional.pad(x, (shift,) * 4, mode="reflect")
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=g)[rows]
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=g)[rows]
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(x.shape[0])])
    return x


def random_batches(n: int, batch_size: int, g: torch.Generator, drop_last: bool = True) -> Iterator[torch.Tensor]:
    """Index batches of a seeded random permutation."""
    perm = torch.randperm(n, generator=g)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield perm[i:i + batch_size]


def build_optimizer(params: list[nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam/AdamW/SGD from ``cfg['optimizer']`` with ``lr``, ``weight_decay``, ``momentum``."""
    name = cfg.get("optimizer", "adam")
    lr, wd = float(cfg.get("lr", 1e-3)), float(cfg.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=float(cfg.get("momentum", 0.9)))
    raise ConfigError(f"optimizer: unknown optimizer {name!r}; known: ['adam', 'adamw', 'sgd']")


def build_scheduler(opt: torch.optim.Optimizer, cfg: Mapping[str, Any], epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch LR schedule: ``none``, ``cosine`` or ``step`` (``milestones``, ``gamma``)."""
    name = cfg.get("schedule", "none")
    if name == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.get("milestones", [])),
                                                    gamma=float(cfg.get("gamma", 0.1)))
    raise ConfigError(f"schedule: unknown schedule {name!r}; known: ['none', 'cosine', 'step']")


def _batches(cfg: Mapping[str, Any], ds: CropDataset, g: torch.Generator) -> Iterator[torch.Tensor]:
    sampler = cfg.get("sampler", "random")
    bs = int(cfg.get("batch_size", 64))
    if sampler == "random":
        return random_batches(len(ds), bs, g)
    from fashionbench.data import samplers
    return samplers.epoch_batches(sampler, cfg, ds.labels, ds.categories, ds.domains, bs, g)


def train(cfg: Mapping[str, Any], ds: CropDataset, out_dir: str | os.PathLike, *, seed: int,
          progress: bool = True, stop_after_epoch: int | None = None,
          on_epoch: Callable[[dict[str, Any]], None] | None = None,
          validate: Callable[[nn.Module], dict[str, float]] | None = None) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train the model described by ``cfg`` on ``ds``; checkpoint to ``out_dir`` every epoch.

    Resumes from ``out_dir/checkpoint.pt`` when its fingerprint matches ``cfg`` and ``seed``; the
    checkpoint is deleted once ``model.pt`` and ``history.json`` are written.
    ``stop_after_epoch`` simulates a kill (used by tests). ``validate(model)`` (main process only)
    scores the model at the end of each epoch, e.g. ``{"val_mAP": ...}`` on held-out items; its
    entries join the epoch's record. Returns the model and the history (one dict per epoch: loss
    parts, lr, seconds, images/s, validation scores).
    """
    from fashionbench.core.progress import progress_bar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = context(resolve_device(cfg))
    threads = int(cfg.get("threads", 0)) or os.cpu_count() or 1
    torch.set_num_threads(max(1, threads // ctx.local_world) if ctx.device.type == "cpu" else threads)
    _, num_workers = loader_settings(cfg)
    progress = progress and ctx.is_main
    seed_everything(seed)
    n_classes, n_cats = len(ds.item_vocab), len(ds.category_vocab)
    model = build_model(cfg.get("model", {}), n_classes, n_cats)
    with torch.no_grad():
        dim = model.eval()(torch.zeros(2, 3, ds.size, ds.size))["embedding"].shape[1]
    loss_fn = build_loss(cfg.get("loss", {}), n_classes, n_cats, dim)
    takes_domains = "domains" in inspect.signature(loss_fn.forward).parameters
    epochs = int(cfg.get("epochs", 1))
    model.to(ctx.device)
    loss_fn.to(ctx.device)
    opt = build_optimizer(list(model.parameters()) + list(loss_fn.parameters()), cfg)
    sched = build_scheduler(opt, cfg, epochs)
    # `loader` (cache, num_workers) cannot change the result (tested): not part of the resume key
    key = json.dumps({"cfg": {k: v for k, v in cfg.items() if k != "loader"}, "seed": seed, "n": len(ds),
                      "classes": n_classes}, sort_keys=True, default=str)
    history: list[dict[str, Any]] = []
    start = 0
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists():
        ckpt = load_weights_file(ckpt_path)
        if ckpt.get("key") == key:
            model.load_state_dict(ckpt["model"])
            loss_fn.load_state_dict(ckpt["loss"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            history, start = ckpt["history"], ckpt["epoch"] + 1
    aug = cfg.get("augment", {}) or {}
    bn_mode = batchnorm_mode(cfg, ctx)
    model, net = wrap_model(model, bn_mode, ctx)  # net: the DDP wrapper when world > 1
    unit = batch_unit(cfg)
    for epoch in range(start, epochs):
        g = _epoch_generator(seed, epoch)
        torch.manual_seed(int(seed) * 7919 + epoch + 104_729 * ctx.rank)  # dropout and other global-RNG ops
        net.train()
        if bn_mode == "frozen":
            freeze_batchnorm(model)
        loss_fn.train()
        t0, n_seen, sums = time.perf_counter(), 0, {}
        batches = list(_batches(cfg, ds, g))
        local = [shard(b, ctx.rank, ctx.world, unit) for b in batches]
        bar = progress_bar(zip(batches, batch_loader(ds, local, num_workers)), total=len(batches),
                   desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for idx, (x, y, c, d) in bar:
            x = augment_batch(x, g, flip=bool(aug.get("flip", True)), shift=int(aug.get("shift", 0)),
                              total=len(idx), offset=ctx.rank * len(x))
            outputs = net(x.to(ctx.device))
            if ctx.world > 1:  # the loss of the global batch, on every rank
                outputs = gather_outputs(outputs, len(x), ctx)
                y, c, d = ds.labels[idx], ds.categories[idx], ds.domains[idx]
            y, c, d = y.to(ctx.device), c.to(ctx.device), d.to(ctx.device)
            kw = {"domains": d} if takes_domains else {}
            loss, parts = loss_fn(outputs, y, c, **kw)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(list(loss_fn.parameters()), ctx)
            opt.step()
            n_seen += len(idx)
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)  # drawn at the next refresh
        sched.step()
        dt = time.perf_counter() - t0
        rec = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "seconds": round(dt, 2),
               "images_per_s": round(n_seen / dt, 1) if dt > 0 else 0.0,
               **{k: v / max(1, n_seen) for k, v in sums.items()}}
        if validate is not None and ctx.is_main:
            t1 = time.perf_counter()
            with torch.no_grad():
                rec.update(validate(model.eval()))
            rec["val_seconds"] = round(time.perf_counter() - t1, 2)
        history.append(rec)
        if on_epoch and ctx.is_main:
            on_epoch(rec)
        if ctx.is_main:
            with atomic_path(ckpt_path) as tmp:
                torch.save({"key": key, "epoch": epoch, "model": model.state_dict(), "loss": loss_fn.state_dict(),
                            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history}, tmp)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    model.eval()
    if len(history) == epochs and ctx.is_main:
        with atomic_path(out / FINAL) as tmp:
            torch.save({"model": model.state_dict(), "cfg": dict(cfg), "item_vocab": ds.item_vocab,
                        "category_vocab": ds.category_vocab, "size": ds.size}, tmp)
        write_json(out / "history.json", history)
        # the checkpoint (weights + Adam state, ~3x model.pt) only serves a resume: once model.pt is
        # written it would be cached by DVC for nothing (135 MB per ResNet-18 row)
        ckpt_path.unlink(missing_ok=True)
    return model, history


def load_weights_file(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint or model file read with ``weights_only=True``: tensors and plain containers only, so
    no code in the file runs (a pickled object is refused with a ContractError naming the file)."""
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as exc:
        raise ContractError(f"{path}: refused: not a plain weights file ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); only tensors and plain "
                            "containers are read, no code runs from a weights file") from None
    if not isinstance(obj, dict):
        raise ContractError(f"{path}: expected a mapping of weights and settings, got {type(obj).__name__}")
    return obj


def load_trained(out_dir: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from ``out_dir/model.pt``; returns (model in eval mode, saved info)."""
    path = Path(out_dir) / FINAL
    if not path.is_file():
        raise ConfigError(f"{path}: no trained model (run the train stage first)")
    saved = load_weights_file(path)
    cfg = saved["cfg"]
    # the trained weights replace everything: do not read the initial (pretrained) weights again
    spec = {k: v for k, v in (cfg.get("model") or {}).items() if k != "pretrained"}
    model = build_model(spec, len(saved["item_vocab"]), len(saved["category_vocab"]))
    model.load_state_dict(saved["model"])
    return model.eval(), saved
