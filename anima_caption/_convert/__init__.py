"""SDXL-era → Anima conversion, bulk tag edits, and the commands ``convert``, ``edit`` and
``undo`` (the journal itself is :mod:`anima_caption._journal`).

Public names are re-exported from ``anima_caption``: :func:`convert` and
:class:`ConversionResult`. They are loaded on first use, so that importing the command
module (``anima_caption._convert.cli``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption._convert._convert import Change, ConversionResult, Converter, convert

__all__ = ["Change", "ConversionResult", "Converter", "convert"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from anima_caption._convert import _convert

        value = getattr(_convert, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anima_caption._convert' has no attribute {name!r}")
