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
from dataclasses import dataclass, field
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
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One way to fix a tag: what to write (``tag``, e.g. ``@nnn yryr``) and why."""

    tag: str
    reason_code: SuggestionReason
    reason: str
    category: Category | None = None
    post_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "tag": self.tag,
            "reason_code": self.reason_code.value,
            "reason": self.reason,
            "category": self.category.name.lower() if self.category is not None else None,
            "post_count": self.post_count,
        }


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
        return [s for _, s in ordered[:limit]]


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
