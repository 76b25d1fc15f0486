"""Shipped YAML data is parsed once and then read from the user cache folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anima_caption._data import data_path, load_yaml_data

SCRIPT = (
    "import sys\n"
    "from anima_caption._data import load_yaml_data\n"
    "data = load_yaml_data('tag_db/vocabulary.yaml')\n"
    "print(int('yaml' in sys.modules), len(repr(data)))\n"
)


def _run(cache: Path) -> tuple[int, int]:
    env = {**os.environ, "ANIMA_CAPTION_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_second_run_reads_the_cache_without_yaml(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    used_yaml, size = _run(cache)
    assert used_yaml == 1
    assert (cache / "data" / "tag_db_vocabulary.yaml.marshal").is_file()
    used_yaml_again, size_again = _run(cache)
    assert used_yaml_again == 0
    assert size_again == size


def test_cached_data_equals_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMA_CAPTION_CACHE_DIR", str(tmp_path / "cache"))
    truth = yaml.safe_load(data_path("tag_db/vocabulary.yaml").read_text("utf-8"))
    assert load_yaml_data("tag_db/vocabulary.yaml") == truth  # parsed, then stored
    assert load_yaml_data("tag_db/vocabulary.yaml") == truth  # read back from the cache


def test_a_damaged_or_stale_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(cache)
    stored = cache / "data" / "tag_db_vocabulary.yaml.marshal"
    stored.write_bytes(b"\x00garbage")
    used_yaml, _ = _run(cache)
    assert used_yaml == 1  # fell back to parsing, and rewrote the cache
    assert _run(cache)[0] == 0
