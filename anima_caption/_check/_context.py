"""What rules read: one caption file (decoded and parsed) or the whole dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from anima_caption._check._config import CheckConfig
from anima_caption._errors import CaptionDecodeError
from anima_caption._io import CaptionFile
from anima_caption._kinds import Kind
from anima_caption._model import Caption, Tag

if TYPE_CHECKING:
    from anima_caption._tagdb import TagDB


@dataclass
class CaptionContext:
    """One caption file. ``file``/``caption`` are None when the file could not be decoded."""

    path: Path
    display: str
    """The path as shown in output (relative to the working directory when possible)."""
    config: CheckConfig
    db: TagDB | None
    file: CaptionFile | None = None
    caption: Caption | None = None
    decode_error: CaptionDecodeError | None = None
    _index: tuple[Caption, CaptionIndex] | None = field(default=None, repr=False)

    def index(self) -> CaptionIndex:
        """What many rules look for in the caption, found in one pass and shared."""
        caption = self.caption
        cached = self._index
        if cached is None or cached[0] is not caption:
            cached = self._index = (caption, CaptionIndex.of(caption))  # type: ignore[assignment]
        assert cached is not None
        return cached[1]

    def top_tags(self) -> list[tuple[int, Tag]]:
        """``(index in caption.items, tag)`` of the top-level tags (not inside weight
        groups), computed once per caption and shared by the rules."""
        return self.index().top

    @property
    def text(self) -> str:
        """The decoded text ('' when undecodable)."""
        return self.file.text if self.file is not None else ""

    @cached_property
    def known_extra(self) -> frozenset[str]:
        """Trigger words and configured known tags, normalised."""
        from anima_caption._normalize import db_key

        return frozenset(db_key(t) for t in (*self.config.triggers, *self.config.known_tags))


class CaptionIndex(NamedTuple):
    """One pass over a caption's items: what the rules would otherwise each search for."""

    top: list[tuple[int, Tag]]
    """``(index in items, tag)`` of the top-level tags (not inside weight groups)."""
    by_kind: dict[Kind, list[Tag]]
    """Every tag (weight groups included) by kind."""
    item_types: frozenset[type]
    """The classes of the top-level items (``Group`` in it: there is weight syntax)."""
    odd_trails: list[int]
    """Indices of items (not the last) whose separator after them is not ``", "``."""

    @classmethod
    def of(cls, caption: Caption | None) -> CaptionIndex:
        """The index of ``caption`` (empty for an undecodable file)."""
        top: list[tuple[int, Tag]] = []
        types: set[type] = set()
        odd: list[int] = []
        if caption is None:
            return cls(top, {}, frozenset(), odd)
        items = caption.items
        last = len(items) - 1
        for i, item in enumerate(items):
            kind = type(item)
            if kind is Tag:
                top.append((i, item))  # type: ignore[arg-type]
            else:
                types.add(kind)
            if item.trail != ", " and i != last:
                odd.append(i)
        if top:
            types.add(Tag)
        by_kind: dict[Kind, list[Tag]] = {}
        for tag in caption.tags:
            found = by_kind.get(tag.kind)
            if found is None:
                by_kind[tag.kind] = [tag]
            else:
                found.append(tag)
        return cls(top, by_kind, frozenset(types), odd)


class TagSummary(NamedTuple):
    """What dataset rules need of one tag (a named tuple: worker processes send one per
    tag, and tuples pickle several times faster than dataclass instances)."""

    text: str
    name: str
    kind: Kind
    kaomoji: bool


class DatasetEntry(NamedTuple):
    """One caption file as dataset rules see it (small enough to send between processes).

    ``tags`` / ``sentences`` are None when the file could not be decoded.
    """

    path: Path
    display: str
    tags: tuple[TagSummary, ...] | None
    sentences: tuple[str, ...] = ()

    @classmethod
    def of(cls, ctx: CaptionContext, memo: dict[str, TagSummary] | None = None) -> DatasetEntry:
        """The entry of a checked caption. ``memo`` (tag spelling → summary) lets a run
        share one summary object per spelling: less memory, and pickled once per batch."""
        if ctx.caption is None:
            return cls(ctx.path, ctx.display, None)
        if memo is None:
            memo = {}
        summaries = []
        for t in ctx.caption.tags:
            summary = memo.get(t.raw)
            if summary is None:
                summary = memo[t.raw] = TagSummary(t.text, t.name, t.kind, t.kaomoji)
            summaries.append(summary)
        tags = tuple(summaries)
        sentences = tuple(s.text for s in ctx.caption.sentences)
        return cls(ctx.path, ctx.display, tags, sentences)


@dataclass
class DatasetContext:
    """Every caption file checked, plus the images found beside them."""

    captions: Sequence[DatasetEntry]
    """A list, or a :class:`~anima_caption._check._spill.CaptionSpill` on disk."""
    images: list[Path] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)
    config: CheckConfig = field(default_factory=CheckConfig)
    db: TagDB | None = None

    @cached_property
    def shared(self) -> dict[str, object]:
        """Work the dataset rules share, computed on first use (the posting index of
        ``_rules_dataset.DatasetIndex``): one pass over the captions instead of one per rule."""
        return {}
