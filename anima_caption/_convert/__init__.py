"""SDXL-era → Anima conversion, bulk tag edits, and the commands ``convert``, ``edit`` and
``undo`` (the journal itself is :mod:`anima_caption._journal`).

Public names are re-exported from ``anima_caption``: :func:`convert` and
:class:`ConversionResult`.
"""

from __future__ import annotations

from anima_caption._convert._convert import Change, ConversionResult, Converter, convert

__all__ = ["Change", "ConversionResult", "Converter", "convert"]
