"""The Danbooru tag database: build it, open it, look tags up, explain non-existent ones.

Public names (re-exported as ``anima_caption.TagDB`` etc.)::

    from anima_caption._tagdb import TagDB
    db = TagDB.open("danbooru-tags.sqlite")
    db.lookup("twin tails").canonical          # 'twintails'
    db.suggest("left side ponytail")[0].tag    # 'side ponytail'
    db.redundant(["blue scrunchie", "scrunchie"])

Building: :func:`build_database` (what ``anima-caption tagdb import`` runs) and
:func:`pull` (``anima-caption tagdb pull``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption._tagdb._builder import Builder, BuildResult, build_database
    from anima_caption._tagdb._db import (
        DBInfo,
        Redundancy,
        SourceInfo,
        TagDB,
        TagInfo,
        TagStatus,
    )
    from anima_caption._tagdb._errors import (
        ImportFormatError,
        PullError,
        TagDBError,
        TagDBFormatError,
    )
    from anima_caption._tagdb._importers import ImportReport
    from anima_caption._tagdb._paths import (
        ENV_VAR,
        default_db_path,
        open_default,
        resolve_db_path,
    )
    from anima_caption._tagdb._suggest import Suggestion, SuggestionReason

__all__ = [
    "ENV_VAR",
    "BuildResult",
    "Builder",
    "DBInfo",
    "ImportFormatError",
    "ImportReport",
    "PullError",
    "Redundancy",
    "SourceInfo",
    "Suggestion",
    "SuggestionReason",
    "TagDB",
    "TagDBError",
    "TagDBFormatError",
    "TagInfo",
    "TagStatus",
    "build_database",
    "default_db_path",
    "open_default",
    "resolve_db_path",
]

# Imported on first use: `check` needs only the reader, not the builders and importers.
_LAZY = {
    "Builder": "_builder",
    "BuildResult": "_builder",
    "build_database": "_builder",
    "DBInfo": "_db",
    "Redundancy": "_db",
    "SourceInfo": "_db",
    "TagDB": "_db",
    "TagInfo": "_db",
    "TagStatus": "_db",
    "ImportFormatError": "_errors",
    "PullError": "_errors",
    "TagDBError": "_errors",
    "TagDBFormatError": "_errors",
    "ImportReport": "_importers",
    "ENV_VAR": "_paths",
    "default_db_path": "_paths",
    "open_default": "_paths",
    "resolve_db_path": "_paths",
    "Suggestion": "_suggest",
    "SuggestionReason": "_suggest",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
