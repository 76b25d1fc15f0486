"""Thumbnails: bounded size, JPEG decoded at reduced scale, broken images reported."""

from __future__ import annotations

import io
import time
from pathlib import Path

from PIL import Image

from anima_caption._review._thumbs import make_thumbnail
from tests.conftest import EXAMPLES
from tests.review.conftest import png_claiming


def test_example_images_fit_the_box() -> None:
    for path in sorted((EXAMPLES / "kanachan").glob("*.[pj][np]g")):
        thumb = make_thumbnail(path, 64)
        assert thumb.data is not None, thumb.error
        assert max(thumb.width, thumb.height) == 64
        with Image.open(io.BytesIO(thumb.data)) as image:
            assert image.size == (thumb.width, thumb.height)
        assert thumb.original is not None and max(thumb.original) > 64


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    Image.new("RGB", (4800, 3600), (200, 120, 40)).save(big, quality=70)
    # 17.3 million pixels, but a 1-million-pixel decode budget: only possible because the
    # JPEG is decoded at 1/8 scale (600 × 450) before it is shrunk to the box.
    start = time.perf_counter()
    thumb = make_thumbnail(big, 128, max_pixels=1_000_000)
    elapsed = time.perf_counter() - start
    assert thumb.data is not None, thumb.error
    assert (thumb.width, thumb.height) == (128, 96)
    assert thumb.original == (4800, 3600)
    print(f"4800x3600 JPEG thumbnailed in {elapsed * 1000:.0f} ms")


def test_large_png_over_budget_is_refused_not_decoded(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1500)).save(big)
    thumb = make_thumbnail(big, 128, max_pixels=1_000_000)
    assert thumb.data is None
    assert thumb.original == (2000, 1500)
    assert "2000×1500" in (thumb.error or "")
    assert "decompression-bomb guard" in (thumb.error or "")


def test_decompression_bomb_header_is_reported(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(100_000, 100_000))
    start = time.perf_counter()
    thumb = make_thumbnail(bomb, 128)
    assert time.perf_counter() - start < 2
    assert thumb.data is None
    assert "100000×100000" in (thumb.error or "")


def test_broken_images_are_reported(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all")
    truncated = tmp_path / "truncated.jpg"
    data = (EXAMPLES / "kanachan" / "kanachan_bikini.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path in (garbage, truncated, empty, tmp_path / "missing.png"):
        thumb = make_thumbnail(path, 64)
        assert thumb.data is None, path
        assert thumb.error, path
        assert "\n" not in thumb.error


def test_transparent_png_stays_png(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (300, 200), (255, 0, 0, 128)).save(path)
    thumb = make_thumbnail(path, 60)
    assert thumb.fmt == "png" and thumb.mime == "image/png"
    assert (thumb.width, thumb.height) == (60, 40)
