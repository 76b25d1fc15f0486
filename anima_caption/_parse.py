"""``parse``: text → :class:`~anima_caption._model.Caption` (see :class:`._build.Builder`)."""

from __future__ import annotations

from collections.abc import Collection

from anima_caption._build import Builder
from anima_caption._errors import CaptionSyntaxError
from anima_caption._lookup import TagLookup
from anima_caption._model import Caption

_BUILDERS: dict[tuple[int, frozenset[str]], tuple[TagLookup | None, Builder]] = {}


def _builder(lookup: TagLookup | None, triggers: frozenset[str]) -> Builder:
    """A cached builder per (lookup object, trigger set); lookups need not be hashable."""
    key = (id(lookup), triggers)
    hit = _BUILDERS.get(key)
    if hit is not None and hit[0] is lookup:
        return hit[1]
    if len(_BUILDERS) >= 32:
        _BUILDERS.clear()
    builder = Builder(lookup, triggers)
    _BUILDERS[key] = (lookup, builder)
    return builder


def parse(
    text: str,
    *,
    lookup: TagLookup | None = None,
    triggers: Collection[str] = (),
    strict: bool = False,
) -> Caption:
    """Parse caption text into a :class:`Caption`. Never fails on any string.

    ``lookup`` (a :class:`TagLookup`, e.g. a :class:`TagDB`) classifies Danbooru tags into
    sections; without it only Anima vocabulary, ``@artist`` tags and ``triggers`` are
    classified and other tags are ``unknown``. ``triggers`` are the LoRA's trigger words
    (kind ``trigger``, character section).

    What the grammar cannot understand becomes an :class:`ErrorItem`; with ``strict=True``
    the first one raises :class:`CaptionSyntaxError` instead, with its span and a caret
    frame. ``str(parse(text)) == text`` always holds.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() expects str, not {type(text).__name__}")
    caption = _builder(lookup, frozenset(triggers)).parse(text)
    if strict:
        errors = caption.errors
        if errors:
            first = errors[0]
            raise CaptionSyntaxError(first.message, text, first.error_span)
    return caption
