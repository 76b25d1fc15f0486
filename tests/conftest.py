"""Shared fixtures: paths to the repository, the shared real data and the examples."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TAG_DATA = SHARED / "data" / "tags"
EXAMPLES = REPO / "examples"


@pytest.fixture
def examples_dir() -> Path:
    """The bundled example dataset."""
    return EXAMPLES


def require_shared(path: Path) -> Path:
    """Skip the calling test, with the reason, when the shared real data is absent."""
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected ../shared beside the checkout)")
    return path
