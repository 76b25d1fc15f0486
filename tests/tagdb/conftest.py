"""Fixtures for the tag-database tests: the real Danbooru data, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_caption._tagdb import BuildResult, TagDB, build_database

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
def real_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The FULL real database (925k tags + tagcomplete list + aliases + implications)."""
    target = tmp_path_factory.mktemp("tagdb") / "danbooru-tags.sqlite"
    return build_database(
        target,
        [data_file(FULL), data_file(TAGCOMPLETE)],
        aliases=[data_file(ALIASES)],
        implications=[data_file(IMPLICATIONS)],
    )


@pytest.fixture(scope="session")
def real_db(real_build: BuildResult) -> TagDB:
    """The real database, opened once."""
    return TagDB.open(real_build.path)
