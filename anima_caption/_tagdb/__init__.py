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
