"""Running the rules over files and a dataset, and applying fixes safely."""

from __future__ import annotations

import gc
import os
import re
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._check._configfile import LoadedConfig, RuleSelection, ignored_for, is_excluded
from anima_caption._check._context import (
    CaptionContext,
    DatasetContext,
    DatasetEntry,
    TagSummary,
)
from anima_caption._check._diagnostic import (
    Applicability,
    Diagnostic,
    DiagnosticRecord,
    EditRecord,
    FixRecord,
    Severity,
)
from anima_caption._check._registry import Rule, TagRule, all_rules
from anima_caption._errors import CaptionDecodeError, UsageError, line_column
from anima_caption._io import (
    CaptionFile,
    decode_caption,
    encode_caption,
    newline_style,
    read_caption_file,
    unified_diff,
    walk_dataset,
)
from anima_caption._kinds import Kind
from anima_caption._parse import parse

if TYPE_CHECKING:
    from anima_caption._journal import FileChangedError, WriteRun
    from anima_caption._model import Tag
    from anima_caption._tagdb import TagDB

#: Datasets with at least this many files are checked in worker processes by default.
PARALLEL_THRESHOLD = 4000
_CHUNK = 1000

#: Fix passes per file; each pass re-parses and re-checks (ruff caps at 100; captions
#: settle in two or three).
MAX_FIX_PASSES = 10

#: Distinct tag spellings whose findings a checker remembers (then it starts over).
TAG_MEMO_LIMIT = 200_000

# A record's first four fields are its sort key (path, line, column, code), read in C.
_SORT_KEY = itemgetter(0, 1, 2, 3)


@dataclass
class CheckResult:
    """Everything ``check`` found (after fixing, when fixes were applied)."""

    records: list[DiagnosticRecord] = field(default_factory=list)
    """The diagnostics in the engine's compact form, sorted (path, line, column, code)."""
    files: int = 0
    fixed: int = 0
    """Diagnostics resolved by applied fixes."""
    fixed_files: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    journal: tuple[Path, str, int] | None = None
    """``(dataset folder, run id, files written)`` when fixes were written."""
    refused: list[str] = field(default_factory=list)
    """One line per fixed file that was not written (changed on disk, a link, read-only,
    its folder not writable…); its fixes are not counted in :attr:`fixed`."""

    _models: list[Diagnostic] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """The diagnostics as :class:`Diagnostic` models (built on first use)."""
        if self._models is None or len(self._models) != len(self.records):
            self._models = [Diagnostic.from_record(r) for r in self.records]
        return self._models

    @property
    def errors(self) -> int:
        """How many error-severity diagnostics remain."""
        error = Severity.ERROR
        return sum(1 for d in self.records if d.severity is error)


class _Active:
    """A rule switched on for this run, with what every diagnostic of it repeats."""

    __slots__ = ("code", "rule", "severity", "slug", "url")

    def __init__(self, rule: Rule, severity: Severity) -> None:
        self.rule = rule
        self.severity = severity
        self.code = rule.code
        self.slug = rule.slug
        self.url = rule.url()


# A tag rule's finding with positions relative to the tag's start: (active rule, message,
# span, fix). Replayed wherever the same spelling appears.
_Template = tuple[_Active, str, tuple[int, int] | None, FixRecord | None]


class Checker:
    """Runs the selected rules with one configuration and one (optional) tag database."""

    def __init__(
        self,
        loaded: LoadedConfig,
        db: TagDB | None,
        selection: RuleSelection,
        *,
        apply_suggestions: bool = False,
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.db = db
        self.apply_suggestions = apply_suggestions
        """``--apply-suggestions``: a confident first suggestion for a non-existent or
        removed tag (TG005, TG007) is an unsafe fix, listed with its reason in the diff."""
        self.active: list[_Active] = []
        has_db = db is not None and db.has_danbooru_data
        for rule_cls in all_rules():
            severity = selection.severity_of(rule_cls)
            if severity is None or not selection.enabled(rule_cls):
                continue
            if rule_cls.needs_db and not has_db:
                continue
            self.active.append(_Active(rule_cls(), severity))
            if apply_suggestions and hasattr(self.active[-1].rule, "apply_suggestions"):
                self.active[-1].rule.apply_suggestions = True
        # Rules with nothing to check under this config are listed as active (SARIF's rules
        # array, docs links) but not run.
        self._runs = [a for a in self.active if type(a.rule).applies(self.config)]
        self.lookup = db if has_db else None
        self._selection = selection
        caption_scope = [a for a in self._runs if a.rule.scope == "caption"]
        self._tag_rules = [a for a in caption_scope if isinstance(a.rule, TagRule)]
        self._caption_rules = [
            a for a in caption_scope if not isinstance(a.rule, TagRule) or type(a.rule).per_caption
        ]
        self._tag_memo: dict[str, tuple[_Template, ...]] = {}
        self._summaries: dict[str, TagSummary] = {}

    # -- files ----------------------------------------------------------------------------
    def collect(self, paths: Sequence[str]) -> tuple[list[Path], list[Path]]:
        """Caption files and image files named by ``paths`` (folders walked, sorted)."""
        captions: list[Path] = []
        images: list[Path] = []
        caption_ext = tuple(e.lower() for e in self.config.caption_extensions)
        image_ext = tuple(e.lower() for e in self.config.image_extensions)
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                for full in walk_dataset(path):
                    if is_excluded(full, self.loaded):
                        continue
                    lower = full.name.lower()
                    if lower.endswith(caption_ext):
                        captions.append(full)
                    elif lower.endswith(image_ext):
                        images.append(full)
            elif path.exists():
                if not is_excluded(path, self.loaded):
                    captions.append(path)
            else:
                raise UsageError(f"{path}: no such file or directory")
        return captions, images

    def context(self, path: Path) -> CaptionContext:
        """Read and parse one caption file."""
        ctx = CaptionContext(path=path, display=_display(path), config=self.config, db=self.db)
        try:
            ctx.file = read_caption_file(path)
        except CaptionDecodeError as error:
            ctx.decode_error = error
            return ctx
        ctx.caption = parse(ctx.file.text, lookup=self.lookup, triggers=self.config.triggers)
        return ctx

    # -- rules ----------------------------------------------------------------------------
    def check_caption(self, ctx: CaptionContext) -> list[DiagnosticRecord]:
        """Diagnostics of the caption rules for one file (in the engine's compact form)."""
        ignored = ignored_for(ctx.path, self.loaded)
        out: list[DiagnosticRecord] = []
        text = ctx.text
        breaks = _line_breaks(text)
        if self._tag_rules and ctx.caption is not None:
            self._check_tags(ctx, ignored, breaks, out)
        display = ctx.display
        for active in self._caption_rules:
            if active.code in ignored:
                continue
            out.extend(
                _record(active, finding.message, finding.span, finding.fix, display, text, breaks)
                for finding in active.rule.check(ctx)
            )
        return out

    def _check_tags(
        self,
        ctx: CaptionContext,
        ignored: frozenset[str],
        breaks: list[int] | None,
        out: list[DiagnosticRecord],
    ) -> None:
        """The tag rules' findings: replayed from the memo for spellings met before."""
        assert ctx.caption is not None
        memo = self._tag_memo
        display = ctx.display
        text = ctx.text
        new: list[Tag] = []
        for tag in ctx.caption.tags:
            templates = memo.get(tag.raw)
            if templates is None:
                new.append(tag)
            elif templates:
                _replay(templates, tag.span[0], ignored, display, text, breaks, out)
        if not new:
            return
        if len(memo) + len(new) > TAG_MEMO_LIMIT:
            memo.clear()
        lookup = self.lookup
        infos = (
            lookup.lookup_many([t.name for t in new if not t.kaomoji]) if lookup is not None else []
        )
        answers = iter(infos)
        for tag in new:
            info = next(answers) if lookup is not None and not tag.kaomoji else None
            templates = memo.get(tag.raw)  # a spelling twice in this caption
            if templates is None:
                templates = memo[tag.raw] = self._templates(tag, info, ctx)
            if templates:
                _replay(templates, tag.span[0], ignored, display, text, breaks, out)

    def _templates(self, tag: Tag, info: object, ctx: CaptionContext) -> tuple[_Template, ...]:
        """Every tag rule's findings for ``tag``, with positions relative to its start."""
        start = tag.span[0]
        out: list[_Template] = []
        trigger = tag.kind is Kind.TRIGGER
        for active in self._tag_rules:
            rule = active.rule
            assert isinstance(rule, TagRule)
            if trigger and not rule.checks_triggers:
                continue
            for finding in rule.check_tag(tag, info, ctx):  # type: ignore[arg-type]
                span = finding.span
                fix = finding.fix
                out.append(
                    (
                        active,
                        finding.message,
                        None if span is None else (span[0] - start, span[1] - start),
                        None if fix is None else fix.shifted(-start),
                    )
                )
        return tuple(out)

    def check_dataset(self, dataset: DatasetContext) -> list[DiagnosticRecord]:
        """Diagnostics of the dataset rules."""
        out: list[DiagnosticRecord] = []
        for active in self._runs:
            rule = active.rule
            if rule.scope != "dataset":
                continue
            for finding in rule.check_dataset(dataset):
                path = finding.path or ""
                if rule.code in ignored_for(Path(path), self.loaded):
                    continue
                out.append(
                    _record(active, finding.message, finding.span, finding.fix, path, "", [])
                )
        return out

    # -- the whole run --------------------------------------------------------------------
    def run(
        self,
        paths: Sequence[str],
        *,
        fix: bool = False,
        unsafe_fixes: bool = False,
        write: bool = True,
        jobs: int = 0,
        progress: Callable[[int, int], None] | None = None,
        journal_command: str = "check --fix",
    ) -> CheckResult:
        """Check ``paths``; with ``fix``, apply fixes (written unless ``write`` is False).

        ``jobs``: worker processes (0 = automatic: one per core for datasets of
        :data:`PARALLEL_THRESHOLD` files or more, else none). Output order is stable
        (sorted by path and position) whatever the number of workers.
        """
        caption_paths, images = self.collect(paths)
        result = CheckResult(files=len(caption_paths))
        # Large runs keep many small objects alive; full collections would rescan them all
        # every few thousand allocations. Collect young objects only while checking.
        thresholds = gc.get_threshold()
        gc.set_threshold(50_000, 1000, 1000)
        try:
            self._collect_outcomes(
                caption_paths,
                images,
                result,
                (fix, unsafe_fixes, fix and write),
                jobs,
                progress,
                (journal_command, [Path(p) for p in paths]),
            )
        finally:
            gc.set_threshold(*thresholds)
        return result

    def _collect_outcomes(
        self,
        caption_paths: list[Path],
        images: list[Path],
        result: CheckResult,
        options: tuple[bool, bool, bool],
        jobs: int,
        progress: Callable[[int, int], None] | None,
        journal: tuple[str, list[Path]],
    ) -> None:
        write = options[2]
        workers = _worker_count(jobs, len(caption_paths))
        if workers > 1:
            outcomes: Iterable[FileOutcome] = self._run_parallel(
                caption_paths, options, workers, progress
            )
        else:
            outcomes = self._run_serial(caption_paths, options, progress)
        entries: list[DatasetEntry] = []
        writer = _JournaledWriter(journal[1], journal[0]) if write else None
        try:
            for outcome in outcomes:
                self._take(outcome, result, entries, writer)
        finally:
            if writer is not None:
                writer.close(result)
        dataset = DatasetContext(
            captions=entries, images=images, config=self.config, db=self.lookup
        )
        result.records.extend(self.check_dataset(dataset))
        likely = dataset.shared.get("likely-triggers")  # _rules_dataset.LIKELY_TRIGGERS
        if isinstance(likely, frozenset) and likely:
            result.records = _without_unknown(result.records, likely, result.sources)
        result.records.sort(key=_SORT_KEY)
        result.diffs.sort()

    @staticmethod
    def _take(
        outcome: FileOutcome,
        result: CheckResult,
        entries: list[DatasetEntry],
        writer: _JournaledWriter | None,
    ) -> None:
        if outcome.write is not None and writer is not None:
            writer.add(outcome.entry.path, *outcome.write, resolved=outcome.resolved)
        if outcome.diagnostics:
            result.records.extend(outcome.diagnostics)
            result.sources[outcome.entry.display] = outcome.text
        result.fixed += outcome.resolved
        if outcome.diff:
            result.diffs.append(outcome.diff)
            result.fixed_files.append(outcome.entry.display)
        entries.append(outcome.entry)

    def check_file(self, path: Path, fix: bool, unsafe: bool, write: bool) -> FileOutcome:
        """Check (and fix) one caption file."""
        ctx, diagnostics, resolved, diff, pending = self._check_file(path, fix, unsafe, write)
        if len(self._summaries) > TAG_MEMO_LIMIT:
            self._summaries.clear()
        entry = DatasetEntry.of(ctx, self._summaries)
        return FileOutcome(entry, ctx.text, diagnostics, resolved, diff, pending)

    def _check_file(
        self, path: Path, fix: bool, unsafe: bool, write: bool
    ) -> tuple[CaptionContext, list[DiagnosticRecord], int, str, tuple[bytes, bytes] | None]:
        ctx = self.context(path)
        diagnostics = self.check_caption(ctx)
        resolved = 0
        diff = ""
        pending: tuple[bytes, bytes] | None = None
        if fix and ctx.caption is not None and ctx.file is not None:
            ctx, diagnostics, resolved, diff, pending = self._fix_file(
                ctx, diagnostics, unsafe, write
            )
        return ctx, diagnostics, resolved, diff, pending

    def _run_serial(
        self,
        paths: list[Path],
        options: tuple[bool, bool, bool],
        progress: Callable[[int, int], None] | None,
    ) -> Iterator[FileOutcome]:
        total = len(paths)
        for number, path in enumerate(paths, 1):
            yield self.check_file(path, *options)
            if progress is not None:
                progress(number, total)

    def _run_parallel(
        self,
        paths: list[Path],
        options: tuple[bool, bool, bool],
        workers: int,
        progress: Callable[[int, int], None] | None,
    ) -> Iterator[FileOutcome]:
        from concurrent.futures import ProcessPoolExecutor

        db_path = self.db.path if self.db is not None and self.db.has_danbooru_data else None
        size = max(1, min(_CHUNK, -(-len(paths) // (workers * 4))))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        tasks = [([str(p) for p in chunk], options) for chunk in chunks]
        summaries: dict[str, TagSummary] = {}
        done = 0
        with ProcessPoolExecutor(
            max_workers=workers,
            initializer=_worker_init,
            initargs=(self.loaded, db_path, self._selection, self.apply_suggestions),
        ) as pool:
            # Results come back in submission order and every worker takes its chunks in
            # that order, so a tag summary a worker sent with an earlier chunk is known here
            # before a later chunk of that worker refers to it by its spelling.
            try:
                results = pool.map(_worker_run, tasks)
                for chunk, (new, packed) in zip(chunks, results, strict=True):
                    for key, (text, name, kind, kaomoji) in new.items():
                        summaries[key] = TagSummary(text, name, _KINDS[kind], kaomoji)
                    for path, item in zip(chunk, packed, strict=True):
                        yield _unpack(path, item, summaries)
                    done += len(packed)
                    if progress is not None:
                        progress(done, len(paths))
            finally:
                _SHARED.clear()  # the records keep what they share; the index is this run's

    # -- fixes ----------------------------------------------------------------------------
    def fix_loop(
        self, ctx: CaptionContext, diagnostics: list[DiagnosticRecord], unsafe: bool
    ) -> FixOutcome:
        """Apply fixes pass by pass until none applies (or :data:`MAX_FIX_PASSES`).

        Every pass re-parses and re-checks the text; a pass that would add a syntax error is
        dropped, so fixing never makes a caption worse. Nothing is written here.
        """
        assert ctx.file is not None and ctx.caption is not None
        original = ctx.file
        text = original.text
        errors_before = len(ctx.caption.errors)
        drop_bom = False
        resolved = 0
        notes: list[str] = []  # suggestions applied (--apply-suggestions), with reasons
        for _ in range(MAX_FIX_PASSES):
            fixes = [d for d in diagnostics if _applicable(d, unsafe)]
            if not fixes:
                break
            if not drop_bom and any(d.code == "FL002" and d.span is None for d in fixes):
                drop_bom = True
                resolved += 1
            suggested = {
                d.message: f"{d.line}:{d.column}: {d.code} {d.fix.message}"
                for d in fixes
                if d.code in _SUGGESTION_CODES
                and d.fix is not None
                and d.fix.applicability is Applicability.UNSAFE
            }
            new_text, applied = apply_edits(text, [d for d in fixes if d.fix and d.fix.edits])
            if new_text == text:
                break
            reparsed = parse(new_text, lookup=self.lookup, triggers=self.config.triggers)
            if len(reparsed.errors) > errors_before:
                break  # a fix must never make the caption unparsable; keep the last good text
            resolved += applied
            text = new_text
            ctx = CaptionContext(
                path=ctx.path,
                display=ctx.display,
                config=self.config,
                db=self.db,
                file=_replace_text(original, text),
                caption=reparsed,
            )
            diagnostics = self.check_caption(ctx)
            if suggested:  # those whose diagnostic is gone were applied
                still = {d.message for d in diagnostics}
                notes.extend(n for m, n in suggested.items() if m not in still and n not in notes)
        if drop_bom:
            diagnostics = [d for d in diagnostics if d.code != "FL002"]
        return FixOutcome(ctx, diagnostics, text, resolved, drop_bom, tuple(notes))

    def fix_text(self, text: str, *, unsafe: bool = False, name: str = "caption.txt") -> str:
        """The fixed form of caption ``text`` (in memory; for scripts and tests)."""
        path = Path(name)
        ctx = CaptionContext(path=path, display=name, config=self.config, db=self.db)
        ctx.file = decode_caption(text.encode("utf-8"), path)
        # The rules see the text after a leading BOM, as they do for a file.
        ctx.caption = parse(ctx.file.text, lookup=self.lookup, triggers=self.config.triggers)
        outcome = self.fix_loop(ctx, self.check_caption(ctx), unsafe)
        kept_bom = ctx.file.bom and not outcome.drop_bom
        return ("\ufeff" if kept_bom else "") + outcome.text

    def _fix_file(
        self,
        ctx: CaptionContext,
        diagnostics: list[DiagnosticRecord],
        unsafe: bool,
        write: bool,
    ) -> tuple[CaptionContext, list[DiagnosticRecord], int, str, tuple[bytes, bytes] | None]:
        """Fix one file in memory: the fixed context, the diff, and ``(bytes read, fixed
        bytes)`` when ``write`` and something changed (the caller writes, journaled)."""
        assert ctx.file is not None
        original = ctx.file
        outcome = self.fix_loop(ctx, diagnostics, unsafe)
        new_data = encode_caption(outcome.text, bom=original.bom and not outcome.drop_bom)
        diff = ""
        pending = None
        if new_data != original.data:
            diff = unified_diff(
                ctx.display, original.text, outcome.text, bom_removed=outcome.drop_bom
            )
            if outcome.notes:  # `patch` skips lines before the header
                diff = "".join(f"# {ctx.display}:{note}\n" for note in outcome.notes) + diff
            if write:
                pending = (original.data, new_data)
        return outcome.ctx, outcome.diagnostics, outcome.resolved, diff, pending


@dataclass
class FileOutcome:
    """One file's result, as returned by worker processes too."""

    entry: DatasetEntry
    text: str
    diagnostics: list[DiagnosticRecord]
    resolved: int
    diff: str
    write: tuple[bytes, bytes] | None = None
    """``(bytes read, fixed bytes)`` when the fixed file is to be written."""


@dataclass
class FixOutcome:
    """The result of :meth:`Checker.fix_loop`."""

    ctx: CaptionContext
    diagnostics: list[DiagnosticRecord]
    text: str
    resolved: int
    drop_bom: bool
    notes: tuple[str, ...] = ()
    """Suggestions applied by ``--apply-suggestions``: ``line:column: CODE message``."""


_BREAK = re.compile(r"\n|\r(?!\n)")
_SUGGESTION_CODES = frozenset({"TG005", "TG007"})


def _line_breaks(text: str) -> list[int] | None:
    """Offsets of the characters that end a line (``\\r\\n`` counts at its ``\\n``); None
    for a text on one line, where a column is simply the offset plus one."""
    if "\n" not in text and "\r" not in text:
        return None
    return [m.start() for m in _BREAK.finditer(text)]


def _position(text: str, breaks: list[int] | None, offset: int) -> tuple[int, int]:
    """:func:`line_column` of ``offset``, with the line ends found once per text."""
    if breaks is None:
        return 1, offset + 1
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return line_column(text, offset)  # inside a CRLF pair: the slow, exact answer
    before = bisect_left(breaks, min(offset, len(text)))
    if before == 0:
        return 1, max(offset, 0) + 1
    return before + 1, offset - breaks[before - 1]


def _record(
    active: _Active,
    message: str,
    span: tuple[int, int] | None,
    fix: FixRecord | None,
    path: str,
    text: str,
    breaks: list[int] | None,
) -> DiagnosticRecord:
    """A finding as a diagnostic record (``breaks``: from :func:`_line_breaks`)."""
    if span is None:
        line = column = end_line = end_column = 1
    elif breaks is None:
        line = end_line = 1
        column = span[0] + 1
        end_column = span[1] + 1
    else:
        line, column = _position(text, breaks, span[0])
        end_line, end_column = _position(text, breaks, span[1])
    return _new_record(
        (
            path,
            line,
            column,
            active.code,
            active.slug,
            active.severity,
            message,
            end_line,
            end_column,
            span,
            fix,
            active.url,
        )
    )


# Named tuples built from a tuple in C (their own constructor is a Python function): the
# engine makes one per diagnostic, millions in a large run.
_new_record: Callable[[tuple[Any, ...]], DiagnosticRecord] = partial(
    tuple.__new__, DiagnosticRecord
)
_new_fix: Callable[[tuple[Any, ...]], FixRecord] = partial(tuple.__new__, FixRecord)


def _replay(
    templates: tuple[_Template, ...],
    start: int,
    ignored: frozenset[str],
    path: str,
    text: str,
    breaks: list[int] | None,
    out: list[DiagnosticRecord],
) -> None:
    """A tag's remembered findings, moved to the tag's position ``start``."""
    for active, message, span, fix in templates:
        if ignored and active.code in ignored:
            continue
        if fix is not None:  # the same edits, placed at this occurrence
            fix = _new_fix((fix[0], fix[1], fix[2], fix[3] + start))
        if span is not None:
            span = (span[0] + start, span[1] + start)
        out.append(_record(active, message, span, fix, path, text, breaks))


def _applicable(diagnostic: DiagnosticRecord, unsafe: bool) -> bool:
    fix = diagnostic.fix
    if fix is None:
        return False
    if fix.applicability is Applicability.SAFE:
        return True
    return unsafe and fix.applicability is Applicability.UNSAFE


def apply_edits(text: str, diagnostics: Iterable[DiagnosticRecord]) -> tuple[str, int]:
    """Apply the fixes of ``diagnostics`` that do not overlap; return (text, fixes applied).

    A fix's edits are applied all together or not at all. Fixes are taken in order of their
    first edit; one that overlaps an accepted fix waits for the next pass. Linear in the
    text and ``n log n`` in the edits: accepted edits are kept sorted and a new one is only
    compared with its neighbours, and the text is rebuilt once.
    """
    accepted: list[EditRecord] = []  # sorted by (start, end); never overlapping
    keys: list[tuple[int, int]] = []
    count = 0
    candidates = sorted(
        (d for d in diagnostics if d.fix is not None),
        key=lambda d: (
            (min((e.start for e in d.fix.edits), default=0), d.code) if d.fix else (0, "")
        ),
    )
    for diagnostic in candidates:
        assert diagnostic.fix is not None
        edits = diagnostic.fix.edits
        if any(_overlaps_accepted(edit, accepted, keys) for edit in edits):
            continue
        if len(edits) > 1 and any(
            _overlaps(a, b) for i, a in enumerate(edits) for b in edits[i + 1 :]
        ):
            continue  # a fix whose own edits collide cannot be applied as one
        for edit in edits:
            at = bisect_right(keys, (edit.start, edit.end))
            keys.insert(at, (edit.start, edit.end))
            accepted.insert(at, edit)
        count += 1
    pieces: list[str] = []
    position = 0
    for edit in accepted:
        pieces.append(text[position : edit.start])
        pieces.append(edit.content)
        position = edit.end
    pieces.append(text[position:])
    return "".join(pieces), count


def _overlaps_accepted(
    edit: EditRecord, accepted: list[EditRecord], keys: list[tuple[int, int]]
) -> bool:
    """Whether ``edit`` overlaps one of ``accepted`` (sorted, pairwise non-overlapping).

    Only the edit just before ``edit.start`` can reach past it (a later-starting edit
    inside an earlier one would overlap it), so the edits worth comparing are that one and
    those starting between ``edit.start`` and ``edit.end``.
    """
    low = max(0, bisect_left(keys, (edit.start, -1)) - 1)
    high = bisect_right(keys, (edit.end, sys.maxsize))
    return any(_overlaps(edit, other) for other in accepted[low:high])


def _overlaps(a: EditRecord, b: EditRecord) -> bool:
    """Two edits conflict when they touch the same characters (or insert at one point)."""
    if a.start == a.end or b.start == b.end:
        point, other = (a, b) if a.start == a.end else (b, a)
        if other.start == other.end:
            return point.start == other.start
        return other.start < point.start < other.end
    return a.start < b.end and b.start < a.end


def _replace_text(original: CaptionFile, text: str) -> CaptionFile:
    return replace(original, text=text, newline=newline_style(text))


class _JournaledWriter:
    """Writes fixed files in batches through the backup journal (``anima-caption undo``).

    The journal lives in the folder the files were found in: the one folder given, or the
    deepest folder holding every caption checked. A file that changed on disk since it was
    read is not overwritten (reported on stderr and in ``CheckResult.refused``).
    """

    def __init__(self, paths: Sequence[Path], command: str) -> None:
        from anima_caption._journal import journal_root

        self.root = journal_root(paths)
        self.command = command
        self.pending: list[tuple[Path, bytes, bytes | None]] = []
        self.run: WriteRun | None = None
        self.resolved: dict[Path, int] = {}
        self.refused: list[FileChangedError] = []

    def add(self, path: Path, original: bytes, fixed: bytes, *, resolved: int = 0) -> None:
        self.pending.append((path, fixed, original))
        self.resolved[path] = resolved
        if len(self.pending) >= 256:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if self.run is None:
            from anima_caption._journal import WriteRun

            self.run = WriteRun(self.root, self.command)
            self.run.open()
        for refused in self.run.write_many(self.pending):
            print(f"{refused}", file=sys.stderr)
            self.refused.append(refused)
        self.pending = []

    def close(self, result: CheckResult) -> None:
        try:
            self.flush()
        finally:
            # issue 15 item 11: a file not written was not fixed (the journal names files
            # by their resolved path)
            resolved = {p.resolve(): n for p, n in self.resolved.items()} if self.refused else {}
            for refused in self.refused:
                result.refused.append(str(refused))
                result.fixed -= resolved.get(refused.path.resolve(), 0)
            if self.run is not None:
                result.journal = (self.root, self.run.run_id, len(self.run.files_written))
                self.run.close()


def _display(path: Path) -> str:
    """The path as the user will read it: relative to the working folder when inside it."""
    if not path.is_absolute() and ".." not in path.parts:
        return path.as_posix()  # already relative to the working folder: no system calls
    cwd = os.getcwd()  # noqa: PTH109 - a string key for the cache below
    if os.sep == "/":  # the common case by string: a dataset walk names thousands of files
        raw = str(path)
        prefix = _CWD_PREFIX.get(cwd)
        if prefix is None:
            prefix = _CWD_PREFIX[cwd] = Path(cwd).resolve().as_posix().rstrip("/") + "/"
        if raw.startswith(prefix) and "/../" not in raw and "/./" not in raw:
            return raw[len(prefix) :]
    if path.is_absolute() and ".." not in path.parts:
        resolved_cwd = _RESOLVED_CWD.get(cwd)
        if resolved_cwd is None:
            resolved_cwd = _RESOLVED_CWD[cwd] = Path(cwd).resolve()
        try:
            return path.relative_to(resolved_cwd).as_posix()
        except ValueError:
            return path.as_posix()  # outside the working folder: shown as given
    try:
        return path.resolve().relative_to(Path(cwd).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


_RESOLVED_CWD: dict[str, Path] = {}
_CWD_PREFIX: dict[str, str] = {}


def _worker_count(jobs: int, files: int) -> int:
    if jobs > 0:
        return jobs
    if files < PARALLEL_THRESHOLD:
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


# -- worker processes -------------------------------------------------------------------------
#
# What a worker sends back is made of plain tuples, strings and numbers, which pickle in C:
# named tuples, dataclasses, enums and paths each cost a Python call to pickle and another to
# unpickle, which for a dataset of 100,000 files was more than the checking itself. A tag's
# summary travels once per worker; files refer to it by the tag's spelling.

_WORKER: Checker | None = None
_SENT: set[str] = set()
_KINDS = {kind.value: kind for kind in Kind}


def _without_unknown(
    records: list[DiagnosticRecord], likely: frozenset[str], sources: dict[str, str]
) -> list[DiagnosticRecord]:
    """``records`` without the non-existent-tag reports (TG005) of tags that DS005 found
    in nearly every caption: a likely trigger, reported once by DS005."""
    from anima_caption._normalize import normalize_tag

    def about_likely(record: DiagnosticRecord) -> bool:
        span = record.span
        if record.code != "TG005" or span is None:
            return False
        text = sources.get(record.path)
        return text is not None and normalize_tag(text[span[0] : span[1]]) in likely

    return [r for r in records if not about_likely(r)]


_SEVERITIES = {severity.value: severity for severity in Severity}
_APPLICABILITIES = {a.value: a for a in Applicability}

# (display, tag spellings or None, sentences, text ('' without diagnostics), diagnostics,
#  fixes resolved, diff, (bytes read, fixed bytes) or None)
_Packed = tuple[
    str,
    tuple[str, ...] | None,
    tuple[str, ...],
    str,
    list[tuple[Any, ...]],
    int,
    str,
    tuple[bytes, bytes] | None,
]


def _worker_init(
    loaded: LoadedConfig,
    db_path: Path | None,
    selection: RuleSelection,
    apply_suggestions: bool = False,
) -> None:
    global _WORKER
    from anima_caption._tagdb import TagDB

    db = TagDB.open(db_path) if db_path is not None else None
    _WORKER = Checker(loaded, db, selection, apply_suggestions=apply_suggestions)
    _SENT.clear()


def _worker_run(
    task: tuple[list[str], tuple[bool, bool, bool]],
) -> tuple[dict[str, tuple[str, str, str, bool]], list[_Packed]]:
    """Check one chunk: the tag summaries not sent before, and each file packed."""
    checker = _WORKER
    assert checker is not None
    paths, options = task
    new: dict[str, tuple[str, str, str, bool]] = {}
    packed: list[_Packed] = []
    for raw in paths:
        ctx, diagnostics, resolved, diff, pending = checker._check_file(Path(raw), *options)
        caption = ctx.caption
        keys: tuple[str, ...] | None = None
        sentences: tuple[str, ...] = ()
        if caption is not None:
            tags = caption.tags
            keys = tuple([tag.raw for tag in tags])
            if not _SENT.issuperset(keys):  # set operations in C: most files bring nothing new
                for tag in tags:
                    if tag.raw not in _SENT:
                        _SENT.add(tag.raw)
                        new[tag.raw] = (tag.text, tag.name, tag.kind.value, tag.kaomoji)
            sentences = tuple(s.text for s in caption.sentences)
        packed.append(
            (
                ctx.display,
                keys,
                sentences,
                ctx.text if diagnostics else "",
                [_wire(d) for d in diagnostics],
                resolved,
                diff,
                pending,
            )
        )
    return new, packed


def _wire(record: DiagnosticRecord) -> tuple[Any, ...]:
    fix = record.fix
    return (
        *record[:5],
        str(record.severity),  # the plain value: an enum member pickles through Python
        *record[6:10],
        None
        if fix is None
        # the shared edits go as they are: pickled once per chunk, shared again on arrival
        else (str(fix.applicability), fix.message, fix.placed, fix.offset),
        record.url,
    )


# Positions arrive as new int objects, six per diagnostic; beyond 256 Python does not share
# them. The main process keeps every diagnostic of the run, so positions are shared here.
_POSITIONS: list[int] = []


def _position_object(value: int) -> int:
    if 0 <= value < 65536:
        if value >= len(_POSITIONS):
            _POSITIONS.extend(range(len(_POSITIONS), value + 1024))
        return _POSITIONS[value]
    return value


# Messages and a fix's edits repeat wherever a tag spelling does, but each chunk of results
# unpickles its own copies: one shared object per distinct value (a string never equals a
# tuple, so both kinds live in one dictionary). Only the main process fills it.
_SHARED: dict[Any, Any] = {}


def _unwire(wire: tuple[Any, ...]) -> DiagnosticRecord:
    share = _position_object
    same = _SHARED.setdefault
    fix = wire[10]
    if fix is not None:
        applicability, message, placed, offset = fix
        fix = _new_fix(
            (
                _APPLICABILITIES[applicability],
                same(message, message),
                same(placed, placed),
                share(offset),
            )
        )
    span = wire[9]
    if span is not None:
        span = (share(span[0]), share(span[1]))
    return _new_record(
        (
            wire[0],
            share(wire[1]),
            share(wire[2]),
            wire[3],
            wire[4],
            _SEVERITIES[wire[5]],
            same(wire[6], wire[6]),
            share(wire[7]),
            share(wire[8]),
            span,
            fix,
            wire[11],
        )
    )


def _unpack(path: Path, packed: _Packed, summaries: dict[str, TagSummary]) -> FileOutcome:
    display, keys, sentences, text, wires, resolved, diff, pending = packed
    tags = None if keys is None else tuple(map(summaries.__getitem__, keys))
    entry = DatasetEntry(path, display, tags, sentences)
    return FileOutcome(entry, text, [_unwire(w) for w in wires], resolved, diff, pending)
