"""``classify``: which of a caption's tags are core, structural, variable or other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from anima_caption._kinds import Section
from anima_caption._model import Caption, Tag
from anima_caption._normalize import db_key
from anima_caption._policy._model import Policy, Resolver

TagRole = Literal["core", "structural", "variable", "other"]


@dataclass(frozen=True)
class ClassifiedTag:
    """One tag of a caption with its role under the policy and its tag group."""

    tag: Tag
    role: TagRole
    group: str | None
    """The taxonomy group (``hair-colour``…) or a policy group; None for ungrouped tags."""

    @property
    def name(self) -> str:
        """The tag's normalised name."""
        return self.tag.name


@dataclass(frozen=True)
class Classification:
    """A caption's tags by role and by group, under one trigger's policy."""

    trigger: str | None
    """The trigger whose policy was applied (None when the caption matched no trigger)."""
    tags: tuple[ClassifiedTag, ...]

    def _of(self, role: TagRole) -> tuple[Tag, ...]:
        return tuple(c.tag for c in self.tags if c.role == role)

    @property
    def core(self) -> tuple[Tag, ...]:
        """Tags the trigger absorbs (they should not be in the caption)."""
        return self._of("core")

    @property
    def structural(self) -> tuple[Tag, ...]:
        """Independent tags that should be in every caption."""
        return self._of("structural")

    @property
    def variable(self) -> tuple[Tag, ...]:
        """Tags that vary between images."""
        return self._of("variable")

    @property
    def other(self) -> tuple[Tag, ...]:
        """Everything else: prefix, people count, trigger, series, artist, ungrouped tags."""
        return self._of("other")

    def by_group(self) -> Mapping[str, tuple[Tag, ...]]:
        """Tag group → the caption's tags in it (ungrouped tags are left out)."""
        out: dict[str, list[Tag]] = {}
        for c in self.tags:
            if c.group is not None:
                out.setdefault(c.group, []).append(c.tag)
        return {name: tuple(tags) for name, tags in out.items()}

    def role_of(self, name: str) -> TagRole | None:
        """The role of the tag ``name`` in this caption, or None when it is absent."""
        key = db_key(name)
        for c in self.tags:
            if c.name == key:
                return c.role
        return None


def caption_trigger(caption: Caption, policy: Policy) -> str | None:
    """The policy trigger the caption carries (first in caption order), else the policy's
    only trigger, else None."""
    names = policy.trigger_names()
    wanted = set(names)
    for tag in caption.tags:
        if tag.name in wanted:
            return tag.name
    return names[0] if len(names) == 1 else None


def classify(
    caption: Caption,
    policy: Policy,
    trigger: str | None = None,
    *,
    folder: str | None = None,
) -> Classification:
    """Sort a caption's tags into core / structural / variable / other.

    ``trigger`` picks the trigger policy; by default it is the policy trigger found in the
    caption, else the policy's only trigger. ``folder`` (posix, relative to the dataset
    root) selects a per-folder subset policy. Only general-section tags get a role; prefix,
    people count, trigger, character, series and artist tags are ``other``. With no
    matching trigger every tag is ``other`` but still gets its group.
    """
    name = trigger if trigger is not None else caption_trigger(caption, policy)
    resolver = policy.resolver(name, folder) if name is not None else None
    groups = policy.groups_map()
    fallback: dict[str, str] = {}
    if resolver is None:
        for group_name, group in groups.items():
            for member in group.members:
                fallback.setdefault(member, group_name)
    out = []
    for tag in caption.tags:
        key = tag.name
        out.append(_classify_tag(tag, key, resolver, fallback))
    return Classification(resolver.trigger if resolver else None, tuple(out))


def _classify_tag(
    tag: Tag, key: str, resolver: Resolver | None, fallback: Mapping[str, str]
) -> ClassifiedTag:
    if resolver is None:
        return ClassifiedTag(tag, "other", fallback.get(key))
    group = resolver.group(key)
    if tag.section is not Section.GENERAL or key == resolver.trigger:
        return ClassifiedTag(tag, "other", group)
    role = resolver.role(key)
    return ClassifiedTag(tag, role if role is not None else "other", group)
