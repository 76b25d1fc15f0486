"""Issue 15 item 2: an image may lie about its size.

Before: a 294-byte progressive JPEG claiming 65500×65500 made ``report`` and ``review
export`` use 8.5 GB for 26 s: the pixel budget was checked after ``draft()``, but libjpeg
keeps the full coefficient buffer of a progressive file whatever the scale. Now the
header's dimensions and the progressive flag are judged before any decoding.
"""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import pytest
from PIL import Image

from anima_caption._review._thumbs import make_thumbnail
from tests.hostile.conftest import run_cli


def jpeg_claiming(width: int, height: int, *, progressive: bool) -> bytes:
    """A tiny real JPEG whose frame header (SOF0/SOF2) claims ``width`` × ``height``."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(
        out, "JPEG", progressive=progressive, quality=50
    )
    data = bytearray(out.getvalue())
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    at = data.index(marker)
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_the_crafted_file_is_what_the_issue_describes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = jpeg_claiming(65500, 65500, progressive=True)
    assert len(data) < 1000
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (65500, 65500)
        assert image.info.get("progressive") or image.info.get("progression")


@pytest.mark.parametrize("progressive", [True, False])
def test_a_lying_jpeg_is_refused_quickly(tmp_path: Path, progressive: bool) -> None:
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(jpeg_claiming(65500, 65500, progressive=progressive))
    started = time.monotonic()
    thumb = make_thumbnail(bomb, 128)
    assert time.monotonic() - started < 2
    assert thumb.data is None
    assert "65500×65500" in (thumb.error or "")


def test_a_real_progressive_jpeg_of_normal_size_still_gets_a_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(path, progressive=True)
    thumb = make_thumbnail(path, 128)
    assert thumb.data is not None, thumb.error
    assert (thumb.width, thumb.height) == (128, 85)


@pytest.mark.parametrize("command", ["report", "review"])
def test_report_and_export_stay_within_memory_and_time(tmp_path: Path, command: str) -> None:
    root = tmp_path / "dataset"
    root.mkdir()
    for n in range(4):  # several at once: thumbnails are made in threads
        (root / f"bomb{n}.jpg").write_bytes(jpeg_claiming(65500, 65500, progressive=True))
        (root / f"bomb{n}.txt").write_text("1girl, smile, safe\n", encoding="utf-8")
    out = tmp_path / ("r.html" if command == "report" else "r.xlsx")
    args = ["report", root, "--out", out] if command == "report" else [
        "review", "export", root, "--out", out]
    started = time.monotonic()
    run = run_cli(*args, "--no-progress", timeout=60, memory_mb=1500)
    run.no_traceback()
    assert run.code == 0, run.err
    assert time.monotonic() - started < 30
    assert run.peak_kb < 600_000, run.peak_kb
    assert "bomb0.jpg" in run.err and "65500×65500" in run.err
    assert out.is_file()
