"""``fmnist-c2s``: a synthetic consumer-to-shop retrieval dataset built from Fashion-MNIST.

Each Fashion-MNIST image becomes one *product* (item). Identity is carried by more than the
silhouette: every item gets its own colour, print pattern and pattern colour, so that two
T-shirts with similar shapes are still different products.

- **shop** images (2-5 per item): the product, clean, on a light canvas, at varied framing,
  size, small rotation and sometimes mirrored; each with a *given* box that is deliberately
  noisy (sometimes too tight, sometimes loose), like the JD annotations.
- **consumer** photos (1-3 per item): the product warped (scale, rotation, perspective),
  re-lit, colour-shifted, blurred, partly occluded and pasted onto a crop of a real photograph
  shipped with scikit-image; ground-truth box = the product's visible extent.
- splits in the In-Shop style: train items are disjoint from test items; test consumer photos
  are queries; the gallery holds test items' shop images plus shop images of distractor items.

The build is byte-reproducible for a seed: every item draws from its own
``numpy.random.SeedSequence`` child and PNGs are written with fixed settings. The content hash
(SHA-256 over the manifest and every image file) is recorded in ``dataset.json``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from fashionbench.core.atomic import atomic_dir
from fashionbench.core.errors import ConfigError
from fashionbench.data.datasets.fmnist_source import (
    CLASS_NAMES,
    SUPER_CATEGORY,
    load_fashion_mnist,
)
from fashionbench.data.manifest import read_manifest, validate_manifest

BACKGROUND_FILES: tuple[str, ...] = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg", "page.png", "moon.png", "color.png")
PATTERNS: tuple[str, ...] = ("plain", "hstripes", "vstripes", "dstripes", "checks", "dots")
PREFIX: dict[str, str] = {"train": "tr", "test": "te", "distractor": "dx"}  # item id prefixes


@dataclass(frozen=True)
class BuildConfig:
    """Size and difficulty knobs of the build (the ``dataset`` block of a profile)."""

    seed: int = 0
    n_train_items: int = 1000
    n_test_items: int = 400
    n_distractor_items: int = 400
    shop_per_item: tuple[int, int] = (2, 5)
    consumer_per_item: tuple[int, int] = (1, 3)
    shop_size: int = 48
    scene_size: int = 64
    product_size: int = 40
    box_noise: float = 0.15
    occlusion_prob: float = 0.5
    workers: int = 2

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "BuildConfig":
        """Build from a params mapping; unknown keys are a :class:`ConfigError`."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"dataset: unknown parameter(s) {unknown} for fmnist-c2s; known: {sorted(known)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        cfg = cls(**kw)
        for name in ("n_train_items", "n_test_items"):
            if getattr(cfg, name) < 2:
                raise ConfigError(f"dataset.{name} must be >= 2, got {getattr(cfg, name)}")
        return cfg


# ----------------------------------------------------------------------------- rendering

def _item_style(rng: np.random.Generator) -> dict[str, Any]:
    """A product's identity beyond its shape: colour, print pattern and its parameters."""
    hsv_base = (rng.random(), rng.uniform(0.35, 1.0), rng.uniform(0.45, 1.0))
    hsv_print = ((hsv_base[0] + rng.uniform(0.25, 0.75)) % 1.0, rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0))
    return {"base": _hsv_to_rgb(*hsv_base), "print": _hsv_to_rgb(*hsv_print),
            "pattern": PATTERNS[int(rng.integers(len(PATTERNS)))],
            "period": int(rng.integers(4, 11)), "phase": int(rng.integers(0, 10))}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def _render_product(shape: np.ndarray, style: Mapping[str, Any], size: int) -> Image.Image:
    """RGBA product image: the silhouette's shading times the item's colour and print."""
    ink = np.asarray(Image.fromarray(shape).resize((size, size), Image.BILINEAR), np.float32) / 255.0
    yy, xx = np.mgrid[0:size, 0:size]
    per, ph = style["period"], style["phase"]
    pattern = {
        "plain": np.zeros((size, size), bool),
        "hstripes": ((yy + ph) // (per // 2 + 1)) % 2 == 0,
        "vstripes": ((xx + ph) // (per // 2 + 1)) % 2 == 0,
        "dstripes": ((xx + yy + ph) // (per // 2 + 1)) % 2 == 0,
        "checks": (((xx + ph) // per) + ((yy + ph) // per)) % 2 == 0,
        "dots": (((xx + ph) % per - per / 2) ** 2 + ((yy + ph) % per - per / 2) ** 2) < (per / 3.2) ** 2,
    }[style["pattern"]]
    colour = np.where(pattern[..., None], style["print"], style["base"])
    shade = 0.35 + 0.65 * ink[..., None]
    rgb = np.clip(colour * shade * 255.0, 0, 255).astype(np.uint8)
    alpha = np.clip((ink - 0.04) * 4.0, 0, 1)
    return Image.fromarray(np.dstack([rgb, (alpha * 255).astype(np.uint8)]), "RGBA")


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> list[float]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.asarray(a, np.float64), src.reshape(-1).astype(np.float64)).tolist()


def _alpha_box(alpha: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(alpha > 127)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _noisy_box(box: tuple[float, ...], noise: float, size: int, rng: np.random.Generator) -> tuple[float, ...]:
    """The 'given' box: each side moved in or out by up to ``noise`` of the box size."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    d = rng.uniform(-noise, noise, 4) * np.array([w, h, w, h])
    nb = np.array([x1 - d[0], y1 - d[1], x2 + d[2], y2 + d[3]])
    nb = np.clip(nb, 0, size)
    if nb[2] - nb[0] < 2 or nb[3] - nb[1] < 2:  # never degenerate: fall back to the true box
        nb = np.array(box)
    return tuple(float(round(v, 2)) for v in nb)


def _place(canvas: Image.Image, product: Image.Image, scale: float, angle: float,
           rng: np.random.Generator, perspective: float = 0.0) -> tuple[float, float, float, float]:
    """Paste ``product`` (RGBA) onto ``canvas`` (RGB, in place); return its visible box."""
    size = canvas.size[0]
    target = max(8, int(round(size * scale)))
    p = product.resize((target, target), Image.BILINEAR).rotate(angle, Image.BILINEAR, expand=True)
    if perspective > 0:
        w, h = p.size
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        dst = src + rng.uniform(-perspective, perspective, (4, 2)) * np.array([w, h])
        dst -= dst.min(axis=0)
        out = (int(np.ceil(dst[:, 0].max())), int(np.ceil(dst[:, 1].max())))
        p = p.transform(out, Image.PERSPECTIVE, _perspective_coeffs(dst, src), Image.BILINEAR)
    pw, ph = p.size
    # keep at least ~85% of the product inside the frame
    mx, my = int(pw * 0.15), int(ph * 0.15)
    x0 = int(rng.integers(-mx, max(-mx + 1, size - pw + mx)))
    y0 = int(rng.integers(-my, max(-my + 1, size - ph + my)))
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    layer.paste(p, (x0, y0), p)
    canvas.paste(layer, (0, 0), layer)
    return _alpha_box(np.asarray(layer)[..., 3])


@functools.lru_cache(maxsize=1)
def _backgrounds() -> tuple[np.ndarray, ...]:
    """Real photographs shipped inside scikit-image (no download), shrunk to <= 256 px."""
    import skimage.data
    folder = Path(skimage.data.__file__).parent
    out = []
    for name in BACKGROUND_FILES:
        img = Image.open(folder / name).convert("RGB")
        img.thumbnail((256, 256), Image.BILINEAR)
        out.append(np.asarray(img))
    return tuple(out)


def _render_item(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Render all images of one item; return their manifest rows (without uid)."""
    cfg = BuildConfig(**task["cfg"])
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, task["index"]]))
    style = _item_style(rng)
    product = _render_product(task["shape"], style, cfg.product_size)
    rows = []
    out_dir = Path(task["out_dir"])
    n_shop = int(rng.integers(cfg.shop_per_item[0], cfg.shop_per_item[1] + 1)) if task["shop"] else 0
    n_cons = int(rng.integers(cfg.consumer_per_item[0], cfg.consumer_per_item[1] + 1)) if task["consumer"] else 0
    for j in range(n_shop):
        tint = rng.uniform(228, 255, 3)
        canvas = Image.new("RGB", (cfg.shop_size,) * 2, tuple(int(t) for t in tint))
        prod = product.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.3 else product
        box = _place(canvas, prod, rng.uniform(0.6, 0.95), rng.uniform(-8, 8), rng)
        rows.append(_save(canvas, out_dir, "shop", task, j, box, cfg.shop_size, cfg, rng))
    for j in range(n_cons):
        bgs = _backgrounds()
        bg = bgs[int(rng.integers(len(bgs)))]
        crop = int(rng.integers(min(bg.shape[:2]) // 4, min(bg.shape[:2]) + 1))
        yb, xb = int(rng.integers(0, bg.shape[0] - crop + 1)), int(rng.integers(0, bg.shape[1] - crop + 1))
        canvas = Image.fromarray(bg[yb:yb + crop, xb:xb + crop]).resize((cfg.scene_size,) * 2, Image.BILINEAR)
        prod = _relight(product, rng)
        box = _place(canvas, prod, rng.uniform(0.45, 0.8), rng.uniform(-20, 20), rng, perspective=0.1)
        if box is not None and rng.random() < cfg.occlusion_prob:
            _occlude(canvas, box, rng)
        radius = float(rng.uniform(0.0, 1.0))
        if radius > 0.3:
            canvas = canvas.filter(ImageFilter.GaussianBlur(radius))
        rows.append(_save(canvas, out_dir, "consumer", task, j, box, cfg.scene_size, cfg, rng))
    return rows


def _relight(product: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Consumer lighting: gain, gamma and a mild colour cast (identity colour stays recognisable)."""
    arr = np.asarray(product).astype(np.float32)
    rgb = arr[..., :3] / 255.0
    rgb = np.clip(rgb * rng.uniform(0.7, 1.25) * rng.uniform(0.88, 1.12, 3), 0, 1) ** rng.uniform(0.8, 1.25)
    arr[..., :3] = rgb * 255.0
    return Image.fromarray(arr.astype(np.uint8), "RGBA")


def _occlude(canvas: Image.Image, box: tuple[float, ...], rng: np.random.Generator) -> None:
    """Cover up to ~30% of the product with a random-coloured rectangle touching its border."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    ow, oh = w * rng.uniform(0.2, 0.55), h * rng.uniform(0.2, 0.55)
    side = int(rng.integers(4))
    ox = x1 - ow / 2 if side == 0 else x2 - ow / 2 if side == 1 else rng.uniform(x1, x2 - ow)
    oy = y1 - oh / 2 if side == 2 else y2 - oh / 2 if side == 3 else rng.uniform(y1, y2 - oh)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    ImageDraw.Draw(canvas).rectangle([ox, oy, ox + ow, oy + oh], fill=colour)


def _save(canvas: Image.Image, out_dir: Path, domain: str, task: Mapping[str, Any], j: int,
          box: tuple[float, ...] | None, size: int, cfg: BuildConfig, rng: np.random.Generator) -> dict[str, Any]:
    if box is None:  # cannot happen with the scale ranges above; fail loudly if it ever does
        raise RuntimeError(f"item {task['item_id']}: product left the {domain} frame")
    rel = f"images/{domain}/{task['item_id']}_{j}.png"
    canvas.save(out_dir / rel, format="PNG", optimize=False, compress_level=6)
    gx1, gy1, gx2, gy2 = box
    given = _noisy_box(box, cfg.box_noise, size, rng)
    return {"path": rel, "item_id": task["item_id"], "category": task["category"],
            "subcategory": task["subcategory"], "domain": domain, "split": task["split"][domain],
            "x1": given[0], "y1": given[1], "x2": given[2], "y2": given[3],
            "gt_x1": gx1, "gt_y1": gy1, "gt_x2": gx2, "gt_y2": gy2,
            "width": size, "height": size, "source": f"fashion-mnist:{task['fmnist_index']}"}


# ----------------------------------------------------------------------------- build

def _choose_items(labels: np.ndarray, is_test: np.ndarray, cfg: BuildConfig) -> dict[str, np.ndarray]:
    """Pick disjoint Fashion-MNIST indices for train, test and distractor items (stratified)."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 10**6]))
    train_pool = rng.permutation(np.flatnonzero(~is_test))
    test_pool = rng.permutation(np.flatnonzero(is_test))
    need_test = cfg.n_test_items + cfg.n_distractor_items
    if cfg.n_train_items > len(train_pool) or need_test > len(test_pool):
        raise ConfigError(f"dataset: asked for {cfg.n_train_items} train and {need_test} test+distractor "
                          f"items; Fashion-MNIST has {len(train_pool)} and {len(test_pool)}")
    test = test_pool[:need_test]
    return {"train": np.sort(train_pool[:cfg.n_train_items]),
            "test": np.sort(test[:cfg.n_test_items]),
            "distractor": np.sort(test[cfg.n_test_items:])}


def _tasks(fm: Any, cfg: BuildConfig, out_dir: Path) -> Iterator[dict[str, Any]]:
    chosen = _choose_items(fm.labels, fm.is_test, cfg)
    roles = {"train": ({"shop": "train", "consumer": "train"}, True, True),
             "test": ({"shop": "gallery", "consumer": "query"}, True, True),
             "distractor": ({"shop": "gallery", "consumer": "query"}, True, False)}
    index = 0
    for role in ("train", "test", "distractor"):
        split, shop, consumer = roles[role]
        for fi in chosen[role]:
            label = int(fm.labels[fi])
            yield {"index": index, "cfg": asdict(cfg), "shape": fm.images[fi], "out_dir": str(out_dir),
                   "item_id": f"{PREFIX[role]}{int(fi):05d}", "category": SUPER_CATEGORY[label],
                   "subcategory": CLASS_NAMES[label], "split": split, "shop": shop, "consumer": consumer,
                   "fmnist_index": int(fi)}
            index += 1


def content_hash(folder: Path) -> str:
    """SHA-256 over ``manifest.csv`` and every image it lists, in manifest order."""
    h = hashlib.sha256()
    h.update((folder / "manifest.csv").read_bytes())
    for rel in pd.read_csv(folder / "manifest.csv", usecols=["path"])["path"].drop_duplicates():
        h.update(rel.encode())
        h.update((folder / rel).read_bytes())
    return h.hexdigest()


def build(out_dir: str | os.PathLike, params: Mapping[str, Any], *, source_dir: str | None = None,
          project_root: Path | None = None, allow_download: bool = False, progress: bool = True) -> dict[str, Any]:
    """Build ``fmnist-c2s`` into ``out_dir`` (atomically: the folder appears complete or not at all).

    Returns the dataset card that is also written to ``out_dir/dataset.json``.
    """
    from fashionbench.core.progress import progress_bar

    cfg = BuildConfig.from_params(params)
    fm = load_fashion_mnist(source_dir, project_root, allow_download=allow_download)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for d in ("shop", "consumer"):
            (tmp / "images" / d).mkdir(parents=True)
        tasks = list(_tasks(fm, cfg, tmp))
        rows: list[dict[str, Any]] = []
        bar = progress_bar(total=len(tasks), desc="render items", disable=not progress)
        if cfg.workers > 1:
            with ProcessPoolExecutor(cfg.workers) as pool:
                for r in pool.map(_render_item, tasks, chunksize=32):
                    rows.extend(r)
                    bar.update()
        else:
            for t in tasks:
                rows.extend(_render_item(t))
                bar.update()
        bar.close()
        df = pd.DataFrame(rows)
        df.insert(0, "uid", [p[len("images/"):-len(".png")].replace("/", ":") for p in df["path"]])
        df = validate_manifest(df, str(tmp / "manifest.csv"), root=tmp, check_files=True)
        df.to_csv(tmp / "manifest.csv", index=False, float_format="%.2f")
        card = {
            "name": "fmnist-c2s", "synthetic": True, "config": asdict(cfg), "images_root": ".",
            "source": {"dataset": "Fashion-MNIST", "folder": fm.source,
                       "content_sha256": fm.content_sha256},
            "content_sha256": content_hash(tmp),
            "counts": _counts(df),
        }
        (tmp / "dataset.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def _counts(df: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {"images": int(len(df)), "items": int(df["item_id"].nunique())}
    for split, g in df.groupby("split"):
        out[f"{split}_images"] = int(len(g))
        out[f"{split}_items"] = int(g["item_id"].nunique())
    q_items = set(df.loc[df["split"] == "query", "item_id"])
    g_items = set(df.loc[df["split"] == "gallery", "item_id"])
    out["distractor_items"] = len(g_items - q_items)
    for cat, g in df.groupby("category"):
        out[f"category_{cat}_items"] = int(g["item_id"].nunique())
    return out


def load(root: str | os.PathLike) -> pd.DataFrame:
    """Reader for the registry: the manifest of a built ``fmnist-c2s`` under ``root``."""
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        raise ConfigError(f"dataset fmnist-c2s: {path} not found; build it with the prepare stage "
                          "(dvc repro prepare)")
    return read_manifest(path)
