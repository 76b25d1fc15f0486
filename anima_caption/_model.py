"""The typed caption model (pydantic v2, frozen).

A :class:`Caption` is an ordered tuple of items — :class:`Tag`, :class:`Sentence`,
:class:`Group`, :class:`Wildcard`, :class:`Marker` and :class:`ErrorItem` — each keeping
its exact source text (``raw``) and the separator trivia that follows it (``trail``), so
``str(caption)`` gives back the input byte for byte. Normalising is an explicit step
(:func:`anima_caption.format`), never a side effect of printing.

Spans are ``(start, end)`` offsets in code points of the whole caption text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from anima_caption._errors import line_column
from anima_caption._kinds import Kind, Section
from anima_caption._normalize import tag_name

Span = tuple[int, int]
_M = TypeVar("_M", bound=BaseModel)


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    raw: str
    """The item's exact source text."""
    span: Span
    """``(start, end)`` of ``raw`` in the caption text."""
    trail: str = ""
    """Separator trivia after the item (commas, spaces, line ends) up to the next item."""

    def __str__(self) -> str:
        return self.raw


class Tag(_Node):
    """One tag, e.g. ``side ponytail``, ``@nnn yryr``, ``score_7`` or ``^_^``."""

    type: Literal["tag"] = "tag"
    text: str
    """Normalised written form: lowercase, spaces for underscores (except score tags and
    kaomoji), escapes removed, ``@`` kept."""
    kind: Kind
    section: Section
    escaped: bool = False
    """The raw text used backslash escapes (``\\(``), which belong to ComfyUI prompts only."""
    kaomoji: bool = False
    """An emoticon tag such as ``^_^`` or ``:d``, whose punctuation is part of the tag."""

    @property
    def name(self) -> str:
        """The bare tag name: ``text`` without the ``@`` artist prefix."""
        return tag_name(self.text)

    @property
    def has_at(self) -> bool:
        """True when the tag is written with the ``@`` artist prefix."""
        return self.text.startswith("@")


class Sentence(_Node):
    """A natural-language sentence, possibly containing commas and line breaks."""

    type: Literal["sentence"] = "sentence"
    text: str
    """The sentence with its internal line breaks and runs of space folded to one space."""


class Group(_Node):
    """Weight or emphasis syntax: ``(tag:1.2)``, ``((tag))``, ``[tag]``, ``{tag}``.

    Prompt syntax, not caption syntax: reported by ``check`` and unwrapped by ``convert``.
    """

    type: Literal["group"] = "group"
    bracket: Literal["(", "[", "{"]
    weight: float | None = None
    """The explicit weight (``1.2`` in ``(tag:1.2)``), or None."""
    items: tuple[Item, ...] = ()
    """What the brackets hold (nested groups allowed)."""


class Wildcard(_Node):
    """A kohya / dynamic-prompts wildcard ``{a|b|c}``: one option is chosen per step."""

    type: Literal["wildcard"] = "wildcard"
    options: tuple[str, ...]


class Marker(_Node):
    """``BREAK`` (prompt chunk break) or ``|||`` (kohya's keep-tokens separator)."""

    type: Literal["marker"] = "marker"
    name: Literal["break", "keep-tokens"]


class ErrorItem(_Node):
    """Text the grammar cannot make sense of; ``message`` says why."""

    type: Literal["error"] = "error"
    message: str
    error_span: Span
    """The exact offending characters (inside ``span``)."""


Item = Annotated[
    Tag | Sentence | Group | Wildcard | Marker | ErrorItem, Field(discriminator="type")
]


class Header(BaseModel):
    """The dataset header of non-anime data: ``ye-pop`` / ``deviantart`` and an optional title."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    raw: str
    """The header lines exactly as written, line ends included."""
    dataset: str
    """``ye-pop`` or ``deviantart``."""
    title: str | None = None
    """The alt-text or work title on the second line, if any."""
    span: Span


class Caption(BaseModel):
    """A parsed caption. ``str(caption)`` is exactly the text it was parsed from."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    header: Header | None = None
    lead: str = ""
    """Trivia before the first item."""
    items: tuple[Item, ...] = ()

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        """The caption text: the exact source when nothing was changed."""
        parts = [self.header.raw] if self.header is not None else []
        parts.append(self.lead)
        for item in self.items:
            parts.append(item.raw)
            parts.append(item.trail)
        return "".join(parts)

    @cached_property
    def tags(self) -> tuple[Tag, ...]:
        """Every tag in order, including tags inside weight groups (computed once)."""
        return tuple(_walk_tags(self.items))

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The natural-language sentences, in order."""
        return tuple(item for item in self.items if isinstance(item, Sentence))

    @property
    def errors(self) -> tuple[ErrorItem, ...]:
        """Error items (stray or unclosed brackets, control characters), in order."""
        nested = _NESTED
        for item in self.items:
            if type(item) in nested:  # only then can there be any
                return tuple(_walk_errors(self.items))
        return ()

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, column)`` of a code-point offset in the caption text.

        The text and its line ends are worked out once per caption, so asking for many
        positions (a rule reporting every duplicate of a 4,000-tag caption) stays linear.
        """
        text, breaks = self._line_index
        if not breaks or (0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n"):
            return line_column(text, offset) if breaks else (1, max(0, min(offset, len(text))) + 1)
        offset = max(0, min(offset, len(text)))
        before = bisect_left(breaks, offset)
        if before == 0:
            return 1, offset + 1
        return before + 1, offset - breaks[before - 1]

    @cached_property
    def _line_index(self) -> tuple[str, list[int]]:
        """The caption text and the offsets of the characters that end its lines
        (``\\r\\n`` counts at its ``\\n``)."""
        text = self.to_text()
        return text, [m.end() - 1 for m in _LINE_END.finditer(text)]


def _walk_tags(items: tuple[Item, ...]) -> Iterator[Tag]:
    for item in items:
        if isinstance(item, Tag):
            yield item
        elif isinstance(item, Group):
            yield from _walk_tags(item.items)


def _walk_errors(items: tuple[Item, ...]) -> Iterator[ErrorItem]:
    for item in items:
        if isinstance(item, ErrorItem):
            yield item
        elif isinstance(item, Group):
            yield from _walk_errors(item.items)


# Forward references (Group holds items, Caption holds both) resolve when a schema is first
# needed: defer_build keeps building validators off the import path (`check` in pre-commit
# builds caption models without validating them).
_LINE_END = re.compile(r"\r\n|\r|\n")
_NESTED: frozenset[type[BaseModel]] = frozenset({ErrorItem, Group})


# -- trusted construction -------------------------------------------------------------------
# The parser builds every value itself, already in the right types, so validating them again
# would only cost time (pydantic's model_construct does the same, more slowly). The property
# tests check that ``Caption.model_validate(caption.model_dump()) == caption`` for parsed
# captions, which proves these objects are exactly what validation would build.

_ITEM_CLASSES: dict[str, type[_Node]] = {
    "tag": Tag,
    "sentence": Sentence,
    "group": Group,
    "wildcard": Wildcard,
    "marker": Marker,
    "error": ErrorItem,
}
_MODEL_CLASSES: tuple[type[BaseModel], ...] = (*_ITEM_CLASSES.values(), Header, Caption)
_DEFAULTS: dict[type[BaseModel], dict[str, object]] = {
    cls: {
        name: field.default for name, field in cls.model_fields.items() if not field.is_required()
    }
    for cls in _MODEL_CLASSES
}
_FIELDS: dict[type[BaseModel], frozenset[str]] = {
    cls: frozenset(cls.model_fields) for cls in _DEFAULTS
}
_new = object.__new__


_ORDER: dict[type[BaseModel], tuple[str, ...]] = {cls: tuple(cls.model_fields) for cls in _DEFAULTS}


def trusted(cls: type[_M], values: dict[str, object]) -> _M:
    """Build a model from values the library made itself, skipping re-validation.

    Only for values already of the right types (tests prove equality with validation for
    every use); user input always goes through normal validation.
    """
    if cls not in _ORDER:
        _ORDER[cls] = tuple(cls.model_fields)
        _DEFAULTS[cls] = {
            name: field.default
            for name, field in cls.model_fields.items()
            if not field.is_required()
        }
        _FIELDS[cls] = frozenset(cls.model_fields)
    return _trusted(cls, values)  # type: ignore[return-value]


# BaseModel's slots, set through their descriptors: a third of the cost of
# ``object.__setattr__`` by name (which looks the descriptor up on every call).
set_dict = BaseModel.__dict__["__dict__"].__set__
set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _trusted(cls: type[BaseModel], values: dict[str, object]) -> BaseModel:
    obj = _new(cls)
    order = _ORDER[cls]
    if tuple(values) != order:  # the builder usually gives every field, in order
        defaults = _DEFAULTS[cls]
        values = {name: values[name] if name in values else defaults[name] for name in order}
    set_dict(obj, values)
    set_fields_set(obj, _FIELDS[cls])
    set_extra(obj, None)
    set_private(obj, None)
    return obj


def _trusted_items(items: list[dict[str, object]]) -> tuple[BaseModel, ...]:
    out = []
    for values in items:
        kind = values["type"]
        if kind == "group":
            values["items"] = _trusted_items(values["items"])  # type: ignore[arg-type]
        out.append(_trusted(_ITEM_CLASSES[kind], values))  # type: ignore[index]
    return tuple(out)


def caption_from_parser(values: dict[str, object]) -> Caption:
    """Build a :class:`Caption` from the parser's plain values without re-validating them."""
    header = values.get("header")
    if header is not None:
        values["header"] = _trusted(Header, header)  # type: ignore[arg-type]
    values["items"] = _trusted_items(values["items"])  # type: ignore[arg-type]
    caption = _trusted(Caption, values)
    assert isinstance(caption, Caption)
    return caption
