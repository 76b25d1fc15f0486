"""``policy report``: per trigger and tag group, each tag with its count and share of
captions, plus the policy's findings (leaks, structural gaps, constant variable groups,
solo conflicts, directional phrases)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from anima_caption._kinds import Section
from anima_caption._policy._analysis import (
    Member,
    StructuralGap,
    conflicts,
    constant_variable_groups,
    populations,
    structural_gaps,
)
from anima_caption._policy._dataset import PolicyCaption, PolicyDataset
from anima_caption._policy._direction import check_phrase, has_directional_phrase
from anima_caption._policy._model import Policy

UNGROUPED = "ungrouped"


@dataclass(frozen=True)
class TagCount:
    """One tag of a group: its role, in how many captions, and which share of them."""

    tag: str
    role: str
    count: int
    share: float


@dataclass(frozen=True)
class GroupCount:
    """A tag group and its tags, most frequent first."""

    group: str
    role: str | None
    """The role the policy gives the whole group, or None (tags carry their own roles)."""
    tags: list[TagCount]


@dataclass
class DirectionalSummary:
    """Directional phrases of one attribute across a trigger's captions."""

    tag: str
    side: str
    with_phrase: int = 0
    ok: int = 0
    contradictions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)


@dataclass
class TriggerReport:
    """Everything the report says about one trigger's captions."""

    trigger: str
    captions: int
    groups: list[GroupCount]
    leaks: dict[str, list[str]]
    structural_gaps: list[dict[str, Any]]
    constant_groups: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    directional: list[DirectionalSummary]
    flip_augmentation: str
    """``off`` when captions state directions (flip would teach the wrong side), else ``ok``."""


@dataclass
class PolicyReport:
    """The whole report (``--format json`` prints :meth:`to_dict`)."""

    captions: int
    unreadable: list[str]
    without_trigger: list[str]
    triggers: list[TriggerReport]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def member_of(item: PolicyCaption) -> Member:
    """The diagnostics' summary of a parsed caption."""
    tags = item.caption.tags
    return Member(
        display=item.display,
        folder=item.path.parent.as_posix(),
        names=frozenset(t.name for t in tags if t.section is Section.GENERAL),
        all_names=frozenset(t.name for t in tags),
    )


def build_report(dataset: PolicyDataset, policy: Policy) -> PolicyReport:
    """Count and check every caption of ``dataset`` under ``policy``."""
    members = [member_of(c) for c in dataset.captions]
    by_display = {c.display: c for c in dataset.captions}
    pops = populations(policy, members)
    assigned = {m.display for p in pops for m in p.members}
    reports = []
    for trigger in policy.trigger_names():
        pop_list = [p for p in pops if p.trigger == trigger]
        captions = [by_display[m.display] for p in pop_list for m in p.members]
        if not captions and len(policy.trigger_names()) > 1:
            continue
        reports.append(_trigger_report(trigger, policy, pop_list, captions))
    return PolicyReport(
        captions=len(dataset.captions),
        unreadable=[str(e) for e in dataset.unreadable],
        without_trigger=[c.display for c in dataset.captions if c.display not in assigned],
        triggers=reports,
    )


def _trigger_report(
    trigger: str, policy: Policy, pops: list[Any], captions: list[PolicyCaption]
) -> TriggerReport:
    from anima_caption._policy._classify import classify

    total = len(captions)
    counts: Counter[tuple[str | None, str, str]] = Counter()
    leaks: dict[str, list[str]] = {}
    conflict_rows: list[dict[str, Any]] = []
    groups = policy.groups_map()
    resolver = policy.resolver(trigger)
    for item in captions:
        result = classify(item.caption, policy, trigger, folder=item.path.parent.as_posix())
        seen: set[str] = set()
        general = []
        for c in result.tags:
            if c.tag.section is not Section.GENERAL or c.name == trigger or c.name in seen:
                continue
            seen.add(c.name)
            general.append(c.name)
            counts[(c.group, c.name, c.role)] += 1
            if c.role == "core":
                leaks.setdefault(c.name, []).append(item.display)
        all_names = frozenset(t.name for t in item.caption.tags)
        if policy.solo_conflicts:
            conflict_rows.extend(
                {"path": item.display, "group": c.group, "tags": list(c.tags)}
                for c in conflicts(general, all_names, groups)
            )
    group_rows: list[GroupCount] = []
    order = [*groups, None]
    for group in order:
        tags = [
            TagCount(name, role, n, round(n / total, 4) if total else 0.0)
            for (g, name, role), n in counts.items()
            if g == group
        ]
        if not tags:
            continue
        tags.sort(key=lambda t: (-t.count, t.tag))
        role = None
        if group is not None:
            for r, names in resolver.role_groups.items():
                if group in names:
                    role = r
                    break
        group_rows.append(GroupCount(group or UNGROUPED, role, tags))
    gaps: list[dict[str, Any]] = []
    constants: list[dict[str, Any]] = []
    for pop in pops:
        gaps.extend(_gap_row(gap) for gap in structural_gaps(pop))
        constants.extend(
            {"group": c.group, "tags": list(c.tags)} for c in constant_variable_groups(pop)
        )
    directional = _directional(policy, trigger, captions)
    flip = "off" if any(d.with_phrase for d in directional) else "ok"
    return TriggerReport(
        trigger=trigger,
        captions=total,
        groups=group_rows,
        leaks=dict(sorted(leaks.items())),
        structural_gaps=gaps,
        constant_groups=constants,
        conflicts=conflict_rows,
        directional=directional,
        flip_augmentation=flip,
    )


def _gap_row(gap: StructuralGap) -> dict[str, Any]:
    if gap.mostly_present:
        return {"tag": gap.tag, "present": len(gap.present), "missing": list(gap.missing)}
    return {"tag": gap.tag, "present": len(gap.present), "only_in": list(gap.present)}


def _directional(
    policy: Policy, trigger: str, captions: list[PolicyCaption]
) -> list[DirectionalSummary]:
    summaries: dict[str, DirectionalSummary] = {}
    for item in captions:
        tpol = policy.trigger_policy(trigger, item.path.parent.as_posix())
        for attribute in tpol.directional:
            summary = summaries.setdefault(
                attribute.tag, DirectionalSummary(attribute.tag, attribute.side)
            )
            if has_directional_phrase(item.caption, [attribute]):
                summary.with_phrase += 1
            check = check_phrase(item.caption, attribute)
            if check is None:
                continue
            if check.status == "ok":
                summary.ok += 1
            elif check.status == "contradiction":
                summary.contradictions.append(item.display)
            elif check.status == "missing":
                summary.missing.append(item.display)
            else:
                summary.unverifiable.append(item.display)
    return list(summaries.values())


def render_text(report: PolicyReport) -> str:
    """The report as aligned text for a terminal."""
    lines: list[str] = []
    for tr in report.triggers:
        lines.append(f"{tr.trigger}: {tr.captions} caption(s)")
        width = max((len(t.tag) for g in tr.groups for t in g.tags), default=10)
        for group in tr.groups:
            role = f" ({group.role})" if group.role else ""
            lines.append(f"  {group.group}{role}")
            for t in group.tags:
                note = "  <- absorbed by the trigger: leak" if t.role == "core" else ""
                lines.append(
                    f"    {t.tag:<{width}}  {t.role:<10}  {t.count:>5}  {t.share:>6.0%}{note}"
                )
        lines.append("  findings")
        findings = 0
        for tag, paths in tr.leaks.items():
            findings += 1
            lines.append(f"    core tag '{tag}' leaks into {len(paths)} caption(s): {_few(paths)}")
        for gap in tr.structural_gaps:
            findings += 1
            if "missing" in gap:
                lines.append(
                    f"    structural tag '{gap['tag']}' is in {gap['present']} of {tr.captions} "
                    f"caption(s), missing in: {_few(gap['missing'])}"
                )
            else:
                lines.append(
                    f"    structural tag '{gap['tag']}' is only in {gap['present']} of "
                    f"{tr.captions} caption(s): {_few(gap['only_in'])}"
                )
        for const in tr.constant_groups:
            findings += 1
            tags = ", ".join(const["tags"])
            lines.append(f"    variable group '{const['group']}' never varies: always {tags}")
        for conflict in tr.conflicts:
            findings += 1
            lines.append(
                f"    {conflict['path']}: {' and '.join(conflict['tags'])} in a solo image "
                f"({conflict['group']})"
            )
        for d in tr.directional:
            for path in d.contradictions:
                findings += 1
                lines.append(f"    {path}: the '{d.tag}' phrase contradicts the view")
            for path in d.missing:
                findings += 1
                lines.append(f"    {path}: no phrase says where the '{d.tag}' is")
        if not findings:
            lines.append("    none")
        lines.extend(
            f"  directional: '{d.tag}' on the character's {d.side}: {d.with_phrase} "
            f"caption(s) state a direction ({d.ok} agree with the view, "
            f"{len(d.contradictions)} contradict it, {len(d.missing)} lack it, "
            f"{len(d.unverifiable)} have no view tag)"
            for d in tr.directional
        )
        if tr.flip_augmentation == "off":
            lines.append("  flip augmentation must be OFF: captions state left/right")
        lines.append("")
    if report.without_trigger:
        lines.append(f"{len(report.without_trigger)} caption(s) carry no policy trigger: "
                     f"{_few(report.without_trigger)}")  # fmt: skip
    lines.extend(f"unreadable: {message}" for message in report.unreadable)
    return "\n".join(lines).rstrip() + "\n"


def _few(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")
