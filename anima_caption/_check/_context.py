"""What rules read: one caption file (decoded and parsed) or the whole dataset."""

from __future__ import annotations

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
    from anima_caption._tagdb import TagDB, TagInfo


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
    _infos: list[tuple[Tag, TagInfo]] | None = field(default=None, repr=False)
    _top: tuple[Caption, list[tuple[int, Tag]]] | None = field(default=None, repr=False)

    def top_tags(self) -> list[tuple[int, Tag]]:
        """``(index in caption.items, tag)`` of the top-level tags (not inside weight
        groups), computed once per caption and shared by the rules."""
        caption = self.caption
        if caption is None:
            return []
        cached = self._top
        if cached is None or cached[0] is not caption:
            tags = [(i, item) for i, item in enumerate(caption.items) if isinstance(item, Tag)]
            cached = self._top = (caption, tags)
        return cached[1]

    @property
    def text(self) -> str:
        """The decoded text ('' when undecodable)."""
        return self.file.text if self.file is not None else ""

    @cached_property
    def known_extra(self) -> frozenset[str]:
        """Trigger words and configured known tags, normalised."""
        from anima_caption._normalize import db_key

        return frozenset(db_key(t) for t in (*self.config.triggers, *self.config.known_tags))

    def tag_infos(self) -> list[tuple[Tag, TagInfo]]:
        """Every tag (weight groups included, kaomoji excluded) with its database record.

        One batch lookup per caption, shared by all rules. Empty without a database that
        holds Danbooru data.
        """
        if self._infos is None:
            if self.caption is None or self.db is None or not self.db.has_danbooru_data:
                self._infos = []
            else:
                tags = [t for t in self.caption.tags if not t.kaomoji]
                infos = self.db.lookup_many([t.name for t in tags])
                self._infos = list(zip(tags, infos, strict=True))
        return self._infos


class TagSummary(NamedTuple):
    """What dataset rules need of one tag (a named tuple: worker processes send one per
    tag, and tuples pickle several times faster than dataclass instances)."""

    text: str
    name: str
    kind: Kind
    kaomoji: bool


@dataclass(frozen=True)
class DatasetEntry:
    """One caption file as dataset rules see it (small enough to send between processes).

    ``tags`` / ``sentences`` are None when the file could not be decoded.
    """

    path: Path
    display: str
    tags: tuple[TagSummary, ...] | None
    sentences: tuple[str, ...] = ()

    @classmethod
    def of(cls, ctx: CaptionContext) -> DatasetEntry:
        """The entry of a checked caption."""
        if ctx.caption is None:
            return cls(ctx.path, ctx.display, None)
        tags = tuple(TagSummary(t.text, t.name, t.kind, t.kaomoji) for t in ctx.caption.tags)
        sentences = tuple(s.text for s in ctx.caption.sentences)
        return cls(ctx.path, ctx.display, tags, sentences)


@dataclass
class DatasetContext:
    """Every caption file checked, plus the images found beside them."""

    captions: list[DatasetEntry]
    images: list[Path] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)
    config: CheckConfig = field(default_factory=CheckConfig)
    db: TagDB | None = None
