"""The wheel ships the grammar, the vocabulary and py.typed; importing stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_contains_grammar_vocabulary_and_py_typed(tmp_path: Path) -> None:
    if shutil.which("pip") is None and not _has_build():
        pytest.skip("neither 'build' nor pip available to build a wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("anima_caption-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "anima_caption/grammar/caption.lark" in names
    assert "anima_caption/tag_db/vocabulary.yaml" in names
    assert "anima_caption/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"anima-caption = anima_caption.cli:main" in entry_points


def _has_build() -> bool:
    try:
        import build  # noqa: F401
    except ImportError:
        return False
    return True


def test_import_is_light() -> None:
    """``import anima_caption`` must not pull in pydantic, lark or yaml (pre-commit start-up)."""
    code = (
        "import sys, anima_caption; "
        "print(sorted(m for m in ('pydantic', 'lark', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    import anima_caption

    for name in anima_caption.__all__:
        assert getattr(anima_caption, name) is not None, name
