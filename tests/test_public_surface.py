"""Issue 15 item 14: the package shows what it documents, and nothing else.

``import anima_caption`` used to expose ``Any``, ``TYPE_CHECKING``, ``annotations`` and
``import_module``; ``TagDB.open()`` needed a path although ``tagdb import`` writes to a
default place.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_the_top_level_package_exposes_only_its_public_names() -> None:
    code = (
        "import json, anima_caption\n"
        "print(json.dumps([n for n in dir(anima_caption) if not n.startswith('_')]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import anima_caption

    names = set(json.loads(result.stdout))
    assert names == set(anima_caption.__all__) - {"__version__"}
    for helper in ("Any", "TYPE_CHECKING", "annotations", "import_module"):
        assert not hasattr(anima_caption, helper), helper


def test_tagdb_open_without_a_path_opens_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_tagdb_path: Path
) -> None:
    from anima_caption import TagDB
    from anima_caption._tagdb import TagDBFormatError

    monkeypatch.setenv("ANIMA_CAPTION_TAGDB", str(real_tagdb_path))
    with TagDB.open() as db:
        assert db.has_danbooru_data
        assert db.lookup("long hair") is not None
    missing = tmp_path / "none.sqlite"
    monkeypatch.setenv("ANIMA_CAPTION_TAGDB", str(missing))
    with pytest.raises(TagDBFormatError, match="no tag database here"):
        TagDB.open()
