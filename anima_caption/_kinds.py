"""Tag kinds, caption sections and Danbooru categories (plain enums, no heavy imports)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Kind(StrEnum):
    """What a tag is, as far as the caption format is concerned."""

    QUALITY = "quality"
    SCORE = "score"
    PERIOD = "period"
    YEAR = "year"
    META = "meta"
    SAFETY = "safety"
    COUNT = "count"
    CHARACTER = "character"
    SERIES = "series"
    ARTIST = "artist"
    GENERAL = "general"
    TRIGGER = "trigger"
    UNKNOWN = "unknown"


class Section(StrEnum):
    """The sections of an Anima caption, in their official order."""

    PREFIX = "prefix"  # quality / score / period / year / meta / safety
    COUNT = "count"
    CHARACTER = "character"
    SERIES = "series"
    ARTIST = "artist"
    GENERAL = "general"

    @property
    def rank(self) -> int:
        """Position of the section in the official order (0 first)."""
        return SECTION_RANK[self]


#: Position of each section in the official order (0 first).
SECTION_RANK = {section: i for i, section in enumerate(Section)}


class Category(IntEnum):
    """Danbooru tag categories (2 is unused by Danbooru)."""

    GENERAL = 0
    ARTIST = 1
    COPYRIGHT = 3
    CHARACTER = 4
    META = 5


SECTION_OF_KIND: dict[Kind, Section] = {
    Kind.QUALITY: Section.PREFIX,
    Kind.SCORE: Section.PREFIX,
    Kind.PERIOD: Section.PREFIX,
    Kind.YEAR: Section.PREFIX,
    Kind.META: Section.PREFIX,
    Kind.SAFETY: Section.PREFIX,
    Kind.COUNT: Section.COUNT,
    Kind.CHARACTER: Section.CHARACTER,
    Kind.TRIGGER: Section.CHARACTER,
    Kind.SERIES: Section.SERIES,
    Kind.ARTIST: Section.ARTIST,
    Kind.GENERAL: Section.GENERAL,
    Kind.UNKNOWN: Section.GENERAL,
}

KIND_OF_CATEGORY: dict[Category, Kind] = {
    Category.GENERAL: Kind.GENERAL,
    Category.ARTIST: Kind.ARTIST,
    Category.COPYRIGHT: Kind.SERIES,
    Category.CHARACTER: Kind.CHARACTER,
    Category.META: Kind.META,
}
