"""``format``: the canonical form of a caption.

Canonical means: tags lowercase with spaces (``score_N`` and kaomoji keep their
characters), escapes removed, ``", "`` between items, one line (a dataset header keeps its
own lines), tags in Anima's section order with their original order inside each section,
sentences kept whole, exact duplicate tags removed. ``format(format(x)) == format(x)``.

Prompt syntax (weights, ``BREAK``, ``|||``, wildcards) is kept, tidied: removing it changes
what a trainer sees, which is ``convert``'s job. Tags are never re-ordered across a
``BREAK`` or ``|||`` marker, because those positions mean something to the trainer.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from anima_caption._errors import CaptionSyntaxError
from anima_caption._kinds import Section
from anima_caption._lookup import TagLookup
from anima_caption._model import Caption, Group, Item, Marker, Sentence, Tag, Wildcard
from anima_caption._parse import parse

SentencePlacement = Literal["keep", "end", "after-character"]
_INNER_END = re.compile(r"[.!?][\"')\]]*\s")


@dataclass
class _Slot:
    """A sortable element with the sentences anchored after it."""

    text: str
    rank: int
    key: str | None  # normalised tag text, for duplicate removal
    plain: bool = True  # may follow a sentence after a space (no brackets, not kaomoji)
    sentences: list[str] = field(default_factory=list)


def format(
    text: str,
    *,
    lookup: TagLookup | None = None,
    triggers: Collection[str] = (),
    sentences: SentencePlacement = "keep",
    sort: bool = True,
    dedupe: bool = True,
) -> str:
    """Return the canonical form of caption ``text``.

    ``sentences`` places natural language: ``"keep"`` (default) leaves each sentence after
    the tag it followed (sentences before the first tag stay first), ``"end"`` moves all
    sentences after the tags, ``"after-character"`` puts them right after the character
    section. ``sort=False`` keeps the tag order; ``dedupe=False`` keeps exact duplicates.
    ``lookup`` and ``triggers`` are passed to :func:`parse` and decide tag sections.

    Raises :class:`CaptionSyntaxError` when the caption holds an error item (a stray or
    unclosed bracket, a control character): its canonical form is not defined.
    """
    caption = parse(text, lookup=lookup, triggers=triggers)
    formatted = format_caption(caption, sentences=sentences, sort=sort, dedupe=dedupe)
    header = caption.header
    if header is not None and header.title and formatted.endswith("\n"):
        # Without a body the title line is the body (the grammar only calls a line a title
        # when text follows it), so format it as one.
        return format(
            f"{header.dataset}\n{header.title}",
            lookup=lookup,
            triggers=triggers,
            sentences=sentences,
            sort=sort,
            dedupe=dedupe,
        )
    return formatted


def format_caption(
    caption: Caption,
    *,
    sentences: SentencePlacement = "keep",
    sort: bool = True,
    dedupe: bool = True,
) -> str:
    """The canonical form of an already parsed caption (see :func:`format`)."""
    errors = caption.errors
    if errors:
        first = errors[0]
        raise CaptionSyntaxError(first.message, caption.to_text(), first.error_span)

    segments: list[list[Item]] = [[]]
    markers: list[str] = []
    for item in caption.items:
        if isinstance(item, Marker):
            markers.append(item.raw)
            segments.append([])
        else:
            segments[-1].append(item)

    seen: set[str] = set()
    body_text = _format_segment(segments[0], sentences, sort, dedupe, seen)
    for marker, segment in zip(markers, segments[1:], strict=True):
        body = _format_segment(segment, sentences, sort, dedupe, seen)
        # BREAK is only a marker when commas set it apart; ||| needs no commas.
        glue = ", " if marker == "BREAK" else " "
        body_text = f"{body_text}{glue}{marker}" if body_text else marker
        if body:
            body_text = f"{body_text}{glue}{body}"
    if caption.header is not None:
        header = caption.header
        lines = [header.dataset] + ([header.title.strip()] if header.title else [])
        return "\n".join([*lines, body_text])
    return body_text


def _format_segment(
    items: list[Item],
    placement: SentencePlacement,
    sort: bool,
    dedupe: bool,
    seen: set[str],
) -> str:
    leading: list[str] = []
    slots: list[_Slot] = []
    for item in items:
        if isinstance(item, Sentence):
            if slots:
                slots[-1].sentences.append(item.text)
            else:
                leading.append(item.text)
            continue
        if isinstance(item, Tag):
            slots.append(_Slot(item.text, item.section.rank, item.text, not item.kaomoji))
        else:
            slots.append(_Slot(_format_other(item), _rank_of_other(item), None, False))

    if dedupe:
        kept: list[_Slot] = []
        for slot in slots:
            if slot.key is not None:
                if slot.key in seen:
                    if kept:
                        kept[-1].sentences.extend(slot.sentences)
                    else:
                        leading.extend(slot.sentences)
                    continue
                seen.add(slot.key)
            kept.append(slot)
        slots = kept
    if sort:
        slots = sorted(slots, key=lambda s: s.rank)

    if placement != "keep":
        moved = [*leading] + [s for slot in slots for s in slot.sentences]
        leading = []
        for slot in slots:
            slot.sentences = []
        if placement == "end" or not slots:
            return _render(leading, slots, moved)
        character_rank = Section.CHARACTER.rank
        cut = 0
        for i, slot in enumerate(slots):
            if slot.rank <= character_rank:
                cut = i + 1
        if cut == 0:
            leading = moved
        else:
            slots[cut - 1].sentences = moved
        return _render(leading, slots, [])
    return _render(leading, slots, [])


def _render(leading: list[str], slots: list[_Slot], trailing: list[str]) -> str:
    # (text, is_sentence, plain)
    pieces: list[tuple[str, bool, bool]] = [(s, True, True) for s in leading]
    for slot in slots:
        pieces.append((slot.text, False, slot.plain))
        pieces.extend((s, True, True) for s in slot.sentences)
    pieces.extend((s, True, True) for s in trailing)
    out: list[str] = []
    space_after = False
    for index, (piece, is_sentence, plain) in enumerate(pieces):
        if index:
            # After a sentence a space is enough; kaomoji and bracketed items need a comma
            # to stand as items of their own, and so does whatever follows a sentence with
            # an inner ". " ("st. louis"): parsed again, the sentence could end there.
            out.append(" " if space_after and plain else ", ")
        out.append(piece)
        space_after = is_sentence and _INNER_END.search(piece) is None
    return "".join(out)


def _format_other(item: Item) -> str:
    if isinstance(item, Group):
        closer = {"(": ")", "[": "]", "{": "}"}[item.bracket]
        inner = ", ".join(_format_inner(i) for i in item.items)
        weight = f":{item.weight:g}" if item.weight is not None else ""
        return f"{item.bracket}{inner}{weight}{closer}"
    if isinstance(item, Wildcard):
        return "{" + "|".join(item.options) + "}"
    return " ".join(item.raw.split())


def _format_inner(item: Item) -> str:
    if isinstance(item, Tag):
        return item.text
    return _format_other(item)


def _rank_of_other(item: Item) -> int:
    """Groups sort with their first tag; wildcards go with the general tags."""
    if isinstance(item, Group):
        for inner in item.items:
            if isinstance(inner, Tag):
                return inner.section.rank
    return Section.GENERAL.rank
