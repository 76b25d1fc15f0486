"""``check`` and ``convert`` over any source, shards, per-shard summaries and ``merge``.

A run streams records: caption rules run per record, what the dataset rules need is kept
as a :class:`DatasetEntry` (tag summaries shared per spelling), and outputs go to a sink
as they come. With ``--num-shards N --shard-index I`` a run reads only its units and
writes a summary (the entries and counts, a few bytes per caption) instead of running
the dataset rules; ``merge`` reads the summaries and runs them over the whole dataset.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from anima_caption._check._context import DatasetEntry, TagSummary
from anima_caption._check._diagnostic import DiagnosticRecord
from anima_caption._check._engine import CheckResult
from anima_caption._check._spill import CaptionSpill, RecordSpill
from anima_caption._errors import UsageError
from anima_caption._io import unified_diff
from anima_caption._kinds import Kind
from anima_caption.datasets._sinks import Output, Sink
from anima_caption.datasets._sources import DatasetError, Record, ShardFilter, Source

if TYPE_CHECKING:
    from anima_caption._check._api import Linter
    from anima_caption._check._configfile import LoadedConfig
    from anima_caption._convert._convert import Converter
    from anima_caption._tagdb import TagDB

SUMMARY_VERSION = 1
_BATCH = 2000


def iter_records(
    sources: Sequence[Source], shard: ShardFilter | None = None
) -> Iterator[tuple[Source, Record]]:
    """Every record of ``sources`` in order (one shard filter across all of them)."""
    shard = shard or ShardFilter()
    for source in sources:
        for record in source.records(shard):
            yield source, record


@dataclass
class SourceCheck:
    """What a ``check`` over sources found (``result`` renders like a folder check).

    A streamed run (the default) keeps its diagnostics in ``found`` and its dataset
    entries in a :class:`CaptionSpill` on disk, so memory does not grow with the rows;
    ``result.records`` / ``result.sources`` are then empty. A worker's run (one shard,
    sent back whole) keeps them in memory.
    """

    result: CheckResult = field(default_factory=CheckResult)
    entries: list[DatasetEntry] | CaptionSpill = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """Diagnostics per code (caption rules)."""
    found: RecordSpill | None = None

    @classmethod
    def streamed(cls) -> SourceCheck:
        """An empty check that spills its diagnostics and dataset entries."""
        return cls(entries=CaptionSpill(), found=RecordSpill())

    def take(self, records: list[DiagnosticRecord], display: str, text: str) -> None:
        """One caption's diagnostics."""
        if not records:
            return
        self.counts.update(r.code for r in records)
        if self.found is not None:
            self.found.add(records, text)
        else:
            self.result.records.extend(records)
            self.result.sources[display] = text

    def take_texts(self, records: list[DiagnosticRecord], texts: dict[str, str]) -> None:
        """Diagnostics of many captions (a worker's shard) with their texts by path."""
        self.counts.update(r.code for r in records)
        if self.found is None:
            self.result.records.extend(records)
            self.result.sources.update(texts)
            return
        for path, group in groupby(records, key=attrgetter("path")):
            self.found.add(group, texts.get(path))

    def severities(self) -> Counter[str]:
        """Diagnostics per severity (caption rules, and dataset rules once run)."""
        if self.found is not None:
            return Counter(self.found.severity)
        return Counter(str(r.severity) for r in self.result.records)

    def dataset(self, linter: Linter, images: list[Path], *, sort: bool = True) -> None:
        """Run the dataset rules over the entries; add their findings."""
        context = _dataset(linter, self.entries, images)
        found = linter.checker.check_dataset(context)
        likely = context.shared.get("likely-triggers")  # _rules_dataset.LIKELY_TRIGGERS
        if self.found is not None:
            self.found.add(found, None)
            if isinstance(likely, frozenset):
                self.found.likely = likely
            return
        result = self.result
        result.records.extend(found)
        if isinstance(likely, frozenset) and likely:
            from anima_caption._check._engine import _without_unknown

            result.records = _without_unknown(result.records, likely, result.sources)
        records = result.records
        if sort:
            records.sort(key=DiagnosticRecord.sort_key)

    def close(self) -> None:
        """Remove the temporary files."""
        if isinstance(self.entries, CaptionSpill):
            self.entries.close()
        if self.found is not None:
            self.found.close()


def check_sources(
    linter: Linter,
    sources: Sequence[Source],
    *,
    shard: ShardFilter | None = None,
    dataset_rules: bool = True,
    sink: Sink | None = None,
    fix: bool = False,
    unsafe: bool = False,
    progress: Callable[[int], None] | None = None,
    streamed: bool = True,
) -> SourceCheck:
    """Check every record; with ``sink``, write each caption (fixed when ``fix``) and its
    diagnostics there. ``streamed``: diagnostics and dataset entries go to temporary
    files (see :class:`SourceCheck`); else they stay in memory, sorted."""
    from anima_caption.datasets._arrow import diagnostic_rows

    checker = linter.checker
    out = SourceCheck.streamed() if streamed else SourceCheck()
    result = out.result
    entries = out.entries
    images: list[Path] = []
    for source in sources:
        images.extend(source.images())
    for number, (source, record) in enumerate(iter_records(sources, shard), 1):
        display = source.display(record)
        if record.error is not None:
            ctx = linter.unreadable(record.id, display, record.error)
        else:
            ctx = linter.context(record.text, record.id, display=display)
        found = checker.check_caption(ctx)
        text = record.text
        if fix and ctx.caption is not None and ctx.file is not None:
            fixed = checker.fix_loop(ctx, found, unsafe)
            result.fixed += fixed.resolved
            if fixed.text != text:
                result.diffs.append(unified_diff(display, text, fixed.text))
                result.fixed_files.append(display)
            ctx, found, text = fixed.ctx, fixed.diagnostics, fixed.text
        result.files += 1
        out.take(found, display, ctx.text)
        entries.append(linter.entry(ctx))
        if sink is not None:
            found.sort(key=DiagnosticRecord.sort_key)
            sink.write(Output(record, text, diagnostic_rows(found)))
        if progress is not None and number % 1000 == 0:
            progress(number)
    if dataset_rules:
        out.dataset(linter, images, sort=False)
    if out.found is None:
        result.records.sort(key=DiagnosticRecord.sort_key)
    return out


def _dataset(linter: Linter, entries: Sequence[DatasetEntry], images: list[Path]) -> Any:
    from anima_caption._check._context import DatasetContext

    checker = linter.checker
    return DatasetContext(captions=entries, images=images, config=checker.config, db=checker.lookup)


# -- convert ---------------------------------------------------------------------------------


@dataclass
class ConvertReport:
    """What a ``convert`` over sources did."""

    changed: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    by_rule: Counter[str] = field(default_factory=Counter)


def convert_sources(
    converter: Converter | None,
    sources: Sequence[Source],
    *,
    shard: ShardFilter | None = None,
    sink: Sink | None = None,
    diff: bool = True,
) -> ConvertReport:
    """Convert every record (``converter`` None: the source builds Anima captions itself,
    as Danbooru metadata does); write them to ``sink``; print diffs when ``diff``."""
    report = ConvertReport()
    batch: list[tuple[Source, Record]] = []
    for item in iter_records(sources, shard):
        batch.append(item)
        if len(batch) >= _BATCH:
            _convert_batch(converter, batch, report, sink, diff)
            batch = []
    _convert_batch(converter, batch, report, sink, diff)
    return report


def _convert_batch(
    converter: Converter | None,
    batch: list[tuple[Source, Record]],
    report: ConvertReport,
    sink: Sink | None,
    diff: bool,
) -> None:
    from anima_caption.datasets._arrow import convert_texts

    readable = [(s, r) for s, r in batch if r.error is None]
    for _, record in batch:
        if record.error is not None:
            report.failed.append(f"{record.where}: {record.error} (not converted)")
    if converter is None:
        shared = _CHANGE_ROWS  # a tag's change repeats in every post that has it
        results = [
            (r.text, [shared.get(c) or _change_row(c) for c in r.extra or ()], True)
            for _, r in readable
        ]
    else:
        results = convert_texts(converter, [r.text for _, r in readable])
    stdout = sys.stdout
    for (source, record), (text, changes, changed) in zip(readable, results, strict=True):
        if changes and changes[0]["rule"] == "error":
            report.failed.append(f"{record.where}: {changes[0]['new']} (not converted)")
            continue
        report.by_rule.update(c["rule"] for c in changes)
        if changed:
            report.changed += 1
            if diff and converter is not None:
                stdout.write(unified_diff(source.display(record), record.text, text))
        else:
            report.unchanged += 1
        if sink is not None:
            sink.write(Output(record, text, changes=changes, changed=changed))


_CHANGE_ROWS: dict[tuple[str, str, str], dict[str, str]] = {}


def _change_row(change: tuple[str, str, str]) -> dict[str, str]:
    if len(_CHANGE_ROWS) > 500_000:
        _CHANGE_ROWS.clear()
    row = _CHANGE_ROWS[change] = {"rule": change[0], "old": change[1], "new": change[2]}
    return row


# -- shard summaries and merge ---------------------------------------------------------------


def write_summary(
    path: Path,
    check: SourceCheck,
    *,
    loaded: LoadedConfig,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
    shard: ShardFilter,
) -> None:
    """The shard's summary: counts, and each caption's tags and sentences (every distinct
    tag written once) for the dataset rules ``merge`` runs."""
    tags: dict[TagSummary, int] = {}
    captions: list[list[Any]] = []
    for entry in check.entries:
        if entry.tags is None:
            captions.append([entry.path.as_posix(), entry.display, None, []])
            continue
        refs = [tags.setdefault(t, len(tags)) for t in entry.tags]
        captions.append([entry.path.as_posix(), entry.display, refs, list(entry.sentences)])
    severities = check.severities()
    doc = {
        "version": SUMMARY_VERSION,
        "shard": [shard.shard_index, shard.num_shards],
        "config": loaded.config.model_dump(mode="json", by_alias=True),
        "select": list(select or []),
        "ignore": list(ignore or []),
        "files": check.result.files,
        "counts": dict(sorted(check.counts.items())),
        "severity": dict(severities),
        "tags": [[t.text, t.name, t.kind.value, t.kaomoji] for t in tags],
        "captions": captions,
    }
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    from anima_caption._io import write_atomic

    write_atomic(path, data)


@dataclass
class Summary:
    """A shard summary as read back."""

    path: Path
    shard: tuple[int, int]
    config: dict[str, Any]
    select: list[str]
    ignore: list[str]
    files: int
    counts: dict[str, int]
    severity: dict[str, int]
    entries: list[DatasetEntry]


def read_summary(path: Path, shared: dict[tuple[Any, ...], TagSummary]) -> Summary:
    """Read one summary (``shared``: one :class:`TagSummary` per distinct tag across
    every summary read)."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        doc = json.loads(data)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from None
    except (ValueError, EOFError) as error:
        raise DatasetError(f"{path}: not a shard summary ({error})") from None
    if not isinstance(doc, dict) or doc.get("version") != SUMMARY_VERSION:
        raise DatasetError(f"{path}: not a shard summary of this version of anima-caption")
    try:
        kinds = {k.value: k for k in Kind}
        tags = []
        for text, name, kind, kaomoji in doc["tags"]:
            key = (text, name, kind, kaomoji)
            summary = shared.get(key)
            if summary is None:
                summary = shared[key] = TagSummary(text, name, kinds[kind], bool(kaomoji))
            tags.append(summary)
        entries = [
            DatasetEntry(
                PurePosixPath(rel),  # type: ignore[arg-type]
                display,
                None if refs is None else tuple(tags[i] for i in refs),
                tuple(sentences),
            )
            for rel, display, refs, sentences in doc["captions"]
        ]
        return Summary(
            path,
            (int(doc["shard"][0]), int(doc["shard"][1])),
            dict(doc["config"]),
            list(doc["select"]),
            list(doc["ignore"]),
            int(doc["files"]),
            dict(doc["counts"]),
            dict(doc["severity"]),
            entries,
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise DatasetError(f"{path}: damaged shard summary ({error!r})") from None


def merge_summaries(paths: Sequence[Path], db: TagDB | None = None) -> tuple[list[Summary], Linter]:
    """Read the shard summaries, check they belong together, run the dataset rules."""
    from anima_caption._check._api import Linter

    if not paths:
        raise UsageError("merge needs the shard summaries")
    shared: dict[tuple[Any, ...], TagSummary] = {}
    summaries = [read_summary(p, shared) for p in paths]
    first = summaries[0]
    for summary in summaries[1:]:
        if (summary.config, summary.select, summary.ignore) != (
            first.config,
            first.select,
            first.ignore,
        ):
            raise UsageError(
                f"{summary.path}: checked with other settings than {first.path}; "
                "merge only the shards of one run"
            )
    seen: dict[tuple[int, int], Path] = {}
    for summary in summaries:
        if summary.shard in seen:
            raise UsageError(
                f"{summary.path}: shard {summary.shard[0]} of {summary.shard[1]} again "
                f"(also {seen[summary.shard]})"
            )
        seen[summary.shard] = summary.path
    totals = {s.shard[1] for s in summaries}
    if len(totals) == 1:
        total = totals.pop()
        missing = sorted(set(range(total)) - {s.shard[0] for s in summaries})
        if missing:
            print(
                f"warning: shards {', '.join(map(str, missing))} of {total} are missing; "
                "the dataset rules see only the shards given",
                file=sys.stderr,
            )
    linter = Linter(db=db, config=first.config, select=first.select, ignore=first.ignore)
    return summaries, linter


def run_dataset_rules(linter: Linter, summaries: Sequence[Summary]) -> list[DiagnosticRecord]:
    """The dataset rules over the captions of every summary, sorted."""
    entries = [e for s in summaries for e in s.entries]
    found = linter.checker.check_dataset(_dataset(linter, entries, []))
    found.sort(key=DiagnosticRecord.sort_key)
    return found


# -- a local process pool --------------------------------------------------------------------

#: Rows from which ``check`` over parquet uses every core by itself (fewer: one process;
#: at 20,000 rows two processes were no faster on the shared 2-core machine: each warms
#: its own caches).
PARALLEL_ROWS = 1_000_000
_POOL_LINTER: Linter | None = None
_POOL_SOURCES: list[Source] = []


def known_rows(sources: Sequence[Source]) -> int:
    """Rows the sources say they hold without reading them (parquet metadata; 0 else)."""
    total = 0
    for source in sources:
        if source.path.suffix.lower() == ".parquet" and source.path.is_file():
            from anima_caption.datasets._sources import ParquetSource

            total += ParquetSource(source.path).open().metadata.num_rows
    return total


def _pool_init(blob: bytes) -> None:
    import pickle

    global _POOL_LINTER, _POOL_SOURCES
    _POOL_LINTER, _POOL_SOURCES = pickle.loads(blob)


def _pool_shard(task: tuple[int, int]) -> bytes:
    import pickle

    assert _POOL_LINTER is not None
    index, shards = task
    found = check_sources(
        _POOL_LINTER,
        _POOL_SOURCES,
        shard=ShardFilter(shards, index),
        dataset_rules=False,
        streamed=False,
    )
    result = found.result
    return pickle.dumps(
        (result.records, result.sources, result.files, found.entries),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def check_parallel(
    linter: Linter, sources: Sequence[Source], *, workers: int, dataset_rules: bool = True
) -> SourceCheck:
    """``check`` over ``sources`` in ``workers`` processes: each checks shards ``k`` of
    ``K`` (every process opens the database once), this one adds them up and runs the
    dataset rules, as ``merge`` does. The diagnostics are those of a one-process run."""
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    shards = workers * 4
    blob = pickle.dumps((linter, list(sources)), protocol=pickle.HIGHEST_PROTOCOL)
    out = SourceCheck.streamed()
    result = out.result
    context = multiprocessing.get_context("spawn")  # never fork an open SQLite connection
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_pool_init, initargs=(blob,)
    ) as pool:
        for packed in pool.map(_pool_shard, [(k, shards) for k in range(shards)]):
            records, texts, files, entries = pickle.loads(packed)
            out.take_texts(records, texts)
            result.files += files
            out.entries.extend(entries)
    if dataset_rules:
        out.dataset(linter, [image for source in sources for image in source.images()])
    return out
