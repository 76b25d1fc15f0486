"""Helpers for the training tests: purpose-built datasets with real image files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from anima_caption.cli import main

GOOD = (
    "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, "
    "side ponytail, ahoge, medium hair, blue scrunchie, smile, white background"
)
NL = (
    "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A girl smiling at the "
    "viewer, standing in a park. Her side ponytail is visible on the right side of the image. "
    "side ponytail, ahoge, smile"
)


def make_image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A real (tiny) image file that any trainer's loader would open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.new("RGB", size, (200, 120, 90)).save(path, fmt)
    return path


MakeDataset = Callable[[dict[str, str | None]], Path]


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """Build a dataset: ``{"sub/name.png": caption text or None}``; a ``.txt`` (or the
    extension given as ``name.png|.caption``) is written beside each image."""
    root = tmp_path / "dataset"

    def build(files: dict[str, str | None]) -> Path:
        root.mkdir(exist_ok=True)
        for spec, caption in files.items():
            name, _, ext = spec.partition("|")
            image = root / name
            if image.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
                make_image(image)
                if caption is not None:
                    image.with_suffix(ext or ".txt").write_text(caption, encoding="utf-8")
            else:  # a lone caption file
                image.parent.mkdir(parents=True, exist_ok=True)
                image.write_text(caption or "", encoding="utf-8")
        return root

    return build


def snapshot(root: Path) -> dict[str, str]:
    """Hash of every file under ``root`` (to prove the dataset is untouched)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``anima-caption ARGV`` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
