"""IR → typed model: grouping sentences, classifying tags, attaching trivia.

Which items are tags and which are natural-language sentences is decided here, from the
items' text (docs/format.md, "Tags and sentences", states the rules for users):

* A sentence starts at an item whose first letter is a capital (``A close-up portrait…``),
  or at an item of four or more words that opens with a function word (``a girl standing
  in the rain.``).
* It runs across commas and line breaks up to the first item that ends with ``.``, ``!``
  or ``?``. With no such ending, there is no sentence: ``Yanagise Eika, 1girl, …`` is a tag
  list with a capitalised trigger.
* A run is rejected — its first item is a tag — when a later item in it is tag-like: an
  Anima vocabulary tag, an ``@artist``, an underscore, a capitalised item (the start of
  another sentence or tag), or two or more short items (one or two words that are not
  phrases like ``a cat``).
* One item can hold several sentences, and a tag list can end in a sentence without a
  comma (``@big chungus. An anime girl…``): a ``.``, ``!`` or ``?`` followed by space
  splits an item when the next word is capitalised or the text before it is itself a
  sentence.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Final

from anima_caption._kinds import KIND_OF_CATEGORY, SECTION_OF_KIND, Kind, Section
from anima_caption._lookup import TagLookup
from anima_caption._model import (
    _FIELDS,
    Caption,
    ErrorItem,
    Group,
    Marker,
    Sentence,
    Tag,
    Wildcard,
    set_dict,
    set_extra,
    set_fields_set,
    set_private,
)
from anima_caption._model import (
    Header as HeaderModel,
)
from anima_caption._normalize import normalize_tag, tag_name
from anima_caption._scanner import IR, Header, Part
from anima_caption._vocab import Vocabulary, vocabulary

_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]*[ \t\u00a0]+(?=\S)")
_WORD_RE = re.compile(r"[A-Za-z]")
_ERROR_MESSAGES = {
    "ctrl": "control character in caption",
    "stray": "closing bracket without an opening one",
    "open": "bracket is never closed",
}

_Unit = tuple[int, int, int, tuple[Part, ...], str]  # (start, end, trail_end, parts, raw)

# Enum members as constants: ``Kind.UNKNOWN`` is an attribute lookup on an enum class,
# which costs as much as building a small dict on CPython 3.11.
_UNKNOWN: Final = Kind.UNKNOWN
_GENERAL: Final = Kind.GENERAL
_TRIGGER: Final = Kind.TRIGGER
_ARTIST: Final = Kind.ARTIST
_SECTION_GENERAL: Final = Section.GENERAL
_SECTION_COUNT: Final = Section.COUNT
_new = object.__new__
_CLASS_OF_TYPE: Final[dict[str, type]] = {
    "tag": Tag,
    "sentence": Sentence,
    "group": Group,
    "wildcard": Wildcard,
    "marker": Marker,
    "error": ErrorItem,
}
_FIELDS_OF_TYPE: Final[dict[str, frozenset[str]]] = {
    name: _FIELDS[cls] for name, cls in _CLASS_OF_TYPE.items()
}
_HEADER_FIELDS: Final = _FIELDS[HeaderModel]
_CAPTION_FIELDS: Final = _FIELDS[Caption]


class Builder:
    """Builds :class:`~anima_caption._model.Caption` dictionaries from scanner IR."""

    def __init__(self, lookup: TagLookup | None, triggers: Collection[str] = ()) -> None:
        self.vocab: Vocabulary = vocabulary()
        self.lookup = lookup
        self.triggers = frozenset(normalize_tag(t) for t in triggers)
        self._function_words: frozenset[str] = self.vocab.function_words
        self._flexible: frozenset[str] = self.vocab.flexible_count
        self._members: dict[str, Kind] = self.vocab.members
        self._pattern_prefixes: tuple[str, ...] = self.vocab.pattern_prefixes
        self._may_have_sentences = False
        self._has_flexible = False
        self._unresolved: list[dict[str, Any]] = []

    # -- entry point ------------------------------------------------------------------
    def build(self, text: str, header: Header | None, ir: IR) -> dict[str, Any]:
        """The ``Caption`` as a plain dict, ready for ``Caption.model_validate``."""
        result: dict[str, Any] = {}
        result["header"] = None
        if header is not None:
            (ds, de), title, end = header
            result["header"] = {
                "raw": text[:end],
                "dataset": text[ds:de].strip(),
                "title": text[title[0] : title[1]] if title else None,
                "span": (0, end),
            }
        # Every sentence ends in . ! or ? — without one, there is nothing to group.
        self._may_have_sentences = "." in text or "!" in text or "?" in text
        self._has_flexible = False
        self._unresolved = []
        items, lead = self._items(text, ir, top=True)
        result["lead"] = lead
        result["items"] = items
        self._classify(items)
        return result

    def build_caption(self, text: str, header: Header | None, ir: IR) -> Caption:
        """The :class:`Caption` itself, built without re-validation (see ``_model.trusted``).

        Every dict the builder makes has the model's fields in the model's order, which
        the property tests check (``repr`` and ``model_dump`` equal validated models').
        """
        values = self.build(text, header, ir)
        head = values["header"]
        if head is not None:
            values["header"] = _model(HeaderModel, head, _HEADER_FIELDS)
        values["items"] = _models(values["items"])
        caption: Caption = _model(Caption, values, _CAPTION_FIELDS)
        return caption

    # -- items --------------------------------------------------------------------------
    def _items(self, text: str, ir: IR, *, top: bool) -> tuple[list[dict[str, Any]], str]:
        lead = ""
        out: list[dict[str, Any]] = []
        pending: list[_Unit] = []  # consecutive plain-text items, for sentence grouping
        n = len(ir)
        for index in range(n):
            entry = ir[index]
            kind: str = entry[0]
            if kind == "sep":
                if index == 0:
                    lead = text[entry[1] : entry[2]]
                continue
            start: int = entry[1]
            end: int = entry[2]
            trail_end = end
            if index + 1 < n:
                after = ir[index + 1]
                if after[0] == "sep":
                    trail_end = after[2]
            if kind == "keep":
                if pending:
                    out.extend(self._text_run(text, pending, top=top))
                    pending = []
                out.append(_marker(text, start, end, trail_end, "keep-tokens"))
                continue
            parts: tuple[Part, ...] = entry[3]
            if parts:
                special = self._special(text, start, end, trail_end, parts)
                if special is not None:
                    if pending:
                        out.extend(self._text_run(text, pending, top=top))
                        pending = []
                    out.append(special)
                    continue
            pending.append((start, end, trail_end, parts, text[start:end]))
        if pending:
            out.extend(self._text_run(text, pending, top=top))
        return out, lead

    def _special(
        self, text: str, start: int, end: int, trail_end: int, parts: tuple[Part, ...]
    ) -> dict[str, Any] | None:
        """Items that are not plain text: errors, markers, kaomoji, groups, wildcards."""
        if not parts:
            return None
        for part in parts:
            message = _ERROR_MESSAGES.get(part[0])
            if message is not None:
                return {
                    "raw": text[start:end],
                    "span": (start, end),
                    "trail": text[end:trail_end],
                    "type": "error",
                    "message": f"{message}: {text[part[1] : part[2]]!r}",
                    "error_span": (part[1], part[2]),
                }
        first = parts[0]
        if len(parts) == 1 and first[1] == start and first[2] == end:
            if first[0] == "break":
                return _marker(text, start, end, trail_end, "break")
            if first[0] == "kaomoji":
                raw = text[start:end]
                if normalize_tag(raw, kaomoji=True) in self._flexible:
                    self._has_flexible = True
                return {
                    "raw": raw,
                    "span": (start, end),
                    "trail": text[end:trail_end],
                    "type": "tag",
                    "text": normalize_tag(raw, kaomoji=True),
                    "kind": _GENERAL,
                    "section": _SECTION_GENERAL,
                    "escaped": False,
                    "kaomoji": True,
                }
            if first[0] == "group":
                return self._group(text, start, end, trail_end, first)
        return None

    def _group(self, text: str, start: int, end: int, trail_end: int, part: Part) -> dict[str, Any]:
        bracket: str = part[3]
        inner: IR = part[4]
        raw = text[start:end]
        if bracket == "{" and any(p[0] == "pipe" for e in inner if e[0] == "item" for p in e[3]):
            options = tuple(o.strip() for o in raw[1:-1].split("|"))
            return {
                "raw": raw,
                "span": (start, end),
                "trail": text[end:trail_end],
                "type": "wildcard",
                "options": options,
            }
        weight = None
        # A weight suffix ends the last inner item: "(a, b:1.2)".
        items_ir = list(inner)
        for index in range(len(items_ir) - 1, -1, -1):
            entry = items_ir[index]
            if entry[0] != "item":
                continue
            entry_parts = entry[3]
            if entry_parts and entry_parts[-1][0] == "weight" and entry_parts[-1][2] == entry[2]:
                w = entry_parts[-1]
                weight = float(text[w[1] : w[2]].strip()[1:])
                new_end = len(text[: w[1]].rstrip())
                if new_end > entry[1]:
                    items_ir[index] = ("item", entry[1], new_end, entry_parts[:-1])
                    items_ir.insert(index + 1, ("sep", new_end, w[2]))
                else:
                    items_ir[index] = ("sep", entry[1], w[2])
            break
        items, _ = self._items(text, tuple(_merge_seps(items_ir)), top=False)
        return {
            "raw": raw,
            "span": (start, end),
            "trail": text[end:trail_end],
            "type": "group",
            "bracket": bracket,
            "weight": weight,
            "items": items,
        }

    # -- sentences and tags -------------------------------------------------------------
    def _text_run(self, text: str, units: list[_Unit], *, top: bool) -> list[dict[str, Any]]:
        if not top or not self._may_have_sentences:
            return [self._tag(text, unit) for unit in units]
        units = self._split_units(text, units)
        function_words = self._function_words
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(units):  # _sentence_end may split a unit in two
            unit = units[i]
            # Most items are lowercase tags of a few words: they cannot open a sentence.
            if not _opens_sentence(unit[4], function_words):
                out.append(self._tag(text, unit))
                i += 1
                continue
            j = self._sentence_end(text, units, i)
            if j < 0:
                out.append(self._tag(text, unit))
                i += 1
                continue
            start = unit[0]
            end = units[j][1]
            raw = text[start:end]
            out.append(
                {
                    "raw": raw,
                    "span": (start, end),
                    "trail": text[end : units[j][2]],
                    "type": "sentence",
                    "text": " ".join(raw.split()),
                }
            )
            i = j + 1
        return out

    def _split_units(self, text: str, units: list[_Unit]) -> list[_Unit]:
        """Split items at sentence ends followed by space (``head. side ponytail``)."""
        result: list[_Unit] = []
        function_words = self._function_words
        for unit in units:
            raw = unit[4]
            if "." not in raw and "!" not in raw and "?" not in raw:
                result.append(unit)
                continue
            start, end, trail_end, parts, _ = unit
            cut = start
            for found in _SPLIT_RE.finditer(text, start, end):
                found_start = found.start()
                left = text[cut:found_start]
                right_first = text[found.end()]
                if any(p[1] < found_start < p[2] for p in parts if p[0] == "group"):
                    continue
                if not (right_first.isupper() or _opens_sentence(left, function_words)):
                    continue
                within = _within(parts, cut, found_start)
                result.append((cut, found_start, found.end(), within, left))
                cut = found.end()
            if cut == start:
                result.append(unit)
            else:
                result.append((cut, end, trail_end, _within(parts, cut, end), text[cut:end]))
        return result

    def _sentence_end(self, text: str, units: list[_Unit], i: int) -> int:
        """Index of the unit that ends the sentence starting at ``units[i]``, or -1.

        The caller has checked that ``units[i]`` opens a sentence.
        """
        function_words = self._function_words
        short = 0
        for j in range(i, len(units)):
            raw = units[j][4]
            if j > i:
                if _starts_upper(raw) and not raw.startswith("I "):
                    return -1
                if self._tag_like(raw):
                    return -1
                if _is_short(raw, function_words):
                    short += 1
                    if short >= 2:
                        return -1
            if _ends_sentence(raw):
                return j
            if j > i and _split_after_end(text, units, j):
                return j
        return -1

    def _tag_like(self, raw: str) -> bool:
        if "_" in raw or raw.lstrip().startswith("@"):
            return True
        return self.vocab.kind(normalize_tag(raw.rstrip(".!?"))) is not None

    def _tag(self, text: str, unit: _Unit) -> dict[str, Any]:
        start, end, trail_end, parts, raw = unit
        # "@big chungus. An anime girl…": the period ends the tag list, it is not the tag's.
        if (
            raw[-1] == "."
            and len(raw) > 1
            and raw[-2].isalnum()
            and "." not in raw.rsplit(" ", 1)[-1][:-1]
        ):
            end -= 1
            raw = raw[:-1]
        low = raw.lower()
        if "\\" in low or "  " in low or "\t" in low or "\n" in low or "\r" in low:
            low = normalize_tag(raw)
        elif "_" in low:
            # "side_ponytail": one underscore between words, nothing else to fold.
            spaced = low.replace("_", " ")
            if (
                low[0] == "_"
                or low[-1] == "_"
                or "__" in low
                or "_ " in low
                or " _" in low
                or low.startswith("score")
                or not spaced.isascii()
                or "\x0b" in low
                or "\x0c" in low
            ):
                low = normalize_tag(raw)
            else:
                low = spaced
        # Classified here (kind depends on the text alone); _classify only asks the lookup
        # about what is left unresolved and applies the flexible-count rule.
        kind = self._members.get(low)
        if kind is None and low.startswith(self._pattern_prefixes):
            kind = self.vocab.kind(low)
        if kind is None:
            triggers = self.triggers
            if triggers and (low in triggers or tag_name(low) in triggers):
                kind = _TRIGGER
            elif low.startswith("@"):
                kind = _ARTIST
        if low in self._flexible:
            self._has_flexible = True
        escaped = False
        if parts:
            for p in parts:
                if p[0] == "esc":
                    escaped = True
                    break
        # Fields in model order (see _model._trusted).
        tag = {
            "raw": raw,
            "span": (start, end),
            "trail": text[end:trail_end],
            "type": "tag",
            "text": low,
            "kind": _UNKNOWN if kind is None else kind,
            "section": _SECTION_GENERAL if kind is None else SECTION_OF_KIND[kind],
            "escaped": escaped,
            "kaomoji": False,
        }
        if kind is None and self.lookup is not None:
            self._unresolved.append(tag)
        return tag

    def _classify(self, items: list[dict[str, Any]]) -> None:
        """Ask the lookup about unresolved tags (one batch) and apply the count rule."""
        unresolved = self._unresolved
        if unresolved and self.lookup is not None:
            self._unresolved = []
            categories = self.lookup.categories([t["text"] for t in unresolved])
            for tag, category in zip(unresolved, categories, strict=True):
                if category is not None:
                    kind = KIND_OF_CATEGORY[category]
                    tag["kind"] = kind
                    tag["section"] = SECTION_OF_KIND[kind]
        if not self._has_flexible:
            return
        tags: list[dict[str, Any]] = []
        _collect_tags(items, tags)
        flexible = self._flexible
        previous = None
        for tag in tags:
            if tag["text"] in flexible and previous is _SECTION_COUNT:
                tag["section"] = _SECTION_COUNT
            previous = tag["section"]


def _model(cls: type, values: dict[str, Any], fields: frozenset[str]) -> Any:
    obj: Any = _new(cls)
    set_dict(obj, values)
    set_fields_set(obj, fields)
    set_extra(obj, None)
    set_private(obj, None)
    return obj


def _models(items: list[dict[str, Any]]) -> tuple[Any, ...]:
    out: list[Any] = []
    for values in items:
        kind: str = values["type"]
        if kind == "group":
            values["items"] = _models(values["items"])
        out.append(_model(_CLASS_OF_TYPE[kind], values, _FIELDS_OF_TYPE[kind]))
    return tuple(out)


def _marker(text: str, start: int, end: int, trail_end: int, name: str) -> dict[str, Any]:
    return {
        "raw": text[start:end],
        "span": (start, end),
        "trail": text[end:trail_end],
        "type": "marker",
        "name": name,
    }


def _collect_tags(items: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    for item in items:
        kind = item["type"]
        if kind == "tag":
            out.append(item)
        elif kind == "group":
            _collect_tags(item["items"], out)


def _merge_seps(entries: list[Part]) -> list[Part]:
    merged: list[Part] = []
    for entry in entries:
        if merged and entry[0] == "sep" and merged[-1][0] == "sep":
            merged[-1] = ("sep", merged[-1][1], entry[2])
        else:
            merged.append(entry)
    return merged


def _within(parts: tuple[Part, ...], start: int, end: int) -> tuple[Part, ...]:
    return tuple(p for p in parts if start <= p[1] and p[2] <= end)


def _split_after_end(text: str, units: list[_Unit], j: int) -> bool:
    """Split ``units[j]`` after its first sentence end (``smiling. smile``); True if split.

    Used for the last item of a sentence that spans commas: the text after the end is
    the next item, whatever its case.
    """
    start, end, trail_end, parts, _ = units[j]
    for found in _SPLIT_RE.finditer(text, start, end):
        cut = found.start()
        if any(p[1] < cut < p[2] for p in parts if p[0] == "group"):
            continue
        left = text[start:cut]
        if not _ends_sentence(left):
            continue
        after = found.end()
        units[j] = (start, cut, after, _within(parts, start, cut), left)
        units.insert(j + 1, (after, end, trail_end, _within(parts, after, end), text[after:end]))
        return True
    return False


def _starts_upper(raw: str) -> bool:
    first = raw[:1]
    if first.isupper():
        return True
    if first in "\"'":
        return raw[1:2].isupper()
    return False


def _opens_sentence(raw: str, function_words: frozenset[str]) -> bool:
    if _starts_upper(raw):
        return True
    words = raw.split(None, 4)
    return len(words) >= 4 and words[0].lower() in function_words


def _ends_sentence(raw: str) -> bool:
    stripped = raw.rstrip("\"')]")
    return stripped[-1:] in (".", "!", "?") and _WORD_RE.search(stripped) is not None


def _is_short(raw: str, function_words: frozenset[str]) -> bool:
    words = raw.split()
    return len(words) <= 2 and (not words or words[0].lower() not in function_words)
