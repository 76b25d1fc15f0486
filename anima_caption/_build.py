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
from typing import Any

from anima_caption._kinds import KIND_OF_CATEGORY, SECTION_OF_KIND, Kind, Section
from anima_caption._lookup import TagLookup
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

_Unit = list[Any]  # [start, end, trail_end, parts]


class Builder:
    """Builds :class:`~anima_caption._model.Caption` dictionaries from scanner IR."""

    def __init__(self, lookup: TagLookup | None, triggers: Collection[str] = ()) -> None:
        self.vocab: Vocabulary = vocabulary()
        self.lookup = lookup
        self.triggers = frozenset(normalize_tag(t) for t in triggers)

    # -- entry point ------------------------------------------------------------------
    def build(self, text: str, header: Header | None, ir: IR) -> dict[str, Any]:
        """The ``Caption`` as a plain dict, ready for ``Caption.model_validate``."""
        result: dict[str, Any] = {}
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
        items, lead = self._items(text, ir, top=True)
        result["lead"] = lead
        result["items"] = items
        self._classify(items)
        return result

    # -- items --------------------------------------------------------------------------
    def _items(self, text: str, ir: IR, *, top: bool) -> tuple[list[dict[str, Any]], str]:
        lead = ""
        out: list[dict[str, Any]] = []
        pending: list[_Unit] = []  # consecutive plain-text items, for sentence grouping

        def flush() -> None:
            if pending:
                out.extend(self._text_run(text, pending, top=top))
                pending.clear()

        n = len(ir)
        for index, entry in enumerate(ir):
            kind = entry[0]
            if kind == "sep":
                if index == 0:
                    lead = text[entry[1] : entry[2]]
                continue
            start, end = entry[1], entry[2]
            trail_end = ir[index + 1][2] if index + 1 < n and ir[index + 1][0] == "sep" else end
            if kind == "keep":
                flush()
                out.append(_marker(text, start, end, trail_end, "keep-tokens"))
                continue
            parts: tuple[Part, ...] = entry[3]
            special = self._special(text, start, end, trail_end, parts)
            if special is not None:
                flush()
                out.append(special)
            else:
                pending.append([start, end, trail_end, parts])
        flush()
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
                    "type": "error",
                    "raw": text[start:end],
                    "span": (start, end),
                    "trail": text[end:trail_end],
                    "message": f"{message}: {text[part[1] : part[2]]!r}",
                    "error_span": (part[1], part[2]),
                }
        first = parts[0]
        if len(parts) == 1 and first[1] == start and first[2] == end:
            if first[0] == "break":
                return _marker(text, start, end, trail_end, "break")
            if first[0] == "kaomoji":
                raw = text[start:end]
                return {
                    "type": "tag",
                    "raw": raw,
                    "span": (start, end),
                    "trail": text[end:trail_end],
                    "text": normalize_tag(raw, kaomoji=True),
                    "kind": Kind.GENERAL,
                    "section": Section.GENERAL,
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
                "type": "wildcard",
                "raw": raw,
                "span": (start, end),
                "trail": text[end:trail_end],
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
            "type": "group",
            "raw": raw,
            "span": (start, end),
            "trail": text[end:trail_end],
            "bracket": bracket,
            "weight": weight,
            "items": items,
        }

    # -- sentences and tags -------------------------------------------------------------
    def _text_run(self, text: str, units: list[_Unit], *, top: bool) -> list[dict[str, Any]]:
        if not top or not self._may_have_sentences:
            tag = self._tag
            return [tag(text, unit) for unit in units]
        units = self._split_units(text, units)
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(units):  # _sentence_end may split a unit in two
            j = self._sentence_end(text, units, i) if top else -1
            if j < 0:
                out.append(self._tag(text, units[i]))
                i += 1
                continue
            start = units[i][0]
            end = units[j][1]
            raw = text[start:end]
            out.append(
                {
                    "type": "sentence",
                    "raw": raw,
                    "span": (start, end),
                    "trail": text[end : units[j][2]],
                    "text": " ".join(raw.split()),
                }
            )
            i = j + 1
        return out

    def _split_units(self, text: str, units: list[_Unit]) -> list[_Unit]:
        """Split items at sentence ends followed by space (``head. side ponytail``)."""
        result: list[_Unit] = []
        for unit in units:
            start, end, trail_end, parts = unit
            raw = text[start:end]
            if "." not in raw and "!" not in raw and "?" not in raw:
                result.append(unit)
                continue
            cut = start
            for found in _SPLIT_RE.finditer(text, start, end):
                left = text[cut : found.start()]
                right_first = text[found.end()]
                if any(p[1] < found.start() < p[2] for p in parts if p[0] == "group"):
                    continue
                if not (right_first.isupper() or _opens_sentence(left)):
                    continue
                result.append([cut, found.start(), found.end(), _within(parts, cut, found.start())])
                cut = found.end()
            result.append([cut, end, trail_end, _within(parts, cut, end)])
        return result

    def _sentence_end(self, text: str, units: list[_Unit], i: int) -> int:
        """Index of the unit that ends the sentence starting at ``units[i]``, or -1."""
        first = text[units[i][0] : units[i][1]]
        if not _opens_sentence(first):
            return -1
        short = 0
        for j in range(i, len(units)):
            raw = text[units[j][0] : units[j][1]]
            if j > i:
                if _starts_upper(raw) and not raw.startswith("I "):
                    return -1
                if self._tag_like(raw):
                    return -1
                if _is_short(raw):
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
        start, end, trail_end, parts = unit
        raw = text[start:end]
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
        if "_" in low or "\\" in low or "  " in low or "\t" in low or "\n" in low or "\r" in low:
            low = normalize_tag(raw)
        # Fields in model order (see _model._trusted).
        return {
            "raw": raw,
            "span": (start, end),
            "trail": text[end:trail_end],
            "type": "tag",
            "text": low,
            "kind": Kind.UNKNOWN,
            "section": Section.GENERAL,
            "escaped": bool(parts) and any(p[0] == "esc" for p in parts),
            "kaomoji": False,
        }

    def _classify(self, items: list[dict[str, Any]]) -> None:
        """Set ``kind`` and ``section`` of every tag (one batch lookup for the caption)."""
        tags: list[dict[str, Any]] = []
        _collect_tags(items, tags)
        if not tags:
            return
        vocab_kind = self.vocab.kind
        unresolved: list[dict[str, Any]] = []
        for tag in tags:
            if tag.get("kaomoji"):
                continue
            text: str = tag["text"]
            kind = vocab_kind(text)
            if kind is None:
                if text in self.triggers or tag_name(text) in self.triggers:
                    kind = Kind.TRIGGER
                elif text.startswith("@"):
                    kind = Kind.ARTIST
                else:
                    unresolved.append(tag)
                    continue
            tag["kind"] = kind
            tag["section"] = SECTION_OF_KIND[kind]
        if unresolved and self.lookup is not None:
            categories = self.lookup.categories([t["text"] for t in unresolved])
            for tag, category in zip(unresolved, categories, strict=True):
                if category is not None:
                    kind = KIND_OF_CATEGORY[category]
                    tag["kind"] = kind
                    tag["section"] = SECTION_OF_KIND[kind]
        flexible = self.vocab.flexible_count
        previous = None
        for tag in tags:
            if tag["text"] in flexible and previous is Section.COUNT:
                tag["section"] = Section.COUNT
            previous = tag["section"]


def _marker(text: str, start: int, end: int, trail_end: int, name: str) -> dict[str, Any]:
    return {
        "type": "marker",
        "raw": text[start:end],
        "span": (start, end),
        "trail": text[end:trail_end],
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
    start, end, trail_end, parts = units[j]
    for found in _SPLIT_RE.finditer(text, start, end):
        if any(p[1] < found.start() < p[2] for p in parts if p[0] == "group"):
            continue
        if not _ends_sentence(text[start : found.start()]):
            continue
        units[j] = [start, found.start(), found.end(), _within(parts, start, found.start())]
        units.insert(j + 1, [found.end(), end, trail_end, _within(parts, found.end(), end)])
        return True
    return False


def _starts_upper(raw: str) -> bool:
    first = raw[:1]
    if first.isupper():
        return True
    if first in "\"'":
        return raw[1:2].isupper()
    return False


def _opens_sentence(raw: str) -> bool:
    if _starts_upper(raw):
        return True
    words = raw.split(None, 4)
    return len(words) >= 4 and words[0].lower() in vocabulary().function_words


def _ends_sentence(raw: str) -> bool:
    stripped = raw.rstrip("\"')]")
    return stripped[-1:] in (".", "!", "?") and _WORD_RE.search(stripped) is not None


def _is_short(raw: str) -> bool:
    words = raw.split()
    return len(words) <= 2 and (not words or words[0].lower() not in vocabulary().function_words)
