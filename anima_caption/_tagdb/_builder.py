"""Build a tag database file from imported rows (temporary file + atomic rename).

The builder keeps the rows in memory (about 300 MB for Danbooru's full 925k-tag list),
resolves the quirks of the sources, then writes one SQLite file next to the target and
``os.replace``-s it into place, so an interrupted or failed build never leaves a
half-written database at the target path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from anima_caption._normalize import db_key
from anima_caption._tagdb._errors import TagDBError
from anima_caption._tagdb._importers import (
    ImportReport,
    RelationKind,
    date_from_name,
    file_sha256,
    read_relation_file,
    read_tag_file,
)
from anima_caption._tagdb._schema import APPLICATION_ID, SCHEMA_VERSION, schema_sql
from anima_caption._version import __version__

_SQUASH_RE = re.compile(r"[\W_]+")


def squash(key: str) -> str:
    """Letters and digits only: the key under which punctuation variants meet."""
    return _SQUASH_RE.sub("", key)


@dataclass
class _Source:
    id: int
    kind: str
    name: str
    sha256: str
    report: ImportReport


@dataclass
class BuildResult:
    """Summary of a finished build (what ``tagdb import`` prints)."""

    path: Path
    seconds: float
    counts: dict[str, int]
    reports: list[ImportReport] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Malformed rows skipped over all inputs."""
        return sum(r.skipped for r in self.reports)


class Builder:
    """Collects tag lists, aliases and implications, then writes the database.

    Usage::

        builder = Builder(strict=False)
        builder.add_tags([Path("danbooru_tags_full_2025-09-24.csv")])
        builder.add_relations("aliases", [Path("danbooru_aliases.csv")])
        builder.add_relations("implications", [Path("danbooru_implications.csv")])
        result = builder.write(Path("tags.sqlite"))
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        on_problem: Callable[[str], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> None:
        self.strict = strict
        self.on_problem = on_problem
        #: progress: bytes of the file being read so far; then ``(done, total)`` steps
        #: of writing the database (``tagdb import``'s bars)
        self.on_bytes = on_bytes
        self.on_step = on_step
        self._sources: list[_Source] = []
        # key -> (category, post_count, source id)
        self._complete: dict[str, tuple[int, int, int]] = {}
        self._listed: dict[str, tuple[int, int, int]] = {}
        self._deprecated: dict[str, tuple[int, int, int]] = {}
        self._listed_aliases: list[tuple[str, str, int]] = []
        # (antecedent, consequent, status) -> (danbooru id, created_at, source id)
        self._relations: dict[str, dict[tuple[str, str, str], tuple[int | None, str | None, int]]]
        self._relations = {"aliases": {}, "implications": {}}
        self.collisions = 0
        self._complete_date: str | None = None

    # -- inputs -------------------------------------------------------------------------

    def _new_source(self, kind: str, paths: Sequence[Path], name: str | None) -> _Source:
        if not paths:
            raise TagDBError("no input files given")
        if len(paths) == 1:
            sha = file_sha256(paths[0])
        else:
            digest = hashlib.sha256()
            for path in paths:
                digest.update(file_sha256(path).encode())
            sha = digest.hexdigest()
        report = ImportReport(
            path=paths[0],
            kind=kind,
            strict=self.strict,
            on_problem=self.on_problem,
            on_bytes=self.on_bytes,
        )
        source = _Source(len(self._sources) + 1, kind, name or paths[0].name, sha, report)
        self._sources.append(source)
        return source

    def add_tags(self, paths: Sequence[Path], *, name: str | None = None) -> ImportReport:
        """Import one tag list (a CSV file, or several API JSON pages forming one list).

        A full list (CSV with header, or API pages) is *complete*: it holds every current
        tag. A tagcomplete list only holds tags with enough posts; its alias column mixes
        active and deleted aliases and ``/`` shortcuts.
        """
        source = self._new_source("tags", paths, name)
        report = source.report
        for path in paths:
            report.path = path
            sub = ImportReport(
                path=path,
                kind="",
                strict=self.strict,
                on_problem=self.on_problem,
                on_bytes=self.on_bytes,
            )
            self._ingest_tags(read_tag_file(path, sub), sub, source.id)
            report.kind = sub.kind
            report.rows += sub.rows
            report.skipped += sub.skipped
            report.shortcuts += sub.shortcuts
            report.problems.extend(sub.problems[: 20 - len(report.problems)])
            report.note_date(sub.data_date)
        report.path = paths[0]
        source.kind = report.kind
        if (
            report.kind != "tags-tagcomplete"
            and report.data_date
            and (self._complete_date is None or report.data_date > self._complete_date)
        ):
            self._complete_date = report.data_date
        return report

    def _ingest_tags(
        self,
        rows: Iterable[tuple[str, int, int, tuple[str, ...], bool]],
        report: ImportReport,
        source_id: int,
    ) -> None:
        complete = self._complete
        listed = self._listed
        listed_aliases = self._listed_aliases
        first = True
        target: dict[str, tuple[int, int, int]] = complete
        for name, category, count, aliases, deprecated in rows:
            if first:
                target = listed if report.kind == "tags-tagcomplete" else complete
                first = False
            key = db_key(name)
            if not key:
                continue
            store = self._deprecated if deprecated else target
            old = store.get(key)
            if old is not None:
                self.collisions += 1
                if old[1] >= count:
                    continue
            store[key] = (category, count, source_id)
            for alias in aliases:
                if alias.startswith("/"):
                    report.shortcuts += 1
                    continue
                alias_key = db_key(alias)
                if alias_key and alias_key != key:
                    listed_aliases.append((alias_key, key, source_id))

    def add_relations(
        self, kind: RelationKind, paths: Sequence[Path], *, name: str | None = None
    ) -> ImportReport:
        """Import alias or implication rows (CSV with header, or API JSON pages)."""
        source = self._new_source(kind, paths, name)
        report = source.report
        store = self._relations[kind]
        for path in paths:
            report.path = path
            report.note_date(None)
            for ante, cons, status, ident, created in read_relation_file(path, report):
                a_key, c_key = db_key(ante), db_key(cons)
                if not a_key or not c_key:
                    continue
                store[(a_key, c_key, status)] = (ident, created, source.id)
        report.path = paths[0]
        return report

    # -- output -------------------------------------------------------------------------

    def write(self, target: Path) -> BuildResult:
        """Write the database to ``target`` atomically and return a summary.

        Refuses (:class:`TagDBError`, ``target`` left as it was) when an input looks like
        the wrong file: no valid row at all, or more malformed rows than valid ones. A good
        database is never replaced by an empty or a broken one.
        """
        self._check_inputs(target)
        started = datetime.now(UTC)
        clock = _Clock()
        target = target.expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            counts = self._write(tmp, started)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return BuildResult(
            path=target,
            seconds=clock.elapsed(),
            counts=counts,
            reports=[s.report for s in self._sources],
        )

    def _check_inputs(self, target: Path) -> None:
        for source in self._sources:
            report = source.report
            if report.rows and report.skipped <= report.rows:
                continue
            first = f"; first: {report.problems[0]}" if report.problems else ""
            what = "no valid rows" if not report.rows else (
                f"{report.skipped:,} malformed rows and only {report.rows:,} valid ones"
            )
            raise TagDBError(
                f"{source.name}: {what} — is it the right file?{first}. "
                f"{target} was left as it was"
            )

    def _resolve(
        self,
    ) -> tuple[
        dict[str, tuple[int, int, int]],
        list[tuple[str, str, str, int | None, str | None, int]],
        dict[str, tuple[int | None, int | None, str]],
    ]:
        complete = bool(self._complete)
        tags = self._complete if complete else self._listed
        if not complete:
            self.collisions += len(set(self._complete) & set(self._listed))
        aliases = self._relations["aliases"]
        known_pairs = {(a, c) for a, c, _ in aliases}
        alias_rows = [(a, c, s, i, d, src) for (a, c, s), (i, d, src) in aliases.items()]
        seen_listed: set[tuple[str, str]] = set()
        for ante, cons, src in self._listed_aliases:
            pair = (ante, cons)
            if pair in known_pairs or pair in seen_listed:
                continue
            seen_listed.add(pair)
            alias_rows.append((ante, cons, "listed", None, None, src))
        active_antecedents = {a for a, _, s in aliases if s == "active"}

        removed: dict[str, tuple[int | None, int | None, str]] = {}
        for key, (category, count, _src) in self._deprecated.items():
            if key not in tags:
                removed[key] = (category, count, "Danbooru marks it deprecated")
        if complete:
            when = f" of {self._complete_date}" if self._complete_date else ""
            source_names = {s.id: s.name for s in self._sources}
            for key, (category, count, src) in self._listed.items():
                if key in tags or key in active_antecedents or key in removed:
                    continue
                removed[key] = (
                    category,
                    count,
                    f"{source_names[src]} lists it with {count:,} posts, but the complete "
                    f"tag list{when} does not have it",
                )
            references: dict[str, list[str]] = defaultdict(list)
            for kind, arrow in (("aliases", "→"), ("implications", "⇒")):
                for ante, cons, status in self._relations[kind]:
                    if cons not in tags:
                        references[cons].append(f"{ante} {arrow} {cons} ({status})")
            for key, refs in references.items():
                if key in removed or key in active_antecedents:
                    continue
                refs.sort(key=lambda r: (not r.endswith("(active)"), r))
                example = "; ".join(refs[:2])
                removed[key] = (
                    None,
                    None,
                    f"{len(refs)} Danbooru alias/implication row(s) name it (e.g. {example}), "
                    f"but the complete tag list{when} does not have it",
                )
        return tags, alias_rows, removed

    def _step(self, done: int) -> None:
        if self.on_step is not None:
            self.on_step(done, _WRITE_STEPS)

    def _write(self, tmp: Path, started: datetime) -> dict[str, int]:
        self._step(0)
        tags, alias_rows, removed = self._resolve()
        self._step(1)
        implication_rows = [
            (a, c, s, i, d, src)
            for (a, c, s), (i, d, src) in self._relations["implications"].items()
        ]
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.executescript(schema_sql())
            digest = hashlib.sha256()
            imported_at = started.isoformat(timespec="seconds")
            conn.executemany(
                "INSERT INTO source VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.id,
                        s.kind if s.kind != "tags" else s.report.kind,
                        s.name,
                        s.sha256,
                        s.report.rows,
                        s.report.skipped,
                        s.report.data_date or date_from_name(s.report.path),
                        imported_at,
                    )
                    for s in self._sources
                ],
            )
            names = sorted(tags)
            tag_rows = []
            for key in names:
                category, count, src = tags[key]
                squashed = squash(key)
                tag_rows.append(
                    (key, category, count, squashed if squashed and squashed != key else None, src)
                )
                digest.update(f"{key}\t{category}\t{count}\n".encode())
            conn.executemany("INSERT INTO tag VALUES (?, ?, ?, ?, ?)", tag_rows)
            del tag_rows
            self._step(2)
            alias_rows.sort()
            implication_rows.sort()
            conn.executemany("INSERT INTO alias VALUES (?, ?, ?, ?, ?, ?)", alias_rows)
            conn.executemany("INSERT INTO implication VALUES (?, ?, ?, ?, ?, ?)", implication_rows)
            for table, rows in (("alias", alias_rows), ("implication", implication_rows)):
                digest.update(table.encode())
                for a, c, s, *_ in rows:
                    digest.update(f"{a}\t{c}\t{s}\n".encode())
            self._step(3)
            removed_rows = [(k, *removed[k]) for k in sorted(removed)]
            conn.executemany("INSERT INTO removed VALUES (?, ?, ?, ?)", removed_rows)
            digest.update(b"removed")
            for key in sorted(removed):
                digest.update(f"{key}\n".encode())
            self._step(4)
            conn.executemany("INSERT INTO fuzzy VALUES (?, ?)", _fuzzy_buckets(tags))
            self._step(5)
            per_category = Counter(category for category, _, _ in tags.values())
            counts = {
                "tags": len(tags),
                "aliases_active": sum(1 for r in alias_rows if r[2] == "active"),
                "aliases_other": sum(1 for r in alias_rows if r[2] != "active"),
                "implications_active": sum(1 for r in implication_rows if r[2] == "active"),
                "implications_other": sum(1 for r in implication_rows if r[2] != "active"),
                "removed": len(removed),
                "collisions": self.collisions,
                "skipped_rows": sum(s.report.skipped for s in self._sources),
                "shortcuts_skipped": sum(s.report.shortcuts for s in self._sources),
            }
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "built_at": imported_at,
                "built_by": f"anima-caption {__version__}",
                "content_sha256": digest.hexdigest(),
                "complete_list": "yes" if self._complete else "no",
                "complete_list_date": self._complete_date or "",
                "counts": json.dumps(counts, sort_keys=True),
                "categories": json.dumps(
                    {str(k): v for k, v in sorted(per_category.items())}, sort_keys=True
                ),
            }
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.commit()
            conn.execute("ANALYZE")
            conn.commit()
            self._step(_WRITE_STEPS)
        finally:
            conn.close()
        return counts


#: Steps of :meth:`Builder._write` reported to ``on_step``: resolve, tags, relations,
#: removed tags, fuzzy buckets, indexes and ANALYZE.
_WRITE_STEPS = 6


def _fuzzy_buckets(tags: dict[str, tuple[int, int, int]]) -> list[tuple[str, bytes]]:
    """Names grouped by (length, first char) and (length, last char), most used first."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for key in sorted(tags, key=lambda k: -tags[k][1]):
        if "\n" in key:
            continue
        length = len(key)
        buckets[f"{length}F{key[0]}"].append(key)
        buckets[f"{length}L{key[-1]}"].append(key)
    return [
        (bucket, zlib.compress("\n".join(names).encode(), 1))
        for bucket, names in sorted(buckets.items())
    ]


class _Clock:
    def __init__(self) -> None:
        import time

        self._time = time.perf_counter
        self._start = self._time()

    def elapsed(self) -> float:
        return self._time() - self._start


def build_database(
    target: Path,
    tag_files: Sequence[Path],
    *,
    aliases: Sequence[Path] = (),
    implications: Sequence[Path] = (),
    strict: bool = False,
    on_problem: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build ``target`` from tag lists (each file one source) plus alias/implication files.

    Complete lists (CSV with header, API JSON) are read before tagcomplete lists whatever
    the order given; rows are reported and skipped when malformed (fatal when ``strict``).
    """
    builder = Builder(strict=strict, on_problem=on_problem)
    for path in tag_files:
        builder.add_tags([path])
    for path in aliases:
        builder.add_relations("aliases", [path])
    for path in implications:
        builder.add_relations("implications", [path])
    return builder.write(target)
