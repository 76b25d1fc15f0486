"""Shared fixtures: paths to the repository, the shared real data and the examples."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check behaviour, not speed: on a busy 2-core CI machine a per-example
# deadline only produces flaky failures (speed is measured by the benchmarks in bench/).
settings.register_profile("anima", deadline=None)
# In CI (`.ci/run` sets CI=1) the examples are derandomized: every CI run tries the same
# examples as the last local run of the suite, so a landing is never decided by which
# random inputs one run happened to draw. Local runs keep exploring new examples.
settings.register_profile("anima-ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("anima-ci" if os.environ.get("CI") else "anima")

# The suite's runs (and the CLI subprocesses they start) keep their caches (token counts,
# parsed data files, suggestions per database file) in a folder of their own, not in the
# user's cache folder; tests that study the caches point elsewhere themselves.
os.environ.setdefault(
    "ANIMA_CAPTION_CACHE_DIR", tempfile.mkdtemp(prefix="anima-caption-test-cache-")
)
# The journal key (which signs every backup journal this user writes) likewise lives in a
# data folder of the suite's own, never the user's.
os.environ.setdefault(
    "ANIMA_CAPTION_DATA_DIR", tempfile.mkdtemp(prefix="anima-caption-test-data-")
)

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


#: The files of ``../shared/data/tags`` that the full real tag database is built from.
REAL_TAGDB_FILES = {
    "tags": ("danbooru_tags_full_2025-09-24.csv", "danbooru.csv"),
    "aliases": ("danbooru_aliases.csv",),
    "implications": ("danbooru_implications.csv",),
}


@pytest.fixture(scope="session")
def real_tagdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FULL real tag database, built once per test session (≈ 7 s, ≈ 95 MB).

    Danbooru's complete tag list of 2025-09-24 plus the tagcomplete list, aliases and
    implications from ``../shared/data/tags``. Skips (with the reason) when that data is
    absent. Read-only by convention: copy it before damaging it.
    """
    from anima_caption._tagdb import build_database

    files = {
        kind: [require_shared(TAG_DATA / name) for name in names]
        for kind, names in REAL_TAGDB_FILES.items()
    }
    target = tmp_path_factory.mktemp("tagdb") / "danbooru-tags.sqlite"
    build_database(
        target, files["tags"], aliases=files["aliases"], implications=files["implications"]
    )
    return target
