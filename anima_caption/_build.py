"""Text or IR → typed model: grouping sentences, classifying tags, attaching trivia.

Two paths build the same captions (``tests/property/test_fused_path.py`` proves it):
``Builder.parse`` splits the text at plain separators and builds each piece directly,
from facts cached per distinct piece text; ``Builder.build_caption`` walks the scanner's
item IR and handles every input (the fused path falls back to it when a split could
differ from the grammar). docs/parse-performance.md explains the design.

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
from typing import Any, Final, NamedTuple

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
from anima_caption._scanner import (
    _HSPACE,
    _SLOW_CHARS,
    IR,
    Header,
    Part,
    _lexer,
    _nest,
    _plain_item,
    _quick_segment,
    _scan_header,
    _split,
    _tokens,
    itemize,
)
from anima_caption._vocab import Vocabulary, vocabulary

# A sentence end followed by space; group 1 holds closing quotes and brackets, which
# belong to the sentence before (``labeled "TOM." The frog``).
#: Where a sentence ends inside a comma-free piece: after ``.``/``!``/``?`` (and closing
#: quotes, kept with the sentence in group 1) and a space, or after ``。！？`` with or
#: without a space (Chinese and Japanese put none).
_SPLIT_RE = re.compile(
    r"(?<=[.!?\u3002\uff01\uff1f])([\"')\]\u300d\u300f\u201d\u2019\uff09]*)"
    r"(?:[ \t\u00a0]+|(?<=[\u3002\uff01\uff1f\u300d\u300f\u201d\u2019\uff09])[ \t\u00a0\u3000]*)"
    r"(?=\S)"
)
_CLOSERS = "\"')]\u300d\u300f\u201d\u2019\uff09"
_CJK_ENDS = "\u3002\uff01\uff1f"
#: Han ideographs, kana and Hangul.
_CJK_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_CJK_PUNCT = frozenset("\uff0c\u3002\uff01\uff1f\u3001\uff1b")  # ，。！？、；
#: Five words in a row with no separator: a tag is rarely that long (the quick test of
#: whether a caption can hold natural language, Builder._start). It starts only where a
#: word starts: without the look-behind a run with no space (a hostile 1 MiB word, or
#: brackets 20,000 deep) was rescanned from each of its characters, quadratic (40 KB: 29 s).
_LONG_RUN = re.compile(r"(?<![^\s,])(?:[^\s,]++[ \t]+){4}[^\s,]")
_ARTICLES = frozenset({"a", "an", "the"})
_WORD_RUNS = re.compile(r"[\w-]+")  # maximal: what _prose_hint's look-arounds bound (issue 17)
#: The most comma- or line-separated pieces one sentence may span.
_MAX_SENTENCE_PIECES = 64
_WORD_PUNCT = ".,;:!?\"'()[]"
_WORD_RE = re.compile(r"[A-Za-z]")
_ERROR_MESSAGES = {
    "ctrl": "control character in caption",
    "stray": "closing bracket without an opening one",
    "open": "bracket is never closed",
    "deep": "brackets nested more than 32 levels deep",  # _scanner.MAX_NESTING
}
_SPECIAL_WHOLE: Final = frozenset({"break", "kaomoji", "group"})

_Unit = tuple[int, int, int, tuple[Part, ...], str]  # (start, end, trail_end, parts, raw)
# What a tag item's text alone decides: (length of the tag's raw text, normalised text or
# None when equal to raw, kind, section, escaped, flags _FLEXIBLE | _UNRESOLVED). Flat
# tuples of shared objects: copying a cached dict per tag touches far more cold memory.
_TagEntry = tuple[int, str | None, Kind, Section, bool, int]
_FLEXIBLE: Final = 1
_UNRESOLVED: Final = 2
# How the fused path handles a piece (see _Piece).
_MODE_TAG: Final = 0  # one tag item
_MODE_SPECIAL: Final = 1  # one item that is not a tag: group, kaomoji, BREAK, error, ...
_MODE_RESPLIT: Final = 2  # the quick split was wrong here (edge space, comma, line end)
_MODE_FULL: Final = 3  # needs the whole-text scan (unclosed bracket, escaped separator, |||)
_CACHE_LIMIT: Final = 100_000  # distinct texts per cache (~0.5 kB each); then it starts over
_TRIVIA: Final = _HSPACE + ",\r\n"
_DATASET_STARTS: Final = ("ye-pop", "deviantart")

# Enum members as constants: ``Kind.UNKNOWN`` is an attribute lookup on an enum class,
# which costs as much as building a small dict on CPython 3.11.
_UNKNOWN: Final = Kind.UNKNOWN
_GENERAL: Final = Kind.GENERAL
_TRIGGER: Final = Kind.TRIGGER
_ARTIST: Final = Kind.ARTIST
_SECTION_GENERAL: Final = Section.GENERAL
_SECTION_COUNT: Final = Section.COUNT
_SECTION_PREFIX: Final = Section.PREFIX
_new = object.__new__
_TAG_FIELDS: Final = _FIELDS[Tag]
_SENTENCE_FIELDS: Final = _FIELDS[Sentence]
_GROUP_FIELDS: Final = _FIELDS[Group]
_WILDCARD_FIELDS: Final = _FIELDS[Wildcard]
_MARKER_FIELDS: Final = _FIELDS[Marker]
_ERROR_FIELDS: Final = _FIELDS[ErrorItem]
_HEADER_FIELDS: Final = _FIELDS[HeaderModel]
_CAPTION_FIELDS: Final = _FIELDS[Caption]


class _Features(NamedTuple):
    """What a plain unit's text says about tag or prose (``Builder._features``)."""

    words: int
    func: int
    """Words that are function words (``sentence_function_words``)."""
    prose: int
    """Words that prose holds and tags almost never do (``prose_words``)."""
    opener: bool
    """May open a sentence: a capital (not Title Case unless it ends itself), or four
    words or more opening with a function word."""
    upper: bool
    """Starts with a capital letter (after an opening quote)."""
    title: bool
    ends: bool
    hard: bool
    """Unmistakably a tag: Anima vocabulary, ``@artist``, an underscore, a trigger."""
    listed: bool
    """A hard tag that shows the caption is a tag list: not a prefix tag (quality,
    score, safety … which ``convert`` adds to any caption) and not a trigger."""
    short: bool
    phrase: bool
    """Three words or more holding a prose word: a phrase in a phrase caption."""
    standalone: bool
    """Natural language even without a sentence end, among tags as much as alone: a
    capitalised item of four words or more with two function words and a prose word;
    (any case, no qualifier or colon, not a Danbooru tag) four words or more with two
    function words and a prose word, five or more with a function word, six or more;
    Chinese or Japanese text with its own punctuation (，。) or of seven characters or
    more."""
    lead: bool
    """Opens like a sentence, with a capitalised prose word (``The frog smiles``), two
    words or more, not Title Case: natural language when a sentence came before."""
    fragment: bool
    """An article and one word (``a red``): never a tag, the start of a phrase that a
    comma cut when a phrase follows (``a red, white and blue cloth``)."""
    filler: bool
    """Only function words (``you``, ``and the``): never a tag, the end of a phrase that
    a comma cut."""


class _Piece:
    """What a separator-free piece of text alone decides, for the fused path."""

    __slots__ = ("cut", "escaped", "flags", "kind", "mode", "name", "parts", "section",
                 "splits", "template")  # fmt: skip

    def __init__(
        self,
        mode: int,
        parts: tuple[Part, ...],
        entry: _TagEntry | None,
        splits: bool = False,
    ) -> None:
        self.mode = mode
        self.parts = parts
        """The piece's IR parts, relative to its start."""
        self.splits = splits
        """Holds a sentence end where ``Builder._split_unit`` cuts it in two."""
        if entry is None:
            entry = (0, None, _UNKNOWN, _SECTION_GENERAL, False, 0)
        self.cut: int = entry[0]
        self.name: str | None = entry[1]
        self.kind: Kind = entry[2]
        self.section: Section = entry[3]
        self.escaped: bool = entry[4]
        self.flags: int = entry[5]
        self.template: Any = None
        """For a special piece: its item built at offset 0 (see ``Builder._special_piece``)."""


class Builder:
    """Builds :class:`~anima_caption._model.Caption` objects, from text or scanner IR.

    Two paths give the same captions (a property test compares them on arbitrary text):
    :meth:`parse` splits the text at plain separators and builds each piece directly,
    reusing what it worked out for the same piece text before (tags repeat heavily across a
    dataset); :meth:`build_caption` walks the scanner's IR and handles every input.
    """

    def __init__(self, lookup: TagLookup | None, triggers: Collection[str] = ()) -> None:
        self.vocab: Vocabulary = vocabulary()
        self.lookup = lookup
        self.declared: dict[str, str] = {}
        """Each trigger's normalised text → the trigger as the user declared it, which is
        the trigger tag's ``text``: a trigger is the user's own token, written byte for
        byte as declared (``lilith_default``, ``TOK``)."""
        for trigger in triggers:
            self.declared.setdefault(normalize_tag(trigger), trigger.strip())
        self.triggers = frozenset(self.declared)
        self._function_words: frozenset[str] = self.vocab.function_words
        self._flexible: frozenset[str] = self.vocab.flexible_count
        self._members: dict[str, Kind] = self.vocab.members
        self._pattern_prefixes: tuple[str, ...] = self.vocab.pattern_prefixes
        self._prose_words: frozenset[str] = self.vocab.prose_words
        self._tag_phrases: frozenset[str] = self.vocab.tag_phrases
        # The quick test of whether a caption can hold natural language at all (_start):
        # natural language without a sentence end always holds a prose word.
        self._prose_hint = re.compile(
            r"(?i)(?<![\w-])(?:"
            + "|".join(sorted(map(re.escape, self._prose_words)))
            + r")(?![\w-])"
        )
        # issue 17: words of ASCII word characters are looked up by run (_prose_hinted)
        simple = all(w.isascii() and _WORD_RUNS.fullmatch(w) for w in self._prose_words)
        self._prose_runs = frozenset(w.lower() for w in self._prose_words) if simple else None
        self._may_have_sentences = False
        self._text = ""
        self._runs: list[tuple[int, list[_Unit]]] = []
        self._special_tags = False
        self._feature_cache: dict[str, _Features] = {}
        self._has_flexible = False
        self._unresolved: list[dict[str, Any]] = []
        self._tag_cache: dict[str, _TagEntry] = {}
        self._tag_like_cache: dict[str, bool] = {}
        self._escaped_cache: dict[str, _TagEntry] = {}
        self._piece_cache: dict[str, _Piece] = {}

    # -- entry points -------------------------------------------------------------------
    def parse(self, text: str) -> Caption:
        """Parse ``text``: the fused path when it applies, else scanner IR."""
        caption = self._fused(text)
        if caption is None:
            from anima_caption._scanner import scan

            header, ir = scan(text)
            caption = self.build_caption(text, header, ir)
        return caption

    def build_caption(self, text: str, header: Header | None, ir: IR) -> Caption:
        """The :class:`Caption` for scanner IR, built without re-validation.

        Every values dict the builder makes has the model's fields in the model's order,
        which the property tests check (``repr`` and ``model_dump`` equal validated
        models').
        """
        self._start(text)
        head = None
        if header is not None:
            head = self._header(text, header)
        items, lead = self._items(text, ir, top=True)
        return self._finish(head, lead, items)

    def _start(self, text: str) -> None:
        # Natural language needs a sentence end (. ! ?) or a word that prose holds and
        # tags do not ("a", "the", "and", ...): without either, every item is a tag.
        self._may_have_sentences = (
            "." in text
            or "!" in text
            or "?" in text
            or self._prose_hinted(text)
            or _LONG_RUN.search(text) is not None
            or (not text.isascii() and _CJK_CHARS.search(text) is not None)
        )
        self._text = text
        self._runs = []
        self._special_tags = False
        self._has_flexible = False
        self._unresolved = []

    def _prose_hinted(self, text: str) -> bool:
        """Whether ``text`` holds a prose word (``self._prose_hint``). For ASCII text a
        prose word is a whole run of word characters and hyphens, so a set look-up per run
        answers it (3x faster than the alternation of every word; speed: issue 17)."""
        runs = self._prose_runs
        if runs is not None and text.isascii():
            return not runs.isdisjoint(_WORD_RUNS.findall(text.lower()))
        return self._prose_hint.search(text) is not None

    def _header(self, text: str, header: Header) -> Any:
        (ds, de), title, end = header
        values = {
            "raw": text[:end],
            "dataset": text[ds:de].strip(),
            "title": text[title[0] : title[1]] if title else None,
            "span": (0, end),
        }
        return _model(HeaderModel, values, _HEADER_FIELDS)

    def _finish(self, header: Any, lead: str, items: list[Any]) -> Caption:
        if self._runs:
            items = self._resolve_runs(items)
        self._classify(items)
        values = {"header": header, "lead": lead, "items": tuple(items)}
        caption: Caption = _model(Caption, values, _CAPTION_FIELDS)
        return caption

    # -- the fused path -------------------------------------------------------------------
    def _fused(self, text: str) -> Caption | None:
        """Split at plain separators and build each piece; None when that is not exact.

        Exact when no piece holds an unclosed bracket, ends in a backslash (an escaped
        separator) or holds ``|||``: then no token crosses a separator and each piece lexes
        alone as it does in the whole text (the grammar's lookarounds only look at
        separator or edge characters there).
        """
        base = 0
        header = None
        if text.startswith(_DATASET_STARTS):
            scanned, base = _scan_header(_lexer(), text)
            if scanned is not None:
                header = self._header(text, scanned)
        body = text.rstrip(_TRIVIA) if base == 0 else text[base:].rstrip(_TRIVIA)
        if not body:
            return None
        stripped = body.lstrip(_TRIVIA)
        lead_end = base + len(body) - len(stripped)
        self._start(text)
        if "\n" not in stripped and "\r" not in stripped:
            sep = ", " if ", " in stripped else ","
            items = self._pieces(text, stripped.split(sep), None, sep, lead_end)
            if items is not None:
                return self._finish(header, text[base:lead_end], items)
            self._start(text)
        pieces = _split(_lexer(), stripped)
        items = self._pieces(text, pieces[::2], pieces[1::2], "", lead_end)
        if items is None:
            return None
        return self._finish(header, text[base:lead_end], items)

    def _pieces(
        self, text: str, pieces: list[str], seps: list[str] | None, sep: str, pos: int
    ) -> list[Any] | None:
        """Items for the separator-free ``pieces`` starting at ``pos``, or None.

        ``seps`` are the separators between the pieces, or None when every one is ``sep``.
        """
        cache = self._piece_cache
        # Without a hint of natural language every plain piece is a tag, built at once;
        # else plain pieces are collected in runs decided when the caption is complete.
        collect = self._may_have_sentences
        out: list[Any] = []
        pending: list[_Unit] = []
        last = len(pieces) - 1
        size = len(text)
        width = len(sep)
        unresolved = self._unresolved
        new = _new
        tag_class = Tag
        fields = _TAG_FIELDS
        put_dict = set_dict
        put_fields = set_fields_set
        put_extra = set_extra
        put_private = set_private
        tag_mode = _MODE_TAG
        for index in range(last + 1):
            piece = pieces[index]
            info = cache.get(piece)
            if info is None:
                info = self._piece_info(piece)
            end = pos + len(piece)
            if index == last:
                next_pos = size
                trail = text[end:]
            elif seps is None:
                next_pos = end + width
                trail = sep
            else:
                trail = seps[index]
                next_pos = end + len(trail)
            mode = info.mode
            if mode == tag_mode:
                if collect:
                    unit = (pos, end, next_pos, _shift(info.parts, pos), piece)
                    if info.splits:
                        self._split_unit(text, unit, pending)
                    else:
                        pending.append(unit)
                else:
                    cut = info.cut
                    stop = pos + cut
                    if stop == end:
                        raw = piece
                    else:
                        raw = piece[:cut]
                        trail = text[stop:next_pos]
                    name = info.name
                    # Fields in model order (see _model._trusted).
                    values = {
                        "raw": raw,
                        "span": (pos, stop),
                        "trail": trail,
                        "type": "tag",
                        "text": raw if name is None else name,
                        "kind": info.kind,
                        "section": info.section,
                        "escaped": info.escaped,
                        "kaomoji": False,
                    }
                    tag = new(tag_class)
                    put_dict(tag, values)
                    put_fields(tag, fields)
                    put_extra(tag, None)
                    put_private(tag, None)
                    out.append(tag)
                    flags = info.flags
                    if flags:
                        if flags & _FLEXIBLE:
                            self._has_flexible = True
                        if flags & _UNRESOLVED:
                            unresolved.append(values)
            elif mode == _MODE_SPECIAL:
                if pending:
                    self._collect(pending, out)
                    pending = []
                self._special_tags = True
                template = info.template
                if template is not None:
                    out.append(_shifted(template, pos, text[end:next_pos]))
                    if info.flags:
                        self._has_flexible = True
                else:
                    out.append(self._special(text, pos, end, next_pos, _shift(info.parts, pos)))
            else:
                return None
            pos = next_pos
        if pending:
            self._collect(pending, out)
        return out

    def _piece_info(self, piece: str) -> _Piece:
        """What ``piece`` (text between two separators) is, worked out once per text."""
        info = self._piece_info_uncached(piece)
        cache = self._piece_cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[piece] = info
        return info

    def _piece_info_uncached(self, piece: str) -> _Piece:
        if (
            not piece
            or piece[0] in _HSPACE
            or piece[-1] in _HSPACE
            or "," in piece
            or "\n" in piece
            or "\r" in piece
        ):
            return _Piece(_MODE_RESPLIT, (), None)
        if piece[-1] == "\\":
            return _Piece(_MODE_FULL, (), None)
        size = len(piece)
        lex = _lexer()
        if _SLOW_CHARS.search(piece) is None:
            ir: IR = (
                _plain_item(piece, 0, size, lex.kaomoji.match)
                if size <= 8
                else ("item", 0, size, ()),
            )
        else:
            quick = _quick_segment(lex, piece, 0, size)
            if quick is not None:
                ir = (quick,)
            else:
                nodes, _, _ = _nest(_tokens(lex, piece, 0, size), 0, None)
                if nodes and nodes[-1][0] == "unclosed":
                    return _Piece(_MODE_FULL, (), None)
                ir = itemize(nodes)
        if len(ir) != 1 or ir[0][0] != "item" or ir[0][1] != 0 or ir[0][2] != size:
            return _Piece(_MODE_FULL, (), None)
        parts: tuple[Part, ...] = ir[0][3]
        if _is_special(parts, 0, size):
            return self._special_piece(piece, parts)
        splits = False
        if _may_split(piece):
            units: list[_Unit] = []
            self._split_unit(piece, (0, size, size, parts, piece), units)
            splits = len(units) > 1
        # The piece keeps these facts; ``_tag`` caches its own when a piece meets the
        # sentence logic.
        entry = self._tag_entry(piece, _has_escape(parts), keep=False)
        return _Piece(_MODE_TAG, parts, entry, splits)

    def _special_piece(self, piece: str, parts: tuple[Part, ...]) -> _Piece:
        """A special piece, with its item built once at offset 0 when that can be reused.

        Reusable unless a lookup is in use (its tags must each be registered for the
        batch lookup); the flexible-count flag the item raises is kept in ``flags``.
        """
        info = _Piece(_MODE_SPECIAL, parts, None)
        if self.lookup is not None:
            return info
        saved = self._has_flexible
        self._has_flexible = False
        size = len(piece)
        info.template = self._special(piece, 0, size, size, parts)
        info.flags = _FLEXIBLE if self._has_flexible else 0
        self._has_flexible = saved
        return info

    # -- items --------------------------------------------------------------------------
    def _items(self, text: str, ir: IR, *, top: bool) -> tuple[list[Any], str]:
        lead = ""
        out: list[Any] = []
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
                    self._text_run(text, pending, out, top=top)
                    pending = []
                self._special_tags = True
                out.append(_marker(text, start, end, trail_end, "keep-tokens"))
                continue
            parts: tuple[Part, ...] = entry[3]
            if parts and _is_special(parts, start, end):
                if pending:
                    self._text_run(text, pending, out, top=top)
                    pending = []
                self._special_tags = True
                out.append(self._special(text, start, end, trail_end, parts))
                continue
            pending.append((start, end, trail_end, parts, text[start:end]))
        if pending:
            self._text_run(text, pending, out, top=top)
        return out, lead

    def _special(
        self, text: str, start: int, end: int, trail_end: int, parts: tuple[Part, ...]
    ) -> Any:
        """Items that are not plain text: errors, markers, kaomoji, groups, wildcards.

        Only called when :func:`_is_special` holds for ``parts``.
        """
        for part in parts:
            message = _ERROR_MESSAGES.get(part[0])
            if message is not None:
                values: dict[str, Any] = {
                    "raw": text[start:end],
                    "span": (start, end),
                    "trail": text[end:trail_end],
                    "type": "error",
                    "message": f"{message}: {text[part[1] : part[2]]!r}",
                    "error_span": (part[1], part[2]),
                }
                return _model(ErrorItem, values, _ERROR_FIELDS)
        first = parts[0]
        if first[0] == "break":
            return _marker(text, start, end, trail_end, "break")
        if first[0] == "kaomoji":
            raw = text[start:end]
            name = normalize_tag(raw, kaomoji=True)
            if name in self._flexible:
                self._has_flexible = True
            values = {
                "raw": raw,
                "span": (start, end),
                "trail": text[end:trail_end],
                "type": "tag",
                "text": name,
                "kind": _GENERAL,
                "section": _SECTION_GENERAL,
                "escaped": False,
                "kaomoji": True,
            }
            return _model(Tag, values, _TAG_FIELDS)
        return self._group(text, start, end, trail_end, first)

    def _group(self, text: str, start: int, end: int, trail_end: int, part: Part) -> Any:
        bracket: str = part[3]
        inner: IR = part[4]
        raw = text[start:end]
        if bracket == "{" and any(p[0] == "pipe" for e in inner if e[0] == "item" for p in e[3]):
            options = tuple(o.strip() for o in raw[1:-1].split("|"))
            values: dict[str, Any] = {
                "raw": raw,
                "span": (start, end),
                "trail": text[end:trail_end],
                "type": "wildcard",
                "options": options,
            }
            return _model(Wildcard, values, _WILDCARD_FIELDS)
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
        values = {
            "raw": raw,
            "span": (start, end),
            "trail": text[end:trail_end],
            "type": "group",
            "bracket": bracket,
            "weight": weight,
            "items": tuple(items),
        }
        return _model(Group, values, _GROUP_FIELDS)

    # -- sentences and tags -------------------------------------------------------------
    def _text_run(self, text: str, units: list[_Unit], out: list[Any], *, top: bool) -> None:
        """Items for a run of plain-text units (every unit is consumed)."""
        if not top or not self._may_have_sentences:
            out.extend(self._tag(text, unit) for unit in units)
            return
        split: list[_Unit] = []
        for unit in units:
            self._split_unit(text, unit, split)
        self._collect(split, out)

    def _collect(self, units: list[_Unit], out: list[Any]) -> None:
        """Hold a run of plain units, with a place in ``out``, until the caption is read."""
        out.append(None)
        self._runs.append((len(out) - 1, units))

    def _resolve_runs(self, items: list[Any]) -> list[Any]:
        """``items`` with each held run replaced by its tags and sentences.

        Decided from the whole caption's evidence (docs/format.md, "Tags and sentences"):
        first sentences, then, when the caption holds nothing that shows a tag list and
        what is left is mostly phrases of prose, it is a *phrase caption* whose every item
        is natural language; a sentence cut off at the end of a caption counts when the
        caption has other sentences or shows no tag list.
        """
        runs = self._runs
        self._runs = []
        features = self._features
        tags = self._special_tags
        if not tags:
            tags = any(features(unit[4]).listed for _, units in runs for unit in units)
        built, counts = self._segment_runs(runs, len(items) - 1, tags, False)
        phrases, rest = counts
        if not tags and phrases >= 2 and 2 * phrases >= rest:
            built, _ = self._segment_runs(runs, len(items) - 1, tags, True)
        out: list[Any] = []
        for index, item in enumerate(items):
            if item is None:
                out.extend(built[index])
            else:
                out.append(item)
        return out

    def _segment_runs(
        self, runs: list[tuple[int, list[_Unit]]], last_slot: int, tags: bool, phrases: bool
    ) -> tuple[dict[int, list[Any]], tuple[int, int]]:
        """Each run's items, and (phrases, other units) among the units left as tags."""
        text = self._text
        features = self._features
        built: dict[int, list[Any]] = {}
        seen = False
        phrase_count = rest = 0
        for slot, units in runs:
            out: list[Any] = []
            i = 0
            opened: _Unit | None = None  # the first unit of the sentence just built
            while i < len(units):  # _sentence_end may split a unit in two
                unit = units[i]
                found = features(unit[4])
                j = -1
                if found.opener:
                    cut_off = slot == last_slot and (seen or not tags)
                    j = self._sentence_end(text, units, i, cut_off)
                elif found.fragment and i + 1 < len(units):
                    # "a red, white and blue cloth": the comma cut a phrase
                    after = features(units[i + 1][4])
                    if (
                        not after.hard
                        and not after.upper
                        and after.words >= 3
                        and after.func >= 1
                    ):
                        j = i + 1
                if j < 0 and (
                    (phrases and not found.hard) or found.standalone or (seen and found.lead)
                ):
                    j = i
                if (
                    j < 0
                    and found.filler
                    and opened is not None
                    and not _ends_sentence(out[-1].raw)
                ):
                    # "… with the words ok, you": the comma cut the sentence before
                    out[-1] = self._sentence(text, opened, unit)
                    i += 1
                    continue
                if j < 0:
                    out.append(self._unit_item(text, unit))
                    opened = None
                    if found.phrase:
                        phrase_count += 1
                    elif not found.hard or found.listed:
                        rest += 1
                    i += 1
                    continue
                sentence = self._sentence(text, unit, units[j])
                out.append(sentence)
                raw = sentence.raw
                if not _ends_sentence(raw) and (raw.isascii() or not _CJK_CHARS.search(raw)):
                    # an English phrase without a stop: evidence of a phrase caption (a
                    # Chinese prompt mixes phrases and short style tags: 细节真实, 摄影)
                    phrase_count += 1
                opened = unit
                seen = True
                i = j + 1
            built[slot] = out
        return built, (phrase_count, rest)

    def _sentence(self, text: str, first: _Unit, last: _Unit) -> Any:
        start = first[0]
        end = last[1]
        raw = text[start:end]
        values = {
            "raw": raw,
            "span": (start, end),
            "trail": text[end : last[2]],
            "type": "sentence",
            "text": " ".join(raw.split()),
        }
        return _model(Sentence, values, _SENTENCE_FIELDS)

    def _features(self, raw: str) -> _Features:
        """What a unit's text says about tag or prose (cached per text)."""
        cache = self._feature_cache
        known = cache.get(raw)
        if known is not None:
            return known
        function_words = self._function_words
        prose_words = self._prose_words
        words = raw.split()
        func = prose = 0
        for word in words:
            bare = word.strip(_WORD_PUNCT).lower()
            if bare in function_words:
                func += 1
            if bare in prose_words:
                prose += 1
        count = len(words)
        upper = _starts_upper(raw)
        title = _title_case(raw)
        ends = _ends_sentence(raw)
        name = normalize_tag(raw.rstrip(".!?"))
        kind = self.vocab.kind(name)
        trigger = bool(self.triggers) and name in self.triggers
        listed = "_" in raw or raw.lstrip().startswith("@") or (
            kind is not None and SECTION_OF_KIND[kind] is not _SECTION_PREFIX
        )
        if listed and kind is not None and SECTION_OF_KIND[kind] is _SECTION_PREFIX:
            listed = False  # score_7: the underscore is the tag's own
        hard = listed or trigger or kind is not None
        cjk = _cjk_prose(raw)
        qualified = "(" in raw or ":" in raw
        inline = not hard and not title and not qualified and (
            (count >= 4 and func >= 2 and prose >= 1)
            or (count >= 5 and (func >= 2 or prose >= 1))
            or count >= 6
        )
        if (inline or (count >= 3 and prose >= 1)) and (
            self._known_phrase(name)
            or (raw[-1:] in ".!?" and self._known_phrase(normalize_tag(raw)))
        ):
            # A Danbooru tag that reads like a phrase: "looking to the side".
            hard = listed = True
            inline = False
        first_word = words[0].strip(_WORD_PUNCT).lower() if words else ""
        known = _Features(
            count,
            func,
            prose,
            (upper and (ends or not title))
            or (count >= 4 and first_word in function_words)
            or inline,
            upper,
            title,
            ends,
            hard,
            listed and not trigger,
            count <= 2 and first_word not in function_words and not cjk,
            not hard and count >= 3 and prose >= 1,
            cjk
            or inline
            or (
                not hard
                and not title
                and upper
                and count >= 4
                and func >= 2
                and prose >= 1
            ),
            not hard and upper and not title and count >= 2 and first_word in prose_words,
            not hard and count == 2 and first_word in _ARTICLES,
            not hard and count >= 1 and func == count and not cjk,
        )
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[raw] = known
        return known

    def _known_phrase(self, name: str) -> bool:
        """Whether ``name``, which reads like a phrase, is a tag: one of the Danbooru tags
        the vocabulary lists (``tag_phrases``), or one the tag database knows."""
        if name in self._tag_phrases:
            return True
        lookup = self.lookup
        return lookup is not None and lookup.category(name) is not None

    def _unit_item(self, text: str, unit: _Unit) -> Any:
        """The item for a unit that is not part of a sentence: a tag, or the bracket group
        a split at a sentence end left on its own (``aikatsu! (series)`` after a sentence
        opener). A kaomoji or ``BREAK`` left alone that way stays a tag, as it always was:
        ``format`` and ``convert`` write such tags back the same way."""
        parts = unit[3]
        if (
            len(parts) == 1
            and parts[0][0] == "group"
            and parts[0][1] == unit[0]
            and parts[0][2] == unit[1]
        ):
            return self._special(text, unit[0], unit[1], unit[2], parts)
        return self._tag(text, unit)

    def _split_unit(self, text: str, unit: _Unit, result: list[_Unit]) -> None:
        """Append ``unit`` to ``result``, split at sentence ends followed by space
        (``head. side ponytail``)."""
        raw = unit[4]
        if not _may_split(raw):
            result.append(unit)
            return
        function_words = self._function_words
        start, end, trail_end, parts, _ = unit
        cut = start
        for found in _SPLIT_RE.finditer(text, start, end):
            found_start = found.end(1)
            left = text[cut:found_start]
            right_first = text[found.end()]
            if any(p[1] < found_start < p[2] for p in parts if p[0] == "group"):
                continue
            if not (
                right_first.isupper()
                or _opens_sentence(left, function_words)
                or left.rstrip(_CLOSERS)[-1:] in _CJK_ENDS
            ):
                continue
            within = _within(parts, cut, found_start)
            if (
                len(within) == 1
                and within[0][0] == "group"
                and within[0][1] == cut
                and within[0][2] == found_start - 1
            ):
                # "[trigger]. A young woman …": the group is the item, its full stop
                # the separator after it.
                stop = found_start - 1
                result.append((cut, stop, found.end(), within, text[cut:stop]))
            else:
                result.append((cut, found_start, found.end(), within, left))
            cut = found.end()
        if cut == start:
            result.append(unit)
        else:
            result.append((cut, end, trail_end, _within(parts, cut, end), text[cut:end]))

    def _sentence_end(self, text: str, units: list[_Unit], i: int, cut_off: bool) -> int:
        """Index of the unit that ends the sentence opening at ``units[i]``, or -1.

        The sentence runs across commas and line breaks to the first unit ending in
        ``.``, ``!`` or ``?`` (splitting one at an inner end: ``smiling. smile``), or, with
        ``cut_off``, to the last unit. It is rejected when a later unit is unmistakably a
        tag, or starts anew with a capital (a Title Case item, or any capital after an
        opener that does not read as prose), or when two or more of its units are short
        and the whole does not read as prose (see :func:`_reads_as_prose`).
        """
        features = self._features
        first = features(units[i][4])
        if first.ends:
            return i
        if first.title:
            # "Long Hair, love live! …": a Title Case item that does not end a sentence
            # itself is an SDXL-style tag, never the start of a longer one.
            return -1
        prose_like = first.func >= 2 or (first.words >= 5 and first.func >= 1)
        words = first.words
        func = first.func
        short = 0
        j = i + 1
        while j < len(units):
            if j - i > _MAX_SENTENCE_PIECES:
                # No sentence spans this many commas; without the bound a caption of
                # phrases without a stop was scanned to its end from every piece
                # (quadratic: 20,000 phrases took six minutes).
                return -1
            raw = units[j][4]
            found = features(raw)
            if found.hard:
                return -1
            if found.upper and not raw.startswith("I ") and (found.title or not prose_like):
                return -1
            if found.short:
                if not first.upper:
                    # A phrase without a capital spans commas only to long pieces:
                    # "goldfish swimming inside the upturned umbrella, barefoot" is a
                    # phrase and a tag.
                    return -1
                short += 1
            if (
                not found.ends
                and ("." in raw or "!" in raw or "?" in raw)
                and _split_after_end(text, units, j)
            ):
                found = features(units[j][4])
            words += found.words
            func += found.func
            if found.ends:
                return j if _reads_as_prose(short, prose_like, words, func) else -1
            j += 1
        if (
            cut_off
            and first.upper
            and first.prose
            and _reads_as_prose(short, prose_like, words, func)
        ):
            return len(units) - 1
        return -1

    def _tag_like(self, raw: str) -> bool:
        if "_" in raw or raw.lstrip().startswith("@"):
            return True
        known = self._tag_like_cache.get(raw)
        if known is None:
            known = self.vocab.kind(normalize_tag(raw.rstrip(".!?"))) is not None
            cache = self._tag_like_cache
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[raw] = known
        return known

    def _tag(self, text: str, unit: _Unit) -> Any:
        start, _, trail_end, parts, raw = unit
        escaped = _has_escape(parts)
        entry = (self._escaped_cache if escaped else self._tag_cache).get(raw)
        if entry is None:
            entry = self._tag_entry(raw, escaped)
        cut = entry[0]
        stop = start + cut
        raw = raw if cut == len(raw) else raw[:cut]
        name = entry[1]
        values = {
            "raw": raw,
            "span": (start, stop),
            "trail": text[stop:trail_end],
            "type": "tag",
            "text": raw if name is None else name,
            "kind": entry[2],
            "section": entry[3],
            "escaped": entry[4],
            "kaomoji": False,
        }
        flags = entry[5]
        if flags & _FLEXIBLE:
            self._has_flexible = True
        if flags & _UNRESOLVED:
            self._unresolved.append(values)
        return _model(Tag, values, _TAG_FIELDS)

    def _tag_entry(self, raw: str, escaped: bool, *, keep: bool = True) -> _TagEntry:
        """Everything about a tag item that its text decides (cached per text).

        ``keep=False`` does not add a new entry to the cache: the piece cache holds the
        same facts, and every long-lived object makes each full run of the cyclic garbage
        collector longer.
        """
        cache = self._escaped_cache if escaped else self._tag_cache
        cached = cache.get(raw)
        if cached is not None:
            return cached
        key = raw
        # "@big chungus. An anime girl…": the period ends the tag list, it is not the tag's.
        if _final_period(raw):
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
        if low[-1:] == "." and _final_period(low):
            # "long._" normalises to "long.", which written out would parse as "long" and
            # a period: the normal form must parse back to itself.
            low = low[:-1]
        # Classified here (kind depends on the text alone); _classify only asks the lookup
        # about what is left unresolved and applies the flexible-count rule.
        kind = self._members.get(low)
        if kind is None and low.startswith(self._pattern_prefixes):
            kind = self.vocab.kind(low)
        if kind is None:
            triggers = self.triggers
            if triggers and (low in triggers or tag_name(low) in triggers):
                kind = _TRIGGER
                low = self.declared.get(low, low)
            elif low.startswith("@"):
                kind = _ARTIST
        flags = 0
        if low in self._flexible:
            flags |= _FLEXIBLE
        if kind is None and self.lookup is not None:
            flags |= _UNRESOLVED
        entry: _TagEntry = (
            len(raw),
            None if low == raw else low,
            _UNKNOWN if kind is None else kind,
            _SECTION_GENERAL if kind is None else SECTION_OF_KIND[kind],
            escaped,
            flags,
        )
        if keep:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = entry
        return entry

    def _classify(self, items: list[Any]) -> None:
        """Ask the lookup about unresolved tags (one batch) and apply the count rule.

        Works on the tags' values dicts, which are the models' ``__dict__``: the models
        are not yet visible to anyone.
        """
        unresolved = self._unresolved
        if unresolved and self.lookup is not None:
            self._unresolved = []
            categories = self.lookup.categories([t["text"] for t in unresolved])
            for values, category in zip(unresolved, categories, strict=True):
                if category is not None:
                    kind = KIND_OF_CATEGORY[category]
                    values["kind"] = kind
                    values["section"] = SECTION_OF_KIND[kind]
        if not self._has_flexible:
            return
        tags: list[dict[str, Any] | None] = []
        _collect_tags(items, tags)
        flexible = self._flexible
        previous = None
        for entry in tags:
            if entry is None:
                previous = None
                continue
            values = entry
            if values["text"] in flexible and previous is _SECTION_COUNT:
                values["section"] = _SECTION_COUNT
            previous = values["section"]


def _model(cls: type, values: dict[str, Any], fields: frozenset[str]) -> Any:
    obj: Any = _new(cls)
    set_dict(obj, values)
    set_fields_set(obj, fields)
    set_extra(obj, None)
    set_private(obj, None)
    return obj


def _final_period(raw: str) -> bool:
    """True when the ``.`` ending ``raw`` ends a sentence rather than an abbreviation."""
    return (
        raw[-1:] == "."
        and len(raw) > 1
        and raw[-2].isalnum()
        and "." not in raw.rsplit(None, 1)[-1][:-1]
    )


def _shifted(item: Any, offset: int, trail: str | None = None) -> Any:
    """A copy of ``item`` (and what it holds) ``offset`` code points further on."""
    values: dict[str, Any] = dict(item.__dict__)
    start, end = values["span"]
    values["span"] = (start + offset, end + offset)
    if trail is not None:
        values["trail"] = trail
    kind = values["type"]
    if kind == "group":
        values["items"] = tuple([_shifted(inner, offset) for inner in values["items"]])
    elif kind == "error":
        error_start, error_end = values["error_span"]
        values["error_span"] = (error_start + offset, error_end + offset)
    cls = type(item)
    return _model(cls, values, _FIELDS[cls])


def _is_special(parts: tuple[Part, ...], start: int, end: int) -> bool:
    """True when an item with these parts is not plain text (see ``Builder._special``)."""
    if not parts:
        return False
    for part in parts:
        if part[0] in _ERROR_MESSAGES:
            return True
    first = parts[0]
    return len(parts) == 1 and first[1] == start and first[2] == end and (
        first[0] in _SPECIAL_WHOLE
    )


def _has_escape(parts: tuple[Part, ...]) -> bool:
    return any(part[0] == "esc" for part in parts) if parts else False


def _shift(parts: tuple[Part, ...], offset: int) -> tuple[Part, ...]:
    """``parts`` moved ``offset`` code points right (groups with their inner IR)."""
    if not parts or not offset:
        return parts
    out: list[Part] = []
    for part in parts:
        if part[0] == "group":
            out.append(
                ("group", part[1] + offset, part[2] + offset, part[3], _shift_ir(part[4], offset))
            )
        else:
            out.append((part[0], part[1] + offset, part[2] + offset))
    return tuple(out)


def _shift_ir(ir: IR, offset: int) -> IR:
    out: list[Part] = []
    for entry in ir:
        if entry[0] == "item":
            out.append(("item", entry[1] + offset, entry[2] + offset, _shift(entry[3], offset)))
        else:
            out.append((entry[0], entry[1] + offset, entry[2] + offset))
    return tuple(out)


def _marker(text: str, start: int, end: int, trail_end: int, name: str) -> Any:
    values = {
        "raw": text[start:end],
        "span": (start, end),
        "trail": text[end:trail_end],
        "type": "marker",
        "name": name,
    }
    return _model(Marker, values, _MARKER_FIELDS)


def _collect_tags(items: list[Any] | tuple[Any, ...], out: list[dict[str, Any] | None]) -> None:
    """The tags' values dicts in order; None for a wildcard or marker between them, which
    keeps a flexible tag after it from counting as next to a count tag (``1girl, {a|b},
    solo``: ``format`` moves the wildcard, and ``solo`` must be read the same after)."""
    for item in items:
        cls = type(item)
        if cls is Tag:
            out.append(item.__dict__)
        elif cls is Group:
            _collect_tags(item.items, out)
        elif cls is Wildcard or cls is Marker:
            out.append(None)


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
        cut = found.end(1)
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


def _reads_as_prose(short: int, prose_like: bool, words: int, func: int) -> bool:
    """Whether a run of units from a sentence opener to its end is one sentence.

    Fewer than two short units: yes. Otherwise only when the opener reads as prose and at
    least one word in five is a function word: ``This is a digital drawing in a
    cartoonish, flat-shaded style, featuring a dimly lit, intimate setting.`` is one
    sentence, ``A girl, long hair, smile, blue eyes.`` is a tag list.
    """
    return short < 2 or (prose_like and 5 * func >= words)


def _starts_upper(raw: str) -> bool:
    first = raw[:1]
    if first.isupper():
        return True
    if first in "\"'":
        return raw[1:2].isupper()
    return False


def _title_case(raw: str) -> bool:
    """Two or more words, each starting with a capital (``Long Hair``, ``Yanagise Eika``)."""
    words = raw.split()
    return len(words) >= 2 and all(word[:1].isupper() for word in words)


def _opens_sentence(raw: str, function_words: frozenset[str]) -> bool:
    if _starts_upper(raw):
        return True
    words = raw.split(None, 4)
    return len(words) >= 4 and words[0].lower() in function_words


def _ends_sentence(raw: str) -> bool:
    stripped = raw.rstrip(_CLOSERS)
    last = stripped[-1:]
    if last in (".", "!", "?"):
        return _WORD_RE.search(stripped) is not None
    return last != "" and last in _CJK_ENDS


def _may_split(raw: str) -> bool:
    """Whether ``raw`` holds a sentence end it could be split at."""
    return (
        "." in raw
        or "!" in raw
        or "?" in raw
        or (not raw.isascii() and any(c in raw for c in _CJK_ENDS))
    )


#: Chinese particles that tags (names, short style words) rarely hold and prose does.
_CJK_PARTICLES = frozenset("的是在了着和")


def _cjk_prose(raw: str) -> bool:
    """Chinese or Japanese natural language: CJK text with its own punctuation (，。)
    or of seven characters or more, without a qualifier (``smile(原文)`` is a tag)."""
    if raw.isascii() or "(" in raw or "\uff08" in raw:
        return False
    count = len(_CJK_CHARS.findall(raw))
    return count > 0 and (
        count >= 7
        or any(c in _CJK_PUNCT for c in raw)
        or (count >= 5 and any(c in _CJK_PARTICLES for c in raw))
    )


def _is_short(raw: str, function_words: frozenset[str]) -> bool:
    words = raw.split()
    return len(words) <= 2 and (not words or words[0].lower() not in function_words)
