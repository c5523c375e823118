"""Time one training epoch of a params.yaml method (default: ``baseline``) on a device.

The issue asks for one epoch of the baseline at 224 px on a GPU against the CPU. The data are
synthetic images (random uint8, the default profile's train-set size: 5,500 images of 1,000
items) so that only the training loop is timed (``fashionbench.training.train``: the model,
loss, optimizer, augmentation and data path of the method row). ``--max-images`` stops the
epoch early and extrapolates (state it when quoting the number).

Run:  .venv/bin/python benchmarks/train_epoch_time.py --device cuda --img-size 224
      .venv/bin/python benchmarks/train_epoch_time.py --device cpu --img-size 224 --max-images 128
Appends a record to benchmarks/train_epoch_time.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fashionbench.core import config
from fashionbench.data.imaging import IMAGENET_MEAN, IMAGENET_STD


class SyntheticTrainSet:
    """Random images with item/category labels, duck-typing :class:`fashionbench.imaging.CropDataset`."""

    def __init__(self, n_images: int, n_items: int, size: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.size = size
        self.item_vocab = [f"i{i}" for i in range(n_items)]
        self.category_vocab = ["bags", "clothes", "shoes"]
        self.labels = torch.as_tensor(rng.integers(0, n_items, n_images))
        self.categories = self.labels % 3
        self.domains = torch.as_tensor(rng.integers(0, 2, n_images))
        self._gen = torch.Generator().manual_seed(seed)
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(idx)
        raw = torch.randint(0, 256, (len(idx), 3, self.size, self.size), generator=self._gen, dtype=torch.uint8)
        x = (raw.float().div_(255.0) - self._mean) / self._std
        return x, self.labels[idx], self.categories[idx], self.domains[idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="baseline")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--images", type=int, default=5500, help="images in one epoch (default profile's train set)")
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--max-images", type=int, default=None, help="stop after about this many images, extrapolate")
    ap.add_argument("--out", default=str(Path(__file__).with_name("train_epoch_time.json")))
    a = ap.parse_args()
    params = config.load_params()
    params["profile"] = "default"
    cfg = config.method_settings(params, a.method)
    cfg.update(img_size=a.img_size, epochs=1, device=a.device, distributed={"nproc": 1, "nnodes": 1})
    n = min(a.images, a.max_images) if a.max_images else a.images
    ds = SyntheticTrainSet(n, a.items, a.img_size)
    from fashionbench.engine.training import train

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        _, hist = train(cfg, ds, tmp, seed=0, progress=True)
        wall = time.perf_counter() - t
    ips = hist[0]["images_per_s"]
    rec = {"method": a.method, "device": a.device, "img_size": a.img_size, "batch_size": cfg.get("batch_size"),
           "images_timed": n, "images_per_s": ips, "epoch_images": a.images,
           "epoch_s": round(a.images / ips, 1) if ips else None, "extrapolated": n < a.images,
           "wall_s_incl_setup": round(wall, 1), "threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else None,
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    print(json.dumps(rec))
    out = Path(a.out)
    records = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps(records + [rec], indent=2) + "\n")


if __name__ == "__main__":
    main()
