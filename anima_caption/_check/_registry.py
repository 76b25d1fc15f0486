"""Rule base class and registry. A rule's docstring is its user documentation."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from anima_caption._check._diagnostic import Applicability, FixRecord, Severity, rule_url

if TYPE_CHECKING:
    from anima_caption._check._config import CheckConfig
    from anima_caption._check._context import CaptionContext, DatasetContext
    from anima_caption._model import Tag
    from anima_caption._tagdb import TagInfo

_REGISTRY: dict[str, type[Rule]] = {}
_URLS: dict[str, str] = {}


class Finding(NamedTuple):
    """What a rule yields; the engine adds path, position, severity and the docs link."""

    message: str
    span: tuple[int, int] | None = None
    fix: FixRecord | None = None
    path: str | None = None  # dataset rules name the file they point at


class Rule:
    """Base class of every rule.

    Subclasses set the class attributes and implement :meth:`check` (caption rules) or
    :meth:`check_dataset` (dataset rules). The docstring must have the sections
    *What it does*, *Why*, *Example* and *Fix safety*.
    """

    code: ClassVar[str]
    slug: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    fix: ClassVar[Applicability | None] = None
    scope: ClassVar[Literal["caption", "dataset"]] = "caption"
    needs_db: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY:
                raise RuntimeError(f"rule code {cls.code} used twice")
            _REGISTRY[cls.code] = cls

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        """False when ``config`` leaves the rule nothing to check (a policy rule without a
        policy, a trigger rule without triggers): the engine then does not run it at all."""
        return True

    @classmethod
    def family(cls) -> str:
        """The two-letter family of the code (``TG`` for ``TG005``)."""
        return cls.code[:2]

    @classmethod
    def name(cls) -> str:
        """``CODE/slug``."""
        return f"{cls.code}/{cls.slug}"

    @classmethod
    def summary(cls) -> str:
        """The first line of the docstring."""
        return (inspect.getdoc(cls) or "").strip().splitlines()[0]

    @classmethod
    def documentation(cls) -> str:
        """The full docstring, dedented."""
        return inspect.getdoc(cls) or ""

    @classmethod
    def url(cls) -> str:
        """Link to the rule's documentation (one string per rule: a run may hold millions
        of diagnostics, and worker processes send a shared string once per batch)."""
        url = _URLS.get(cls.code)
        if url is None:
            url = _URLS[cls.code] = rule_url(cls.code, cls.slug)
        return url

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        """Findings for one caption."""
        return iter(())

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        """Findings across the dataset."""
        return iter(())


class TagRule(Rule):
    """A caption rule that judges one tag at a time, by the tag's text alone.

    The engine calls :meth:`check_tag` once per distinct tag spelling in a run and
    replays the findings (moved to where the tag stands) wherever the spelling appears
    again: a dataset repeats its tags thousands of times. So the findings may depend only
    on the tag (its text, kind, flags and database record) and on the run's configuration
    and database, never on the rest of the caption: such checks belong in :meth:`check`,
    which a tag rule may implement too (set ``per_caption``).
    """

    per_caption: ClassVar[bool] = False
    """True when :meth:`check` also has findings (run once per caption, not memoised)."""

    checks_triggers: ClassVar[bool] = False
    """True when the rule judges trigger tags too. Most do not: a trigger is the user's
    own token, kept byte for byte as declared (underscores, capitals and all)."""

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        """Findings for one tag; ``info`` is its database record (None for kaomoji or
        without a database). Spans are the tag's own, as in the caption at hand."""
        return iter(())


def all_rules() -> list[type[Rule]]:
    """Every registered rule, sorted by code."""
    _load_rule_modules()
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def get_rule(code_or_slug: str) -> type[Rule] | None:
    """The rule with this code (``TG005``), slug (``unknown-tag``) or ``CODE/slug``."""
    _load_rule_modules()
    key = code_or_slug.strip()
    if "/" in key:
        key = key.split("/", 1)[0]
    for rule in _REGISTRY.values():
        if key.upper() == rule.code or key.lower() == rule.slug:
            return rule
    return None


def _load_rule_modules() -> None:
    from anima_caption._check import _rules_caption, _rules_dataset, _rules_policy  # noqa: F401
