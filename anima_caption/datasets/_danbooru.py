"""Anima captions from Danbooru post metadata (``tag_string_*`` columns and ``rating``).

Danbooru already knows every tag's category, so no tag database is needed to put the
sections in order: ``[quality / score (--prefix)] [meta] [safety from rating] [people
count] [characters] [series] [@artists] [general]``. Tag names get spaces for underscores
(kaomoji such as ``^_^`` keep theirs); meta tags are kept only when they are Anima
vocabulary (``highres``, ``absurdres``…: Danbooru's other meta tags — ``commentary
request``, ``bad id`` — describe the post, not the image).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anima_caption._kinds import Kind

#: The columns read (``rating`` and the five tag strings).
COLUMNS = (
    "tag_string_general",
    "tag_string_character",
    "tag_string_copyright",
    "tag_string_artist",
    "tag_string_meta",
    "rating",
)

#: Danbooru rating → Anima safety tag (docs/convert.md: general→safe, questionable→nsfw).
SAFETY_OF_RATING = {
    "g": "safe",
    "general": "safe",
    "s": "sensitive",
    "sensitive": "sensitive",
    "q": "nsfw",
    "questionable": "nsfw",
    "e": "explicit",
    "explicit": "explicit",
}

#: ``(rule, old, new)``: one thing done to a post's tags.
Change = tuple[str, str, str]

_PREFIX_KINDS = (Kind.QUALITY, Kind.SCORE, Kind.PERIOD, Kind.YEAR, Kind.META)


class DanbooruCaptioner:
    """Builds Anima captions from Danbooru rows; reuse one (it remembers every tag).

    ``prefix`` tags (``"masterpiece, best quality, score_7"``) start every caption (a
    safety tag there is ignored: the rating decides). ``keep_meta`` keeps every meta tag.
    """

    def __init__(self, *, prefix: str | Sequence[str] = (), keep_meta: bool = False) -> None:
        from anima_caption._vocab import vocabulary

        self.vocab = vocabulary()
        self.keep_meta = keep_meta
        items = [t.strip() for t in prefix.split(",")] if isinstance(prefix, str) else prefix
        self.prefix = [t for t in items if t and self.vocab.kind(t) is not Kind.SAFETY]
        self._names: dict[str, tuple[str | None, Change | None]] = {}
        # general tags: (name, change, a people-count tag)
        self._general: dict[str, tuple[str | None, Change | None, bool]] = {}

    def name(self, raw: str) -> str | None:
        """A Danbooru tag name as written in an Anima caption (None: it cannot be written
        as one tag, e.g. it holds a comma)."""
        return self._name(raw)[0]

    def _name(self, raw: str) -> tuple[str | None, Change | None]:
        found = self._names.get(raw)
        if found is not None:
            return found
        from anima_caption._parse import parse

        text = raw
        if "_" in raw:
            tags = parse(raw).tags
            kaomoji = len(tags) == 1 and tags[0].kaomoji and tags[0].raw == raw
            text = raw if kaomoji else raw.replace("_", " ")
        # One item, whatever its trail ("super smash bros." is written as it is trained);
        # a comma or a stray bracket would make it several, or an error.
        caption = parse(text)
        if caption.errors or len(caption.items) != 1:
            found = (None, ("unreadable", raw, ""))
        else:
            found = (text, None if text == raw else ("underscore", raw, text))
        self._names[raw] = found
        return found

    def caption(self, row: Mapping[str, Any]) -> tuple[str, list[Change]]:
        """``(caption, changes)`` for one post, each change ``(rule, old, new)``; raises
        ValueError for a rating that is not Danbooru's (g, s, q, e or the words)."""
        done: list[Change] = []
        name = self._name
        vocab_kind = self.vocab.kind
        prefix = list(self.prefix)
        done.extend(("prefix", "", t) for t in prefix)
        for raw in _split(row.get("tag_string_meta")):
            tag, change = name(raw)
            if tag is None or not (self.keep_meta or vocab_kind(tag) in _PREFIX_KINDS):
                done.append(change if tag is None else ("meta-dropped", raw, ""))  # type: ignore[arg-type]
                continue
            if change is not None:
                done.append(change)
            prefix.append(tag)
        rating = row.get("rating")
        if rating:
            safety = SAFETY_OF_RATING.get(str(rating).strip().lower())
            if safety is None:
                raise ValueError(f"rating {rating!r} is not one of g, s, q, e")
            prefix.append(safety)
            done.append(("rating", f"rating:{rating}", safety))
        count: list[str] = []
        general: list[str] = []
        memo = self._general
        for raw in _split(row.get("tag_string_general")):
            entry = memo.get(raw)
            if entry is None:
                tag, change = name(raw)
                is_count = tag is not None and vocab_kind(tag) is Kind.COUNT
                entry = memo[raw] = (tag, change, is_count)
            tag, change, is_count = entry
            if change is not None:
                done.append(change)
            if tag is not None:
                (count if is_count else general).append(tag)
        sections = [prefix, count]
        for column in ("tag_string_character", "tag_string_copyright"):
            section = []
            for raw in _split(row.get(column)):
                tag, change = name(raw)
                if change is not None:
                    done.append(change)
                if tag is not None:
                    section.append(tag)
            sections.append(section)
        artists = []
        for raw in _split(row.get("tag_string_artist")):
            tag, change = name(raw)
            if tag is None:
                done.append(change)  # type: ignore[arg-type]
                continue
            artists.append(f"@{tag}")
            done.append(("artist-at", raw, f"@{tag}"))
        sections.append(artists)
        sections.append(general)
        return ", ".join(t for section in sections for t in section), done


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return str(value).split()


def danbooru_caption(row: Mapping[str, Any], *, prefix: str | Sequence[str] = ()) -> str:
    """The Anima caption of one Danbooru post (a mapping with the ``tag_string_*`` keys
    and ``rating``).

        >>> danbooru_caption({"tag_string_general": "1girl long_hair ^_^",
        ...     "tag_string_character": "hatsune_miku", "tag_string_copyright": "vocaloid",
        ...     "tag_string_artist": "wlop", "tag_string_meta": "highres commentary",
        ...     "rating": "g"})
        'highres, safe, 1girl, hatsune miku, vocaloid, @wlop, long hair, ^_^'
    """
    return DanbooruCaptioner(prefix=prefix).caption(row)[0]
