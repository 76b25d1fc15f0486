"""Locate the data files that ship with the package (grammar, vocabulary, tag-db schema),
and the user cache folder.

In a wheel they live inside the package (``anima_caption/grammar``, ``anima_caption/tag_db``);
in a source checkout or an editable install they live at the top of the repository.
"""

from __future__ import annotations

import marshal
import os
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
CACHE_ENV = "ANIMA_CAPTION_CACHE_DIR"
_DATA_CACHE_FORMAT = 1


def cache_dir() -> Path:
    """The user cache folder (``ANIMA_CAPTION_CACHE_DIR`` overrides it). Everything in it
    can be deleted at any time; it only makes the next run faster."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("anima-caption", appauthor=False))


@cache
def data_path(relative: str) -> Path:
    """Return the path of a shipped data file such as ``"grammar/caption.lark"``.

    Raises FileNotFoundError naming both places looked in when the file is missing, which
    only happens in a broken installation.
    """
    candidates = (_PACKAGE_DIR / relative, _PACKAGE_DIR.parent / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"anima-caption data file {relative!r} not found (looked in {tried})")


def load_yaml_data(relative: str) -> Any:
    """Parse a shipped YAML data file (``"tag_db/vocabulary.yaml"``).

    The parsed data is kept in the user cache folder (``marshal``, keyed by the file's size
    and modification time), so later runs skip importing PyYAML and parsing: together
    ~15 ms of every ``check`` start in a pre-commit hook. YAML stays the source of truth.
    """
    path = data_path(relative)
    stat = path.stat()
    key = f"{_DATA_CACHE_FORMAT}:{path}:{stat.st_size}:{stat.st_mtime_ns}"
    cached = cache_dir() / "data" / (relative.replace("/", "_") + ".marshal")
    try:
        stored = marshal.loads(cached.read_bytes())
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key:
            return stored[1]
    except (OSError, ValueError, EOFError, TypeError):
        pass
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text("utf-8"), Loader=loader)
    try:
        payload = marshal.dumps((key, data))
    except ValueError:
        return data  # a value marshal cannot store (none today): parse every time
    try:
        from anima_caption._io import write_atomic

        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, payload)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return data
