"""Where the tag database lives: ``--db``, then ``$ANIMA_CAPTION_TAGDB``, then the cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anima_caption._tagdb._db import TagDB

#: Environment variable naming the database file.
ENV_VAR = "ANIMA_CAPTION_TAGDB"
DEFAULT_FILENAME = "danbooru-tags.sqlite"


def default_db_path() -> Path:
    """The default database file in the user cache directory (platformdirs)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("anima-caption", appauthor=False)) / DEFAULT_FILENAME


def resolve_db_path(explicit: str | None) -> Path:
    """The database path to use: ``explicit`` (``--db``), else ``$ANIMA_CAPTION_TAGDB``,
    else :func:`default_db_path`. The file need not exist."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return default_db_path()


def open_default(explicit: str | None) -> TagDB | None:
    """Open the database at :func:`resolve_db_path`, or return None when no file is there.

    A file that exists but is not a readable anima-caption tag database raises
    :class:`anima_caption._tagdb.TagDBFormatError` (an ``AnimaCaptionError``, exit code 1).
    """
    from anima_caption._tagdb._db import TagDB

    path = resolve_db_path(explicit)
    if not path.exists():
        return None
    return TagDB.open(path)


def no_database_hint(path: Path) -> str:
    """The one-line note printed when no database exists yet."""
    return (
        f"note: no tag database at {path}; only Anima's built-in vocabulary is known. "
        "Get one with `anima-caption tagdb pull` (downloads from Danbooru) or "
        "`anima-caption tagdb import TAGS.csv --aliases A.csv --implications I.csv`."
    )
