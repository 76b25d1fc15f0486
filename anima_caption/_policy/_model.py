"""The policy file model (pydantic v2, ``extra="forbid"``).

A policy says, per LoRA trigger, which tags the trigger absorbs (*core*: left out of the
captions), which must stay independent and appear every time (*structural*), and which vary
between images (*variable*). Entries are default group names (``hair-colour``), groups the
policy declares under ``groups:``, or plain tags. See docs/policy.md.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from anima_caption._normalize import db_key

if TYPE_CHECKING:
    from anima_caption._policy._taxonomy import TagGroup

Role = Literal["core", "structural", "variable"]
View = Literal["front", "back", "facing-left", "facing-right"]
Side = Literal["left", "right"]

ROLES: tuple[Role, ...] = ("core", "structural", "variable")

DEFAULT_CORE: tuple[str, ...] = ("hair-colour", "eye-colour")
DEFAULT_STRUCTURAL: tuple[str, ...] = ("hair-length", "hairstyle", "bangs")
DEFAULT_VARIABLE: tuple[str, ...] = (
    "hair-ornament",
    "attire",
    "expression",
    "pose",
    "composition",
    "background",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class DirectionalAttribute(_Model):
    """An attribute that sits on one side of the character (the seed's side ponytail).

    Its side in the image depends on the view, so the natural-language phrase is written or
    checked from the caption's composition tags.
    """

    tag: str = Field(description="The attribute's tag, e.g. 'side ponytail'.")
    side: Side = Field(description="The CHARACTER's side the attribute is on: left or right.")
    mentions: list[str] = Field(
        default_factory=list,
        description="Words that name the attribute in sentences (default: the tag and its "
        "last word, e.g. 'side ponytail', 'ponytail').",
    )
    sentence: str | None = Field(
        default=None,
        description="Sentence written by `policy apply --directional` when a caption has no "
        "phrase; '{phrase}' is replaced, e.g. 'Her side ponytail is {phrase}.'",
    )
    phrases: dict[View, str] = Field(
        default_factory=dict,
        description="Phrase per view (front, back, facing-left, facing-right), replacing "
        "the built-in table for this attribute.",
    )

    @field_validator("sentence")
    @classmethod
    def _has_placeholder(cls, value: str | None) -> str | None:
        if value is not None and "{phrase}" not in value:
            raise ValueError("sentence must contain '{phrase}'")
        return value


class TriggerPolicy(_Model):
    """What one trigger absorbs, keeps and varies. Unset lists take the defaults."""

    core: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CORE),
        description="Groups or tags the trigger absorbs: left out of captions.",
    )
    structural: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STRUCTURAL),
        description="Groups or tags kept as independent tags in every caption.",
    )
    variable: list[str] = Field(
        default_factory=lambda: list(DEFAULT_VARIABLE),
        description="Groups or tags that should vary between images.",
    )
    directional: list[DirectionalAttribute] = Field(
        default_factory=list,
        description="Attributes on one side of the character (natural-language direction).",
    )

    def entries(self, role: Role) -> list[str]:
        """The entries listed for ``role``."""
        entries: list[str] = getattr(self, role)
        return entries


class Subset(_Model):
    """A folder of the dataset with its own trigger policies."""

    path: str = Field(
        description="Folder name or path inside the dataset, matched at any depth; globs "
        "allowed, e.g. 'chibi' or 'extra/*'."
    )
    triggers: dict[str, TriggerPolicy] = Field(
        description="Trigger policies that replace the top-level ones in this folder."
    )


class Policy(_Model):
    """A policy: the top level of a policy file or of the ``policy:`` section of a config.

    Load one with :func:`anima_caption._policy.load_policy`; classify captions with
    :func:`anima_caption._policy.classify`.
    """

    triggers: dict[str, TriggerPolicy] = Field(
        min_length=1, description="Trigger word → its policy."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Tag groups declared here (name → tags); a default group's name "
        "replaces that group.",
    )
    subsets: list[Subset] = Field(
        default_factory=list, description="Per-folder policies; the first matching wins."
    )
    solo_conflicts: bool = Field(
        default=True,
        alias="solo-conflicts",
        description="Report two tags of an exclusive group (two hair colours) in solo images.",
    )

    # -- queries ---------------------------------------------------------------------------

    def trigger_names(self) -> tuple[str, ...]:
        """The trigger words, normalised (``Kanachan`` → ``kanachan``), in file order."""
        return tuple(db_key(name) for name in self.triggers)

    def groups_map(self) -> Mapping[str, TagGroup]:
        """The effective tag groups: the default taxonomy with this policy's ``groups:``."""
        return _compiled(self).groups

    def trigger_policy(
        self, trigger: str | None = None, folder: str | None = None
    ) -> TriggerPolicy:
        """The policy of ``trigger`` (the only trigger when None) for captions in ``folder``
        (posix, relative to the dataset root; subsets are matched against it)."""
        name = self._trigger_key(trigger)
        if folder is not None:
            for subset in self.subsets:
                if _folder_matches(subset.path, folder):
                    for key, value in subset.triggers.items():
                        if db_key(key) == name:
                            return value
        for key, value in self.triggers.items():
            if db_key(key) == name:
                return value
        raise KeyError(trigger)

    def resolver(self, trigger: str | None = None, folder: str | None = None) -> Resolver:
        """Role and group of every tag name, for one trigger (and folder)."""
        policy = self.trigger_policy(trigger, folder)
        compiled = _compiled(self)
        key = id(policy)
        hit = compiled.resolvers.get(key)
        if hit is None:
            hit = _build_resolver(self._trigger_key(trigger), policy, compiled.groups)
            compiled.resolvers[key] = hit
        return hit

    def absorbed_tags(self, trigger: str | None = None) -> frozenset[str]:
        """Normalised names of the core tags of ``trigger`` (groups expanded); every
        trigger's (top level and subsets) when None."""
        if trigger is not None:
            return self.resolver(trigger).role_names["core"]
        names: set[str] = set()
        compiled = _compiled(self)
        policies = [*self.triggers.items()]
        for subset in self.subsets:
            policies.extend(subset.triggers.items())
        for key, policy in policies:
            names |= _build_resolver(db_key(key), policy, compiled.groups).role_names["core"]
        return frozenset(names)

    def has_directional_attributes(self) -> bool:
        """True when any trigger declares a directional attribute: captions then carry
        left/right phrases and flip augmentation must be off."""
        policies = [*self.triggers.values()]
        for subset in self.subsets:
            policies.extend(subset.triggers.values())
        return any(p.directional for p in policies)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Entries that look like group names but name no group (``hair-colur``), as
        (key path, message) pairs; empty when the policy is sound."""
        groups = _compiled(self).groups
        names = list(groups)
        found: list[tuple[tuple[str | int, ...], str]] = []

        def scan(prefix: tuple[str | int, ...], policy: TriggerPolicy) -> None:
            for role in ROLES:
                for index, entry in enumerate(policy.entries(role)):
                    if _group_key(entry, groups) is not None:
                        continue
                    key = entry.strip().lower()
                    if " " in key or "-" not in key:
                        continue
                    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
                    if close:
                        found.append(
                            (
                                (*prefix, role, index),
                                f"unknown group '{entry}' (did you mean '{close[0]}'?)",
                            )
                        )

        for key, policy in self.triggers.items():
            scan(("triggers", key), policy)
        for number, subset in enumerate(self.subsets):
            for key, policy in subset.triggers.items():
                scan(("subsets", number, "triggers", key), policy)
        return found

    def _trigger_key(self, trigger: str | None) -> str:
        names = self.trigger_names()
        if trigger is None:
            if len(names) != 1:
                raise ValueError(
                    f"the policy has {len(names)} triggers ({', '.join(names)}); name one"
                )
            return names[0]
        key = db_key(trigger)
        if key not in names:
            raise KeyError(f"'{trigger}' is not a trigger of the policy ({', '.join(names)})")
        return key


# -- compiled form (cached per policy object) -------------------------------------------------


@dataclass(frozen=True)
class Resolver:
    """A trigger policy compiled for lookups: tag name → (role, group)."""

    trigger: str
    policy: TriggerPolicy
    groups: Mapping[str, TagGroup]
    role_groups: Mapping[Role, tuple[str, ...]]
    """Group names listed per role."""
    role_names: Mapping[Role, frozenset[str]]
    """Every tag name per role (listed tags and group members)."""
    _roles: Mapping[str, Role]
    _group_of: Mapping[str, str]

    def role(self, name: str) -> Role | None:
        """The role of a normalised tag name, or None when the policy does not cover it."""
        return self._roles.get(name)

    def group(self, name: str) -> str | None:
        """The tag group of a normalised tag name (first group in report order), or None."""
        return self._group_of.get(name)


@dataclass
class _Compiled:
    policy: Policy
    groups: Mapping[str, TagGroup]
    resolvers: dict[int, Resolver]


_CACHE: dict[int, _Compiled] = {}


def _compiled(policy: Policy) -> _Compiled:
    hit = _CACHE.get(id(policy))
    if hit is not None and hit.policy is policy:
        return hit
    from anima_caption._policy._taxonomy import canonical_group_name, custom_group, default_groups

    groups: dict[str, TagGroup] = dict(default_groups())
    for name, members in policy.groups.items():
        key = canonical_group_name(name)
        groups[key] = custom_group(key, members)
    if len(_CACHE) >= 64:
        _CACHE.clear()
    compiled = _Compiled(policy, groups, {})
    _CACHE[id(policy)] = compiled
    return compiled


def _group_key(entry: str, groups: Mapping[str, TagGroup]) -> str | None:
    from anima_caption._policy._taxonomy import canonical_group_name

    key = canonical_group_name(entry)
    return key if key in groups else None


def _build_resolver(
    trigger: str, policy: TriggerPolicy, groups: Mapping[str, TagGroup]
) -> Resolver:
    role_groups: dict[Role, tuple[str, ...]] = {}
    listed: dict[Role, set[str]] = {}
    for role in ROLES:
        group_names: list[str] = []
        tags: set[str] = set()
        for entry in policy.entries(role):
            group = _group_key(entry, groups)
            if group is not None:
                group_names.append(group)
            else:
                tags.add(db_key(entry))
        role_groups[role] = tuple(group_names)
        listed[role] = tags
    roles: dict[str, Role] = {}
    # Precedence: a listed tag beats a group; core beats structural beats variable.
    for role in reversed(ROLES):
        for group in role_groups[role]:
            roles.update(dict.fromkeys(groups[group].members, role))
    for role in reversed(ROLES):
        roles.update(dict.fromkeys(listed[role], role))
    roles.pop(trigger, None)
    group_of: dict[str, str] = {}
    for group_name, tag_group in groups.items():
        for member in tag_group.members:
            group_of.setdefault(member, group_name)
    role_names = {role: frozenset(name for name, r in roles.items() if r == role) for role in ROLES}
    return Resolver(
        trigger=trigger,
        policy=policy,
        groups=groups,
        role_groups=role_groups,
        role_names=role_names,
        _roles=roles,
        _group_of=group_of,
    )


def _folder_matches(pattern: str, folder: str) -> bool:
    """A subset path matches a run of folder names at any depth (``chibi`` matches
    ``dataset/chibi`` and ``dataset/chibi/extra``; globs allowed: ``extra*``, ``a/b``)."""
    return _folder_match_cached(pattern, folder)


@cache
def _folder_match_cached(pattern: str, folder: str) -> bool:
    pattern = pattern.strip().replace("\\", "/").strip("/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    parts = [p for p in folder.replace("\\", "/").split("/") if p]
    width = pattern.count("/") + 1
    for start in range(len(parts) - width + 1):
        if fnmatch.fnmatchcase("/".join(parts[start : start + width]), pattern):
            return True
    return False
