"""The bulk ``edit`` engine: tag-aware, sentence-aware edits of caption text.

Edits work on the parsed caption's spans, so everything they do not touch stays byte for
byte as it was (no reformatting). A tag operation matches *normalised tags*
(``Brown_Hair`` matches ``brown hair``), never a substring of another tag (removing
``hair`` leaves ``brown hair`` alone), and never touches natural-language sentences unless
``in_text`` is set, in which case the phrase is also replaced inside sentences (whole
words, case-insensitive, capitalisation of the first letter kept).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from anima_caption._errors import UsageError
from anima_caption._kinds import Section
from anima_caption._model import Caption, Group, Item, Sentence, Tag
from anima_caption._normalize import db_key
from anima_caption._parse import parse

OpKind = Literal["replace", "remove", "add"]


@dataclass(frozen=True)
class Operation:
    """One edit: ``replace`` (``old`` → ``new``), ``remove`` (``old``) or ``add`` (``new``)."""

    kind: OpKind
    old: str = ""
    new: str = ""

    @classmethod
    def parse(cls, kind: OpKind, value: str) -> Operation:
        """From a command-line value (``OLD=NEW`` for replace)."""
        if kind == "replace":
            old, sep, new = value.partition("=")
            if not sep or not old.strip():
                raise UsageError(f"--replace expects OLD=NEW, got {value!r}")
            return cls("replace", old.strip(), new.strip())
        if not value.strip():
            raise UsageError(f"--{kind} needs a tag")
        if kind == "remove":
            return cls("remove", old=value.strip())
        return cls("add", new=value.strip())


@dataclass
class EditOptions:
    """How operations match and where added tags go."""

    regex: bool = False
    in_text: bool = False
    at: str | None = None
    """``--at``: a section name (``prefix``, ``count``, ``character``, ``series``,
    ``artist``, ``general``) or an item index (0 first, -1 last)."""
    where: str | None = None
    triggers: Collection[str] = ()


@dataclass
class EditResult:
    """The edited text and a line per edit made."""

    text: str
    changes: list[str] = field(default_factory=list)
    skipped: bool = False
    """The caption did not match ``--where``."""


class Editor:
    """Applies a fixed list of operations to captions."""

    def __init__(self, operations: Sequence[Operation], options: EditOptions) -> None:
        if not operations:
            raise UsageError("nothing to do: give --replace, --remove or --add")
        self.operations = tuple(operations)
        self.options = options
        self._matchers = [self._matcher(op) for op in operations]
        self._where = _Where(options.where) if options.where else None
        if options.at is not None:
            _parse_at(options.at)  # validate early

    def _matcher(self, op: Operation) -> re.Pattern[str] | str:
        if op.kind == "add":
            return db_key(op.new)
        if self.options.regex:
            try:
                return re.compile(op.old)
            except re.error as error:
                raise UsageError(f"bad regular expression {op.old!r}: {error}") from None
        return db_key(op.old)

    def edit(self, text: str) -> EditResult:
        """Apply every operation, in order, to one caption's text."""
        triggers = self.options.triggers
        caption = parse(text, triggers=triggers)
        if self._where is not None and not self._where.matches(caption):
            return EditResult(text, skipped=True)
        result = EditResult(text)
        for op, matcher in zip(self.operations, self._matchers, strict=True):
            new_text = self._apply(op, matcher, caption, result)
            if new_text != result.text:
                result.text = new_text
                caption = parse(new_text, triggers=triggers)
        return result

    # -- one operation -------------------------------------------------------------------

    def _apply(
        self, op: Operation, matcher: re.Pattern[str] | str, caption: Caption, result: EditResult
    ) -> str:
        text = result.text
        if op.kind == "add":
            assert isinstance(matcher, str)
            if any(tag.name == matcher for tag in caption.tags):
                return text
            result.changes.append(f"add '{op.new}'")
            return _insert(caption, text, op.new, self.options.at)
        edits: list[tuple[int, int, str]] = []
        _tag_edits(caption.items, op, matcher, edits, result.changes)
        if op.kind == "replace" and self.options.in_text:
            for sentence in caption.sentences:
                _text_edits(sentence, op, self.options.regex, edits, result.changes)
        return _apply_edits(text, edits)


def _matches(tag: Tag, matcher: re.Pattern[str] | str) -> re.Match[str] | bool | None:
    if isinstance(matcher, str):
        return tag.name == matcher
    return matcher.fullmatch(tag.name)


def _tag_edits(
    items: tuple[Item, ...],
    op: Operation,
    matcher: re.Pattern[str] | str,
    edits: list[tuple[int, int, str]],
    log: list[str],
) -> None:
    for index, item in enumerate(items):
        if isinstance(item, Group):
            _tag_edits(item.items, op, matcher, edits, log)
            continue
        if not isinstance(item, Tag) or (item.kaomoji and isinstance(matcher, re.Pattern)):
            continue
        match = _matches(item, matcher)
        if not match:
            continue
        if op.kind == "remove":
            start, end = _removal_span(items, index)
            edits.append((start, end, ""))
            log.append(f"remove '{item.raw}'")
        else:
            new = match.expand(op.new) if isinstance(match, re.Match) else op.new
            if item.has_at and not new.startswith("@"):
                new = "@" + new
            if new != item.raw:
                edits.append((item.span[0], item.span[1], new))
                log.append(f"replace '{item.raw}' → '{new}'")


def _removal_span(items: tuple[Item, ...], index: int) -> tuple[int, int]:
    """``items[index]`` with one adjacent separator, so the rest stays as written."""
    item = items[index]
    if index + 1 < len(items):
        return item.span[0], items[index + 1].span[0]
    if index > 0:
        return items[index - 1].span[1], item.span[1]
    return item.span


def _text_edits(
    sentence: Sentence,
    op: Operation,
    regex: bool,
    edits: list[tuple[int, int, str]],
    log: list[str],
) -> None:
    pattern = (
        re.compile(op.old, re.IGNORECASE)
        if regex
        else re.compile(
            r"(?<!\w)" + r"\s+".join(map(re.escape, op.old.split())) + r"(?!\w)", re.IGNORECASE
        )
    )
    base = sentence.span[0]
    for match in pattern.finditer(sentence.raw):
        new = match.expand(op.new) if regex else op.new
        found = match.group(0)
        if found[:1].isupper() and new[:1].islower():
            new = new[:1].upper() + new[1:]
        edits.append((base + match.start(), base + match.end(), new))
        log.append(f"text '{found}' → '{new}'")


def _apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    out = []
    position = 0
    for start, end, content in sorted(edits):
        if start < position:  # overlapping edit (a tag matched twice): skip it
            continue
        out.append(text[position:start])
        out.append(content)
        position = end
    out.append(text[position:])
    return "".join(out)


_SECTIONS = {section.value: section for section in Section}


def _parse_at(at: str) -> Section | int:
    if at in _SECTIONS:
        return _SECTIONS[at]
    try:
        return int(at)
    except ValueError:
        names = ", ".join(_SECTIONS)
        raise UsageError(f"--at expects a section ({names}) or an index, not {at!r}") from None


def _insert(caption: Caption, text: str, new: str, at: str | None) -> str:
    """Insert tag ``new`` (default: after the last tag)."""
    items = caption.items
    if not items:
        body_end = len(text.rstrip("\r\n"))
        return text[:body_end] + new + text[body_end:]
    where = _parse_at(at) if at is not None else None
    if isinstance(where, int):
        index = where if where >= 0 else len(items) + 1 + where
        index = max(0, min(index, len(items)))
    elif isinstance(where, Section):
        later = [
            i
            for i, item in enumerate(items)
            if isinstance(item, Tag) and item.section.rank > where.rank
        ]
        same = [
            i
            for i, item in enumerate(items)
            if isinstance(item, Tag) and item.section.rank <= where.rank
        ]
        index = (same[-1] + 1) if same else (later[0] if later else len(items))
    else:
        tags = [i for i, item in enumerate(items) if isinstance(item, Tag)]
        index = tags[-1] + 1 if tags else len(items)
    if index < len(items):
        position = items[index].span[0]
        return text[:position] + new + ", " + text[position:]
    last = items[-1]
    return text[: last.span[1]] + ", " + new + text[last.span[1] :]


class _Where:
    """``--where``: terms joined by ``and`` / ``or`` (``and`` binds tighter). A term is a
    tag the caption has (``side ponytail``), ``not TAG``, or ``text:WORDS`` (the phrase
    occurs in a sentence)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.any_of: list[list[tuple[bool, str, str]]] = []
        for part in re.split(r"\s+or\s+", expression.strip()):
            terms = []
            for term in re.split(r"\s+and\s+", part.strip()):
                term = term.strip()
                negate = term.startswith(("not ", "!"))
                term = term[4:] if term.startswith("not ") else term.lstrip("!")
                if not term.strip():
                    raise UsageError(f"--where: empty term in {expression!r}")
                if term.startswith("text:"):
                    terms.append((negate, "text", term[5:].strip().lower()))
                else:
                    terms.append((negate, "tag", db_key(term)))
            self.any_of.append(terms)

    def matches(self, caption: Caption) -> bool:
        names = {tag.name for tag in caption.tags}
        prose = " ".join(s.text for s in caption.sentences).lower()
        for terms in self.any_of:
            if all(
                (value in names if kind == "tag" else value in prose) != negate
                for negate, kind, value in terms
            ):
                return True
        return False
