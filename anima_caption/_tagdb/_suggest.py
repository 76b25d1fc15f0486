"""Explaining non-existent tags: ranked suggestions, each with a reason in plain English.

How a suggestion is found and ranked (``bench/bench_suggest.py`` measures it against tags
from public datasets with the answers a careful human accepts):

1. **Candidates**, each from one kind of evidence (its :class:`SuggestionReason`): an
   active alias; an SDXL-era rating word; the curated phrase map
   (``tag_db/suggestions.yaml``, matched with any punctuation); punctuation and spacing
   variants (one indexed query on the letters-and-digits key); plural / singular; word
   order; dropped direction words and modifiers; a word replaced by its synonym (curated
   word classes such as ``legwear`` → ``thighhighs`` / ``pantyhose`` / ``socks``, or
   Danbooru's own aliases and implications of a part: ``sailor uniform`` → ``serafuku``,
   ``hairclip`` ⇒ ``hair ornament``); a more specific tag holding every word
   (``ear fluff`` → ``animal ear fluff``, ``tail biting`` → ``biting own tail``: an
   in-memory word index of the general tags with 20+ posts, built on first use); a
   qualified name (``daisy`` → ``daisy (flower)``: a range query on the name index);
   Danbooru's successor of a removed tag and its specific kinds; a deleted alias's
   target; near spellings (rapidfuzz Levenshtein over the length buckets).
2. **One score** per candidate: the evidence's strength, plus popularity (half a point
   per decade of posts: a popular close tag beats a rare closer one), minus the cost of
   what differs — per dropped word (little for direction and filler words such as
   ``slightly`` or ``gentle``, more for the head noun), per added word (little for
   ``own`` / ``another's``), per substituted word, or per edit of a typo.
3. **Confidence** (0..1) of the first suggestion from its evidence and its lead over the
   second; :data:`APPLY_THRESHOLD` and up is applied by ``--apply-suggestions``.

Nothing here is loaded before the first suggestion is computed: a ``check`` whose
suggestions all come from the user cache folder (see ``TagDB.suggest``) does not import
rapidfuzz or build the word index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
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
#: General / meta tags with at least this many posts go into the word index.
_INDEX_MIN_POSTS = 20
_INDEX_EXTRA_WORDS = 2
_QUALIFIED_LIMIT = 8


class SuggestionReason(StrEnum):
    """Why a suggestion is made (stable codes for machine-readable output)."""

    ALIAS = "alias"
    RATING_WORD = "rating-word"
    CURATED = "curated"
    ARTIST_AT = "artist-at"
    PUNCTUATION = "punctuation"
    PLURAL = "plural"
    DIRECTION_WORD = "direction-word"
    WORD_ORDER = "word-order"
    SUCCESSOR = "successor"
    INACTIVE_ALIAS = "inactive-alias"
    DEPRECATED = "deprecated"
    SYNONYM = "synonym"
    SPECIFIC = "specific"
    QUALIFIED = "qualified"
    DROPPED_MODIFIER = "dropped-modifier"
    TYPO = "typo"
    COVERED = "covered"


# How strong each kind of evidence is, before popularity and the cost of what differs.
_BASE = {
    SuggestionReason.ALIAS: 100.0,
    SuggestionReason.RATING_WORD: 100.0,
    SuggestionReason.ARTIST_AT: 100.0,
    SuggestionReason.CURATED: 30.0,
    SuggestionReason.PUNCTUATION: 14.0,
    SuggestionReason.PLURAL: 12.0,
    SuggestionReason.WORD_ORDER: 12.0,
    SuggestionReason.DIRECTION_WORD: 12.0,
    SuggestionReason.INACTIVE_ALIAS: 8.0,
    SuggestionReason.DEPRECATED: 8.0,
    SuggestionReason.SYNONYM: 8.0,
    SuggestionReason.SPECIFIC: 8.0,
    SuggestionReason.QUALIFIED: 8.0,
    SuggestionReason.DROPPED_MODIFIER: 8.0,
    SuggestionReason.TYPO: 8.0,
    SuggestionReason.COVERED: 110.0,
}
_POPULARITY = 0.5  # points per decade of posts
_VOCABULARY_POSTS = 100_000  # how popular Anima's own vocabulary counts as
_EDIT_COST = 1.6  # per Levenshtein edit
_DROP_COST = 1.2  # per dropped content word
_DROP_LIGHT = 0.3  # per dropped direction / filler word
_DROP_COLOUR = 0.8
_DROP_HEAD = 1.0  # extra when the last word (the noun the tag is about) goes
_ADD_COST = 1.0  # per added word
_ADD_LIGHT = 0.2  # per added `own`, `another's`, …
_STEM_COST = 0.2  # per word that differs only in its ending
_SYNONYM_COST = 0.5  # per word replaced by a synonym
_FORM_COST = 0.8  # a word in another form: `tearful` → `tears`
_QUALIFIER_COST = 0.4  # a `(qualifier)` added to the name
_OTHER_CATEGORY = 0.6  # a qualified name that is not a general tag
_ARTIST_COST = 3.0
_RARE_POSTS = 100  # fewer posts than this: a weak suggestion…
_VERY_RARE_POSTS = 20
_RARE_COST = 4.0  # …that costs this much (half for 20–99 posts)
_SINGLE_WORD_LEFT = 1.3
_WORD_EDIT_COST = 0.45  # per edit inside one word (`dolfin shorts` → `dolphin shorts`)
_MIN_SCORE = 6.0  # weaker candidates are not shown
# Evidence that names its target itself: no penalty for its category or rarity.
_TRUSTED = frozenset(
    {
        SuggestionReason.ALIAS,
        SuggestionReason.RATING_WORD,
        SuggestionReason.ARTIST_AT,
        SuggestionReason.CURATED,
        SuggestionReason.SUCCESSOR,
        SuggestionReason.INACTIVE_ALIAS,
    }
)


#: A suggestion at least this confident is applied by ``--apply-suggestions`` (``check
#: --fix --unsafe-fixes --apply-suggestions``, ``convert``). On the suggestion benchmark
#: (``bench/bench_suggest.py``) a careful human accepts nearly every first suggestion at
#: or above it: an active alias, a punctuation variant, plural / singular, a dropped
#: direction word, Danbooru's own successor of a removed tag, a popular tag one edit away
#: with no close rival…
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


def explain(suggestions: Sequence[Suggestion]) -> str:
    """Suggestions in words, each reason said once: consecutive suggestions of one kind
    share one reason (``'a' or 'b' (why); or 'c' (why)``)."""
    groups: list[list[Suggestion]] = []
    for suggestion in suggestions:
        if groups and groups[-1][0].reason_code is suggestion.reason_code:
            groups[-1].append(suggestion)
        else:
            groups.append([suggestion])
    parts = []
    for group in groups:
        first = group[0]
        if first.remove:
            parts.append(f"remove it ({first.reason.rstrip('.')})")
            continue
        names = " or ".join(f"'{s.tag}'" for s in group)
        parts.append(f"{names} ({_group_reason(group).rstrip('.')})")
    return "; or ".join(parts)


def _group_reason(group: list[Suggestion]) -> str:
    """One reason for a group of suggestions of one kind."""
    first = group[0]
    if len(group) == 1:
        return first.reason
    code = first.reason_code
    if code is SuggestionReason.TYPO:
        return "close spellings of existing tags"
    if code is SuggestionReason.DEPRECATED:
        return first.reason.split(";")[0] + "; tag the specific kind instead, or leave it out"
    if code is SuggestionReason.PUNCTUATION:
        return "Danbooru spells it with other punctuation or spacing"
    if code is SuggestionReason.SPECIFIC:
        return "more specific tags that hold every word of it"
    if code is SuggestionReason.QUALIFIED:
        return "the name with Danbooru's qualifier: say which one is meant"
    if code is SuggestionReason.DROPPED_MODIFIER:
        return "the existing tags among its words; say the rest in natural language"
    return first.reason


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    suggest: tuple[str, ...]
    reason: str
    rating: bool
    confidence: float


@dataclass(frozen=True)
class Curated:
    """The contents of ``tag_db/suggestions.yaml``."""

    direction_words: frozenset[str]
    direction_reason: str
    phrases: dict[str, tuple[tuple[str, ...], str]]
    patterns: tuple[_Pattern, ...]
    rating_abbreviations: dict[str, str] = field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    filler_words: frozenset[str] = frozenset()
    added_words: frozenset[str] = frozenset()
    colour_words: frozenset[str] = frozenset()
    confidence: dict[str, float] = field(default_factory=dict)
    by_squash: dict[str, str] = field(default_factory=dict)

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

    def phrase(self, key: str) -> tuple[tuple[str, ...], str, float] | None:
        """The curated entry of ``key``, written with any punctuation (``worm's-eye
        view`` finds ``worm's eye view``)."""
        found = key if key in self.phrases else self.by_squash.get(_squash(key))
        if found is None:
            return None
        targets, reason = self.phrases[found]
        return targets, reason, self.confidence.get(found, 0.0)


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


@cache
def curated() -> Curated:
    """Load ``tag_db/suggestions.yaml`` once."""
    raw: dict[str, Any] = load_yaml_data("tag_db/suggestions.yaml")
    phrases: dict[str, tuple[tuple[str, ...], str]] = {}
    confidence: dict[str, float] = {}
    for phrase, spec in raw.get("phrases", {}).items():
        key = db_key(str(phrase))
        phrases[key] = (tuple(str(s) for s in spec["suggest"]), str(spec["reason"]))
        if "confidence" in spec:
            confidence[key] = float(spec["confidence"])
    patterns = tuple(
        _Pattern(
            re.compile(spec["match"]),
            tuple(str(s) for s in spec.get("suggest", ())),
            str(spec["reason"]),
            bool(spec.get("rating", False)),
            float(spec.get("confidence", 0.0)),
        )
        for spec in raw.get("patterns", ())
    )
    synonyms: dict[str, list[str]] = {}
    for word, others in (raw.get("synonyms") or {}).items():
        for other in others:
            synonyms.setdefault(db_key(str(word)), []).append(db_key(str(other)))
    return Curated(
        direction_words=frozenset(str(w) for w in raw.get("direction_words", ())),
        direction_reason=" ".join(str(raw.get("direction_reason", "")).split()),
        phrases=phrases,
        patterns=patterns,
        rating_abbreviations={
            str(k): str(v) for k, v in raw.get("rating_abbreviations", {}).items()
        },
        synonyms={k: tuple(v) for k, v in synonyms.items()},
        filler_words=frozenset(str(w) for w in raw.get("filler_words", ())),
        added_words=frozenset(str(w) for w in raw.get("added_words", ())),
        colour_words=frozenset(str(w) for w in raw.get("colour_words", ())),
        confidence=confidence,
        by_squash={_squash(k): k for k in phrases},
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


def stem(word: str) -> str:
    """A crude word stem, enough to match plural / singular and ``-ing`` forms
    (``biting`` / ``bite``, ``grabbing`` / ``grab``, ``brows`` / ``brow``)."""
    w = word.removesuffix("'s").removesuffix("'")
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith(("ing", "ed")):
        w = w[:-3] if w.endswith("ing") else w[:-2]
        if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "slfz":
            w = w[:-1]  # `grabbing` → `grab`, but `crossed` → `cross`, `rolled` → `roll`
    elif len(w) > 4 and w.endswith("es") and w[-3] in "shxz":
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 3 and w.endswith(("e", "y")):
        w = w[:-1]
    return w


def _words(name: str) -> list[str]:
    """The words of a name for matching: split at spaces and hyphens."""
    return [w for w in re.split(r"[\s\-]+", name) if w]


def _inflections(word: str) -> list[str]:
    """Plural / singular forms of ``word`` worth looking up."""
    out = []
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 4:
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.append(word[:-1])
    else:
        out.append(word + "s")
        if word.endswith(("sh", "ch", "x", "z")):
            out.append(word + "es")
        if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
            out.append(word[:-1] + "ies")
    return [o for o in out if o != word]


def _base_forms(word: str) -> list[str]:
    """The words ``word`` is formed from, worth looking up: the verb of an ``-ed`` /
    ``-ing`` form (``pouted`` → ``pout``, ``smiling`` → ``smile``, ``grabbing`` →
    ``grab``) and the noun of a ``-ful`` adjective (``tearful`` → ``tear``)."""
    out: list[str] = []
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            out += [base, base + "e"]
            if base[-1] == base[-2] and base[-1] not in "slfz":
                out.append(base[:-1])
            if suffix == "ed" and base.endswith("i"):
                out.append(base[:-1] + "y")  # `worried` → `worry`
    if word.endswith("ful") and len(word) >= 7:
        out.append(word[:-3])
    return [o for o in dict.fromkeys(out) if o != word]


@dataclass(slots=True)
class _Candidate:
    name: str  # lookup key of the tag to write
    category: int | None
    count: int | None
    reason: SuggestionReason
    text: str
    score: float
    confidence: float = 0.0  # given by the evidence (successor, curated), else worked out


class _Collector:
    def __init__(self, key: str) -> None:
        self.key = key
        self.items: dict[str, _Candidate] = {}

    def add(self, candidate: _Candidate) -> None:
        if candidate.name == self.key and candidate.reason not in (
            SuggestionReason.ARTIST_AT,
            SuggestionReason.RATING_WORD,
        ):
            return
        old = self.items.get(candidate.name)
        if old is None or old.score < candidate.score:
            self.items[candidate.name] = candidate

    def best(self) -> float:
        return max((c.score for c in self.items.values()), default=-math.inf)


class Suggester:
    """Suggestion engine bound to one :class:`TagDB` (created lazily by ``TagDB.suggest``)."""

    def __init__(self, db: TagDB) -> None:
        self.db = db
        self.curated = curated()
        self._index: tuple[list[tuple[str, int, int]], dict[str, list[int]]] | None = None

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _written(name: str, category: int | None) -> str:
        return f"@{name}" if category == Category.ARTIST else name

    def _resolve(self, names: Iterable[str]) -> dict[str, tuple[str, int, int]]:
        """``name -> (canonical, category, post_count)`` for names that are tags or active
        aliases of tags."""
        db = self.db
        names = list(dict.fromkeys(names))
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

    def _popularity(self, count: int | None) -> float:
        return _POPULARITY * math.log10((_VOCABULARY_POSTS if count is None else count) + 1)

    @staticmethod
    def _kind_cost(key: str, name: str) -> float:
        """The cost of a specific kind of a removed tag (``bangs`` → ``blunt bangs``,
        ``looking away`` → ``averting eyes``): its own words count less than a change
        would, since Danbooru's data relates the two."""
        kw = {stem(w) for w in _words(key)}
        cw = [stem(w) for w in _words(name)]
        added = sum(1 for w in cw if w not in kw)
        return 0.5 + 0.6 * added + (0.0 if kw & set(cw) else 0.8)

    def _drop_cost(self, word: str, head: bool) -> float:
        c = self.curated
        if word in c.direction_words or word in c.filler_words:
            cost = _DROP_LIGHT
        elif word in c.colour_words:
            cost = _DROP_COLOUR
        else:
            cost = _DROP_COST
        return cost + (_DROP_HEAD if head and cost >= _DROP_COST else 0.0)

    def _structure_cost(self, key: str, name: str) -> float:
        """What it costs to go from the words of ``key`` to those of ``name``: dropped,
        added, re-inflected or re-ordered words."""
        kw, cw = _words(key), _words(name)
        synonyms = self.curated.synonyms
        used = [False] * len(cw)
        cost = 0.0
        order: list[int] = []
        dropped_content = head_kept = False
        for i, word in enumerate(kw):
            match = -1
            for j, other in enumerate(cw):
                if not used[j] and other == word:
                    match = j
                    break
            extra = 0.0
            if match < 0:
                s = stem(word)
                for j, other in enumerate(cw):
                    if not used[j] and stem(other) == s:
                        match, extra = j, _STEM_COST
                        break
            if match < 0:
                alternatives = synonyms.get(word, ())
                for j, other in enumerate(cw):
                    if not used[j] and other in alternatives:
                        match, extra = j, _SYNONYM_COST
                        break
            if match < 0 and len(word) >= 5 and len(kw) > 1:
                from rapidfuzz.distance import Levenshtein

                limit = typo_distance(len(word) + 2)
                for j, other in enumerate(cw):
                    if used[j]:
                        continue
                    d = Levenshtein.distance(word, other, score_cutoff=limit)
                    if d <= limit:
                        match, extra = j, _WORD_EDIT_COST * d
                        break
            if match < 0:
                dropped = self._drop_cost(word, head=i == len(kw) - 1)
                dropped_content = dropped_content or dropped >= _DROP_COST
                cost += dropped
                continue
            used[match] = True
            order.append(match)
            cost += extra
            head_kept = i == len(kw) - 1
        added = self.curated.added_words
        for j, word in enumerate(cw):
            if used[j]:
                continue
            if word.startswith("(") or word.endswith(")"):
                cost += _QUALIFIER_COST
            elif word in added:
                cost += _ADD_LIGHT
            else:
                cost += _ADD_COST * (2.0 if len(kw) == 1 else 1.0)
        if order != sorted(order):
            cost += 0.1
        if len(order) == 1 < len(kw) and dropped_content and head_kept:
            cost += _SINGLE_WORD_LEFT  # `floral skirt` → `skirt` keeps too little
        return cost

    def _add(
        self,
        out: _Collector,
        name: str,
        category: int | None,
        count: int | None,
        reason: SuggestionReason,
        text: str,
        *,
        cost: float | None = None,
        base: float | None = None,
        confidence: float = 0.0,
    ) -> None:
        if cost is None:
            cost = self._structure_cost(out.key, name)
            if reason is SuggestionReason.DEPRECATED:
                cost = min(cost, self._kind_cost(out.key, name))
            elif reason is SuggestionReason.TYPO:
                from rapidfuzz.distance import Levenshtein

                cost = min(cost, _EDIT_COST * Levenshtein.distance(out.key, name))
            elif reason in (SuggestionReason.SUCCESSOR, SuggestionReason.INACTIVE_ALIAS):
                cost /= 2  # Danbooru's own data relates the two
        if reason not in _TRUSTED:
            if category == Category.ARTIST:
                cost += _ARTIST_COST  # a name, when the words look like a description
            elif category is not None and category not in (Category.GENERAL, Category.META):
                cost += _OTHER_CATEGORY
            if count is not None and count < _RARE_POSTS:
                cost += _RARE_COST if count < _VERY_RARE_POSTS else _RARE_COST / 2
        score = (_BASE[reason] if base is None else base) + self._popularity(count) - cost
        out.add(_Candidate(name, category, count, reason, text, score, confidence))

    # -- the word index -----------------------------------------------------------------------

    def _word_index(self) -> tuple[list[tuple[str, int, int]], dict[str, list[int]]]:
        """``(rows, stem -> row numbers)`` of the general and meta tags with
        :data:`_INDEX_MIN_POSTS` posts or more (built on first use, ≈ 0.1 s)."""
        if self._index is None:
            rows: list[tuple[str, int, int]] = []
            index: dict[str, list[int]] = {}
            conn = self.db._conn
            if conn is not None:
                rows = conn.execute(
                    "SELECT name, category, post_count FROM tag "
                    "WHERE category IN (0, 5) AND post_count >= ?",
                    (_INDEX_MIN_POSTS,),
                ).fetchall()
                for number, (name, _, _) in enumerate(rows):
                    for word in {stem(w) for w in _words(name)}:
                        found = index.get(word)
                        if found is None:
                            index[word] = [number]
                        else:
                            found.append(number)
            self._index = (rows, index)
        return self._index

    # -- suggestions ----------------------------------------------------------------------------

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
                return [
                    Suggestion(
                        f"@{key}",
                        SuggestionReason.ARTIST_AT,
                        f"`{key}` is a Danbooru artist; Anima expects artists written with "
                        f"`@` (`@{key}`) — without it the style has very little effect",
                        info.category,
                        info.post_count,
                        0.95,
                    )
                ]
            return []
        if info.status is TagStatus.VOCABULARY:
            return []
        if info.status is TagStatus.ALIAS and info.canonical is not None:
            category = info.category.value if info.category is not None else None
            return [
                Suggestion(
                    self._written(info.canonical, category),
                    SuggestionReason.ALIAS,
                    f"`{key}` is an active Danbooru alias of `{info.canonical}`; write the "
                    "canonical tag, which is what the model saw in training",
                    info.category,
                    info.post_count,
                    1.0,
                )
            ]
        if self._rating(key, out):
            return self._ranked(out, limit)
        self._curated(key, out)
        if info.status in (TagStatus.REMOVED, TagStatus.INACTIVE_ALIAS):
            self._successor(key, out)
            self._inactive_alias(key, info.alias_target, info.alias_status, out)
        if info.status is TagStatus.REMOVED:
            self._deprecated(key, out)
        words = key.split()
        self._punctuation(key, out)
        self._plural(key, words, out)
        self._word_forms(key, words, out)
        self._word_order(key, words, out)
        pieces = _words(key)  # `half-open mouth`: half, open, mouth
        parts = self._subsets(key, pieces, out)
        self._synonyms(key, pieces, parts, out)
        self._qualified(key, words, out)
        self._specific(key, out)
        self._overlap(key, out)
        if out.best() < _BASE[SuggestionReason.PLURAL]:
            self._typos(key, out)
        return self._ranked(out, limit)

    def _ranked(self, out: _Collector, limit: int) -> list[Suggestion]:
        ordered = sorted(out.items.values(), key=lambda c: (-c.score, -(c.count or 0), c.name))
        ordered = [c for c in ordered if c.score >= _MIN_SCORE]
        result: list[Suggestion] = []
        for rank, c in enumerate(ordered[:limit]):
            following = ordered[rank + 1].score if rank + 1 < len(ordered) else -math.inf
            confidence = self._confidence(c, c.score - following)
            if rank:
                confidence = min(confidence, 0.85) * 0.7
            result.append(
                Suggestion(
                    self._written(c.name, c.category),
                    c.reason,
                    c.text,
                    None if c.category is None else Category(c.category),
                    c.count,
                    round(confidence, 3),
                )
            )
        return result

    @staticmethod
    def _confidence(c: _Candidate, lead: float) -> float:
        """How sure the first suggestion is: its evidence, and its lead over the next."""
        reason = c.reason
        if reason in (SuggestionReason.RATING_WORD, SuggestionReason.ALIAS):
            return 1.0
        if c.confidence:
            evidence = c.confidence
        elif reason is SuggestionReason.PUNCTUATION:
            evidence = 0.97
        elif reason in (
            SuggestionReason.PLURAL,
            SuggestionReason.WORD_ORDER,
            SuggestionReason.DIRECTION_WORD,
        ):
            evidence = 0.93
        elif reason is SuggestionReason.CURATED:
            evidence = 0.85
        elif reason is SuggestionReason.SYNONYM and lead >= 2.0:
            evidence = 0.9  # Danbooru's word for it, far ahead of anything else
        elif reason is SuggestionReason.TYPO and c.score >= 10.0:
            evidence = 0.92
        else:
            evidence = min(0.85, 0.5 + 0.05 * max(0.0, c.score - _MIN_SCORE))
        if lead < 1.0:  # a close rival: the choice is the user's
            evidence = min(evidence, 0.6 + 0.25 * max(0.0, lead))
        if c.count is not None and c.count < _RARE_POSTS and reason not in _TRUSTED:
            # a rare tag (`kanachan` → `kana-chan`, 6 posts: more likely a trigger or a
            # name of the dataset's own than a misspelling of it) is never applied unasked
            evidence = min(evidence, 0.8)
        return evidence

    # -- strategies -----------------------------------------------------------------------------

    def _rating(self, key: str, out: _Collector) -> bool:
        target = self.db.rating_target(key)
        if target is None:
            return False
        self._add(
            out,
            target,
            None,
            None,
            SuggestionReason.RATING_WORD,
            f"`{key}` is an SDXL-era rating, not a tag; Anima's safety tag for it is "
            f"`{target}` (one of safe, sensitive, nsfw, explicit)",
            cost=0.0,
        )
        return True

    def _curated(self, key: str, out: _Collector) -> None:
        entries: list[tuple[tuple[str, ...], str, float]] = []
        phrase = self.curated.phrase(key)
        if phrase is not None:
            entries.append(phrase)
        for pattern in self.curated.patterns:
            if pattern.rating or not pattern.suggest:
                continue
            match = pattern.regex.fullmatch(key)
            if match is not None:
                entries.append(
                    (
                        tuple(match.expand(s) for s in pattern.suggest),
                        pattern.reason,
                        pattern.confidence,
                    )
                )
        for targets, reason, confidence in entries:
            names = [db_key(t) for t in targets]
            found = self._resolve(names)
            if not confidence:  # one target: a person chose it; several: the user chooses
                confidence = 0.92 if len(names) == 1 else 0.6
            for order, name in enumerate(names):
                row = found.get(name)
                if row is None and not self.db._vocab.kind(name):
                    continue  # a target missing from this database (an older list)
                self._add(
                    out,
                    row[0] if row else name,
                    row[1] if row else None,
                    row[2] if row else None,
                    SuggestionReason.CURATED,
                    reason,
                    cost=float(order) * 3.0,
                    confidence=confidence if order == 0 else 0.0,
                )

    def _successor(self, key: str, out: _Collector) -> None:
        found = successor(self.db, key)
        if found is None:
            return
        category = None if found.category is None else found.category.value
        self._add(
            out,
            db_key(found.tag),
            category,
            found.post_count,
            SuggestionReason.SUCCESSOR,
            found.reason,
            base=-4.0 + 16.0 * found.confidence,
            confidence=found.confidence,
        )

    def _inactive_alias(
        self, key: str, target: str | None, status: str | None, out: _Collector
    ) -> None:
        if target is None or status is None or status == "active":
            return
        row = self._resolve([target]).get(target)
        if row is None:
            return
        if status == "listed":
            why = f"a tagcomplete list gives `{key}` as an alias of `{row[0]}` (unconfirmed)"
        else:
            why = (
                f"`{key}` was an alias of `{row[0]}` until Danbooru {status} it, so it is "
                f"not a tag; `{row[0]}` is the closest existing tag"
            )
        self._add(out, row[0], row[1], row[2], SuggestionReason.INACTIVE_ALIAS, why)

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
        for name, category, count in set(found.values()):
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.DEPRECATED,
                f"Danbooru no longer uses `{key}`; tag the specific kind instead, "
                f"e.g. `{name}`, or leave it out",
            )

    def _punctuation(self, key: str, out: _Collector) -> None:
        from anima_caption._tagdb._builder import squash

        for name, category, count in self.db._by_squash(squash(key)):
            if name == key:
                continue
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.PUNCTUATION,
                f"Danbooru spells it `{name}` ({count:,} posts): punctuation and spacing "
                "are part of a tag's name",
                cost=0.0,
            )

    def _plural(self, key: str, words: list[str], out: _Collector) -> None:
        variants: dict[str, str] = {}
        for i, word in enumerate(words):
            for form in _inflections(word):
                variants.setdefault(" ".join([*words[:i], form, *words[i + 1 :]]), word)
        for name, (canonical, category, count) in self._resolve(variants).items():
            self._add(
                out,
                canonical,
                category,
                count,
                SuggestionReason.PLURAL,
                f"Danbooru's tag is `{canonical}` (plural and singular are different names)",
                cost=_STEM_COST if canonical == name else 0.6,
                # through an alias the words change too: the user decides
                confidence=0.0 if canonical == name else 0.8,
            )

    def _word_forms(self, key: str, words: list[str], out: _Collector) -> None:
        """One word in the form Danbooru tags it in: the verb or noun it is formed from
        (``tearful`` → ``tears``, ``smiling`` → ``smile``, ``clenched teeth`` stays),
        singular or plural."""
        variants: dict[str, str] = {}
        for i, word in enumerate(words):
            for base in _base_forms(word):
                for form in (base, *_inflections(base)):
                    variants.setdefault(" ".join([*words[:i], form, *words[i + 1 :]]), word)
        if not variants:
            return
        for name, (canonical, category, count) in self._resolve(variants).items():
            word = variants[name]
            self._add(
                out,
                canonical,
                category,
                count,
                SuggestionReason.SYNONYM,
                f'Danbooru tags "{word}" in another form of the word: `{canonical}`',
                cost=_FORM_COST + (0.0 if canonical == name else 0.3),
                confidence=0.8,  # a word's form can change its sense: the user decides
            )

    def _word_order(self, key: str, words: list[str], out: _Collector) -> None:
        if not 2 <= len(words) <= _MAX_PERMUTED_WORDS:
            return
        candidates = list(dict.fromkeys(" ".join(p) for p in permutations(words)))
        found = self._resolve([c for c in candidates if c != key])
        for name, category, count in set(found.values()):
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.WORD_ORDER,
                f"the words are in a different order on Danbooru: `{name}`",
                cost=0.2,
            )

    def _subsets(
        self, key: str, words: list[str], out: _Collector
    ) -> dict[str, tuple[str, int, int]]:
        """Dropped modifiers and direction words; returns the word runs of ``key`` that
        are tags or aliases (``phrase -> (canonical, category, count)``), for synonyms."""
        n = len(words)
        if not 2 <= n <= _MAX_SUBSET_WORDS:
            return {}
        subsets: dict[str, tuple[int, ...]] = {}
        for size in range(n - 1, 0, -1):
            for kept in combinations(range(n), size):
                subsets.setdefault(" ".join(words[i] for i in kept), kept)
                last = words[kept[-1]]
                # `pullover sweaters` → `sweater`; `pouted lips` → `pout`
                forms = _inflections(last) + (_base_forms(last) if size == 1 else [])
                for form in forms:
                    subsets.setdefault(" ".join([*(words[i] for i in kept[:-1]), form]), kept)
                if size == 2:  # `bow tied at the waist` → `waist bow`
                    subsets.setdefault(f"{words[kept[1]]} {words[kept[0]]}", kept)
        found = self._resolve(list(subsets))
        light = self.curated.filler_words | self.curated.direction_words
        directions = self.curated.direction_words
        has_aliases = self.db.has_danbooru_data
        for phrase, kept in subsets.items():
            row = found.get(phrase)
            via = ""
            if row is None:
                if len(kept) < 2 or not has_aliases:
                    continue
                history = [a for a in self.db._alias_rows(phrase) if a[1] != "active"]
                if not history:
                    continue
                target = self._resolve([history[0][0]]).get(history[0][0])
                if target is None:
                    continue
                row = target
                via = f" (`{phrase}` itself was an alias of `{row[0]}`, now {history[0][1]})"
            elif (
                len(kept) == 1
                and row[0] != phrase
                and not all(w in light for i, w in enumerate(words) if i not in kept)
            ):
                # One remaining word counts as itself, and through an alias only when the
                # rest was filler (`playful wink` → `one eye closed`): `side` is an alias
                # of `from side`, which has nothing to do with `side ponytial`.
                continue
            name, category, count = row
            dropped = [w for i, w in enumerate(words) if i not in kept]
            dropped_text = " ".join(dropped)
            if all(w in directions for w in dropped):
                reason_code = SuggestionReason.DIRECTION_WORD
                reason = self.curated.direction_reason.format(word=dropped_text, tag=name)
            else:
                reason_code = SuggestionReason.DROPPED_MODIFIER
                reason = (
                    f"`{name}` is the tag among its words{via}; say "
                    f'"{dropped_text}" in natural language or with a tag of its own'
                )
            self._add(out, name, category, count, reason_code, reason)
        return found

    def _synonyms(
        self,
        key: str,
        words: list[str],
        parts: dict[str, tuple[str, int, int]],
        out: _Collector,
    ) -> None:
        """One run of words replaced by a synonym: curated (``legwear`` → ``thighhighs``)
        or Danbooru's (``sailor uniform`` → alias ``serafuku``, ``hairclip`` ⇒
        ``hair ornament``), optionally with one other word left out."""
        n = len(words)
        if n > _MAX_SUBSET_WORDS:
            return
        synonyms = self.curated.synonyms
        db = self.db
        variants: dict[str, tuple[str, str, float]] = {}  # name -> (part, replacement, cost)
        for start in range(n):
            for end in range(start + 1, min(n, start + 2) + 1):
                part = " ".join(words[start:end])
                replacements = list(synonyms.get(part, ()))
                row = parts.get(part)
                if row is not None and end - start < n:
                    if row[0] != part:
                        replacements.append(row[0])  # an alias of the run of words
                    elif db.has_danbooru_data:
                        replacements.extend(db._direct_implications(part))
                for replacement in dict.fromkeys(replacements):
                    if replacement == part:
                        continue
                    before, after = words[:start], words[end:]
                    variants.setdefault(
                        " ".join([*before, replacement, *after]), (part, replacement, _SYNONYM_COST)
                    )
                    others = [*before, *after]
                    if len(others) >= 2:  # …and one other word left out
                        for drop in range(len(others)):
                            rest_before = [w for i, w in enumerate(before) if i != drop]
                            rest_after = [w for i, w in enumerate(after) if i + len(before) != drop]
                            name = " ".join([*rest_before, replacement, *rest_after])
                            variants.setdefault(
                                name,
                                (
                                    part,
                                    replacement,
                                    _SYNONYM_COST + self._drop_cost(others[drop], head=False),
                                ),
                            )
        if not variants:
            return
        for name, (canonical, category, count) in self._resolve(variants).items():
            part, replacement, cost = variants[name]
            self._add(
                out,
                canonical,
                category,
                count,
                SuggestionReason.SYNONYM,
                f'Danbooru\'s word for "{part}" here is "{replacement}": `{canonical}`',
                cost=cost,
            )

    def _qualified(self, key: str, words: list[str], out: _Collector) -> None:
        """Names that start with ``key`` or a run of its words and add a qualifier or a
        word: ``daisy`` → ``daisy (flower)``, ``watercolor style`` →
        ``watercolor (medium)``, ``alternate breast size`` →
        ``alternate breast size (larger)``."""
        conn = self.db._conn
        if conn is None:
            return
        n = len(words)
        fillers = self.curated.filler_words | self.curated.direction_words
        runs = {key} | {
            " ".join(words[s:e]) for s in range(n) for e in range(s + 1, n + 1) if e - s < n
        }
        for run in sorted(runs):
            dropped = n - len(run.split())
            if dropped and not all(w in fillers for w in words if w not in run.split()):
                continue  # only `watercolor style` → `watercolor (medium)`
            rows = conn.execute(
                "SELECT name, category, post_count FROM tag WHERE name > ?1 AND name < ?2 "
                "ORDER BY post_count DESC LIMIT ?3",
                (run + " ", run + " \U0010ffff", _QUALIFIED_LIMIT),
            ).fetchall()
            for name, category, count in rows:
                qualified = name[len(run) + 1 :].startswith("(")
                if not qualified and dropped:
                    continue  # a run of words plus other words: not evidence enough
                cost = self._structure_cost(key, name)
                self._add(
                    out,
                    name,
                    category,
                    count,
                    SuggestionReason.QUALIFIED if qualified else SuggestionReason.SPECIFIC,
                    f"Danbooru's tag is `{name}`"
                    + (" (the name with its qualifier)" if qualified else ""),
                    cost=cost,
                )

    def _specific(self, key: str, out: _Collector) -> None:
        """Tags that hold every word of ``key`` and one or two more (word index)."""
        stems = {stem(w) for w in _words(key)}
        if not stems:
            return
        rows, index = self._word_index()
        postings = sorted((index.get(s, []) for s in stems), key=len)
        if not postings[0]:
            return
        common = set(postings[0])
        for other in postings[1:]:
            common.intersection_update(other)
            if not common:
                return
        limit = len(_words(key)) + (1 if len(stems) == 1 else _INDEX_EXTRA_WORDS)
        found = sorted(
            (rows[i] for i in common if len(_words(rows[i][0])) <= limit),
            key=lambda r: -r[2],
        )
        for name, category, count in found[:20]:
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.SPECIFIC,
                f"`{name}` is the Danbooru tag that holds every word of `{key}`",
            )

    def _overlap(self, key: str, out: _Collector) -> None:
        """Tags made of two of the words of a longer ``key``, in any inflection
        (``dark-skinned other`` → ``dark skin``), from the word index."""
        words = _words(key)
        if not 3 <= len(words) <= _MAX_PERMUTED_WORDS:
            return
        rows, index = self._word_index()
        light = self.curated.filler_words | self.curated.direction_words
        stems = list(dict.fromkeys(stem(w) for w in words if w not in light))
        found: set[int] = set()
        for a, b in combinations(stems, 2):
            first, second = index.get(a, ()), index.get(b, ())
            if first and second:
                found.update(set(first).intersection(second))
        pairs = sorted(
            (rows[i] for i in found if len(_words(rows[i][0])) == 2), key=lambda r: -r[2]
        )
        for name, category, count in pairs[:10]:
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.DROPPED_MODIFIER,
                f"`{name}` is the tag among its words; say the rest in natural language",
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
                self._add(
                    out,
                    name,
                    None,
                    None,
                    SuggestionReason.TYPO,
                    f"probably a typo of the Anima vocabulary tag `{name}`",
                    cost=_EDIT_COST * d,
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
        for name, (category, count, _) in rows.items():
            d = hits[name]
            self._add(
                out,
                name,
                category,
                count,
                SuggestionReason.TYPO,
                f"close spelling ({d} edit{'s' if d > 1 else ''} away): `{name}`, {count:,} posts",
            )


# -- successors of removed tags ------------------------------------------------------------

#: Confidence of each kind of successor evidence (see :func:`successor`).
_SUCCESSOR_MIGRATED = 0.95  # the tags that implied (or aliased to) it now point elsewhere
_SUCCESSOR_RENAMED = 0.92  # a deleted alias / implication to the same words plus a qualifier
_SUCCESSOR_IMPLIES = 0.8  # it still implies a current tag (`black blindfold` ⇒ `blindfold`)
_SUCCESSOR_SPLIT = 0.85  # a deleted alias to the same words plus more
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
            # A deleted alias to a longer name: Danbooru split an ambiguous name (`daisy` →
            # `daisy (flower)`, but `poppy` → `poppy (league of legends)`) or found the two
            # different: likely, never certain.
            confidence = _SUCCESSOR_SPLIT if renamed else _SUCCESSOR_ALIAS
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
    others = {c for c in map(db_key, context) if c and c != key}
    if not others:
        return list(ranked[:limit])
    infos = db.lookup_many(sorted(others))
    # canonical name -> (as written, everything it implies: a short tuple, only tested
    # for membership)
    present: dict[str, tuple[str, tuple[str, ...]]] = {}
    for info in infos:
        if info.known and info.canonical is not None:
            present.setdefault(info.canonical, (info.name, info.implies_all))
    cover: Suggestion | None = None
    kept: list[Suggestion] = []
    words = set(key.split())
    implied_any: set[str] | None = None  # everything the caption's tags imply, when asked
    for rank, suggestion in enumerate(ranked):
        name = db_key(suggestion.tag)
        if not suggestion.remove and name not in present and implied_any is None:
            implied_any = {n for _, implied in present.values() for n in implied}
        if suggestion.remove or (
            name not in present and name not in implied_any  # type: ignore[operator]
        ):
            kept.append(suggestion)
            continue
        if cover is None and rank == 0:  # a lower one held: only left out
            holder = present.get(name)
            if holder is not None:
                why = f"the caption already has `{holder[0]}`"
            else:
                holder = next(h for h in present.values() if name in h[1])
                why = f"the caption already has `{holder[0]}`, which implies `{name}`"
            cover = Suggestion(
                holder[0],
                SuggestionReason.COVERED,
                why,
                suggestion.category,
                suggestion.post_count,
                max(suggestion.confidence, 0.5),
                remove=True,
            )
    if cover is None:
        # A tag of the caption that holds every word of `key` and more (`plaid skirt`).
        # Each word of `key` a substring first (needed for it to be one of the words;
        # cheap): most tags of a caption share no word with `key`.
        candidates = [
            (canonical, written)
            for canonical, (written, _) in present.items()
            if all(w in canonical for w in words) or all(w in written for w in words)
        ]
        for canonical, written in sorted(candidates):
            if words < set(canonical.split()) or words < set(written.split()):
                cover = Suggestion(
                    written,
                    SuggestionReason.COVERED,
                    f"the caption already has `{written}`, which says more than `{key}`",
                    confidence=_COVERED_CONFIDENCE,
                    remove=True,
                )
                break
    if cover is not None:
        kept.insert(0, cover)
    return kept[:limit]
