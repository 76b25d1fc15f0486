"""Fixtures for the tag-database tests.

The full real database comes from ``real_tagdb_path`` (``tests/conftest.py``), built once
per test session and shared with the other test folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_caption._tagdb import TagDB

REPO = Path(__file__).resolve().parents[2]
TAG_DATA = REPO / ".." / "shared" / "data" / "tags"
FULL = "danbooru_tags_full_2025-09-24.csv"
TAGCOMPLETE = "danbooru.csv"
ALIASES = "danbooru_aliases.csv"
IMPLICATIONS = "danbooru_implications.csv"


def data_file(name: str) -> Path:
    """A file of the shared real data; skips the test (with the reason) when absent."""
    path = TAG_DATA / name
    if not path.exists():
        pytest.skip(f"real Danbooru data not found at {path.resolve()} (../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def real_db(real_tagdb_path: Path) -> TagDB:
    """The real database, opened once."""
    return TagDB.open(real_tagdb_path)
