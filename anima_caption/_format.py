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
from typing import Literal

from anima_caption._errors import CaptionSyntaxError
from anima_caption._kinds import Section
from anima_caption._lookup import TagLookup
from anima_caption._model import Caption, Group, Item, Marker, Sentence, Tag, Wildcard
from anima_caption._parse import parse

SentencePlacement = Literal["keep", "end", "after-character"]
_INNER_END = re.compile(r"[.!?][\"')\]]*\s")
_STOPS = frozenset(".!?")
# Characters that can make a tag's normalised text read back as something else on its
# own (`{,}_` normalises to `{,}`, which is a brace group): such texts are checked.
_RISKY = re.compile(r"[,{}\[\]()|\\\x00-\x1f\x7f]")
_READS_BACK: dict[tuple[str, type, str], bool] = {}


def reads_back_as(written: str, kind: type[Tag] | type[Sentence], text: str) -> bool:
    """Whether ``written``, parsed on its own, is one item of ``kind`` whose (normalised)
    text is ``text`` (cached). Written-out forms are checked with it wherever normalising
    could turn one item into two: ``{,}_`` becomes a brace group, ``Love Live! Niji…``
    a sentence and a tag, ``A b.\u30000.`` folds to ``A b. 0.``, a sentence and a tag."""
    key = (written, kind, text)
    known = _READS_BACK.get(key)
    if known is None:
        try:
            items = parse(written).items
            known = len(items) == 1 and type(items[0]) is kind and items[0].text == text
        except CaptionSyntaxError:
            known = False
        if len(_READS_BACK) > 65536:
            _READS_BACK.clear()
        _READS_BACK[key] = known
    return known


def sentence_text(sentence: Sentence) -> str:
    """What to write for ``sentence``: its folded text (runs of space and line breaks made
    one space), unless that would read back as more than one item: then as written."""
    text = sentence.text
    if _INNER_END.search(text) is None or text == sentence.raw:
        return text
    return text if reads_back_as(text, Sentence, text) else sentence.raw.strip()


class Slot:
    """A sortable element with the sentences anchored after it."""

    __slots__ = ("key", "plain", "rank", "sentences", "text")

    def __init__(self, text: str, rank: int, key: str | None, plain: bool) -> None:
        self.text = text
        self.rank = rank
        self.key = key
        """Normalised tag text, for duplicate removal."""
        self.plain = plain
        """May follow a sentence after a space (no brackets, not kaomoji)."""
        self.sentences: list[str] | None = None
        """Created when the first sentence is anchored here (most slots have none)."""

    def anchor(self, sentences: list[str]) -> None:
        if sentences:
            if self.sentences is None:
                self.sentences = []
            self.sentences.extend(sentences)


_RANK: dict[Section, int] = {section: section.rank for section in Section}


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
    slots: list[Slot] = []
    rank = _RANK
    for item in items:
        cls = type(item)
        if cls is Tag:
            text = item.text  # type: ignore[union-attr]
            written = text if text[-1:] != "\\" else _written(text)
            if (
                written is text
                and text != item.raw
                and _RISKY.search(text) is not None
                and not reads_back_as(text, Tag, text)
            ):
                # The normalised text would read back as another item: keep the tag as
                # it was written (normalising it is not worth changing what it is).
                written = item.raw.strip()
            slots.append(Slot(written, rank[item.section], text, not item.kaomoji))  # type: ignore[union-attr]
        elif cls is Sentence:
            written = sentence_text(item)  # type: ignore[arg-type]
            if slots:
                slots[-1].anchor([written])
            else:
                leading.append(written)
        else:
            slots.append(Slot(_format_other(item), _rank_of_other(item), None, False))

    if dedupe:
        kept: list[Slot] = []
        for slot in slots:
            if slot.key is not None:
                if slot.key in seen:
                    if slot.sentences:
                        if kept:
                            kept[-1].anchor(slot.sentences)
                        else:
                            leading.extend(slot.sentences)
                    continue
                seen.add(slot.key)
            kept.append(slot)
        slots = kept
    if sort:
        slots = sorted(slots, key=lambda s: s.rank)

    if placement == "keep":
        return render_sorted(leading, slots)
    trailing: list[str] = []
    _move_unterminated(leading, slots, trailing)
    moved = [*leading] + [s for slot in slots for s in slot.sentences or ()]
    leading = []
    for slot in slots:
        slot.sentences = None
    if placement == "end" or not slots:
        return render(leading, slots, moved + trailing)
    character_rank = Section.CHARACTER.rank
    cut = 0
    for i, slot in enumerate(slots):
        if slot.rank <= character_rank:
            cut = i + 1
    if cut == 0:
        leading = moved
    else:
        slots[cut - 1].sentences = moved or None
    return render(leading, slots, trailing)


def render_sorted(leading: list[str], slots: list[Slot]) -> str:
    """The text for sorted ``slots`` with sentences kept in place (``format``'s default,
    and ``convert``'s output)."""
    trailing: list[str] = []
    _move_unterminated(leading, slots, trailing)
    return render(leading, slots, trailing)


def _move_unterminated(leading: list[str], slots: list[Slot], trailing: list[str]) -> None:
    """Move sentences without a final ``.``, ``!`` or ``?`` (a cut-off sentence, a phrase)
    to ``trailing``, in order: such a sentence is only read as one at the caption's end
    or among phrases, so it must not end up between tags."""
    if all(_terminated(s) for s in leading) and all(
        _terminated(s) for slot in slots for s in slot.sentences or ()
    ):
        return
    trailing.extend(s for s in leading if not _terminated(s))
    leading[:] = [s for s in leading if _terminated(s)]
    for slot in slots:
        if slot.sentences:
            trailing.extend(s for s in slot.sentences if not _terminated(s))
            slot.sentences = [s for s in slot.sentences if _terminated(s)] or None


def _terminated(sentence: str) -> bool:
    return sentence.rstrip("\"')]")[-1:] in _STOPS


def _space_after(sentence: str) -> bool:
    """Whether a space is enough after ``sentence``: it starts with a capital, ends in
    ``.``, ``!`` or ``?`` and holds no inner ". " (``st. louis``) where, parsed again, it
    could end early. A lowercase sentence (``watashi … ga warui!``) is only split from
    what follows at a comma when read again."""
    first = sentence[:1]
    if first in "\"'":
        first = sentence[1:2]
    return first.isupper() and _terminated(sentence) and _INNER_END.search(sentence) is None


def render(leading: list[str], slots: list[Slot], trailing: list[str]) -> str:
    """Write the canonical text: ``leading`` sentences, the slots (each with its anchored
    sentences), then ``trailing`` sentences. The one renderer of ``format`` and
    ``convert``."""
    # After a sentence a space is enough; kaomoji and bracketed items need a comma to stand
    # as items of their own, and so does whatever follows a sentence with an inner ". "
    # ("st. louis") or without a final stop.
    out: list[str] = []
    space_after = False
    for sentence in leading:
        if out:
            out.append(" " if space_after else ", ")
        out.append(sentence)
        space_after = _space_after(sentence)
    for slot in slots:
        if out:
            out.append(" " if space_after and slot.plain else ", ")
        out.append(slot.text)
        space_after = False
        if slot.sentences is not None:
            for sentence in slot.sentences:
                out.append(" " if space_after else ", ")
                out.append(sentence)
                space_after = _space_after(sentence)
    for sentence in trailing:
        if out:
            out.append(" " if space_after else ", ")
        out.append(sentence)
        space_after = _space_after(sentence)
    return "".join(out)


def _written(text: str) -> str:
    """``text`` as written out: a dangling backslash gets a space to escape.

    The grammar reads a backslash and the next character as one escape, so ``a\\`` followed
    by ``", "`` would swallow the comma; ``a\\ `` keeps it (and still reads as ``a\\``).
    """
    trailing = len(text) - len(text.rstrip("\\"))
    return text + " " if trailing % 2 else text


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
        return _written(item.text)
    return _format_other(item)


def _rank_of_other(item: Item) -> int:
    """Groups sort with their first tag; wildcards go with the general tags."""
    if isinstance(item, Group):
        for inner in item.items:
            if isinstance(inner, Tag):
                return inner.section.rank
    return Section.GENERAL.rank
