"""Dataset diagnostics shared by ``policy report`` and the ``PL`` check rules.

They work on small per-caption summaries (display path, folder, tag names) so that
``check`` can run them on its compact dataset entries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from anima_caption._policy._model import Policy, Resolver

SOLO_TAGS = frozenset({"solo", "1girl", "1boy", "1other"})
_MANY = frozenset({"2girls", "3girls", "4girls", "5girls", "6+girls", "multiple girls",
                   "2boys", "3boys", "4boys", "5boys", "6+boys", "multiple boys",
                   "2others", "3others", "multiple others"})  # fmt: skip


@dataclass(frozen=True)
class Member:
    """What the dataset diagnostics need of one caption."""

    display: str
    folder: str
    names: frozenset[str]
    """Normalised names of the caption's general-section tags."""
    all_names: frozenset[str]
    """Every tag name (prefix, count, trigger included)."""


@dataclass(frozen=True)
class Population:
    """The captions one trigger policy applies to."""

    trigger: str
    resolver: Resolver
    members: tuple[Member, ...]


def populations(policy: Policy, members: Iterable[Member]) -> list[Population]:
    """Captions grouped by their trigger and effective (subset) trigger policy, in file
    order. Captions with none of the triggers belong to the only trigger, or to none."""
    names = policy.trigger_names()
    buckets: dict[tuple[str, int], list[Member]] = defaultdict(list)
    resolvers: dict[tuple[str, int], Resolver] = {}
    for member in members:
        trigger = next((n for n in names if n in member.all_names), None)
        if trigger is None:
            if len(names) != 1:
                continue
            trigger = names[0]
        resolver = policy.resolver(trigger, member.folder)
        key = (trigger, id(resolver))
        resolvers[key] = resolver
        buckets[key].append(member)
    return [Population(t, resolvers[(t, k)], tuple(ms)) for (t, k), ms in buckets.items()]


@dataclass(frozen=True)
class StructuralGap:
    """A structural tag present in some captions and missing in others."""

    tag: str
    present: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def mostly_present(self) -> bool:
        """True when most captions have the tag (so the missing ones are the odd ones)."""
        return len(self.present) >= len(self.missing)


def structural_gaps(population: Population) -> list[StructuralGap]:
    """Structural tags (listed or from structural groups) that some captions lack."""
    structural = population.resolver.role_names["structural"]
    counts: Counter[str] = Counter()
    for member in population.members:
        counts.update(member.names & structural)
    gaps = []
    total = len(population.members)
    for tag, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count == total:
            continue
        present = tuple(m.display for m in population.members if tag in m.names)
        missing = tuple(m.display for m in population.members if tag not in m.names)
        gaps.append(StructuralGap(tag, present, missing))
    return gaps


@dataclass(frozen=True)
class ConstantGroup:
    """A variable group whose tags are the same in every caption."""

    group: str
    tags: tuple[str, ...]
    captions: int
    first: str


#: A variable group is only called constant when at least this many captions agree.
MIN_CAPTIONS_FOR_CONSTANT = 3


def constant_variable_groups(population: Population) -> list[ConstantGroup]:
    """Variable groups (and listed variable tags) that never vary across the population."""
    resolver = population.resolver
    members = population.members
    if len(members) < MIN_CAPTIONS_FOR_CONSTANT:
        return []
    out = []
    for group in resolver.role_groups["variable"]:
        variable = resolver.groups[group].members & resolver.role_names["variable"]
        sets = {frozenset(m.names & variable) for m in members}
        if len(sets) == 1:
            only = next(iter(sets))
            if only:
                out.append(
                    ConstantGroup(group, tuple(sorted(only)), len(members), members[0].display)
                )
    return out


@dataclass(frozen=True)
class Conflict:
    """Two or more tags of an exclusive group in a solo caption."""

    group: str
    tags: tuple[str, ...]
    unless: tuple[str, ...]


def is_solo(all_names: frozenset[str]) -> bool:
    """A caption of one character: ``solo``, or a single ``1girl``/``1boy``/``1other``."""
    if all_names & _MANY:
        return False
    if "solo" in all_names:
        return True
    return len(all_names & SOLO_TAGS) == 1


def conflicts(
    names: Sequence[str], all_names: frozenset[str], groups: Mapping[str, object]
) -> list[Conflict]:
    """Exclusive groups (hair colour, eye colour) with several tags in a solo caption and
    none of the tags that allow it (``two-tone hair``, ``heterochromia``)."""
    from anima_caption._policy._taxonomy import TagGroup

    if not is_solo(all_names):
        return []
    present = set(names)
    out = []
    for name, group in groups.items():
        if not isinstance(group, TagGroup) or not group.exclusive:
            continue
        if present & group.unless:
            continue
        found = tuple(n for n in dict.fromkeys(names) if n in group.members)
        if len(found) >= 2:
            out.append(Conflict(name, found, tuple(sorted(group.unless))))
    return out
