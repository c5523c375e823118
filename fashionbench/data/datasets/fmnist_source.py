"""Locate, verify and read the Fashion-MNIST IDX files that ``fmnist-c2s`` is built from.

Sources, tried in order: an explicit folder, the project's ``../shared/data/fashion-mnist``,
Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``), and (only
when ``allow_download`` is set) the four canonical upstream URLs. Whatever the source, the
SHA-256 of each file's *decompressed* content is verified: Debian re-compresses the files with
a different gzip header, so the compressed bytes differ while the content is identical.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashionbench.core.atomic import atomic_path
from fashionbench.core.errors import ChecksumError, ConfigError, ContractError

#: SHA-256 of the decompressed IDX content of each file (identical for upstream and Debian).
CONTENT_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Fashion-MNIST label -> JD-style super-category
SUPER_CATEGORY: tuple[str, ...] = ("clothes", "clothes", "clothes", "clothes", "clothes", "shoes",
                                   "clothes", "shoes", "bags", "shoes")


@dataclass(frozen=True)
class FashionMNIST:
    """The 70,000 Fashion-MNIST images (uint8 [N, 28, 28]) and labels, train then test."""

    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    source: str
    content_sha256: dict[str, str]


def candidate_dirs(explicit: str | os.PathLike | None, project_root: Path) -> list[Path]:
    """The folders searched for the four files, in order."""
    dirs = [Path(explicit)] if explicit else []
    return dirs + [project_root.parent / "shared" / "data" / "fashion-mnist", DEBIAN_DIR]


def _read_verified(path: Path) -> bytes:
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise ChecksumError(f"{path}: not a valid gzip file ({exc})") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CONTENT_SHA256[path.name]:
        raise ChecksumError(f"{path}: SHA-256 of the decompressed content is {digest}, "
                            f"expected {CONTENT_SHA256[path.name]}")
    return raw


def _parse_idx(raw: bytes, name: str, images: bool) -> np.ndarray:
    magic, n = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    if images:
        if magic != 2051:
            raise ContractError(f"{name}: bad IDX magic {magic}, expected 2051")
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)
    if magic != 2049:
        raise ContractError(f"{name}: bad IDX magic {magic}, expected 2049")
    return np.frombuffer(raw, np.uint8, offset=8).copy()


def _download(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in CONTENT_SHA256:
        target = folder / name
        if target.exists():
            continue
        with atomic_path(target) as tmp, urllib.request.urlopen(UPSTREAM_URL + name, timeout=60) as r:
            tmp.write_bytes(r.read())


def load_fashion_mnist(source_dir: str | os.PathLike | None = None, project_root: Path | None = None,
                       allow_download: bool = False,
                       download_dir: str | os.PathLike | None = None) -> FashionMNIST:
    """Find, verify and read Fashion-MNIST.

    Raises :class:`ConfigError` listing every folder searched when no complete copy is found,
    and :class:`ChecksumError` when a file is found but its content differs.
    """
    root = project_root or Path.cwd()
    tried = candidate_dirs(source_dir, root)
    found = next((d for d in tried if all((d / f).is_file() for f in CONTENT_SHA256)), None)
    if found is None and allow_download:
        found = Path(download_dir or root / ".cache" / "fashion-mnist")
        _download(found)
    if found is None:
        raise ConfigError(
            "Fashion-MNIST not found: looked for " + ", ".join(CONTENT_SHA256) + " in "
            + ", ".join(str(d) for d in tried)
            + ". Install Debian's 'dataset-fashion-mnist', set dataset.source_dir, or set "
              "dataset.allow_download: true to fetch the canonical files.")
    raw = {name: _read_verified(found / name) for name in CONTENT_SHA256}
    tr_x = _parse_idx(raw["train-images-idx3-ubyte.gz"], "train-images", True)
    tr_y = _parse_idx(raw["train-labels-idx1-ubyte.gz"], "train-labels", False)
    te_x = _parse_idx(raw["t10k-images-idx3-ubyte.gz"], "t10k-images", True)
    te_y = _parse_idx(raw["t10k-labels-idx1-ubyte.gz"], "t10k-labels", False)
    return FashionMNIST(
        images=np.concatenate([tr_x, te_x]), labels=np.concatenate([tr_y, te_y]),
        is_test=np.r_[np.zeros(len(tr_y), bool), np.ones(len(te_y), bool)],
        source=str(found), content_sha256=dict(CONTENT_SHA256))
