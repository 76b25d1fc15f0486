"""Suggestions are remembered across runs in the user cache folder, per database file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "import sys\n"
    "from anima_caption._tagdb import TagDB\n"
    "db = TagDB.open(sys.argv[1])\n"
    "for tag in ('left side ponytail', 'double parted bangs', 'reddish brown blazer'):\n"
    "    print([(s.tag, s.reason_code.value, s.reason, s.category, s.post_count)\n"
    "           for s in db.suggest(tag, limit=3)])\n"
    "print(int('rapidfuzz' in sys.modules))\n"
)


def _run(db: Path, cache: Path) -> tuple[list[str], bool]:
    env = {**os.environ, "ANIMA_CAPTION_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return out[:-1], out[-1] == "1"


def test_second_run_answers_from_the_cache(real_tagdb_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "tags.sqlite"
    shutil.copy(real_tagdb_path, db)
    cache = tmp_path / "cache"
    first, fuzzy_first = _run(db, cache)
    assert "side ponytail" in first[0] and "double-parted bangs" in first[1]
    assert fuzzy_first  # computed: the typo search ran
    assert list(cache.glob("suggestions-*.marshal"))
    second, fuzzy_second = _run(db, cache)
    assert second == first  # the same suggestions, reasons, categories and counts
    assert not fuzzy_second  # read back: no typo search at all


def test_a_changed_database_starts_afresh(real_tagdb_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "tags.sqlite"
    shutil.copy(real_tagdb_path, db)
    cache = tmp_path / "cache"
    first, _ = _run(db, cache)
    os.utime(db, ns=(1_000_000_000, 1_000_000_000))  # another file, as far as we know
    again, fuzzy = _run(db, cache)
    assert fuzzy  # not trusted: computed again
    assert again == first
    for stored in cache.glob("suggestions-*.marshal"):
        stored.write_bytes(b"\x00garbage")
    damaged, fuzzy = _run(db, cache)
    assert fuzzy and damaged == first
