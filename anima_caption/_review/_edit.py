"""Caption edits the live review makes: on the text, through the parsed model.

Every operation takes a caption text and returns a new one; nothing else of the text
changes (spacing, sentences, line ends), so the result diffs as small as the edit. Tags
are addressed by their index among the caption's *top-level* items (tags inside weight
groups are shown, never moved). The review server calls these for the chip editor and
the bulk actions; they are plain functions so that tests can call them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anima_caption._errors import UsageError

if TYPE_CHECKING:
    from anima_caption._check._diagnostic import DiagnosticRecord
    from anima_caption._model import Caption, Tag

#: Parses a caption text the way the dataset's checker does.
Parser = Callable[[str], "Caption"]


@dataclass(frozen=True)
class Segment:
    """One piece of a caption as the page draws it."""

    kind: str
    """``tag``, ``nl`` (a sentence), ``group`` (weight syntax), ``syntax`` or ``header``."""
    raw: str
    start: int
    end: int
    trail: str
    index: int
    """Index among the caption's top-level items (-1 for the header)."""
    text: str = ""
    group: str = ""
    section: str = ""

    def to_json(self) -> dict[str, Any]:
        """The segment as the page's script reads it."""
        return {
            "kind": self.kind,
            "raw": self.raw,
            "start": self.start,
            "end": self.end,
            "trail": self.trail,
            "index": self.index,
            "text": self.text,
            "group": self.group,
            "section": self.section,
        }


def segments(caption: Caption, group_of: Callable[[Tag], str]) -> list[Segment]:
    """The caption's top-level items in order, tags with their colour group."""
    from anima_caption._model import Group, Sentence, Tag

    out: list[Segment] = []
    if caption.header is not None:
        header = caption.header
        out.append(Segment("header", header.raw, *header.span, "", -1))
    for index, item in enumerate(caption.items):
        start, end = item.span
        if isinstance(item, Tag):
            out.append(
                Segment(
                    "tag",
                    item.raw,
                    start,
                    end,
                    item.trail,
                    index,
                    text=item.text,
                    group=group_of(item),
                    section=item.section.value,
                )
            )
        elif isinstance(item, Sentence):
            out.append(Segment("nl", item.raw, start, end, item.trail, index, text=item.text))
        elif isinstance(item, Group):
            out.append(Segment("group", item.raw, start, end, item.trail, index))
        else:
            out.append(Segment("syntax", item.raw, start, end, item.trail, index))
    return out


def _tag_at(caption: Caption, index: int) -> Tag:
    from anima_caption._model import Tag

    if not 0 <= index < len(caption.items):
        raise UsageError(f"no item {index} in this caption ({len(caption.items)} items)")
    item = caption.items[index]
    if not isinstance(item, Tag):
        raise UsageError(f"item {index} is not a tag")
    return item


def _clean_tag(value: str) -> str:
    tag = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    if not tag:
        raise UsageError("an empty tag")
    if "," in tag:
        raise UsageError(f"{value!r}: one tag at a time (no commas)")
    return tag


def remove_tag(text: str, index: int, parse: Parser) -> str:
    """``text`` without the top-level tag ``index`` and its separator."""
    from anima_caption._review._proposals import remove_tags

    caption = parse(text)
    target = _tag_at(caption, index)
    return remove_tags(caption, lambda tag: tag is target)


def replace_tag(text: str, index: int, new: str, parse: Parser) -> str:
    """``text`` with the top-level tag ``index`` written as ``new``."""
    caption = parse(text)
    start, end = _tag_at(caption, index).span
    return text[:start] + _clean_tag(new) + text[end:]


def move_tag(text: str, index: int, step: int, parse: Parser) -> str:
    """``text`` with the top-level tag ``index`` swapped with the next tag of its section
    before it (``step`` -1) or after it (``step`` 1). A tag at the edge of its section
    stays where it is: reordering never moves a tag into another section."""
    from anima_caption._model import Tag

    caption = parse(text)
    tag = _tag_at(caption, index)
    other = index + (1 if step > 0 else -1)
    if not 0 <= other < len(caption.items):
        return text
    neighbour = caption.items[other]
    if not isinstance(neighbour, Tag) or neighbour.section is not tag.section:
        return text
    first, second = (tag, neighbour) if other > index else (neighbour, tag)
    (a, b), (c, d) = first.span, second.span
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def add_tag(text: str, new: str, parse: Parser) -> str:
    """``text`` with tag ``new`` added after the last top-level tag of its section (before
    the first tag of a later section when the caption has none of its section yet); a
    caption that already has the tag is returned unchanged."""
    from anima_caption._kinds import Section
    from anima_caption._model import Tag
    from anima_caption._normalize import db_key

    tag = _clean_tag(new)
    caption = parse(text)
    parsed = parse(tag).tags
    if not parsed:
        raise UsageError(f"{new!r} is not a tag")
    key = db_key(parsed[0].text)
    if any(db_key(t.text) == key for t in caption.tags):
        return text
    order = list(Section)
    rank = order.index(parsed[0].section)
    top = [(i, item) for i, item in enumerate(caption.items) if isinstance(item, Tag)]
    after = [i for i, t in top if order.index(t.section) <= rank]
    if after:
        item = caption.items[after[-1]]
        end = item.span[1]
        return text[:end] + ", " + tag + text[end:]
    if top:
        start = caption.items[top[0][0]].span[0]
        return text[:start] + tag + ", " + text[start:]
    body = text.rstrip("\r\n")
    ending = text[len(body) :]
    if not body.strip():
        return tag + ending
    separator = "" if body.endswith((", ", ",")) else ", "
    return body + separator + tag + ending


def replace_everywhere(text: str, old: str, new: str, parse: Parser) -> str:
    """``text`` with every top-level tag spelled like ``old`` (same lookup key) written as
    ``new``; when the caption already has ``new``, ``old`` is removed instead."""
    from anima_caption._normalize import db_key

    caption = parse(text)
    key = db_key(_clean_tag(old))
    replacement = _clean_tag(new)
    new_key = db_key(replacement)
    if any(db_key(t.text) == new_key for t in caption.tags):
        return remove_everywhere(text, old, parse)
    out = text
    for index in reversed(_top_matches(caption, key)):
        start, end = caption.items[index].span
        out = out[:start] + replacement + out[end:]
    return out


def remove_everywhere(text: str, old: str, parse: Parser) -> str:
    """``text`` without the top-level tags spelled like ``old``."""
    from anima_caption._normalize import db_key
    from anima_caption._review._proposals import remove_tags

    caption = parse(text)
    key = db_key(_clean_tag(old))
    return remove_tags(caption, lambda tag: db_key(tag.text) == key)


def _top_matches(caption: Caption, key: str) -> list[int]:
    from anima_caption._model import Tag
    from anima_caption._normalize import db_key

    return [
        i
        for i, item in enumerate(caption.items)
        if isinstance(item, Tag) and db_key(item.text) == key
    ]


def apply_fix(text: str, diagnostic: DiagnosticRecord) -> str:
    """``text`` with one diagnostic's fix applied (a human chose it: any applicability)."""
    from anima_caption._check._engine import apply_edits

    if diagnostic.fix is None or not diagnostic.fix.edits:
        raise UsageError(f"{diagnostic.code}: this diagnostic has no fix to apply")
    new_text, _count = apply_edits(text, [diagnostic])
    return new_text


def bulk(
    texts: Sequence[str],
    action: str,
    parse: Parser,
    *,
    tag: str = "",
    new: str = "",
    fix: Callable[[str], str] | None = None,
) -> list[str]:
    """Apply one bulk action to each of ``texts``: ``add``, ``remove``, ``replace`` (``tag``
    by ``new``) or ``fix`` (``fix(text)``, the checker's safe fixes)."""
    if action == "add":
        return [add_tag(t, tag, parse) for t in texts]
    if action == "remove":
        return [remove_everywhere(t, tag, parse) for t in texts]
    if action == "replace":
        return [replace_everywhere(t, tag, new, parse) for t in texts]
    if action == "fix":
        if fix is None:
            raise UsageError("no fixer for the 'fix' action")
        return [fix(t) for t in texts]
    raise UsageError(f"unknown bulk action {action!r}: use add, remove, replace or fix")
