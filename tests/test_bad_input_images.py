"""Bad images: each gives a ContractError naming the file (and the annotation line where one lists it)."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from fashionbench.core.errors import ContractError
from fashionbench.data.imaging import load_crop
from tests.bad_input import expect, known_gap


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` pixels and that holds no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture()
def image(tmp_path) -> Path:
    p = tmp_path / "ok.jpg"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(p)
    return p


def test_a_missing_file_is_named(tmp_path):
    expect(lambda: load_crop(tmp_path / "gone.jpg", None, 8), ContractError, "gone.jpg", "not found")


def test_a_text_file_named_jpg_is_named(tmp_path):
    (tmp_path / "fake.jpg").write_text("not an image")
    expect(lambda: load_crop(tmp_path / "fake.jpg", None, 8), ContractError, "fake.jpg", "cannot be decoded")


def test_a_truncated_image_is_named(tmp_path, image):
    (tmp_path / "cut.jpg").write_bytes(image.read_bytes()[:60])
    expect(lambda: load_crop(tmp_path / "cut.jpg", None, 8), ContractError, "cut.jpg")


@pytest.mark.parametrize("box", [(4, 4, 4, 10), (4, 4, 10, 2), (-5, 0, 8, 8), (0, 0, 40, 8)])
def test_a_degenerate_or_outside_box_is_named(image, box):
    expect(lambda: load_crop(image, box, 8), ContractError, str(image), "degenerate or outside")


@known_gap("PIL's DecompressionBombError reaches the user raw, naming no file",
           raises=(Image.DecompressionBombError,))
def test_a_decompression_bomb_is_named(tmp_path):
    png_header_only(tmp_path / "bomb.png", 20000, 20000)
    expect(lambda: load_crop(tmp_path / "bomb.png", None, 8), ContractError, "bomb.png")


@known_gap("a NaN box coordinate reaches PIL, whose ValueError names no file", raises=(ValueError,))
def test_a_nan_box_is_named(image):
    expect(lambda: load_crop(image, (0, 0, float("nan"), 8), 8), ContractError, str(image))


_spec = importlib.util.spec_from_file_location(
    "fb_dataset_fixtures", Path(__file__).parent / "fixtures" / "datasets" / "make_images.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


@known_gap("reading image sizes of an annotation's images: a text file named .jpg raises PIL's "
           "UnidentifiedImageError without the annotation file and line", raises=(UnidentifiedImageError,))
def test_an_unreadable_image_listed_by_an_annotation_is_named_with_its_line(tmp_path):
    from fashionbench.data.datasets.consumer2shop import load

    root = fixtures.materialise("consumer2shop", tmp_path) / "Consumer-to-shop Clothes Retrieval Benchmark"
    victim = sorted((root / "Img").rglob("*.jpg"))[0]
    victim.write_text("not an image")
    expect(lambda: load(root, read_sizes=True), ContractError, victim.name, "list_")
