"""The read side: :class:`TagDB` and the records it returns."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

from anima_caption._kinds import Category, Kind
from anima_caption._normalize import db_key
from anima_caption._tagdb._schema import connect_readonly, read_error
from anima_caption._vocab import vocabulary

if TYPE_CHECKING:
    from anima_caption._tagdb._suggest import Suggestion

_CHUNK = 20000
_CATEGORIES = {c.value: c for c in Category}
#: Distinct post-count notes kept per category (the real data has ~13k pairs in all).
_NOTE_CACHE = 65536
#: How many answers :meth:`TagDB.lookup_many` keeps for repeated tags (tags as written).
_INFO_CACHE = 32768
_MAX_ALIAS_HOPS = 5
# Alias and implication rows are fetched per key (a few indexed queries per batch) until
# this many keys have been asked about; then the whole maps are loaded once. A pre-commit
# run over a small dataset never pays for loading 60k relations; a big check does, once.
_FULL_RELATIONS_AFTER = 20000
# ... or once this many batches have been fetched (each costs a query; the full load
# costs about as much as a thousand of them).
_FULL_RELATIONS_AFTER_QUERIES = 1000
_SUGGESTION_FORMAT = "2"
_SUGGESTION_CACHE = 4096
VOCABULARY_SOURCE = "Anima vocabulary (built in)"


class TagStatus(StrEnum):
    """What a written tag is, from the database's point of view."""

    TAG = "tag"  #: a current Danbooru tag
    ALIAS = "alias"  #: an active Danbooru alias; ``canonical`` is the tag it redirects to
    VOCABULARY = "vocabulary"  #: Anima's own vocabulary (quality, score, year, safety…)
    RATING_WORD = "rating-word"  #: an SDXL-era rating word (``general``, ``questionable``)
    REMOVED = "removed"  #: was a Danbooru tag, now deprecated or removed (``bangs``)
    INACTIVE_ALIAS = "inactive-alias"  #: a deleted/retired alias (``brown blazer``): no tag
    UNKNOWN = "unknown"  #: non-existent


#: Statuses under which a tag is *known* (docs/tagdb.md, "What known and non-existent mean").
KNOWN_STATUSES = frozenset({TagStatus.TAG, TagStatus.ALIAS, TagStatus.VOCABULARY})


class TagInfo(NamedTuple):
    """Everything the database knows about one written tag (immutable).

    ``name`` is the lookup key (lowercase, spaces); ``canonical`` is the tag to write
    (``twin tails`` → ``twintails``; only active aliases are followed). ``implies`` are the
    direct, ``implies_all`` the transitive active implications of the canonical tag.

    A named tuple, so that batch lookups can build hundreds of thousands per second; use
    the attribute names (the field order is not part of the API) and ``_replace`` for a
    modified copy.
    """

    query: str
    name: str
    status: TagStatus
    known: bool
    category: Category | None = None
    post_count: int | None = None
    canonical: str | None = None
    alias_status: str | None = None
    alias_target: str | None = None
    deprecated: bool = False
    evidence: str | None = None
    implies: tuple[str, ...] = ()
    implies_all: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    vocabulary: Kind | None = None
    source: str | None = None
    note: str = ""

    @property
    def danbooru_name(self) -> str | None:
        """Danbooru's spelling of the canonical tag (``side_ponytail``), if it is a tag."""
        if self.canonical is None or self.category is None:
            return None
        return self.canonical.replace(" ", "_")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values)."""
        data = self._asdict()
        data["status"] = self.status.value
        data["category"] = self.category.name.lower() if self.category is not None else None
        data["vocabulary"] = self.vocabulary.value if self.vocabulary is not None else None
        data["implies"] = list(self.implies)
        data["implies_all"] = list(self.implies_all)
        data["aliases"] = list(self.aliases)
        data["danbooru_name"] = self.danbooru_name
        return data


#: Spellings whose lookup key is the spelling with ``_`` as spaces, without running
#: :func:`db_key`: lowercase ASCII words (no ``@``, ``\\`` or ``_`` in them) joined by single
#: spaces or underscores. Score tags (``score_7``) keep their underscore, so names starting
#: with ``score`` always go through :func:`db_key`. Tests check the equivalence.
_PLAIN_SPELLING = re.compile(r"[!-?\[\]^`a-z{-~]+(?:[ _][!-?\[\]^`a-z{-~]+)*")


def _lookup_keys(queries: list[str]) -> list[str]:
    """``[db_key(q) for q in queries]``, about twice as fast for plain spellings."""
    plain = _PLAIN_SPELLING.fullmatch
    return [
        q.replace("_", " ") if plain(q) and not q.startswith("score") else db_key(q)
        for q in queries
    ]


_TUPLE_NEW = tuple.__new__  # builds a TagInfo from a tuple of its fields without a frame
_TAG = TagStatus.TAG
_ALIAS = TagStatus.ALIAS
_REGEX_META = frozenset(".^$*+?{}[]\\|()")


def _literal_prefix(pattern: str) -> str:
    """The literal text every match of ``pattern`` starts with (``score_`` for
    ``score_[1-9]``); empty when there is none."""
    end = 0
    while end < len(pattern) and pattern[end] not in _REGEX_META:
        end += 1
    if end < len(pattern) and pattern[end] in "?*{":
        end -= 1  # the last literal is optional
    return pattern[: max(end, 0)]


class Completion(NamedTuple):
    """One answer of :meth:`TagDB.complete`: a tag whose name (or an alias of it) starts
    with what was typed."""

    name: str
    """The tag to write (lookup key spelling: ``side ponytail``)."""
    category: str
    """``general``, ``artist``, ``copyright``, ``character``, ``meta`` or ``anima`` (the
    built-in vocabulary: quality, score, safety, people count …)."""
    post_count: int | None
    """Danbooru posts with the tag (None for the built-in vocabulary)."""
    alias: str | None = None
    """The alias that matched, when the name itself does not start with the prefix
    (``twin tails`` for ``twintails``)."""


@dataclass(frozen=True, slots=True)
class Redundancy:
    """A tag made redundant by another tag of the same caption through implications.

    ``chain`` runs from the implying tag to the implied one (canonical names):
    ``("blue scrunchie", "scrunchie")``. ``tag`` and ``implied_by`` are as written.
    """

    tag: str
    implied_by: str
    chain: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.tag!r} is implied by {self.implied_by!r} ({' ⇒ '.join(self.chain)})"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One imported file or pulled endpoint."""

    kind: str
    name: str
    sha256: str
    rows: int
    skipped: int
    data_date: str | None
    imported_at: str


@dataclass(frozen=True, slots=True)
class DBInfo:
    """What ``tagdb info`` shows: counts, dates, sources, content hash, file size."""

    path: Path
    size_bytes: int
    schema_version: int
    built_at: str
    built_by: str
    content_sha256: str
    complete_list: bool
    complete_list_date: str | None
    counts: dict[str, int]
    categories: dict[str, int]
    sources: tuple[SourceInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


_Alias = tuple[str, str, str]  # (consequent, status, source name)
_Relations = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_NO_RELATIONS: _Relations = ((), (), ())
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(method: Callable[Concatenate[TagDB, _P], _R]) -> Callable[Concatenate[TagDB, _P], _R]:
    """Turn an ``sqlite3.DatabaseError`` of a query (a file damaged past the parts that
    :meth:`TagDB.open` checks) into :class:`TagDBFormatError`: one line, with the file and
    the rebuild command."""

    @functools.wraps(method)
    def wrapper(self: TagDB, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as error:
            raise read_error(self.path or Path("?"), error) from error

    return wrapper


class TagDB:
    """A read-only Danbooru tag database plus Anima's built-in vocabulary.

    Open one with :meth:`open` (milliseconds: nothing big is loaded until needed). It
    implements the :class:`anima_caption._lookup.TagLookup` protocol (``category`` /
    ``categories``), and answers :meth:`lookup`, :meth:`lookup_many`, :meth:`suggest`,
    :meth:`explain` and :meth:`redundant`. :meth:`vocabulary_only` gives an instance
    without Danbooru data, for when no database has been built yet.

    Fixing non-existent tags (what ``check`` and ``convert`` call)::

        db.suggest(tag, limit=3, context=caption_tags)  # ranked Suggestions, best first
        db.applicable_suggestion(tag, context=caption_tags)  # first one if confident, or None
        db.successor("plaid")  # Suggestion('plaid clothes', reason_code=SUCCESSOR, …) or None

    Each :class:`~anima_caption._tagdb._suggest.Suggestion` has ``tag`` (what to write),
    ``reason`` (plain English), ``reason_code``, ``confidence`` (0..1; applied by
    ``--apply-suggestions`` from ``APPLY_THRESHOLD`` = 0.9 up) and ``remove`` (True: delete
    the written tag, the caption already says it — ``tag`` then names the tag that does).
    :func:`~anima_caption._tagdb._suggest.explain` words a list of suggestions with one
    reason per group.
    """

    def __init__(self, conn: sqlite3.Connection | None, path: Path | None) -> None:
        self._conn = conn
        self.path = path
        self._meta: dict[str, str] = {}
        self._sources: dict[int, str] = {}
        if conn is not None:
            self._meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            self._sources = dict(conn.execute("SELECT id, name FROM source").fetchall())
        self._aliases: dict[str, tuple[_Alias, ...]] | None = None
        self._alias_sources: dict[str, tuple[str, ...]] | None = None
        self._implications: dict[str, tuple[str, ...]] | None = None
        self._closure: dict[str, tuple[str, ...]] = {}
        self._infos: dict[str, TagInfo] = {}
        self._relations: dict[str, _Relations] = {}
        # Per-key relation rows fetched before the full maps are loaded (see _FULL_RELATIONS_AFTER).
        self._alias_partial: dict[str, tuple[_Alias, ...]] = {}
        self._alias_sources_partial: dict[str, tuple[str, ...]] = {}
        self._implications_partial: dict[str, tuple[str, ...]] = {}
        self._prefetches = 0
        # category value -> (Category, its word, post count -> "Danbooru … tag, N posts")
        self._category_notes: dict[int, tuple[Category, str, dict[int, str]]] = {
            c.value: (c, c.name.lower(), {}) for c in Category
        }
        self._removed: dict[str, tuple[int | None, int | None, str]] | None = None
        self._fuzzy: dict[str, list[str]] = {}
        self._suggester: Any = None
        self._suggestions: dict[tuple[str, int], tuple[Suggestion, ...]] = {}
        self._suggestion_store: dict[str, list[tuple[Any, ...]]] | None = None
        self._suggestions_dirty = False
        self._category_memo: dict[str, Category | None] = {}
        # written tag -> (canonical name, everything it implies), for redundant()
        self._implied_memo: dict[str, tuple[str, frozenset[str]]] = {}
        self._vocab = vocabulary()
        # What the vocabulary patterns start with (`score_…`, `year …`): a name starting
        # otherwise cannot match one, which keeps batch lookups cheap. None: check always.
        prefixes = tuple(_literal_prefix(p.pattern) for p, _ in self._vocab.patterns)
        self._pattern_prefixes: tuple[str, ...] | None = prefixes if all(prefixes) else None

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path | None = None) -> TagDB:
        """Open a database file built by ``tagdb import`` / ``tagdb pull``.

        Without ``path``, the one ``tagdb import`` / ``pull`` write by default (issue 15
        item 14): ``$ANIMA_CAPTION_TAGDB``, else the user cache folder
        (``anima-caption tagdb info`` prints it).

        Raises :class:`anima_caption._tagdb.TagDBFormatError` (an ``AnimaCaptionError``) for
        a missing, foreign, outdated or corrupted file.
        """
        if path is None:  # issue 15 item 14: the default place, as the command line uses
            from anima_caption._tagdb._paths import resolve_db_path

            path = resolve_db_path(None)
        path = Path(path).expanduser()
        conn = connect_readonly(path)
        try:
            return cls(conn, path)
        except sqlite3.DatabaseError as error:
            conn.close()
            raise read_error(path, error) from error

    def share_across_threads(self) -> None:
        """Reopen the file so that threads other than the one that opened it may query it
        (``review serve`` answers requests in a thread pool). The caller serialises the
        calls: the caches are not locked."""
        if self._conn is None or self.path is None:
            return
        fresh = connect_readonly(self.path, threads=True)
        self._conn.close()
        self._conn = fresh

    @classmethod
    def vocabulary_only(cls) -> TagDB:
        """A database that knows only Anima's built-in vocabulary (no Danbooru tags)."""
        return cls(None, None)

    @property
    def has_danbooru_data(self) -> bool:
        """False for :meth:`vocabulary_only` instances."""
        return self._conn is not None

    def close(self) -> None:
        """Close the underlying SQLite connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> TagDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TagDB({str(self.path)!r})" if self.path else "TagDB(vocabulary only)"

    # -- metadata ---------------------------------------------------------------------------

    @_guarded
    def info(self) -> DBInfo | None:
        """Counts, dates, sources, content hash and file size (None without a database)."""
        if self._conn is None or self.path is None:
            return None
        rows = self._conn.execute(
            "SELECT kind, name, sha256, rows, skipped, data_date, imported_at FROM source "
            "ORDER BY id"
        ).fetchall()
        meta = self._meta
        return DBInfo(
            path=self.path,
            size_bytes=self.path.stat().st_size,
            schema_version=int(meta.get("schema_version", "0")),
            built_at=meta.get("built_at", ""),
            built_by=meta.get("built_by", ""),
            content_sha256=meta.get("content_sha256", ""),
            complete_list=meta.get("complete_list") == "yes",
            complete_list_date=meta.get("complete_list_date") or None,
            counts=json.loads(meta.get("counts", "{}")),
            categories=json.loads(meta.get("categories", "{}")),
            sources=tuple(SourceInfo(*row) for row in rows),
        )

    # -- raw access (also used by the suggester) -------------------------------------------

    def _tag_rows(self, keys: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """``key -> (category, post_count, source id)`` for the keys that are tags."""
        if self._conn is None or not keys:
            return {}
        if len(keys) == 1:
            row = self._conn.execute(
                "SELECT category, post_count, source FROM tag WHERE name = ?", (keys[0],)
            ).fetchone()
            return {keys[0]: row} if row is not None else {}
        return {
            chunk[index]: (category, count, source)
            for chunk, rows in self._tag_row_chunks(keys)
            for index, category, count, source in rows
            if category is not None
        }

    def _tag_row_chunks(
        self, keys: Iterable[str]
    ) -> Iterator[tuple[list[str], Iterable[tuple[int, Any, Any, Any]]]]:
        """The tag rows of ``keys``, in chunks: ``(chunk, rows)`` where each row is
        ``(index in chunk, category, post_count, source id)``, all None but the index for a
        key that is not a tag. One query per 20,000 keys; probing the name index in sorted
        order keeps its pages in SQLite's cache, and returning the index spares decoding
        the name again."""
        if self._conn is None:
            return
        ordered = sorted(keys)
        if len(ordered) == 1:  # one tag at a time: no JSON
            yield (
                ordered,
                self._conn.execute(
                    "SELECT 0, t.category, t.post_count, t.source "
                    "FROM (SELECT 1) LEFT JOIN tag AS t ON t.name = ?",
                    (ordered[0],),
                ),
            )
            return
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            rows = self._conn.execute(
                "SELECT j.key, t.category, t.post_count, t.source "
                "FROM json_each(?) AS j LEFT JOIN tag AS t ON t.name = j.value",
                (json.dumps(chunk, ensure_ascii=False),),
            )
            yield chunk, rows

    def _by_squash(self, squashed: str) -> list[tuple[str, int, int]]:
        """Tags whose letters-and-digits key is ``squashed``: ``(name, category, count)``."""
        if self._conn is None or not squashed:
            return []
        return self._conn.execute(
            "SELECT name, category, post_count FROM tag WHERE squash = ?1 "
            "UNION SELECT name, category, post_count FROM tag WHERE name = ?1",
            (squashed,),
        ).fetchall()

    def _alias_map(self) -> dict[str, tuple[_Alias, ...]]:
        """``antecedent -> alias rows`` (active first). Tuples, not lists: tuples of strings
        drop out of the garbage collector's tracking, which keeps collections during big
        batches cheap (57k lists made each full collection walk them all)."""
        if self._aliases is None:
            aliases: dict[str, list[_Alias]] = {}
            targets: dict[str, set[str]] = {}
            if self._conn is not None:
                order = "CASE status WHEN 'active' THEN 0 WHEN 'listed' THEN 2 ELSE 1 END"
                for ante, cons, status, source in self._conn.execute(
                    f"SELECT antecedent, consequent, status, source FROM alias "
                    f"ORDER BY {order}, danbooru_id DESC"
                ):
                    aliases.setdefault(ante, []).append(
                        (cons, status, self._sources.get(source, "?"))
                    )
                    if status == "active":
                        targets.setdefault(cons, set()).add(ante)
            self._aliases = {ante: tuple(rows) for ante, rows in aliases.items()}
            self._alias_sources = {cons: tuple(sorted(antes)) for cons, antes in targets.items()}
        return self._aliases

    def _aliases_of(self, name: str) -> tuple[str, ...]:
        """Names that are active aliases of ``name``, sorted."""
        if self._alias_sources is None:
            names = self._alias_sources_partial.get(name)
            if names is not None:
                return names
            self._prefetch_relations((name,))
        if self._alias_sources is not None:
            return self._alias_sources.get(name, ())
        return self._alias_sources_partial[name]

    def _alias_rows(self, key: str) -> tuple[_Alias, ...]:
        """Every alias row whose antecedent is ``key`` (active first)."""
        if self._aliases is None:
            rows = self._alias_partial.get(key)
            if rows is not None:
                return rows
            self._prefetch_relations((key,))
        if self._aliases is not None:
            return self._aliases.get(key, ())
        return self._alias_partial[key]

    def _direct_implications(self, key: str) -> tuple[str, ...]:
        """Tags ``key`` implies directly (active implications, sorted)."""
        if self._implications is None:
            direct = self._implications_partial.get(key)
            if direct is not None:
                return direct
            self._prefetch_relations((key,))
        if self._implications is not None:
            return self._implications.get(key, ())
        return self._implications_partial[key]

    def _prefetch_relations(self, keys: Iterable[str]) -> None:
        """Fetch the alias and implication rows of ``keys`` that are not known yet, with
        one query per relation for the whole batch (or load the full maps once enough keys
        have been asked about: then a dictionary look-up per key is cheaper)."""
        if self._aliases is not None and self._implications is not None:
            return
        known = self._alias_partial
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if not missing:
            return
        self._prefetches += 1
        if (
            self._conn is None
            or len(known) + len(missing) > _FULL_RELATIONS_AFTER
            or self._prefetches > _FULL_RELATIONS_AFTER_QUERIES
        ):
            self._alias_map()
            self._implication_map()
            self._alias_partial = {}
            self._alias_sources_partial = {}
            self._implications_partial = {}
            return
        aliases: dict[str, list[_Alias]] = {k: [] for k in missing}
        sources: dict[str, list[str]] = {k: [] for k in missing}
        implied: dict[str, list[str]] = {k: [] for k in missing}
        order = "CASE status WHEN 'active' THEN 0 WHEN 'listed' THEN 2 ELSE 1 END"
        for start in range(0, len(missing), _CHUNK):
            chunk = json.dumps(missing[start : start + _CHUNK])
            # One query for the three relations: (which, key, other, status, source).
            for which, key, other, status, source in self._conn.execute(
                "SELECT * FROM ("
                "SELECT 0, antecedent, consequent, status, source FROM alias "
                "WHERE antecedent IN (SELECT value FROM json_each(?1)) "
                f"ORDER BY {order}, danbooru_id DESC) "
                "UNION ALL SELECT 1, consequent, antecedent, NULL, NULL FROM alias "
                "WHERE status = 'active' AND consequent IN (SELECT value FROM json_each(?1)) "
                "UNION ALL SELECT 2, antecedent, consequent, NULL, NULL FROM implication "
                "WHERE status = 'active' AND antecedent IN (SELECT value FROM json_each(?1))",
                (chunk,),
            ):
                if which == 0:
                    aliases[key].append((other, status, self._sources.get(source, "?")))
                elif which == 1:
                    sources[key].append(other)
                else:
                    implied[key].append(other)
        empty: tuple[str, ...] = ()
        for key in missing:
            rows = aliases[key]
            known[key] = tuple(rows) if rows else ()
            names = sources[key]
            self._alias_sources_partial[key] = tuple(sorted(names)) if names else empty
            names = implied[key]
            self._implications_partial[key] = tuple(sorted(names)) if names else empty

    def _removed_map(self) -> dict[str, tuple[int | None, int | None, str]]:
        if self._removed is None:
            self._removed = {}
            if self._conn is not None:
                for name, category, count, evidence in self._conn.execute(
                    "SELECT name, category, post_count, evidence FROM removed"
                ):
                    self._removed[name] = (category, count, evidence)
        return self._removed

    def _implication_map(self) -> dict[str, tuple[str, ...]]:
        """``antecedent -> direct consequents`` (active implications, sorted)."""
        if self._implications is None:
            graph: dict[str, list[str]] = {}
            if self._conn is not None:
                for ante, cons in self._conn.execute(
                    "SELECT antecedent, consequent FROM implication WHERE status = 'active' "
                    "ORDER BY antecedent, consequent"
                ):
                    graph.setdefault(ante, []).append(cons)
            self._implications = {ante: tuple(cons) for ante, cons in graph.items()}
        return self._implications

    def _fuzzy_bucket(self, bucket: str) -> list[str]:
        names = self._fuzzy.get(bucket)
        if names is None:
            names = []
            if self._conn is not None:
                row = self._conn.execute(
                    "SELECT names FROM fuzzy WHERE bucket = ?", (bucket,)
                ).fetchone()
                if row is not None:
                    names = zlib.decompress(row[0]).decode().split("\n")
            if len(self._fuzzy) > 4096:
                self._fuzzy.clear()
            self._fuzzy[bucket] = names
        return names

    def _canonical(self, key: str) -> tuple[str, str] | None:
        """Follow active aliases from ``key``: ``(target, source)`` or None."""
        target: str | None = None
        source = ""
        current = key
        for _ in range(_MAX_ALIAS_HOPS):
            active = [a for a in self._alias_rows(current) if a[1] == "active"]
            if not active:
                break
            current, _, source = active[0]
            target = current
            if current == key:
                break
        return (target, source) if target is not None else None

    # -- implications -----------------------------------------------------------------------

    @_guarded
    def implications(self, tag: str) -> tuple[str, ...]:
        """All tags implied by ``tag`` (transitive, active implications, canonical names)."""
        key = db_key(tag)
        resolved = self._canonical(key)
        return self._implied_all(resolved[0] if resolved else key)

    def _prefetch_closures(self, keys: Iterable[str]) -> None:
        """Fetch the relations of ``keys`` and of everything they imply, one query per
        level for the whole batch (a caption's tags at once, instead of a query per level
        for each tag: the cold start of ``check`` asked SQLite ~800 times for 53 files)."""
        closure = self._closure
        level = [k for k in dict.fromkeys(keys) if k not in closure]
        seen: set[str] = set(level)
        while level:
            self._prefetch_relations(level)
            following: list[str] = []
            for node in level:
                for implied in self._direct_implications(node):
                    if implied not in seen and implied not in closure:
                        seen.add(implied)
                        following.append(implied)
            level = following

    def _implied_all(self, key: str) -> tuple[str, ...]:
        cached = self._closure.get(key)
        if cached is not None:
            return cached
        direct = self._direct_implications(key)
        if not direct:
            return ()  # most tags imply nothing: no need to remember them
        # Breadth first, a level at a time, so that each level's rows are fetched with one
        # query (the same order as a FIFO queue would visit them).
        seen: dict[str, None] = {}
        level: list[str] = list(direct)
        while level:
            self._prefetch_relations(level)
            following: list[str] = []
            for node in level:
                if node in seen or node == key:
                    continue
                seen[node] = None
                following.extend(self._direct_implications(node))
            level = following
        result = tuple(seen)
        self._closure[key] = result
        return result

    @_guarded
    def implication_chain(self, tag: str, implied: str) -> tuple[str, ...] | None:
        """Shortest chain of active implications from ``tag`` to ``implied``, or None."""
        start, goal = db_key(tag), db_key(implied)
        resolved = self._canonical(start)
        start = resolved[0] if resolved else start
        resolved = self._canonical(goal)
        goal = resolved[0] if resolved else goal
        parents: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in self._direct_implications(node):
                if nxt in parents:
                    continue
                parents[nxt] = node
                if nxt == goal:
                    chain = [nxt]
                    back = parents[nxt]
                    while back is not None:
                        chain.append(back)
                        back = parents[back]
                    return tuple(reversed(chain))
                queue.append(nxt)
        return None

    @_guarded
    def redundant(self, tags: Iterable[str]) -> list[Redundancy]:
        """Tags of one caption that are implied by other tags of it.

        ``redundant(["blue scrunchie", "scrunchie"])`` reports ``scrunchie`` as implied by
        ``blue scrunchie`` with the chain ``blue scrunchie ⇒ scrunchie``. Aliases are
        resolved first (``twin tails`` counts as ``twintails``). Each implied tag is reported
        once, against the first tag (in caption order) that implies it.
        """
        written = list(tags)
        memo = self._implied_memo
        if self._implications is None:
            new = [db_key(t) for t in written if t not in memo]
            if new:  # their aliases and implication chains, fetched in a few queries
                self._prefetch_relations(new)
                self._prefetch_closures(
                    [resolved[0] if (resolved := self._canonical(k)) else k for k in new]
                )
        knowns = list(map(memo.get, written))
        if None in knowns:
            for number, text in enumerate(written):
                known = knowns[number]
                if known is None:
                    known = memo.get(text)  # a spelling twice in this caption
                if known is None:
                    key = db_key(text)
                    resolved = self._canonical(key)
                    name = resolved[0] if resolved else key
                    known = (name, frozenset(self._implied_all(name)))
                    if len(memo) >= _INFO_CACHE:
                        memo.clear()
                    memo[text] = known
                knowns[number] = known
        found: list[Redundancy] = []
        known_all = cast("list[tuple[str, frozenset[str]]]", knowns)
        if not any(implied_all for _, implied_all in known_all):
            return found  # nothing in the caption implies anything else
        names = [name for name, _ in known_all]
        # name -> its first spelling in the caption (the reversed walk keeps the first)
        canon = dict(zip(reversed(names), reversed(written), strict=True))
        # A name met twice adds no closure of its own: its first occurrence reports all it
        # implies that the caption holds.
        closures = [
            (name, canon[name], implied_all) for name, implied_all in known_all if implied_all
        ]
        reported: set[str] = set()
        for name, text, implied_all in closures:  # caption order: the first implier wins
            for implied in implied_all:
                if implied in canon and implied not in reported and implied != name:
                    chain = self.implication_chain(name, implied) or (name, implied)
                    found.append(Redundancy(canon[implied], text, chain))
                    reported.add(implied)
        if not found:
            return found
        order = {text: i for i, text in enumerate(written)}
        found.sort(key=lambda r: order.get(r.tag, 0))
        return found

    # -- lookup -----------------------------------------------------------------------------

    @_guarded
    def category(self, name: str) -> Category | None:
        """Danbooru category of a tag (following active aliases), None when not a tag."""
        return self.categories([name])[0]

    @_guarded
    def categories(self, names: Iterable[str]) -> list[Category | None]:
        """Batch form of :meth:`category`, in the order given.

        Answers are remembered per spelling (bounded): parsing a dataset asks about the
        same tags over and over, and only new spellings reach the database.
        """
        queries = names if isinstance(names, list) else list(names)
        memo = self._category_memo
        missing = [q for q in dict.fromkeys(queries) if q not in memo]
        if missing:
            if len(memo) + len(missing) > _INFO_CACHE * 4:
                memo.clear()
            keys = _lookup_keys(missing)
            rows = self._tag_rows(list(dict.fromkeys(keys)))
            for query, key in zip(missing, keys, strict=True):
                row = rows.get(key)
                if row is None and self._conn is not None:
                    resolved = self._canonical(key)
                    if resolved is not None:
                        row = self._tag_rows([resolved[0]]).get(resolved[0])
                memo[query] = _CATEGORIES[row[0]] if row is not None else None
        return [memo[q] if q in memo else self.categories([q])[0] for q in queries]

    def lookup(self, tag: str) -> TagInfo:
        """What ``tag`` is: accepts either spelling (``Side_Ponytail``, ``side ponytail``)."""
        info = self._infos.get(tag)
        return info if info is not None else self.lookup_many([tag])[0]

    @_guarded
    def lookup_many(self, tags: Iterable[str]) -> list[TagInfo]:
        """Batch form of :meth:`lookup` (one query for all tag rows), in the order given.

        The answers for the last tags asked about are kept (a bounded cache; the file is
        read-only): a repeated tag costs a dictionary look-up and gets the same immutable
        :class:`TagInfo` object back.
        """
        queries = tags if isinstance(tags, list) else list(tags)
        cache = self._infos
        unique = dict.fromkeys(queries)
        hits = cache.keys() & unique.keys()  # walks the smaller of the two
        found = {query: cache[query] for query in hits}
        missing = list(unique.keys() - hits if hits else unique)
        # Big containers of strings alive while the records are built make every garbage
        # collection in between walk them: drop them as soon as possible.
        del unique, hits
        if missing:
            keys = _lookup_keys(missing)
            wanted = dict(zip(keys, missing, strict=True))  # lookup key -> one spelling
            spellings = (  # the other spellings of the same keys share their records
                [(q, k) for q, k in zip(missing, keys, strict=True) if wanted[k] is not q]
                if len(wanted) < len(missing)
                else []
            )
            del keys, missing
            self._build_infos(wanted, found)
            new = _TUPLE_NEW
            for query, key in spellings:
                found[query] = new(TagInfo, (query, *found[wanted[key]][1:]))
            if len(cache) + len(found) > _INFO_CACHE:
                cache.clear()
            cache.update(islice(found.items(), _INFO_CACHE))
        return list(map(found.__getitem__, queries))

    def _build_infos(self, wanted: dict[str, str], found: dict[str, TagInfo]) -> None:
        """Put ``query -> TagInfo`` into ``found`` for each ``key -> query`` of ``wanted``."""
        self._prefetch_closures(wanted)
        relations = self._relations
        relations_of = self._relations_of
        sources = self._sources
        categories = self._category_notes
        # The few keys of the batch that are Anima vocabulary, found all at once.
        vocab = self._vocab
        prefixes = self._pattern_prefixes
        candidates = wanted.keys() & vocab.members.keys()
        candidates.update(k for k in wanted if prefixes is None or k.startswith(prefixes))
        vocab_kinds = {k: v for k in candidates if (v := vocab.kind(k)) is not None}
        new = _TUPLE_NEW
        rest: list[str] = []
        # Current tags, straight from the query's rows: this loop is the batch's cost.
        for chunk, rows in self._tag_row_chunks(wanted):
            for index, category, count, source in rows:
                key = chunk[index]
                if category is None:  # not a tag
                    rest.append(key)
                    continue
                kind, word, notes = categories[category]
                note = notes.get(count)  # ~13k distinct (category, count) pairs in all
                if note is None:
                    note = f"Danbooru {word} tag, {count:,} posts"
                    if len(notes) < _NOTE_CACHE:
                        notes[count] = note
                vocab_kind = vocab_kinds.get(key)
                if vocab_kind is not None:
                    note += f"; also Anima vocabulary ({vocab_kind.value})"
                rel = relations.get(key)
                implies, implies_all, aliases = rel if rel is not None else relations_of(key)
                query = wanted[key]
                # TagInfo's fields in order (keyword construction is ~10× slower).
                found[query] = new(
                    TagInfo,
                    (
                        query,
                        key,
                        _TAG,
                        True,
                        kind,
                        count,
                        key,
                        None,
                        None,
                        False,
                        None,
                        implies,
                        implies_all,
                        aliases,
                        vocab_kind,
                        sources.get(source),
                        note,
                    ),
                )
        if self._conn is None:
            rest = list(wanted)
        if not rest:
            return
        # Everything else: active aliases (their targets' rows), vocabulary, unknown…
        resolved: dict[str, tuple[str, str]] = {}
        for key in rest:
            if self._conn is not None and self._alias_rows(key):
                target = self._canonical(key)
                if target is not None:
                    resolved[key] = target
        rows_of = self._tag_rows(sorted({target for target, _ in resolved.values()}))
        for key in rest:
            query = wanted[key]
            found[query] = self._other_info(query, key, vocab.kind(key), rows_of, resolved)

    def _relations_of(self, key: str) -> _Relations:
        """``(implies, implies_all, aliases)`` of a canonical tag, remembered per key so
        that a batch lookup pays one dictionary look-up per tag after the first time."""
        implies = self._direct_implications(key)
        aliases = self._aliases_of(key)
        rel = (implies, self._implied_all(key), aliases) if implies or aliases else _NO_RELATIONS
        if len(self._relations) > _INFO_CACHE * 4:
            self._relations.clear()
        self._relations[key] = rel
        return rel

    def _other_info(
        self,
        query: str,
        key: str,
        vocab_kind: Kind | None,
        rows: dict[str, tuple[int, int, int]],
        resolved: dict[str, tuple[str, str]],
    ) -> TagInfo:
        """What a key that is not a current tag is: alias, vocabulary, removed, unknown…"""
        alias = resolved.get(key)
        if alias is not None:
            target, alias_source = alias
            target_row = rows.get(target)
            if target_row is not None:
                category, count, _ = target_row
                return TagInfo(
                    query=query,
                    name=key,
                    status=_ALIAS,
                    known=True,
                    category=_CATEGORIES[category],
                    post_count=count,
                    canonical=target,
                    alias_status="active",
                    alias_target=target,
                    implies=self._direct_implications(target),
                    implies_all=self._implied_all(target),
                    aliases=self._aliases_of(target),
                    vocabulary=vocab_kind,
                    source=alias_source,
                    note=f"active Danbooru alias of `{target}`; write `{target}`",
                )
        if vocab_kind is not None:
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.VOCABULARY,
                known=True,
                canonical=key,
                vocabulary=vocab_kind,
                source=VOCABULARY_SOURCE,
                note=f"not a Danbooru tag: Anima vocabulary ({vocab_kind.value})",
            )
        rating = self.rating_target(key)
        if rating is not None:
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.RATING_WORD,
                known=False,
                source=VOCABULARY_SOURCE,
                note=f"an SDXL-era rating word, not a tag: Anima's safety tag is `{rating}`",
            )
        removed = self._removed_map().get(key)
        if removed is not None:
            _category, count_or_none, evidence = removed
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.REMOVED,
                known=False,
                category=None,
                post_count=count_or_none,
                deprecated=True,
                evidence=evidence,
                note=f"deprecated or removed on Danbooru: {evidence}",
            )
        if alias is not None:
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.INACTIVE_ALIAS,
                known=False,
                alias_status="active",
                alias_target=alias[0],
                source=alias[1],
                note=f"active alias of `{alias[0]}`, which is not a current tag",
            )
        inactive = [a for a in aliases_of_key(self, key) if a[1] != "active"]
        if inactive:
            target, status, alias_source = inactive[0]
            if status == "listed":
                note = (
                    f"not a tag; a tagcomplete list names it as an alias of `{target}`, "
                    "but Danbooru's alias data does not confirm it"
                )
            else:
                note = (
                    f"not a tag: a {status} Danbooru alias (of `{target}`), "
                    "so it no longer redirects"
                )
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.INACTIVE_ALIAS,
                known=False,
                alias_status=status,
                alias_target=target,
                source=alias_source,
                note=note,
            )
        if self._conn is None:
            note = "unknown: no tag database (run `anima-caption tagdb pull` to get one)"
        else:
            note = "non-existent: not a Danbooru tag, alias or Anima vocabulary"
        return TagInfo(query=query, name=key, status=TagStatus.UNKNOWN, known=False, note=note)

    def rating_target(self, key: str) -> str | None:
        """Anima safety tag for an SDXL-era rating word (``questionable`` → ``nsfw``)."""
        from anima_caption._tagdb._suggest import curated

        return curated().rating_target(key, self._vocab.rating_words)

    # -- suggestions ------------------------------------------------------------------------

    @_guarded
    def suggest(
        self, tag: str, *, limit: int = 5, context: Iterable[str] | None = None
    ) -> list[Suggestion]:
        """Ranked suggestions, each with a reason and a confidence, for a tag that is not
        (quite) right; the strongest first.

        Non-existent tags get replacements (punctuation variants, dropped direction words,
        word order, plural / singular, curated SDXL-era phrasings, Danbooru's successor of
        a removed tag, popular near spellings…); an active alias gets its canonical tag;
        an artist written without ``@`` gets the ``@`` form. A correct tag gets none.

        ``context``: the other tags of the caption (any spelling). A suggestion the
        caption already holds is not repeated, and when the caption already says what the
        tag says (``plaid`` beside ``plaid skirt``, ``left side ponytail`` beside
        ``side ponytail``) the first suggestion is to remove it (``Suggestion.remove``).

        Answers without context are remembered (in memory, and across runs in the user
        cache folder); the context is applied to the remembered answer, so it costs
        little.
        """
        if context is None:
            return list(self._suggest_cached(tag, limit))
        from anima_caption._tagdb._suggest import with_context

        key = db_key(tag)
        ranked = self._suggest_cached(tag, max(limit, 3) + 2)
        return with_context(self, key, ranked, context, limit)

    @_guarded
    def complete(self, prefix: str, *, limit: int = 10) -> list[Completion]:
        """Tags starting with ``prefix`` (either spelling, any case), most used first, for
        autocompletion: the built-in vocabulary first (``masterpiece``, ``score_7``), then
        Danbooru tags by post count, then tags reached through an active alias that starts
        with the prefix (``twin t`` → ``twintails``, alias ``twin tails``). A tag appears
        once. Two indexed range queries: a few milliseconds for a prefix of two letters or
        more on the full database, tens of milliseconds for a single letter.
        """
        key = db_key(prefix.strip()) if prefix.strip() else ""
        if not key or limit <= 0:
            return []
        out: list[Completion] = []
        seen: set[str] = set()
        for name, kind in self._vocab.members.items():
            if name.startswith(key) and name not in seen and kind is not Kind.TRIGGER:
                seen.add(name)
                out.append(Completion(name, "anima", None))
        typed = prefix.strip().lower().replace(" ", "_")
        if key.startswith("score") or "score".startswith(key):  # the pattern score_[1-9]
            out += [
                Completion(f"score_{n}", "anima", None)
                for n in range(9, 0, -1)
                if f"score_{n}".startswith(typed)
            ]
        out.sort(key=lambda c: len(c.name))  # stable: score_9 before score_1
        del out[max(3, limit // 3) :]
        seen = {c.name for c in out}
        if self._conn is None:
            return out[:limit]
        upper = key + "\U0010ffff"
        rows = self._conn.execute(
            "SELECT name, category, post_count FROM tag WHERE name >= ? AND name < ? "
            "ORDER BY post_count DESC LIMIT ?",
            (key, upper, limit),
        ).fetchall()
        aliases = self._conn.execute(
            "SELECT a.antecedent, t.name, t.category, t.post_count FROM alias a "
            "JOIN tag t ON t.name = a.consequent "
            "WHERE a.antecedent >= ? AND a.antecedent < ? AND a.status = 'active' "
            "ORDER BY t.post_count DESC LIMIT ?",
            (key, upper, limit),
        ).fetchall()
        found = [Completion(n, self._category_word(c), p) for n, c, p in rows]
        found += [
            Completion(n, self._category_word(c), p, alias=a)
            for a, n, c, p in aliases
            if not n.startswith(key)
        ]
        found.sort(key=lambda c: -(c.post_count or 0))
        for completion in found:
            if completion.name not in seen:
                seen.add(completion.name)
                out.append(completion)
        return out[:limit]

    def _category_word(self, value: int) -> str:
        entry = self._category_notes.get(value)
        return entry[1] if entry is not None else "general"

    @_guarded
    def successor(self, name: str) -> Suggestion | None:
        """The tag Danbooru's own data says replaced a removed or deprecated tag (or a
        deleted alias), or None when the data supports none.

        Evidence, strongest first: the tags that implied ``name`` now imply one other tag
        (``plaid`` → ``plaid clothes``: every ``plaid_*`` implication moved there); the
        tag's deleted alias or implication to the same words plus a qualifier
        (``daisy`` → ``daisy (flower)``); an implication it still has
        (``black blindfold`` ⇒ ``blindfold``); a deleted alias's target that still exists
        (``brown blazer`` → ``brown jacket``); the broader tag a deleted implication
        pointed to (``light blue hair`` ⇒ ``blue hair``). The reason reads "Danbooru
        replaced `plaid` with `plaid clothes` …"; ``confidence`` says how strong the
        evidence is (``reason_code`` is ``successor``). A current tag, an active alias or
        a name no data mentions has no successor.
        """
        from anima_caption._tagdb._suggest import successor

        return successor(self, db_key(name))

    def applicable_suggestion(
        self, tag: str, *, context: Iterable[str] | None = None
    ) -> Suggestion | None:
        """The first suggestion for ``tag`` when it is confident enough to apply without
        asking (``confidence`` ≥ ``APPLY_THRESHOLD`` of ``anima_caption._tagdb._suggest``,
        0.9), else None: what ``--apply-suggestions`` writes. With ``context`` (the
        caption's other tags) it may be a removal (``Suggestion.remove``)."""
        from anima_caption._tagdb._suggest import first_applicable

        return first_applicable(self.suggest(tag, limit=3, context=context))

    def _suggest_cached(self, tag: str, limit: int) -> tuple[Suggestion, ...]:
        from anima_caption._tagdb._suggest import Suggester, Suggestion, SuggestionReason

        memo = self._suggestions
        cached = memo.get((tag, limit))
        if cached is None:
            store = self._stored_suggestions()
            rows = store.get(f"{limit}:{tag}")
            if rows is not None:  # asked in an earlier run against this same database
                cached = tuple(
                    Suggestion(
                        t,
                        SuggestionReason(code),
                        why,
                        None if c is None else Category(c),
                        n,
                        confidence,
                        remove,
                    )
                    for t, code, why, c, n, confidence, remove in rows
                )
            else:
                if self._suggester is None:
                    self._suggester = Suggester(self)
                cached = tuple(self._suggester.suggest(tag, limit=limit))
                self._store_suggestions(f"{limit}:{tag}", cached)
            if len(memo) >= _SUGGESTION_CACHE:
                memo.clear()
            memo[(tag, limit)] = cached  # a dataset repeats its mistakes: ask once
        return cached

    # A run of ``check`` in a pre-commit hook asks about the same mistakes as the run
    # before; finding a typo's neighbours costs milliseconds each. The answers are kept in
    # the user cache folder, keyed by this database file and the suggestion data files, so
    # any change to either starts afresh.

    def _suggestion_cache(self) -> tuple[Path, str] | None:
        if self.path is None or not self.has_danbooru_data:
            return None
        import hashlib

        from anima_caption._data import cache_dir, data_path
        from anima_caption._version import __version__

        parts = [_SUGGESTION_FORMAT, __version__]
        # the ranking code too: a changed suggester never answers from an older one's cache
        ranking = Path(__file__).with_name("_suggest.py")
        for path in (self.path, data_path("tag_db/suggestions.yaml"), self._vocab_file(), ranking):
            stat = path.stat()
            parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
        key = "|".join(parts)
        name = hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()[:16]
        return cache_dir() / f"suggestions-{name}.marshal", key

    @staticmethod
    def _vocab_file() -> Path:
        from anima_caption._data import data_path

        return data_path("tag_db/vocabulary.yaml")

    def _stored_suggestions(self) -> dict[str, list[tuple[Any, ...]]]:
        if self._suggestion_store is None:
            self._suggestion_store = {}
            where = self._suggestion_cache()
            if where is not None:
                import marshal

                try:
                    data = marshal.loads(where[0].read_bytes())
                    if isinstance(data, tuple) and data[0] == where[1]:
                        self._suggestion_store = data[1]
                except (OSError, ValueError, EOFError, TypeError, IndexError):
                    pass
        return self._suggestion_store

    def _store_suggestions(self, key: str, found: tuple[Suggestion, ...]) -> None:
        store = self._stored_suggestions()
        if len(store) >= _SUGGESTION_CACHE:
            return
        store[key] = [
            (
                s.tag,
                s.reason_code.value,
                s.reason,
                None if s.category is None else int(s.category),
                s.post_count,
                s.confidence,
                s.remove,
            )
            for s in found
        ]
        if not self._suggestions_dirty:
            self._suggestions_dirty = True
            import atexit

            atexit.register(self._save_suggestions)

    def _save_suggestions(self) -> None:
        where = self._suggestion_cache()
        if where is None or self._suggestion_store is None:
            return
        import marshal

        from anima_caption._io import write_atomic

        try:
            where[0].parent.mkdir(parents=True, exist_ok=True)
            write_atomic(where[0], marshal.dumps((where[1], self._suggestion_store)))
        except (OSError, ValueError):
            pass  # a cache that cannot be written only costs speed next time
        self._suggestions_dirty = False


def aliases_of_key(db: TagDB, key: str) -> tuple[_Alias, ...]:
    """Every alias row whose antecedent is ``key`` (active first)."""
    return db._alias_rows(key) if db.has_danbooru_data else ()
