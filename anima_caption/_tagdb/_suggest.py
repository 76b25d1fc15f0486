"""Explaining non-existent tags: ranked suggestions, each with a reason in plain English.

Strategies, strongest first: active alias → canonical tag; SDXL-era rating words; the
curated phrase map (``tag_db/suggestions.yaml``); punctuation and spacing variants (one
indexed query on the letters-and-digits key); dropped direction words; word order;
deleted-alias history; deprecated tags' specific variants; dropped modifiers; typos
(rapidfuzz Levenshtein over names of similar length sharing the first or last character,
loaded lazily per bucket so one suggestion stays in the millisecond range).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from itertools import combinations, permutations
from typing import TYPE_CHECKING, Any

from anima_caption._data import load_yaml_data
from anima_caption._kinds import Category
from anima_caption._normalize import db_key

if TYPE_CHECKING:
    from anima_caption._tagdb._db import TagDB

_MAX_PERMUTED_WORDS = 5
_MAX_SUBSET_WORDS = 7
_TYPO_LIMIT = 5


class SuggestionReason(StrEnum):
    """Why a suggestion is made (stable codes for machine-readable output)."""

    ALIAS = "alias"
    RATING_WORD = "rating-word"
    CURATED = "curated"
    ARTIST_AT = "artist-at"
    PUNCTUATION = "punctuation"
    DIRECTION_WORD = "direction-word"
    WORD_ORDER = "word-order"
    INACTIVE_ALIAS = "inactive-alias"
    DEPRECATED = "deprecated"
    DROPPED_MODIFIER = "dropped-modifier"
    TYPO = "typo"
    SUCCESSOR = "successor"
    COVERED = "covered"


_PRIORITY = {
    SuggestionReason.ALIAS: 100,
    SuggestionReason.RATING_WORD: 98,
    SuggestionReason.ARTIST_AT: 96,
    SuggestionReason.CURATED: 95,
    SuggestionReason.PUNCTUATION: 90,
    SuggestionReason.DIRECTION_WORD: 85,
    SuggestionReason.WORD_ORDER: 80,
    SuggestionReason.INACTIVE_ALIAS: 70,
    SuggestionReason.DEPRECATED: 65,
    SuggestionReason.DROPPED_MODIFIER: 60,
    SuggestionReason.TYPO: 50,
    SuggestionReason.SUCCESSOR: 92,
    SuggestionReason.COVERED: 110,
}

_CONFIDENCE = {
    SuggestionReason.ALIAS: 1.0,
    SuggestionReason.RATING_WORD: 1.0,
    SuggestionReason.ARTIST_AT: 0.95,
    SuggestionReason.CURATED: 0.85,
    SuggestionReason.PUNCTUATION: 0.95,
    SuggestionReason.DIRECTION_WORD: 0.9,
    SuggestionReason.WORD_ORDER: 0.9,
    SuggestionReason.INACTIVE_ALIAS: 0.7,
    SuggestionReason.DEPRECATED: 0.4,
    SuggestionReason.DROPPED_MODIFIER: 0.5,
    SuggestionReason.TYPO: 0.6,
    SuggestionReason.SUCCESSOR: 0.8,
    SuggestionReason.COVERED: 0.95,
}

#: A suggestion at least this confident is applied by ``--apply-suggestions`` (``check
#: --fix --unsafe-fixes --apply-suggestions``, ``convert``). 0.9 means: on the suggestion
#: benchmark (``bench/bench_suggest.py``) a careful human accepts nearly every first
#: suggestion at or above it (an active alias, a punctuation variant, a dropped direction
#: word, Danbooru's own successor of a removed tag, one edit to a much more popular tag…).
APPLY_THRESHOLD = 0.9


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One way to fix a tag: what to write (``tag``, e.g. ``@nnn yryr``) and why.

    ``confidence`` (0..1) is how sure the suggester is that a careful human would accept
    it; :data:`APPLY_THRESHOLD` and up is applied by ``--apply-suggestions``
    (:attr:`applicable`). ``remove`` is True when the fix is to delete the written tag
    because another tag of the same caption already says it (``plaid`` beside
    ``plaid skirt``): then ``tag`` names that other tag, and nothing is written.
    """

    tag: str
    reason_code: SuggestionReason
    reason: str
    category: Category | None = None
    post_count: int | None = None
    confidence: float = 0.0
    remove: bool = False

    @property
    def applicable(self) -> bool:
        """True when ``--apply-suggestions`` may apply it (confidence ≥ APPLY_THRESHOLD)."""
        return self.confidence >= APPLY_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "tag": self.tag,
            "reason_code": self.reason_code.value,
            "reason": self.reason,
            "category": self.category.name.lower() if self.category is not None else None,
            "post_count": self.post_count,
            "confidence": round(self.confidence, 3),
            "remove": self.remove,
        }


def first_applicable(suggestions: Sequence[Suggestion]) -> Suggestion | None:
    """The first suggestion when it is confident enough for ``--apply-suggestions``
    (only the first: a lower one is never applied over it), else None."""
    if suggestions and suggestions[0].applicable:
        return suggestions[0]
    return None


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    suggest: tuple[str, ...]
    reason: str
    rating: bool


@dataclass(frozen=True)
class Curated:
    """The contents of ``tag_db/suggestions.yaml``."""

    direction_words: frozenset[str]
    direction_reason: str
    phrases: dict[str, tuple[tuple[str, ...], str]]
    patterns: tuple[_Pattern, ...]
    rating_abbreviations: dict[str, str] = field(default_factory=dict)

    def rating_target(self, key: str, rating_words: dict[str, str]) -> str | None:
        """Anima safety tag for a rating word or form (``rating:q`` → ``nsfw``), else None."""
        if key in rating_words:
            return rating_words[key]
        for pattern in self.patterns:
            if not pattern.rating:
                continue
            match = pattern.regex.fullmatch(key)
            if match is not None:
                word = self.rating_abbreviations.get(match.group(1), match.group(1))
                return rating_words.get(word, word)
        return None


@cache
def curated() -> Curated:
    """Load ``tag_db/suggestions.yaml`` once."""
    raw: dict[str, Any] = load_yaml_data("tag_db/suggestions.yaml")
    phrases = {
        db_key(str(phrase)): (tuple(str(s) for s in spec["suggest"]), str(spec["reason"]))
        for phrase, spec in raw.get("phrases", {}).items()
    }
    patterns = tuple(
        _Pattern(
            re.compile(spec["match"]),
            tuple(str(s) for s in spec.get("suggest", ())),
            str(spec["reason"]),
            bool(spec.get("rating", False)),
        )
        for spec in raw.get("patterns", ())
    )
    return Curated(
        direction_words=frozenset(str(w) for w in raw.get("direction_words", ())),
        direction_reason=" ".join(str(raw.get("direction_reason", "")).split()),
        phrases=phrases,
        patterns=patterns,
        rating_abbreviations={
            str(k): str(v) for k, v in raw.get("rating_abbreviations", {}).items()
        },
    )


def typo_distance(length: int) -> int:
    """Edit distance allowed for a typo in a name of ``length`` characters."""
    if length <= 3:
        return 0
    if length <= 6:
        return 1
    if length <= 14:
        return 2
    return 3


class _Collector:
    def __init__(self, key: str) -> None:
        self.key = key
        self.items: dict[str, tuple[tuple[float, ...], Suggestion]] = {}

    def add(self, suggestion: Suggestion, *extra: float, priority: int | None = None) -> None:
        if db_key(suggestion.tag) == self.key and suggestion.reason_code not in (
            SuggestionReason.ARTIST_AT,
            SuggestionReason.RATING_WORD,
        ):
            return
        base = _PRIORITY[suggestion.reason_code] if priority is None else priority
        rank = (base, *extra, suggestion.post_count or 0)
        old = self.items.get(suggestion.tag)
        if old is None or old[0] < rank:
            self.items[suggestion.tag] = (rank, suggestion)

    def best_priority(self) -> float:
        return max((rank[0] for rank, _ in self.items.values()), default=0)

    def ranked(self, limit: int) -> list[Suggestion]:
        ordered = sorted(self.items.values(), key=lambda item: item[0], reverse=True)
        out = [s for _, s in ordered[:limit]]
        for i, s in enumerate(out):
            if not s.confidence:
                confidence = _CONFIDENCE[s.reason_code] * (1.0 if i == 0 else 0.7)
                out[i] = replace(s, confidence=confidence)
        return out


class Suggester:
    """Suggestion engine bound to one :class:`TagDB` (created lazily by ``TagDB.suggest``)."""

    def __init__(self, db: TagDB) -> None:
        self.db = db
        self.curated = curated()

    def _written(self, name: str, category: int | None) -> str:
        return f"@{name}" if category == Category.ARTIST else name

    def _resolve(self, names: list[str]) -> dict[str, tuple[str, int, int]]:
        """``name -> (canonical, category, post_count)`` for names that are tags or active
        aliases of tags."""
        db = self.db
        rows = db._tag_rows(names)
        found = {n: (n, r[0], r[1]) for n, r in rows.items()}
        missing: dict[str, str] = {}
        if db.has_danbooru_data:
            db._prefetch_relations(n for n in names if n not in found)
        for name in names:
            if name not in found and db.has_danbooru_data and db._alias_rows(name):
                target = db._canonical(name)
                if target is not None:
                    missing[name] = target[0]
        if missing:
            targets = db._tag_rows(list(set(missing.values())))
            for name, target_name in missing.items():
                row = targets.get(target_name)
                if row is not None:
                    found[name] = (target_name, row[0], row[1])
        return found

    def suggest(self, tag: str, *, limit: int = 5) -> list[Suggestion]:
        """See :meth:`TagDB.suggest`."""
        key = db_key(tag)
        if not key:
            return []
        info = self.db.lookup(tag)
        out = _Collector(key)
        from anima_caption._tagdb._db import TagStatus

        if info.status is TagStatus.TAG:
            if info.category is Category.ARTIST and not tag.strip().startswith("@"):
                out.add(
                    Suggestion(
                        f"@{key}",
                        SuggestionReason.ARTIST_AT,
                        f"`{key}` is a Danbooru artist; Anima expects artists written with "
                        f"`@` (`@{key}`) — without it the style has very little effect",
                        info.category,
                        info.post_count,
                    )
                )
            return out.ranked(limit)
        if info.status is TagStatus.VOCABULARY:
            return []
        if info.status is TagStatus.ALIAS and info.canonical is not None:
            category = info.category.value if info.category is not None else None
            out.add(
                Suggestion(
                    self._written(info.canonical, category),
                    SuggestionReason.ALIAS,
                    f"`{key}` is an active Danbooru alias of `{info.canonical}`; write the "
                    "canonical tag, which is what the model saw in training",
                    info.category,
                    info.post_count,
                )
            )
            return out.ranked(limit)
        self._rating(key, out)
        self._curated(key, out)
        self._inactive_alias(key, info.alias_target, info.alias_status, out)
        if info.status in (TagStatus.REMOVED, TagStatus.INACTIVE_ALIAS):
            found = successor(self.db, key)
            if found is not None:
                out.add(found)
        if info.status is TagStatus.REMOVED:
            self._deprecated(key, out)
        words = key.split()
        self._punctuation(key, out)
        self._subsets(key, words, out)
        self._word_order(key, words, out)
        if out.best_priority() < _PRIORITY[SuggestionReason.DEPRECATED]:
            self._typos(key, out)
        return out.ranked(limit)

    # -- strategies -------------------------------------------------------------------------

    def _rating(self, key: str, out: _Collector) -> None:
        target = self.db.rating_target(key)
        if target is not None:
            out.add(
                Suggestion(
                    target,
                    SuggestionReason.RATING_WORD,
                    f"`{key}` is an SDXL-era rating, not a tag; Anima's safety tag for it is "
                    f"`{target}` (one of safe, sensitive, nsfw, explicit)",
                )
            )

    def _curated(self, key: str, out: _Collector) -> None:
        entries: list[tuple[tuple[str, ...], str]] = []
        phrase = self.curated.phrases.get(key)
        if phrase is not None:
            entries.append(phrase)
        for pattern in self.curated.patterns:
            if pattern.rating or not pattern.suggest:
                continue
            match = pattern.regex.fullmatch(key)
            if match is not None:
                entries.append((tuple(match.expand(s) for s in pattern.suggest), pattern.reason))
        for targets, reason in entries:
            names = [db_key(t) for t in targets]
            found = self._resolve(names)
            for order, name in enumerate(names):
                row = found.get(name)
                category = Category(row[1]) if row else None
                out.add(
                    Suggestion(
                        self._written(name, row[1] if row else None),
                        SuggestionReason.CURATED,
                        reason,
                        category,
                        row[2] if row else None,
                    ),
                    -order,
                )

    def _inactive_alias(
        self, key: str, target: str | None, status: str | None, out: _Collector
    ) -> None:
        if target is None or status is None:
            return
        row = self._resolve([target]).get(target)
        if row is None:
            return
        if status == "listed":
            why = f"a tagcomplete list gives `{key}` as an alias of `{row[0]}` (unconfirmed)"
        elif status == "active":
            return
        else:
            why = (
                f"`{key}` was an alias of `{row[0]}` until Danbooru {status} it, so it is "
                f"not a tag; `{row[0]}` is the closest existing tag"
            )
        out.add(
            Suggestion(
                self._written(row[0], row[1]),
                SuggestionReason.INACTIVE_ALIAS,
                why,
                Category(row[1]),
                row[2],
            )
        )

    def _deprecated(self, key: str, out: _Collector) -> None:
        conn = self.db._conn
        if conn is None:
            return
        names = [
            r[0]
            for r in conn.execute(
                "SELECT antecedent FROM implication WHERE consequent = ?1 "
                "UNION SELECT antecedent FROM alias WHERE consequent = ?1",
                (key,),
            )
        ]
        found = self._resolve(names)
        best = sorted(set(found.values()), key=lambda v: -v[2])[:3]
        for name, category, count in best:
            out.add(
                Suggestion(
                    self._written(name, category),
                    SuggestionReason.DEPRECATED,
                    f"Danbooru no longer uses `{key}`; tag the specific kind instead, "
                    f"e.g. `{name}`, or leave it out",
                    Category(category),
                    count,
                )
            )

    def _punctuation(self, key: str, out: _Collector) -> None:
        from anima_caption._tagdb._builder import squash

        for name, category, count in self.db._by_squash(squash(key)):
            if name == key:
                continue
            out.add(
                Suggestion(
                    self._written(name, category),
                    SuggestionReason.PUNCTUATION,
                    f"Danbooru spells it `{name}` ({count:,} posts): punctuation and spacing "
                    "are part of a tag's name",
                    Category(category),
                    count,
                )
            )

    def _word_order(self, key: str, words: list[str], out: _Collector) -> None:
        if not 2 <= len(words) <= _MAX_PERMUTED_WORDS:
            return
        candidates = list(dict.fromkeys(" ".join(p) for p in permutations(words)))
        found = self._resolve([c for c in candidates if c != key])
        for name, category, count in found.values():
            out.add(
                Suggestion(
                    self._written(name, category),
                    SuggestionReason.WORD_ORDER,
                    f"the words are in a different order on Danbooru: `{name}`",
                    Category(category),
                    count,
                )
            )

    def _subsets(self, key: str, words: list[str], out: _Collector) -> None:
        n = len(words)
        if not 2 <= n <= _MAX_SUBSET_WORDS:
            return
        subsets: dict[str, tuple[int, ...]] = {}
        for size in range(n - 1, 0, -1):
            for kept in combinations(range(n), size):
                subsets.setdefault(" ".join(words[i] for i in kept), kept)
        found = self._resolve(list(subsets))
        # One remaining word only counts as itself, never through an alias (`side` is an
        # alias of `from side`, which has nothing to do with `side ponytial`).
        found = {p: r for p, r in found.items() if len(subsets[p]) > 1 or r[0] == p}
        has_aliases = self.db.has_danbooru_data
        multi_word = any(len(subsets[s]) > 1 for s in found)
        directions = self.curated.direction_words
        for phrase, kept in subsets.items():
            dropped = [w for i, w in enumerate(words) if i not in kept]
            row = found.get(phrase)
            via = ""
            if row is None:
                rows = self.db._alias_rows(phrase) if has_aliases else ()
                history = [a for a in rows if a[1] not in ("active",)]
                if not history or len(kept) < 2:
                    continue
                target = self._resolve([history[0][0]]).get(history[0][0])
                if target is None:
                    continue
                row = target
                via = f" (`{phrase}` itself was an alias of `{row[0]}`, now {history[0][1]})"
            if len(kept) == 1 and multi_word:
                continue
            name, category, count = row
            dropped_text = " ".join(dropped)
            if all(w in directions for w in dropped):
                reason_code = SuggestionReason.DIRECTION_WORD
                reason = self.curated.direction_reason.format(word=dropped_text, tag=name)
            else:
                reason_code = SuggestionReason.DROPPED_MODIFIER
                reason = (
                    f"`{key}` is not a tag as written, `{name}` is{via}; tag the other "
                    f'word(s) ("{dropped_text}") separately if they exist, or say it in '
                    "natural language"
                )
            out.add(
                Suggestion(
                    self._written(name, category), reason_code, reason, Category(category), count
                ),
                len(kept),
                # A single remaining word is a weak guess: below typos.
                priority=_PRIORITY[SuggestionReason.TYPO] - 5 if len(kept) == 1 else None,
            )

    def _typos(self, key: str, out: _Collector) -> None:
        # rapidfuzz is imported here: a check whose suggestions all come from the
        # user cache folder (see TagDB.suggest) does not load it.
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        distance = typo_distance(len(key))
        if distance == 0:
            return
        vocab = self.db._vocab
        for name in vocab.members:
            d = Levenshtein.distance(key, name, score_cutoff=distance)
            if 0 < d <= distance:
                out.add(
                    Suggestion(
                        name,
                        SuggestionReason.TYPO,
                        f"probably a typo of the Anima vocabulary tag `{name}`",
                    ),
                    -d,
                )
        if not self.db.has_danbooru_data:
            return
        length = len(key)
        hits: dict[str, int] = {}
        for size in range(max(1, length - distance), length + distance + 1):
            for bucket in (f"{size}F{key[0]}", f"{size}L{key[-1]}"):
                names = self.db._fuzzy_bucket(bucket)
                if not names:
                    continue
                for name, d, _ in process.extract(
                    key,
                    names,
                    scorer=Levenshtein.distance,
                    score_cutoff=distance,
                    limit=_TYPO_LIMIT * 4,
                ):
                    if name != key:
                        hits[name] = int(d)
        if not hits:
            return
        rows = self.db._tag_rows(list(hits))
        ranked = sorted(rows.items(), key=lambda item: (hits[item[0]], -item[1][1]))
        for name, (category, count, _) in ranked[:_TYPO_LIMIT]:
            d = hits[name]
            out.add(
                Suggestion(
                    self._written(name, category),
                    SuggestionReason.TYPO,
                    f"close spelling ({d} edit{'s' if d > 1 else ''} away): `{name}`, "
                    f"{count:,} posts",
                    Category(category),
                    count,
                ),
                -d,
            )


# -- successors of removed tags ------------------------------------------------------------

#: Confidence of each kind of successor evidence (see :func:`successor`).
_SUCCESSOR_MIGRATED = 0.95  # the tags that implied (or aliased to) it now point elsewhere
_SUCCESSOR_RENAMED = 0.92  # a deleted alias / implication to the same words plus a qualifier
_SUCCESSOR_IMPLIES = 0.8  # it still implies a current tag (`black blindfold` ⇒ `blindfold`)
_SUCCESSOR_ALIAS = 0.72  # a deleted alias: Danbooru once said it was this tag
_SUCCESSOR_PARENT = 0.6  # a deleted implication: the broader tag it used to imply
_MIN_MIGRATED = 2


def _renamed(old: str, new: str) -> bool:
    """``new`` is ``old`` with a qualifier added (``daisy`` → ``daisy (flower)``,
    ``naruto`` → ``naruto (series)``, ``plaid`` → ``plaid clothes``)."""
    return set(old.split()) < set(new.split())


def successor(db: TagDB, key: str, *, depth: int = 0) -> Suggestion | None:
    """See :meth:`TagDB.successor`."""
    conn = db._conn
    if conn is None or depth > 2:
        return None
    info = db.lookup(key)
    from anima_caption._tagdb._db import TagStatus

    if info.status not in (TagStatus.REMOVED, TagStatus.INACTIVE_ALIAS):
        return None
    # (confidence, newest evidence id, target, reason)
    found: list[tuple[float, int, str, str]] = []
    # 1. Every tag that implied (or was an alias of) it now points at one other tag.
    former = {
        a
        for (a,) in conn.execute(
            "SELECT antecedent FROM implication WHERE consequent = ?1 AND status != 'active' "
            "UNION SELECT antecedent FROM alias WHERE consequent = ?1 AND status != 'active'",
            (key,),
        )
    }
    if len(former) >= _MIN_MIGRATED:
        rows = conn.execute(
            "SELECT target, COUNT(DISTINCT ante), MAX(id) FROM ("
            "SELECT i.antecedent AS ante, i.consequent AS target, i.danbooru_id AS id "
            "FROM implication AS i JOIN implication AS old ON old.antecedent = i.antecedent "
            "WHERE old.consequent = ?1 AND old.status != 'active' AND i.status = 'active' "
            "UNION ALL SELECT a.antecedent, a.consequent, a.danbooru_id "
            "FROM alias AS a JOIN alias AS old ON old.antecedent = a.antecedent "
            "WHERE old.consequent = ?1 AND old.status != 'active' AND a.status = 'active'"
            ") GROUP BY target ORDER BY 2 DESC, 3 DESC LIMIT 3",
            (key,),
        ).fetchall()
        for target, votes, newest in rows:
            if votes >= _MIN_MIGRATED and votes * 2 >= len(former) and target != key:
                examples = sorted(former)[:2]
                found.append(
                    (
                        _SUCCESSOR_MIGRATED,
                        newest or 0,
                        target,
                        f"Danbooru replaced `{key}` with `{target}`: {votes} of the "
                        f"{len(former)} tags that pointed to `{key}` "
                        f"(`{'`, `'.join(examples)}`, …) now imply `{target}`",
                    )
                )
                break
    # 2. Its own relations: implications it still has, deleted aliases and implications.
    for target, status, newest, relation in conn.execute(
        "SELECT consequent, status, danbooru_id, 'implication' FROM implication "
        "WHERE antecedent = ?1 UNION ALL SELECT consequent, status, danbooru_id, 'alias' "
        "FROM alias WHERE antecedent = ?1 AND status != 'listed'",
        (key,),
    ):
        if target == key:
            continue
        if relation == "alias" and status == "active":
            continue  # an alias to a tag that is gone itself: handled through the target
        renamed = _renamed(key, target)
        if status == "active":  # still in force: stronger than a deleted relation
            confidence = _SUCCESSOR_RENAMED + 0.02 if renamed else _SUCCESSOR_IMPLIES
            reason = f"Danbooru replaced `{key}` with `{target}` (`{key}` ⇒ `{target}`)"
        elif relation == "alias":
            confidence = _SUCCESSOR_RENAMED if renamed else _SUCCESSOR_ALIAS
            reason = (
                f"Danbooru replaced `{key}` with `{target}` (`{key}` was an alias of "
                f"`{target}` until it was {status})"
            )
        else:
            confidence = _SUCCESSOR_RENAMED if renamed else _SUCCESSOR_PARENT
            reason = (
                f"`{key}` is gone from Danbooru; the tag it used to imply is `{target}`"
                if not renamed
                else f"Danbooru replaced `{key}` with `{target}`"
            )
        found.append((confidence, newest or 0, target, reason))
    found.sort(key=lambda f: (-f[0], -f[1]))
    for confidence, _, target, reason in found:
        resolved = db.lookup(target)
        if resolved.status in (TagStatus.TAG, TagStatus.ALIAS) and resolved.canonical:
            name = resolved.canonical
            category = resolved.category
            return Suggestion(
                f"@{name}" if category is Category.ARTIST else name,
                SuggestionReason.SUCCESSOR,
                reason,
                category,
                resolved.post_count,
                confidence,
            )
        if resolved.status in (TagStatus.REMOVED, TagStatus.INACTIVE_ALIAS):
            further = successor(db, target, depth=depth + 1)
            if further is not None:
                return Suggestion(
                    further.tag,
                    SuggestionReason.SUCCESSOR,
                    f"{reason}; {further.reason}",
                    further.category,
                    further.post_count,
                    min(confidence, further.confidence) * 0.95,
                )
    return None


# -- the rest of the caption ---------------------------------------------------------------

#: Confidence of a "remove it: the caption already says it" suggestion.
_COVERED_CONFIDENCE = 0.95


def with_context(
    db: TagDB, key: str, ranked: Sequence[Suggestion], context: Iterable[str], limit: int
) -> list[Suggestion]:
    """``ranked`` (the suggestions for ``key`` alone) for a caption whose other tags are
    ``context``: suggestions the caption already holds are left out, and when a tag of
    the caption says more than ``key`` (``plaid skirt`` beside ``plaid``; the suggested
    tag itself) the first suggestion is to remove ``key``."""
    others = {c for c in (db_key(c) for c in context) if c and c != key}
    if not others:
        return list(ranked[:limit])
    infos = db.lookup_many(sorted(others))
    # canonical name -> (as written, everything it implies)
    present: dict[str, tuple[str, frozenset[str]]] = {}
    for info in infos:
        if info.known and info.canonical is not None:
            present.setdefault(info.canonical, (info.name, frozenset(info.implies_all)))
    cover: Suggestion | None = None
    kept: list[Suggestion] = []
    words = set(key.split())
    for rank, suggestion in enumerate(ranked):
        name = db_key(suggestion.tag)
        if suggestion.remove or (
            name not in present and not any(name in implied for _, implied in present.values())
        ):
            kept.append(suggestion)
            continue
        if cover is None and rank < 3:
            holder = present.get(name)
            if holder is not None:
                why = f"the caption already has `{holder[0]}`"
            else:
                holder = next(h for h in present.values() if name in h[1])
                why = f"the caption already has `{holder[0]}`, which implies `{name}`"
            cover = Suggestion(
                holder[0],
                SuggestionReason.COVERED,
                f"{why}: remove `{key}`",
                suggestion.category,
                suggestion.post_count,
                max(suggestion.confidence, 0.5) if rank == 0 else suggestion.confidence,
                remove=True,
            )
    if cover is None:
        # A tag of the caption that holds every word of `key` and more (`plaid skirt`).
        for canonical, (written, _) in sorted(present.items()):
            if words < set(canonical.split()) or words < set(written.split()):
                cover = Suggestion(
                    written,
                    SuggestionReason.COVERED,
                    f"the caption already has `{written}`, which says more than `{key}`: "
                    f"remove `{key}`",
                    confidence=_COVERED_CONFIDENCE,
                    remove=True,
                )
                break
    if cover is not None:
        kept.insert(0, cover)
    return kept[:limit]
