"""The default taxonomy of tag groups (``tag_db/groups/*.yaml``) and directional data.

Each group is built from data: templates expanded over value lists (``{colour} hair``) whose
expansions that are real Danbooru general tags are stored in the group file as
``generated``, plus a hand-picked ``curated`` list. Membership at run time is a set lookup
on normalised tag names; no tag database is needed.

Run ``python -m anima_caption._policy._taxonomy TAGS.csv [--write]`` to regenerate the
``generated`` lists from a Danbooru tag list (``name,category,post_count`` with or without a
header, as in ``danbooru_tags_full_*.csv`` or tagcomplete's ``danbooru.csv``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anima_caption._data import data_path
from anima_caption._normalize import db_key

GROUPS_DIR = "tag_db/groups"
_INDEX = f"{GROUPS_DIR}/groups.yaml"
_DIRECTIONAL = f"{GROUPS_DIR}/directional.yaml"

#: Other spellings accepted for the default group names in policy files.
GROUP_ALIASES: Mapping[str, str] = {
    "hair-color": "hair-colour",
    "eye-color": "eye-colour",
    "hair-ornaments": "hair-ornament",
    "hairstyles": "hairstyle",
    "outfit": "attire",
    "clothes": "attire",
    "expressions": "expression",
    "posture": "pose",
    "view": "composition",
}


@dataclass(frozen=True)
class Pattern:
    """A template such as ``{colour} hair`` and the values of each placeholder."""

    template: str
    values: Mapping[str, tuple[str, ...]]

    def expand(self) -> Iterable[str]:
        """Every filled-in template (not all of them are tags)."""
        names = re.findall(r"\{(\w+)\}", self.template)
        for combo in itertools.product(*(self.values[name] for name in names)):
            text = self.template
            for name, value in zip(names, combo, strict=True):
                text = text.replace("{" + name + "}", value, 1)
            yield db_key(text)


@dataclass(frozen=True)
class TagGroup:
    """One group of the taxonomy: its members and, optionally, its exclusivity rule."""

    name: str
    title: str
    description: str
    members: frozenset[str]
    """Normalised tag names (generated ∪ curated)."""
    generated: tuple[str, ...] = ()
    curated: tuple[str, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    exclusive: bool = False
    """A solo character normally has one tag of this group (hair colour, eye colour)."""
    unless: frozenset[str] = frozenset()
    """Tags that make several tags of an exclusive group fine (``two-tone hair``)."""
    source: Path | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.members


@dataclass(frozen=True)
class DirectionalData:
    """Views (tag lists, strongest first), profile-direction cues and the phrase table."""

    views: tuple[tuple[str, frozenset[str]], ...]
    facing: Mapping[str, tuple[re.Pattern[str], ...]]
    phrases: Mapping[str, str]
    """Phrase per view for an attribute on the character's left side."""


def _load_yaml(path: Path) -> Any:
    import yaml

    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _group_from_data(data: Mapping[str, Any], source: Path | None) -> TagGroup:
    patterns = tuple(
        Pattern(
            template=str(p["template"]),
            values={k: tuple(str(v) for v in vs) for k, vs in p.get("values", {}).items()},
        )
        for p in data.get("patterns") or ()
    )
    generated = tuple(db_key(str(t)) for t in data.get("generated") or ())
    curated = tuple(db_key(str(t)) for t in data.get("curated") or ())
    exclusive = data.get("exclusive")
    unless = frozenset(
        db_key(str(t)) for t in (exclusive or {}).get("unless") or () if exclusive is not None
    )
    return TagGroup(
        name=str(data["name"]),
        title=str(data.get("title") or data["name"]),
        description=" ".join(str(data.get("description") or "").split()),
        members=frozenset(generated) | frozenset(curated),
        generated=generated,
        curated=curated,
        patterns=patterns,
        exclusive=exclusive is not None,
        unless=unless,
        source=source,
    )


@cache
def default_groups() -> Mapping[str, TagGroup]:
    """The shipped taxonomy, in report order (name → group)."""
    index = _load_yaml(data_path(_INDEX))
    groups: dict[str, TagGroup] = {}
    for name in index["groups"]:
        path = data_path(f"{GROUPS_DIR}/{name}.yaml")
        group = _group_from_data(_load_yaml(path), path)
        if group.name != name:
            raise RuntimeError(f"{path}: name {group.name!r} does not match the file name")
        groups[name] = group
    return groups


def custom_group(name: str, members: Sequence[str]) -> TagGroup:
    """A group declared in a policy's ``groups:`` (members are tags)."""
    names = tuple(db_key(m) for m in members)
    return TagGroup(name=name, title=name, description="", members=frozenset(names), curated=names)


def canonical_group_name(name: str) -> str:
    """``hair-color`` → ``hair-colour``; other names unchanged (stripped, lowercase)."""
    key = name.strip().lower().replace("_", "-")
    return GROUP_ALIASES.get(key, key)


@cache
def directional_data() -> DirectionalData:
    """The shipped view tags, facing cues and phrase table (``directional.yaml``)."""
    data = _load_yaml(data_path(_DIRECTIONAL))
    views = tuple(
        (str(view), frozenset(db_key(str(t)) for t in tags)) for view, tags in data["views"].items()
    )
    facing = {
        str(direction): tuple(re.compile(str(p), re.IGNORECASE) for p in patterns)
        for direction, patterns in data["facing"].items()
    }
    phrases = {str(k): str(v) for k, v in data["phrases"].items()}
    return DirectionalData(views=views, facing=facing, phrases=phrases)


# -- regeneration from data ----------------------------------------------------------------


def read_general_tags(path: Path) -> dict[str, int]:
    """Danbooru general tags (category 0) of a CSV tag list → post count."""
    import csv

    tags: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 3 or row[1] != "0" or not row[2].isdigit():
                continue
            tags[db_key(row[0])] = max(tags.get(db_key(row[0]), 0), int(row[2]))
    return tags


def generate(group: TagGroup, known: Mapping[str, int] | frozenset[str]) -> tuple[str, ...]:
    """The expansions of the group's patterns that are known tags, sorted."""
    return tuple(sorted({t for p in group.patterns for t in p.expand() if t in known}))


def _main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - maintenance tool
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m anima_caption._policy._taxonomy",
        description="Regenerate the `generated` lists of tag_db/groups/*.yaml from tag CSVs.",
    )
    parser.add_argument("csv", nargs="+", type=Path, help="Danbooru tag lists (CSV)")
    parser.add_argument("--write", action="store_true", help="rewrite the group files")
    args = parser.parse_args(argv)
    known: dict[str, int] = {}
    for path in args.csv:
        known.update(read_general_tags(path))
    for group in default_groups().values():
        if not group.patterns or group.source is None:
            continue
        new = generate(group, known)
        print(f"{group.name}: {len(new)} generated tags")
        if args.write:
            text = group.source.read_text(encoding="utf-8")
            head, _, _ = text.partition("\ngenerated:")
            body = "".join(f"\n  - {t}" for t in new) if new else " []"
            group.source.write_text(f"{head}\ngenerated:{body}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
