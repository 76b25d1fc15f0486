"""The read side: :class:`TagDB` and the records it returns."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._kinds import Category, Kind
from anima_caption._normalize import db_key
from anima_caption._tagdb._schema import connect_readonly
from anima_caption._vocab import vocabulary

if TYPE_CHECKING:
    from anima_caption._tagdb._suggest import Suggestion

_CHUNK = 20000
_CATEGORIES = {c.value: c for c in Category}
_MAX_ALIAS_HOPS = 5
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


#: Statuses under which a tag is *known* (SPEC §3).
KNOWN_STATUSES = frozenset({TagStatus.TAG, TagStatus.ALIAS, TagStatus.VOCABULARY})


@dataclass(frozen=True, slots=True)
class TagInfo:
    """Everything the database knows about one written tag.

    ``name`` is the lookup key (lowercase, spaces); ``canonical`` is the tag to write
    (``twin tails`` → ``twintails``; only active aliases are followed). ``implies`` are the
    direct, ``implies_all`` the transitive active implications of the canonical tag.
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
        data = asdict(self)
        data["status"] = self.status.value
        data["category"] = self.category.name.lower() if self.category is not None else None
        data["vocabulary"] = self.vocabulary.value if self.vocabulary is not None else None
        data["implies"] = list(self.implies)
        data["implies_all"] = list(self.implies_all)
        data["aliases"] = list(self.aliases)
        data["danbooru_name"] = self.danbooru_name
        return data


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


class TagDB:
    """A read-only Danbooru tag database plus Anima's built-in vocabulary.

    Open one with :meth:`open` (milliseconds: nothing big is loaded until needed). It
    implements the :class:`anima_caption._lookup.TagLookup` protocol (``category`` /
    ``categories``), and answers :meth:`lookup`, :meth:`lookup_many`, :meth:`suggest`,
    :meth:`explain` and :meth:`redundant`. :meth:`vocabulary_only` gives an instance
    without Danbooru data, for when no database has been built yet.
    """

    def __init__(self, conn: sqlite3.Connection | None, path: Path | None) -> None:
        self._conn = conn
        self.path = path
        self._meta: dict[str, str] = {}
        self._sources: dict[int, str] = {}
        if conn is not None:
            self._meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            self._sources = dict(conn.execute("SELECT id, name FROM source").fetchall())
        self._aliases: dict[str, list[_Alias]] | None = None
        self._alias_sources: dict[str, list[str]] | None = None
        self._implications: dict[str, list[str]] | None = None
        self._closure: dict[str, tuple[str, ...]] = {}
        self._removed: dict[str, tuple[int | None, int | None, str]] | None = None
        self._fuzzy: dict[str, list[str]] = {}
        self._suggester: Any = None
        self._vocab = vocabulary()
        # First characters of the vocabulary patterns (`score_…`, `year …`): a name starting
        # otherwise cannot match one, which keeps batch lookups cheap. None: check always.
        initials = {p.pattern[:1] for p, _ in self._vocab.patterns}
        self._pattern_initials: frozenset[str] | None = (
            frozenset(initials) if all(i.isalnum() for i in initials) else None
        )

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> TagDB:
        """Open a database file built by ``tagdb import`` / ``tagdb pull``.

        Raises :class:`anima_caption._tagdb.TagDBFormatError` (an ``AnimaCaptionError``) for
        a missing, foreign, outdated or corrupted file.
        """
        path = Path(path).expanduser()
        return cls(connect_readonly(path), path)

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
        found: dict[str, tuple[int, int, int]] = {}
        if len(keys) == 1:
            row = self._conn.execute(
                "SELECT category, post_count, source FROM tag WHERE name = ?", (keys[0],)
            ).fetchone()
            if row is not None:
                found[keys[0]] = row
            return found
        for start in range(0, len(keys), _CHUNK):
            chunk = json.dumps(list(keys[start : start + _CHUNK]), ensure_ascii=False)
            for name, category, count, source in self._conn.execute(
                "SELECT name, category, post_count, source FROM tag "
                "WHERE name IN (SELECT value FROM json_each(?))",
                (chunk,),
            ):
                found[name] = (category, count, source)
        return found

    def _by_squash(self, squashed: str) -> list[tuple[str, int, int]]:
        """Tags whose letters-and-digits key is ``squashed``: ``(name, category, count)``."""
        if self._conn is None or not squashed:
            return []
        return self._conn.execute(
            "SELECT name, category, post_count FROM tag WHERE squash = ?1 "
            "UNION SELECT name, category, post_count FROM tag WHERE name = ?1",
            (squashed,),
        ).fetchall()

    def _alias_map(self) -> dict[str, list[_Alias]]:
        if self._aliases is None:
            aliases: dict[str, list[_Alias]] = {}
            targets: dict[str, list[str]] = {}
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
                        targets.setdefault(cons, []).append(ante)
            self._aliases = aliases
            self._alias_sources = targets
        return self._aliases

    def _aliases_of(self, name: str) -> tuple[str, ...]:
        self._alias_map()
        assert self._alias_sources is not None
        return tuple(sorted(self._alias_sources.get(name, ())))

    def _removed_map(self) -> dict[str, tuple[int | None, int | None, str]]:
        if self._removed is None:
            self._removed = {}
            if self._conn is not None:
                for name, category, count, evidence in self._conn.execute(
                    "SELECT name, category, post_count, evidence FROM removed"
                ):
                    self._removed[name] = (category, count, evidence)
        return self._removed

    def _implication_map(self) -> dict[str, list[str]]:
        if self._implications is None:
            graph: dict[str, list[str]] = {}
            if self._conn is not None:
                for ante, cons in self._conn.execute(
                    "SELECT antecedent, consequent FROM implication WHERE status = 'active' "
                    "ORDER BY antecedent, consequent"
                ):
                    graph.setdefault(ante, []).append(cons)
            self._implications = graph
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
        aliases = self._alias_map()
        target: str | None = None
        source = ""
        current = key
        for _ in range(_MAX_ALIAS_HOPS):
            active = [a for a in aliases.get(current, ()) if a[1] == "active"]
            if not active:
                break
            current, _, source = active[0]
            target = current
            if current == key:
                break
        return (target, source) if target is not None else None

    # -- implications -----------------------------------------------------------------------

    def implications(self, tag: str) -> tuple[str, ...]:
        """All tags implied by ``tag`` (transitive, active implications, canonical names)."""
        key = db_key(tag)
        resolved = self._canonical(key)
        return self._implied_all(resolved[0] if resolved else key)

    def _implied_all(self, key: str) -> tuple[str, ...]:
        cached = self._closure.get(key)
        if cached is not None:
            return cached
        graph = self._implication_map()
        seen: dict[str, None] = {}
        queue = deque(graph.get(key, ()))
        while queue:
            node = queue.popleft()
            if node in seen or node == key:
                continue
            seen[node] = None
            queue.extend(graph.get(node, ()))
        result = tuple(seen)
        self._closure[key] = result
        return result

    def implication_chain(self, tag: str, implied: str) -> tuple[str, ...] | None:
        """Shortest chain of active implications from ``tag`` to ``implied``, or None."""
        start, goal = db_key(tag), db_key(implied)
        resolved = self._canonical(start)
        start = resolved[0] if resolved else start
        resolved = self._canonical(goal)
        goal = resolved[0] if resolved else goal
        graph = self._implication_map()
        parents: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in graph.get(node, ()):
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

    def redundant(self, tags: Iterable[str]) -> list[Redundancy]:
        """Tags of one caption that are implied by other tags of it.

        ``redundant(["blue scrunchie", "scrunchie"])`` reports ``scrunchie`` as implied by
        ``blue scrunchie`` with the chain ``blue scrunchie ⇒ scrunchie``. Aliases are
        resolved first (``twin tails`` counts as ``twintails``). Each implied tag is reported
        once, against the first tag (in caption order) that implies it.
        """
        written = list(tags)
        canon: dict[str, str] = {}
        for text in written:
            key = db_key(text)
            resolved = self._canonical(key)
            name = resolved[0] if resolved else key
            canon.setdefault(name, text)
        found: list[Redundancy] = []
        reported: set[str] = set()
        for name, text in canon.items():
            for implied in self._implied_all(name):
                if implied in canon and implied not in reported and implied != name:
                    chain = self.implication_chain(name, implied) or (name, implied)
                    found.append(Redundancy(canon[implied], text, chain))
                    reported.add(implied)
        order = {text: i for i, text in enumerate(written)}
        found.sort(key=lambda r: order.get(r.tag, 0))
        return found

    # -- lookup -----------------------------------------------------------------------------

    def category(self, name: str) -> Category | None:
        """Danbooru category of a tag (following active aliases), None when not a tag."""
        return self.categories([name])[0]

    def categories(self, names: Iterable[str]) -> list[Category | None]:
        """Batch form of :meth:`category`, in the order given."""
        keys = [db_key(n) for n in names]
        rows = self._tag_rows(list(dict.fromkeys(keys)))
        result: list[Category | None] = []
        for key in keys:
            row = rows.get(key)
            if row is None and self._conn is not None:
                resolved = self._canonical(key)
                if resolved is not None:
                    row = self._tag_rows([resolved[0]]).get(resolved[0])
            result.append(_CATEGORIES[row[0]] if row is not None else None)
        return result

    def lookup(self, tag: str) -> TagInfo:
        """What ``tag`` is: accepts either spelling (``Side_Ponytail``, ``side ponytail``)."""
        return self.lookup_many([tag])[0]

    def lookup_many(self, tags: Iterable[str]) -> list[TagInfo]:
        """Batch form of :meth:`lookup` (one query for all tag rows), in the order given."""
        queries = list(tags)
        keys = [db_key(q) for q in queries]
        rows = self._tag_rows(list(dict.fromkeys(keys)))
        aliases = self._alias_map() if self._conn is not None else {}
        pending: list[str] = []
        resolved: dict[str, tuple[str, str]] = {}
        for key in keys:
            if key not in rows and key in aliases:
                target = self._canonical(key)
                if target is not None:
                    resolved[key] = target
                    if target[0] not in rows:
                        pending.append(target[0])
        if pending:
            rows.update(self._tag_rows(pending))
        return [self._info(q, k, rows, resolved) for q, k in zip(queries, keys, strict=True)]

    def _info(
        self,
        query: str,
        key: str,
        rows: dict[str, tuple[int, int, int]],
        resolved: dict[str, tuple[str, str]],
    ) -> TagInfo:
        vocab_kind = self._vocab.members.get(key)
        if vocab_kind is None and (
            self._pattern_initials is None or key[:1] in self._pattern_initials
        ):
            vocab_kind = self._vocab.kind(key)
        row = rows.get(key)
        if row is not None:
            category, count, source = row
            note = f"Danbooru {_CATEGORIES[category].name.lower()} tag, {count:,} posts"
            if vocab_kind is not None:
                note += f"; also Anima vocabulary ({vocab_kind.value})"
            return TagInfo(
                query=query,
                name=key,
                status=TagStatus.TAG,
                known=True,
                category=_CATEGORIES[category],
                post_count=count,
                canonical=key,
                implies=tuple(self._implication_map().get(key, ())),
                implies_all=self._implied_all(key),
                aliases=self._aliases_of(key),
                vocabulary=vocab_kind,
                source=self._sources.get(source),
                note=note,
            )
        alias = resolved.get(key)
        if alias is not None:
            target, alias_source = alias
            target_row = rows.get(target)
            if target_row is not None:
                category, count, _ = target_row
                return TagInfo(
                    query=query,
                    name=key,
                    status=TagStatus.ALIAS,
                    known=True,
                    category=_CATEGORIES[category],
                    post_count=count,
                    canonical=target,
                    alias_status="active",
                    alias_target=target,
                    implies=tuple(self._implication_map().get(target, ())),
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

    def suggest(self, tag: str, *, limit: int = 5) -> list[Suggestion]:
        """Ranked suggestions, each with a reason, for a tag that is not (quite) right.

        Non-existent tags get replacements (punctuation variants, dropped direction words,
        word order, curated SDXL-era phrasings, typos…); an active alias gets its canonical
        tag; an artist written without ``@`` gets the ``@`` form. A correct tag gets none.
        """
        from anima_caption._tagdb._suggest import Suggester

        if self._suggester is None:
            self._suggester = Suggester(self)
        result: list[Suggestion] = self._suggester.suggest(tag, limit=limit)
        return result


def aliases_of_key(db: TagDB, key: str) -> list[_Alias]:
    """Every alias row whose antecedent is ``key`` (active first)."""
    return db._alias_map().get(key, []) if db.has_danbooru_data else []
