"""The built-in Anima vocabulary (``tag_db/vocabulary.yaml``), loaded once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from anima_caption._data import load_yaml_data
from anima_caption._kinds import Kind


@dataclass(frozen=True)
class Vocabulary:
    """Anima's own tags: quality, score, period, year, meta, safety, people count, dataset."""

    members: dict[str, Kind]
    patterns: tuple[tuple[re.Pattern[str], Kind], ...]
    dataset_tags: frozenset[str]
    flexible_count: frozenset[str]
    rating_words: dict[str, str]
    inference_prefix: tuple[str, ...]
    inference_negative: tuple[str, ...]
    function_words: frozenset[str]
    prose_words: frozenset[str] = frozenset()
    tag_phrases: frozenset[str] = frozenset()
    """Danbooru tags that read like natural-language phrases (``looking to the side``)."""
    pattern_prefixes: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """A name can only match ``patterns`` if it starts with one of these (see
    :func:`_literal_prefix`); a short memo of every name looked up cost more than this."""

    def kind(self, name: str) -> Kind | None:
        """Kind of a normalised tag name if it is Anima vocabulary, else None.

        Dataset tags (``ye-pop``, ``deviantart``) are not returned here: they only count
        as a dataset header on the first line.
        """
        kind = self.members.get(name)
        if kind is None and name.startswith(self.pattern_prefixes):
            for pattern, pattern_kind in self.patterns:
                if pattern.fullmatch(name):
                    return pattern_kind
        return kind

    def names(self, kind: Kind) -> list[str]:
        """The listed members of a kind, in file order (patterns are not expanded)."""
        return [name for name, k in self.members.items() if k is kind]


@cache
def vocabulary() -> Vocabulary:
    """Load ``tag_db/vocabulary.yaml`` (cached; the file ships with the package)."""
    raw: dict[str, Any] = load_yaml_data("tag_db/vocabulary.yaml")
    members: dict[str, Kind] = {}
    patterns: list[tuple[re.Pattern[str], Kind]] = []
    dataset: frozenset[str] = frozenset()
    for kind_name, spec in raw["kinds"].items():
        if kind_name == "dataset":
            dataset = frozenset(spec["members"])
            continue
        kind = Kind(kind_name)
        for name in spec.get("members", ()):
            members[str(name)] = kind
        patterns.extend((re.compile(p), kind) for p in spec.get("patterns", ()))
    return Vocabulary(
        members=members,
        patterns=tuple(patterns),
        pattern_prefixes=tuple(_literal_prefix(p.pattern) for p, _ in patterns),
        dataset_tags=dataset,
        flexible_count=frozenset(raw.get("flexible_count", ())),
        rating_words=dict(raw.get("rating_words", {})),
        inference_prefix=tuple(raw.get("inference_prefix", ())),
        inference_negative=tuple(raw.get("inference_negative", ())),
        function_words=frozenset(str(w) for w in raw.get("sentence_function_words", ())),
        prose_words=frozenset(str(w) for w in raw.get("prose_words", ())),
        tag_phrases=frozenset(str(w) for w in raw.get("tag_phrases", ())),
    )


def _literal_prefix(pattern: str) -> str:
    """The literal text every full match of ``pattern`` starts with ("" when unsure)."""
    if "|" in pattern:
        return ""
    prefix = ""
    for index, char in enumerate(pattern):
        if not (char.isalnum() or char in " _-@"):
            break
        following = pattern[index + 1 : index + 2]
        if following and following in "?*+{":
            break
        prefix += char
    return prefix
