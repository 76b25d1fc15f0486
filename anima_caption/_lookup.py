"""The tag-lookup protocol the parser uses to put tags into sections.

A tag database (see :class:`anima_caption.TagDB`) implements it; so does the small
:class:`VocabularyLookup`, which knows only Anima's own vocabulary and is used when no
database is available.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from anima_caption._kinds import Category


@runtime_checkable
class TagLookup(Protocol):
    """What the parser needs from a tag database.

    Names passed in are *normalised*: lowercase, single spaces instead of underscores,
    no ``@`` prefix, no escapes (``ganyu (genshin impact)``).
    """

    def category(self, name: str) -> Category | None:
        """The Danbooru category of ``name``, or None when the tag is not known.

        An implementation may follow active aliases (``twin tails`` is known because it is
        an active alias of ``twintails``) but must not follow deleted or retired ones.
        """
        ...

    def categories(self, names: Iterable[str]) -> list[Category | None]:
        """Batch form of :meth:`category`, in the order given."""
        ...


class VocabularyLookup:
    """A lookup that knows no Danbooru tags at all.

    With it, the parser classifies Anima vocabulary (quality, score, safety, people count, …),
    ``@artist`` tags and configured trigger words, and leaves every other tag ``unknown``.
    """

    def category(self, name: str) -> Category | None:
        """Always None: without a database no Danbooru tag is known."""
        return None

    def categories(self, names: Iterable[str]) -> list[Category | None]:
        """Always a list of None, one per name."""
        return [None for _ in names]
