"""Locate the data files that ship with the package (grammar, vocabulary, tag-db schema).

In a wheel they live inside the package (``anima_caption/grammar``, ``anima_caption/tag_db``);
in a source checkout or an editable install they live at the top of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent


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
    """Parse a shipped YAML data file (``"tag_db/vocabulary.yaml"``), with libyaml's C
    loader when PyYAML has it: the pure-Python loader costs tens of milliseconds per file
    on every start of ``check``."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data_path(relative).read_text("utf-8"), Loader=loader)
