"""Fixtures for the review tests: a copy of the example dataset and image factories."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A fresh copy of ``examples/kanachan`` (6 captions with placeholder images)."""
    target = tmp_path / "kanachan"
    shutil.copytree(EXAMPLES / "kanachan", target)
    return target


@pytest.fixture
def db(real_tagdb_path: Path) -> str:
    """The full real tag database (built once per session)."""
    return str(real_tagdb_path)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels, with almost no pixel data:
    a decompression bomb as far as any decoder that trusts the header is concerned."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
