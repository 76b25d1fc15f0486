"""``convert``: SDXL-era captions (WD14, Illustrious / NoobAI, Pony) → Anima captions.

One parse, a walk over the typed model that decides what happens to each item, one
format. Decisions that depend only on a tag's text (spelling, dialect words, aliases,
deprecated tags, artist ``@``, categories) are made once per distinct tag and cached in the
:class:`Converter`; the tag database is asked in batches (one ``lookup_many`` per chunk of
captions in :meth:`Converter.convert_many`). Decisions that need the whole caption
(duplicates, several safety or score tags, implied tags, the prefix, order) are made per
caption. Every edit is recorded as a :class:`Change` naming its rule.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Literal, NamedTuple

from anima_caption._convert._tables import (
    ARTIST_FORM,
    DIALECT_RULES,
    DIALECTS,
    FOREIGN_QUALITY,
    PONY_SOURCE,
    SAFETY_ORDER,
    SCORE_LIKE,
    Dialect,
)
from anima_caption._errors import CaptionSyntaxError, UsageError
from anima_caption._format import (
    SentencePlacement,
    Slot,
    _written,
    format_caption,
    render_sorted,
    sentence_text,
)
from anima_caption._kinds import KIND_OF_CATEGORY, SECTION_OF_KIND, Kind, Section
from anima_caption._model import (
    Caption,
    ErrorItem,
    Group,
    Item,
    Marker,
    Sentence,
    Tag,
    Wildcard,
    trusted,
)
from anima_caption._normalize import db_key, normalize_tag
from anima_caption._parse import parse
from anima_caption._vocab import vocabulary

if TYPE_CHECKING:
    import pyarrow as pa

    from anima_caption._tagdb import TagDB, TagInfo

Span = tuple[int, int]
Markers = Literal["keep", "remove"]

#: What cannot be checked without a tag database (``ConversionResult.unchecked``).
NEEDS_DATABASE = (
    "artist tags (no '@' added)",
    "aliases (not resolved)",
    "deprecated tags (not dropped)",
    "sections of Danbooru tags (character, series, artist: only Anima vocabulary and "
    "triggers were sorted)",
)


@dataclass(frozen=True, slots=True)
class Change:
    """One edit ``convert`` made: ``rule`` turned ``old`` into ``new`` at ``span``.

    ``new`` is ``""`` when something was removed; ``old`` is ``""`` when something was
    added (then ``span`` is None). ``span`` is ``(start, end)`` in the input text.
    """

    rule: str
    old: str
    new: str
    span: Span | None
    message: str = ""

    def __str__(self) -> str:
        if not self.old and not self.new:
            return f"{self.rule}: {self.message}" if self.message else self.rule
        if not self.old:
            what = f"+ '{self.new}'"
        elif not self.new:
            what = f"- '{self.old}'"
        else:
            what = f"'{self.old}' → '{self.new}'"
        return f"{self.rule}: {what}" + (f" ({self.message})" if self.message else "")


# Change records are made by the ten thousand in bulk runs: build them through the slot
# descriptors (the frozen dataclass __init__ goes through object.__setattr__ per field).
_new = object.__new__
_set_rule = Change.__dict__["rule"].__set__
_set_old = Change.__dict__["old"].__set__
_set_new = Change.__dict__["new"].__set__
_set_span = Change.__dict__["span"].__set__
_set_message = Change.__dict__["message"].__set__


def _change(rule: str, old: str, new: str, span: Span | None, message: str) -> Change:
    """``Change(rule, old, new, span, message)``, without the frozen ``__init__``."""
    change: Change = _new(Change)
    _set_rule(change, rule)
    _set_old(change, old)
    _set_new(change, new)
    _set_span(change, span)
    _set_message(change, message)
    return change


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` made of one caption."""

    text: str
    """The converted caption."""
    original: str
    """The input text."""
    changes: tuple[Change, ...]
    """Every edit, in the order of the input, each naming its rule."""
    unknown: tuple[str, ...] = ()
    """Tags left as written that are not known (not Danbooru tags, aliases or Anima
    vocabulary); only filled with a tag database."""
    unchecked: tuple[str, ...] = ()
    """What could not be checked (without a tag database: artists, aliases, deprecated
    tags, sections); empty when everything was checked."""
    notes: tuple[str, ...] = ()
    """Other things worth knowing (no safety tag, …)."""

    @property
    def changed(self) -> bool:
        """True when the text changed."""
        return self.text != self.original

    def by_rule(self) -> Counter[str]:
        """How many changes each rule made."""
        return Counter(change.rule for change in self.changes)


class _Decision(NamedTuple):
    """What happens to one distinct tag (cached per tag text)."""

    text: str | None  # the tag to write, None: drop it
    kind: Kind
    section: Section
    kaomoji: bool
    changes: tuple[tuple[str, str, str], ...]  # (rule, new, message), old is the raw text
    unknown: bool
    score: int | None  # score value of a score tag or a Pony score form
    removed: tuple[str, str] | None = None
    """For a tag Danbooru removed: (successor to write or "", why), decided per caption."""


class _Out:
    """One tag as it will be written, with where it came from."""

    __slots__ = ("decision", "kind", "raw", "section", "segment", "span", "text")

    def __init__(
        self, decision: _Decision, text: str, raw: str, span: Span | None, segment: int
    ) -> None:
        self.decision = decision
        self.text = text
        self.raw = raw
        self.span = span
        self.kind = decision.kind
        self.section = decision.section
        self.segment = segment  # kept ||| / BREAK markers before it (format never crosses)


@dataclass
class _Work:
    """Per-caption state while converting."""

    text: str
    items: list[Item | _Out] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    segment: int = 0
    simple: bool = True  # only tags and sentences: rendered without building models
    notes: list[str] = field(default_factory=list)


#: What a pickled :class:`Converter` leaves behind (caches, rebuilt on the other side).
_UNPICKLED = frozenset({"db", "vocab", "_decisions", "_occurrences", "_infos"})


class Converter:
    """Converts captions with fixed options; reuse one for many captions (it caches).

    ``db`` is a :class:`~anima_caption.TagDB` (``None``: vocabulary only, and results say
    what could not be checked). Options as in :func:`convert`.
    """

    def __init__(
        self,
        db: TagDB | None = None,
        *,
        dialect: Dialect = "sdxl",
        triggers: Collection[str] = (),
        prefix: str | Sequence[str] = (),
        keep_year: bool = False,
        prune_implied: bool = False,
        markers: Markers = "keep",
        absorbed: Collection[str] = (),
        sentences: SentencePlacement = "keep",
        apply_suggestions: bool = False,
    ) -> None:
        if dialect not in DIALECTS:
            raise UsageError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
        if markers not in ("keep", "remove"):
            raise UsageError(f"markers must be 'keep' or 'remove', not {markers!r}")
        self.db = db if db is not None and db.has_danbooru_data else None
        self.dialect = dialect
        self.rules = DIALECT_RULES[dialect]
        self.triggers = tuple(triggers)
        self._trigger_keys = frozenset(db_key(t) for t in triggers)
        self.keep_year = keep_year
        self.prune_implied = prune_implied
        self.markers = markers
        self.absorbed = frozenset(db_key(t) for t in absorbed)
        self.sentences = sentences
        #: replace a non-existent tag by its first suggestion when that one is confident
        #: (``TagDB.applicable_suggestion``: confidence >= APPLY_THRESHOLD), rule
        #: ``suggestion``; decided per caption, since the caption's other tags count
        self.apply_suggestions = apply_suggestions and self.db is not None
        self.vocab = vocabulary()
        self._decisions: dict[tuple[str, bool], _Decision] = {}
        self._occurrences: dict[str, _Occurrence] = {}
        #: render tag-and-sentence captions directly (False: always build the model and
        #: call format_caption; the differential test compares the two)
        self._fast = True
        self._infos: dict[str, TagInfo] = {}
        self.prefix = self._prefix(prefix)

    # -- public ------------------------------------------------------------------------

    def convert(self, text: str) -> ConversionResult:
        """Convert one caption (see :func:`convert`)."""
        caption = parse(text, triggers=self.triggers)
        return self._convert(text, caption)

    def convert_many(self, texts: Iterable[str], *, chunk: int = 2000) -> list[ConversionResult]:
        """Convert many captions, asking the database once per ``chunk`` captions.

        The cyclic garbage collector is paused while this runs (and restored after, also
        on errors): the results hold no reference cycles, and with the collector on,
        re-scanning the growing list of results took about 40% of a bulk run. Nothing is
        lost by the pause; cycles made elsewhere meanwhile are collected afterwards.
        """
        out: list[ConversionResult] = []
        batch: list[tuple[str, Caption]] = []
        with _collector_paused():
            for text in texts:
                batch.append((text, parse(text, triggers=self.triggers)))
                if len(batch) >= chunk:
                    out.extend(self._convert_batch(batch))
                    batch = []
            out.extend(self._convert_batch(batch))
        return out

    def convert_table(
        self, table: pa.Table, *, column: str = "caption", id_column: str | None = None
    ) -> pa.Table:
        """``table`` with its ``column`` of captions converted, plus ``changes`` (a list of
        structs: rule, old, new) and ``changed`` columns (see ``anima_caption.datasets``)."""
        from anima_caption.datasets._arrow import convert_table

        return convert_table(self, table, column=column, id_column=id_column)

    # Pickling (a worker process or a Ray actor builds a converter once): the database
    # travels as its file's path and is opened again; the per-tag caches start afresh.
    def __getstate__(self) -> dict[str, object]:
        from anima_caption._check._api import db_state

        state = {k: v for k, v in self.__dict__.items() if k not in _UNPICKLED}
        state["db"] = db_state(self.db)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        from anima_caption._check._api import reopen_db

        self.__dict__.update(state)
        self.db = reopen_db(state["db"])  # type: ignore[arg-type]
        self.vocab = vocabulary()
        self._decisions = {}
        self._occurrences = {}
        self._infos = {}

    def _convert_batch(self, batch: list[tuple[str, Caption]]) -> list[ConversionResult]:
        if self.db is not None:
            wanted: dict[str, None] = {}
            occurrences = self._occurrences
            for _, caption in batch:
                for item in caption.items:
                    if type(item) is Tag:
                        if item.raw not in occurrences:
                            wanted[item.name] = None
                    elif type(item) is Group:
                        for tag in _tags_in(item):
                            if tag.raw not in occurrences:
                                wanted[tag.name] = None
            self._prefetch(wanted)
        return [self._convert(text, caption) for text, caption in batch]

    # -- database ----------------------------------------------------------------------

    def _prefetch(self, names: Iterable[str]) -> None:
        if self.db is None:
            return
        missing = [n for n in names if n not in self._infos]
        if missing:
            for name, info in zip(missing, self.db.lookup_many(missing), strict=True):
                self._infos[name] = info

    def _info(self, name: str) -> TagInfo | None:
        if self.db is None:
            return None
        info = self._infos.get(name)
        if info is None:
            info = self.db.lookup(name)
            self._infos[name] = info
        return info

    # -- one tag -----------------------------------------------------------------------

    def _decide(self, tag: Tag) -> _Decision:
        key = (tag.text, tag.kaomoji)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide_new(tag.text, tag.text, tag.kind, tag.kaomoji)
            self._decisions[key] = decision
        return decision

    def _decide_new(self, raw: str, text: str, kind: Kind, kaomoji: bool) -> _Decision:
        decision = self._decide_tag(raw, text, kind, kaomoji)
        changes = decision.changes
        if len(changes) > 1 and changes[0][0] in _SPELLING_RULES:
            # one tag, one explanation: the rule that decided what is written
            decision = decision._replace(changes=changes[1:])
        return decision

    def _decide_tag(self, raw: str, text: str, kind: Kind, kaomoji: bool) -> _Decision:
        changes: list[tuple[str, str, str]] = []
        rules = self.rules
        # 1. spelling: the parser already normalised the text; say which rule did it.
        if "\\" in text and not kaomoji:
            stripped = _strip_escapes(text)
            if stripped is None:
                changes.append(("unescape", "", "cannot be written without escapes"))
                return _Decision(None, kind, Section.GENERAL, False, tuple(changes), False, None)
            text = stripped
        if text != raw:
            changes.append((_spelling_rule(raw, text, kaomoji), text, ""))
        if kaomoji:
            return _Decision(text, kind, SECTION_OF_KIND[kind], True, tuple(changes), False, None)
        has_at = text.startswith("@")
        name = text[1:].lstrip() if has_at else text

        def drop(rule: str, message: str) -> _Decision:
            changes.append((rule, "", message))
            return _Decision(None, kind, Section.GENERAL, False, tuple(changes), False, None)

        if kind is Kind.TRIGGER:
            return _Decision(text, kind, Section.CHARACTER, False, tuple(changes), False, None)
        # 2. dialect words
        if "pony-source" in rules and PONY_SOURCE.fullmatch(name):
            return drop("pony-source", "Pony source tag")
        if "foreign-quality" in rules and name in FOREIGN_QUALITY:
            return drop("foreign-quality", "not an Anima quality tag")
        if "artist-form" in rules and not has_at:
            match = ARTIST_FORM.fullmatch(name)
            if match is not None:
                name = match.group(1).strip()
                text, has_at, kind = f"@{name}", True, Kind.ARTIST
                changes.append(("artist-form", text, ""))
        # 3. rating words and forms
        if kind is not Kind.SAFETY:
            from anima_caption._tagdb._suggest import curated

            target = curated().rating_target(db_key(name), self.vocab.rating_words)
            if target is not None:
                changes.append(("rating", target, "SDXL rating → Anima safety tag"))
                return _Decision(
                    target, Kind.SAFETY, Section.PREFIX, False, tuple(changes), False, None
                )
        # 4. score tags
        match = SCORE_LIKE.fullmatch(name) if name.startswith("score") else None
        if match is not None and "score" in rules:
            number = int(match.group(1))
            if not 1 <= number <= 9:
                return drop("score", "Anima scores are score_1 … score_9")
            if kind is not Kind.SCORE:
                # a Pony form; which score survives is decided per caption
                return _Decision(
                    f"score_{number}", Kind.SCORE, Section.PREFIX, False, (), False, number
                )
        # 5. year
        if kind is Kind.YEAR and not self.keep_year:
            return drop("year", "year tags teach the era; use --keep-year to keep them")
        # 6. the tag database
        unknown = False
        if kind in (Kind.UNKNOWN, Kind.GENERAL) or has_at:
            info = self._info(name)
            if info is not None:
                status = info.status.value
                if status == "alias" and info.canonical:
                    name = info.canonical
                    text = f"@{name}" if has_at else name
                    changes.append(("alias", text, f"Danbooru alias of '{name}'"))
                    info = self._info(name) or info
                elif status == "removed":
                    return self._removed(name, text, kind, changes)
                elif status == "rating-word":  # pragma: no cover - handled above
                    pass
                if info.category is not None and not (has_at and kind is Kind.ARTIST):
                    kind = KIND_OF_CATEGORY[info.category]
                unknown = not info.known and not has_at
                if kind is Kind.ARTIST and not has_at:
                    text = f"@{name}"
                    changes.append(("artist-at", text, "artist tags need '@' in Anima"))
        # 7. policy: core tags the trigger absorbs
        if name in self.absorbed:
            return drop("absorbed", "absorbed by the trigger (policy)")
        section = SECTION_OF_KIND[kind]
        return _Decision(text, kind, section, False, tuple(changes), unknown, None)

    def _removed(
        self, name: str, text: str, kind: Kind, changes: list[tuple[str, str, str]]
    ) -> _Decision:
        """A tag Danbooru removed: kept for now with its successor, if the data gives one
        confidently; ``_caption_rules`` drops it when another tag of the caption carries
        it, else writes the successor, else keeps it and says so."""
        from anima_caption._tagdb._suggest import APPLY_THRESHOLD

        assert self.db is not None
        found = self.db.successor(name)
        target = ""
        why = "no successor in Danbooru's data"
        if found is not None and not found.remove:
            if found.confidence >= APPLY_THRESHOLD:
                target = found.tag
                why = found.reason
            else:
                why = f"maybe '{found.tag}' ({found.reason})"
        section = SECTION_OF_KIND[kind]
        return _Decision(text, kind, section, False, tuple(changes), False, None, (target, why))

    def _prefix(self, prefix: str | Sequence[str]) -> tuple[_Decision, ...]:
        names = prefix.split(",") if isinstance(prefix, str) else list(prefix)
        out = []
        for raw in names:
            if not raw.strip():
                continue
            caption = parse(raw.strip(), triggers=self.triggers)
            tags = caption.tags
            if len(tags) != 1 or caption.sentences:
                raise UsageError(f"prefix entry {raw.strip()!r} is not a single tag")
            decision = self._decide_new(tags[0].text, tags[0].text, tags[0].kind, False)
            if decision.text is None:
                raise UsageError(f"prefix entry {raw.strip()!r} would be dropped by convert")
            out.append(decision._replace(changes=()))
        return tuple(out)

    # -- one caption -------------------------------------------------------------------

    def _convert(self, text: str, caption: Caption) -> ConversionResult:
        work = _Work(text)
        self._walk(caption.items, work)
        outs = [item for item in work.items if type(item) is _Out]
        self._caption_rules(outs, work)
        self._order_changes(outs, work)
        self._order_prefix(work)
        if self._fast and work.simple and caption.header is None and self.sentences == "keep":
            new_text = _render(work.items)
        else:
            new_items = self._build_items(work)
            new_caption = trusted(
                Caption, {"header": caption.header, "lead": "", "items": new_items}
            )
            try:
                new_text = format_caption(new_caption, sentences=self.sentences)
            except CaptionSyntaxError as error:  # pragma: no cover - errors raise in _walk
                raise CaptionSyntaxError(error.message, text, error.span) from None
        if text.endswith(("\n", "\r")) and not new_text.endswith("\n"):
            new_text += "\n"
        changes = work.changes
        if new_text != text and (not changes or _layout_differs(caption)):
            changes.append(_change("layout", "", "", None, "canonical separators"))
        changes.sort(key=_change_order)
        notes: tuple[str, ...] = tuple(work.notes)
        kept = False
        for out in outs:
            if out.text:
                if out.kind is Kind.SAFETY:
                    break
                kept = True
        else:
            if kept:
                notes = (*notes, _NO_SAFETY)
        return ConversionResult(
            text=new_text,
            original=text,
            changes=tuple(changes),
            unknown=tuple(dict.fromkeys(work.unknown)) if work.unknown else (),
            unchecked=NEEDS_DATABASE if self.db is None else (),
            notes=notes,
        )

    def _occurrence(self, item: Tag) -> _Occurrence:
        """What happens to a tag written exactly as ``item.raw`` (cached per raw text):
        its decision and the changes to record, as (rule, new, message) templates."""
        decision = self._decide(item)
        changes = decision.changes
        templates: tuple[tuple[str, str, str], ...] = ()
        if decision.score is not None:
            pass  # a Pony score form: the caption's score rule explains it
        elif not changes or changes[0][0] in _SPELLING_RULES:
            # spelling depends on how this occurrence was written, so it is not part of
            # the decision cached per tag text
            new = decision.text
            if new is not None and item.raw.strip() != new:
                rule = (
                    "trigger-spelling"
                    if decision.kind is Kind.TRIGGER
                    else _spelling_rule(item.raw.strip(), new, item.kaomoji)
                )
                templates = ((rule, new, ""),)
        else:
            templates = changes
        unknown = (decision.text or item.text) if decision.unknown else None
        return _Occurrence(item.text, item.kaomoji, decision, templates, unknown)

    def _walk(self, items: Sequence[Item], work: _Work) -> None:
        occurrences = self._occurrences
        out_items = work.items
        changes = work.changes
        for item in items:
            if type(item) is Tag:
                raw = item.raw
                occurrence = occurrences.get(raw)
                if (
                    occurrence is None
                    or occurrence.text != item.text
                    or occurrence.kaomoji != item.kaomoji
                ):
                    occurrence = self._occurrence(item)
                    occurrences[raw] = occurrence
                span = item.span
                for rule, new, message in occurrence.templates:
                    changes.append(_change(rule, raw, new, span, message))
                if occurrence.unknown is not None:
                    work.unknown.append(occurrence.unknown)
                decision = occurrence.decision
                if decision.text is not None:
                    out_items.append(_Out(decision, decision.text, raw, span, work.segment))
            elif isinstance(item, Sentence):
                out_items.append(item)
            elif isinstance(item, Group):
                inner = ", ".join(_flat_raw(item))
                changes.append(_change("weight", item.raw, inner, item.span, ""))
                self._walk(item.items, work)
            elif isinstance(item, Marker):
                if item.name == "break":
                    changes.append(_change("break", item.raw, "", item.span, ""))
                elif self.markers == "remove":
                    changes.append(_change("keep-tokens", item.raw, "", item.span, ""))
                else:
                    out_items.append(item)
                    work.segment += 1
                    work.simple = False
            elif isinstance(item, Wildcard):
                if self.markers == "remove" and item.options:
                    first = item.options[0]
                    changes.append(_change("wildcard", item.raw, first, item.span, ""))
                    option = parse(first.strip(), triggers=self.triggers)
                    self._walk(option.items, work)
                else:
                    out_items.append(item)
                    work.simple = False
            elif isinstance(item, ErrorItem):
                raise CaptionSyntaxError(item.message, work.text, item.error_span)

    def _caption_rules(self, outs: list[_Out], work: _Work) -> None:
        def remove(out: _Out, rule: str, message: str) -> None:
            out.text = ""
            work.changes.append(_change(rule, out.raw, "", out.span, message))

        if self.apply_suggestions:  # before duplicates: two tags may get one suggestion
            self._apply_suggestions(outs, work)
        # duplicates (after spelling and aliases); on the way, the score and safety tags
        seen: set[str] = set()
        pony: list[_Out] = []
        exact: set[str] = set()
        safety: list[_Out] = []
        score_kind, safety_kind = Kind.SCORE, Kind.SAFETY
        for out in outs:
            text = out.text
            if text in seen:
                remove(out, "duplicate", "")
                continue
            seen.add(text)
            kind = out.kind
            if kind is score_kind:
                if out.decision.score is not None:
                    pony.append(out)
                else:
                    exact.add(text)
            elif kind is safety_kind:
                safety.append(out)
        # scores: Pony forms (score_8_up) collapse into one score_N, the best one
        if pony:
            numbers = [int(t[6:]) for t in exact if t[6:].isdigit()]
            best = max([o.decision.score or 0 for o in pony] + numbers)
            kept_best = f"score_{best}" in exact
            for out in pony:
                if out.decision.score == best and not kept_best:
                    kept_best = True
                    work.changes.append(
                        _change("score", out.raw, out.text, out.span, "Pony score form")
                    )
                else:
                    remove(out, "score", f"Pony score form; score_{best} stands for it")
        # safety: exactly one
        if len(safety) > 1 and len({o.text for o in safety}) > 1:
            keep = min(safety, key=lambda o: _safety_rank(o.text))
            for out in safety:
                if out is not keep:
                    remove(out, "safety-conflict", f"'{keep.text}' kept (most restrictive)")
        # tags Danbooru removed: never dropped with their information
        for out in outs:
            removed = out.decision.removed
            if removed is not None and out.text:
                self._removed_in_caption(out, removed, outs, work)
        # implications
        if self.prune_implied and self.db is not None:
            live = [o for o in outs if o.text and o.decision.kind not in _VOCAB_KINDS]
            names = [o.text.lstrip("@") for o in live]
            if len(names) > 1:
                by_name = dict(zip(names, live, strict=True))
                for found in self.db.redundant(names):
                    implied = by_name.get(found.tag)
                    if implied is not None and implied.text:
                        remove(implied, "implied", " ⇒ ".join(found.chain))
        # prefix
        present_kinds = {o.decision.kind for o in outs if o.text}
        present = {o.text for o in outs if o.text}
        added = []
        for decision in self.prefix:
            assert decision.text is not None
            if decision.text in present:
                continue
            if decision.kind in (Kind.SCORE, Kind.SAFETY) and decision.kind in present_kinds:
                continue
            added.append(_Out(decision, decision.text, "", None, 0))
            present.add(decision.text)
            work.changes.append(_change("prefix", "", decision.text, None, ""))
        for new in added:
            rank = _PREFIX_KIND_ORDER.get(new.decision.kind, len(_PREFIX_KIND_ORDER))
            position = next(
                (
                    i
                    for i, item in enumerate(work.items)
                    if isinstance(item, _Out)
                    and item.text
                    and item is not new
                    and (
                        item.decision.section is not Section.PREFIX
                        or _PREFIX_KIND_ORDER.get(item.decision.kind, 99) > rank
                    )
                ),
                None,
            )
            if position is None:  # after the last tag, or first when there is none
                last = [i for i, item in enumerate(work.items) if isinstance(item, _Out)]
                position = last[-1] + 1 if last else 0
            work.items.insert(position, new)
        outs[0:0] = added

    def _apply_suggestions(self, outs: list[_Out], work: _Work) -> None:
        """``apply_suggestions``: a non-existent tag becomes its first suggestion when the
        database is confident of it, given the caption's other tags (``left side
        ponytail`` → ``side ponytail``; removed when the caption already says it). The
        written tag is then decided like any other (section, ``@``, policy)."""
        assert self.db is not None
        for out in outs:
            if not out.text or not out.decision.unknown or out.kind is Kind.TRIGGER:
                continue
            live = [o.text.lstrip("@") for o in outs if o.text and o is not out]
            # as in check: past a few hundred tags the context is dropped (stays linear)
            found = self.db.applicable_suggestion(
                out.text, context=live if len(live) < _MAX_CONTEXT else ()
            )
            if found is None:
                continue
            if out.text in work.unknown:
                work.unknown.remove(out.text)
            if found.remove:
                out.text = ""
                work.changes.append(_change("suggestion", out.raw, "", out.span, found.reason))
                continue
            parsed = parse(found.tag, triggers=self.triggers).tags
            decision = self._decide(parsed[0]) if len(parsed) == 1 else None
            if decision is None or decision.text is None:
                continue  # nothing convert would keep: left as written
            out.decision = decision
            out.text = decision.text
            out.kind = decision.kind
            out.section = decision.section
            work.changes.append(
                _change("suggestion", out.raw, decision.text, out.span, found.reason)
            )

    def _removed_in_caption(
        self, out: _Out, removed: tuple[str, str], outs: list[_Out], work: _Work
    ) -> None:
        """Drop a removed tag another tag carries (``plaid`` beside ``plaid skirt``), else
        write its successor (``plaid`` → ``plaid clothes``), else keep it, with a note."""
        target, why = removed
        words = out.text.split()
        for other in outs:
            if other is out or not other.text or other.decision.removed is not None:
                continue
            if other.text == target or _carries(other.text.lstrip("@").split(), words):
                out.text = ""
                message = f"removed on Danbooru; '{other.text}' carries it"
                work.changes.append(_change("deprecated", out.raw, "", out.span, message))
                return
        if target:
            out.text = target
            info = self._info(target)
            if info is not None and info.category is not None:
                out.kind = KIND_OF_CATEGORY[info.category]
                out.section = SECTION_OF_KIND[out.kind]
            work.changes.append(_change("successor", out.raw, target, out.span, why))
            return
        work.notes.append(f"'{out.text}' was removed on Danbooru and kept ({why}): review it")

    def _order_changes(self, outs: list[_Out], work: _Work) -> None:
        # each tag's section, with the parser's rule for ``solo``: it joins the
        # people-count section when it follows a people-count tag (a wildcard or marker
        # between them breaks that)
        flexible = self.vocab.flexible_count
        count = Section.COUNT
        previous: Section | None = None
        ranks: list[tuple[int, int]] = []
        live: list[_Out] = []
        for out in work.items:
            if type(out) is not _Out:
                if isinstance(out, (Wildcard, Marker)):
                    previous = None
                continue
            if not out.text or out.span is None:
                continue
            section = out.section
            if out.text in flexible:
                section = count if previous is count else Section.GENERAL
                out.section = section
            previous = section
            live.append(out)
            # format never moves a tag across a kept ||| marker: compare within segments
            ranks.append((out.segment, _RANK[section]))
        if _in_order(ranks):
            return
        character = Section.CHARACTER.rank
        moved_trigger = False
        for index, out in enumerate(live):
            seg = ranks[index][0]
            if out.kind is Kind.TRIGGER and any(
                g == seg and r > character for g, r in ranks[:index]
            ):
                moved_trigger = True
                work.changes.append(
                    _change("trigger", out.raw, out.text, out.span, "into the character section")
                )
        rest = [r for o, r in zip(live, ranks, strict=True) if o.kind is not Kind.TRIGGER]
        if not (moved_trigger and _in_order(rest)):
            work.changes.append(_change("reorder", "", "", None, "Anima section order"))

    def _order_prefix(self, work: _Work) -> None:
        """Quality, score, period, year, meta, safety: the prefix in the official order
        (only before the first kept ``|||``, which format never crosses)."""
        items = work.items
        slots = []
        prefix = Section.PREFIX
        for index, item in enumerate(items):
            if type(item) is _Out:
                if item.text and item.section is prefix:
                    slots.append(index)
            elif isinstance(item, Marker):
                break
        if len(slots) < 2:
            return
        current: list[_Out] = [items[i] for i in slots]  # type: ignore[misc]
        ordered = sorted(current, key=_prefix_rank)
        if ordered != current:
            for index, out in zip(slots, ordered, strict=True):
                items[index] = out
            if not any(c.rule == "reorder" for c in work.changes):
                work.changes.append(_change("reorder", "", "", None, "Anima section order"))

    def _build_items(self, work: _Work) -> tuple[Item, ...]:
        items: list[Item] = []
        for item in work.items:
            if isinstance(item, _Out):
                if not item.text:
                    continue
                items.append(
                    trusted(
                        Tag,
                        {
                            "raw": item.text,
                            "span": (0, 0),
                            "trail": ", ",
                            "type": "tag",
                            "text": item.text,
                            "kind": item.kind,
                            "section": item.section,
                            "escaped": False,
                            "kaomoji": item.decision.kaomoji,
                        },
                    )
                )
            else:
                items.append(item)
        return tuple(items)


def _render(items: list[Item | _Out]) -> str:
    """The text ``format_caption`` gives for a caption of tags and sentences only (no
    header, markers, wildcards or groups; sentences kept in place): tags sorted by section,
    stable; each sentence after the tag it followed; exact duplicates dropped, their
    sentences moving to the tag before. Written by format's own renderer."""
    leading: list[str] = []
    slots: list[Slot] = []
    seen: set[str] = set()
    for item in items:
        if type(item) is _Out:
            text = item.text
            if not text:
                continue
            if text in seen:  # format's dedupe; convert's own duplicate rule ran first
                continue
            seen.add(text)
            written = text if text[-1:] != "\\" else _written(text)  # format's rule too
            slots.append(Slot(written, _RANK[item.section], None, not item.decision.kaomoji))
        elif slots:
            slots[-1].anchor([sentence_text(item)])  # type: ignore[arg-type]
        else:
            leading.append(sentence_text(item))  # type: ignore[arg-type]
    slots.sort(key=_rank_of)
    return render_sorted(leading, slots)


def _rank_of(slot: Slot) -> int:
    return slot.rank


def _prefix_rank(out: _Out) -> int:
    return _PREFIX_KIND_ORDER.get(out.kind, 9)


def _change_order(change: Change) -> tuple[bool, Span]:
    span = change.span
    return (span is not None, span or (0, 0))


_RANK = {section: section.rank for section in Section}
_MAX_CONTEXT = 512  # caption tags given to the suggester as context (check's limit too)
_NO_SAFETY = "no safety tag: add one (safe, sensitive, nsfw, explicit) with --prefix"


class _Occurrence(NamedTuple):
    """A tag as written (cached per raw text): its decision and the changes to record."""

    text: str
    kaomoji: bool
    decision: _Decision
    templates: tuple[tuple[str, str, str], ...]  # (rule, new, message)
    unknown: str | None


_PREFIX_KIND_ORDER = {
    kind: i
    for i, kind in enumerate(
        (Kind.QUALITY, Kind.SCORE, Kind.PERIOD, Kind.YEAR, Kind.META, Kind.SAFETY)
    )
}
_SPELLING_RULES = frozenset({"unescape", "underscore", "lowercase", "spelling"})

_VOCAB_KINDS = frozenset(
    {Kind.QUALITY, Kind.SCORE, Kind.PERIOD, Kind.YEAR, Kind.META, Kind.SAFETY, Kind.COUNT}
)


def _in_order(ranks: list[tuple[int, int]]) -> bool:
    """True when no tag comes after a tag of a later section in the same segment."""
    return all(a[0] != b[0] or a[1] <= b[1] for a, b in pairwise(ranks))


def _safety_rank(text: str) -> int:
    return SAFETY_ORDER.index(text) if text in SAFETY_ORDER else len(SAFETY_ORDER)


def _strip_escapes(text: str) -> str | None:
    """``\\(smile\\)`` (kept escaped by the parser, since unescaped it would be an emphasis
    group) → ``smile``; other backslashes go too: ``\\`` is an unknown token to T5. None
    when no plain tag is left."""
    plain = text.replace("\\", "")
    while len(plain) > 1 and plain[0] in "([" and plain[-1] == {"(": ")", "[": "]"}[plain[0]]:
        plain = plain[1:-1].strip()
    candidate = normalize_tag(plain)
    if not _plain_tag(candidate):
        candidate = normalize_tag(re.sub(r"[()\[\]]+", " ", plain))
    return candidate if candidate and _plain_tag(candidate) else None


def _plain_tag(text: str) -> bool:
    """``text`` parses back as exactly one tag with that text."""
    caption = parse(text)
    items = caption.items
    return len(items) == 1 and isinstance(items[0], Tag) and items[0].text == text


def _carries(words: list[str], removed: list[str]) -> bool:
    """Whether a tag of ``words`` says all that a removed tag of ``removed`` words said:
    it holds them in order (``plaid skirt`` carries ``plaid``; ``red skirt`` does not
    carry ``red footwear``)."""
    if len(words) <= len(removed):
        return False
    it = iter(words)
    return all(word in it for word in removed)


def _spelling_rule(raw: str, text: str, kaomoji: bool) -> str:
    if "\\" in raw:
        return "unescape"
    if "_" in raw and "_" not in text and not kaomoji:
        return "underscore"
    if raw.lower() != raw:
        return "lowercase"
    return "spelling"


def _tags_in(group: Group) -> Iterator[Tag]:
    for item in group.items:
        if type(item) is Tag:
            yield item
        elif type(item) is Group:
            yield from _tags_in(item)


def _flat_raw(group: Group) -> list[str]:
    out: list[str] = []
    for item in group.items:
        if isinstance(item, Group):
            out.extend(_flat_raw(item))
        else:
            out.append(item.raw.strip())
    return out


def _layout_differs(caption: Caption) -> bool:
    """The input uses separators other than ``', '`` or more than one line."""
    if caption.lead:
        return True
    items = caption.items
    for index, item in enumerate(items):
        trail = item.trail
        if index == len(items) - 1:
            if trail.strip(" \t\r\n"):
                return True
            continue
        if trail not in (", ", " ") or "\n" in item.raw:
            return True
    return False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk run (Mercurial's ``nogc`` idea)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- the public function ---------------------------------------------------------------------

_CONVERTERS: dict[tuple[object, ...], tuple[TagDB | None, Converter]] = {}


def convert(
    text: str,
    *,
    db: TagDB | None = None,
    dialect: Dialect = "sdxl",
    triggers: Collection[str] = (),
    prefix: str | Sequence[str] = (),
    keep_year: bool = False,
    prune_implied: bool = False,
    markers: Markers = "keep",
    absorbed: Collection[str] = (),
    sentences: SentencePlacement = "keep",
    apply_suggestions: bool = False,
) -> ConversionResult:
    """Convert an SDXL-era caption to Anima format; the result explains every edit.

    ``dialect`` is ``"wd14"`` (WD14 tagger output), ``"sdxl"`` (Illustrious / NoobAI) or
    ``"pony"`` (``score_9, score_8_up``, ``rating_*``, ``source_*``). ``db`` is a
    :class:`~anima_caption.TagDB`; without one, only what needs no database is done and
    ``result.unchecked`` says what was not checked. ``triggers`` go into the character
    section; ``prefix`` (``"masterpiece, best quality, score_7, safe"``) is added where
    missing; year tags are dropped unless ``keep_year``; ``prune_implied`` drops tags
    implied by another tag; ``markers="remove"`` drops kohya ``|||`` and resolves
    wildcards; ``absorbed`` are core tags the trigger absorbs (see the policy engine);
    ``apply_suggestions`` (needs ``db``) replaces a non-existent tag by its first
    suggestion when that one is confident (``TagDB.applicable_suggestion``, confidence
    at least ``APPLY_THRESHOLD`` = 0.9), as a change of rule ``suggestion`` whose message
    is the suggestion's reason.

        >>> convert("1girl, long_hair, (smile:1.2), general").text
        'safe, 1girl, long hair, smile'

    ``convert(convert(x).text).text == convert(x).text``. Raises
    :class:`~anima_caption.CaptionSyntaxError` for a caption with a stray or unclosed
    bracket.
    """
    key = (
        id(db),
        dialect,
        tuple(triggers),
        prefix if isinstance(prefix, str) else tuple(prefix),
        keep_year,
        prune_implied,
        markers,
        frozenset(absorbed),
        sentences,
        apply_suggestions,
    )
    cached = _CONVERTERS.get(key)
    if cached is None or cached[0] is not db:
        if len(_CONVERTERS) > 16:
            _CONVERTERS.clear()
        converter = Converter(
            db,
            dialect=dialect,
            triggers=triggers,
            prefix=prefix,
            keep_year=keep_year,
            prune_implied=prune_implied,
            markers=markers,
            absorbed=absorbed,
            sentences=sentences,
            apply_suggestions=apply_suggestions,
        )
        cached = (db, converter)
        _CONVERTERS[key] = cached
    return cached[1].convert(text)
