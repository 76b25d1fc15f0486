"""Schema version, file marker and the checked way to open a database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from anima_caption._data import data_path
from anima_caption._tagdb._errors import TagDBFormatError

#: Bump when the tables change; older files are then rejected with a rebuild hint.
SCHEMA_VERSION = 1
#: PRAGMA application_id of every anima-caption tag database ("ANIC").
APPLICATION_ID = 0x414E4943

REBUILD_HINT = (
    "rebuild it with `anima-caption tagdb pull` or "
    "`anima-caption tagdb import TAGS.csv --aliases A.csv --implications I.csv`"
)


def schema_sql() -> str:
    """The DDL of the current schema (``tag_db/schema.sql``)."""
    return data_path("tag_db/schema.sql").read_text("utf-8")


def connect_readonly(path: Path, *, threads: bool = False) -> sqlite3.Connection:
    """Open ``path`` read-only after checking that it is a tag database of this schema.

    ``threads``: the connection may be used from other threads than this one (the caller
    serialises the queries). Raises :class:`TagDBFormatError` for a missing, foreign,
    outdated or corrupted file.
    """
    if not path.is_file():
        raise TagDBFormatError(f"{path}: no tag database here; {REBUILD_HINT}")
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise TagDBFormatError(f"{path}: cannot read the tag database: {error}") from error
    if header != b"SQLite format 3\x00":
        raise TagDBFormatError(f"{path}: not an anima-caption tag database (not SQLite)")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=not threads)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise TagDBFormatError(f"{path}: an SQLite file, but not an anima-caption tag database")
        if version != SCHEMA_VERSION:
            raise TagDBFormatError(
                f"{path}: tag database schema v{version}, this anima-caption reads "
                f"v{SCHEMA_VERSION}; {REBUILD_HINT}"
            )
        conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as error:
        conn.close()
        raise read_error(path, error) from error
    except TagDBFormatError:
        conn.close()
        raise
    return conn


#: SQLite's primary result codes that mean "the file's contents are damaged".
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def read_error(path: Path, error: sqlite3.DatabaseError) -> TagDBFormatError:
    """The one-line error for an SQLite error met while reading the database at ``path``.

    Files are checked when opened, but damage deeper in the file only shows when a query
    reaches it (``database disk image is malformed``).
    """
    detail = " ".join(str(error).split()) or type(error).__name__
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF not in _CORRUPT_CODES:
        return TagDBFormatError(
            f"{path}: cannot read the tag database ({detail}); if the file is damaged, "
            f"{REBUILD_HINT}"
        )
    return TagDBFormatError(f"{path}: corrupted tag database ({detail}); {REBUILD_HINT}")
