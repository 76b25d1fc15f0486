"""``policy apply``: remove absorbed (core) tags and, optionally, write the directional
phrases the views ask for — as edits on the exact caption text, so everything else is kept
byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field

from anima_caption._kinds import Section
from anima_caption._model import Caption, Item, Tag
from anima_caption._policy._classify import caption_trigger
from anima_caption._policy._dataset import PolicyCaption
from anima_caption._policy._direction import check_phrase, insertion, phrase_edit
from anima_caption._policy._model import Policy

Edit = tuple[int, int, str]


@dataclass
class Change:
    """What apply does to one caption."""

    item: PolicyCaption
    new_text: str
    removed: list[str] = field(default_factory=list)
    directional: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the text changes."""
        return self.new_text != self.item.file.text


def _removal(items: tuple[Item, ...], index: int) -> Edit:
    """Delete ``items[index]`` with one adjacent separator."""
    item = items[index]
    if index + 1 < len(items):
        return item.span[0], items[index + 1].span[0], ""
    if index > 0:
        return items[index - 1].span[1], item.span[1], ""
    return item.span[0], item.span[1], ""


def plan_caption(
    caption: Caption, policy: Policy, folder: str, *, directional: bool = False
) -> tuple[str, list[str], list[str]]:
    """The new text of one caption, the tags removed and the directional changes."""
    text = caption.to_text()
    trigger = caption_trigger(caption, policy)
    if trigger is None:
        return text, [], []
    resolver = policy.resolver(trigger, folder)
    core = resolver.role_names["core"]
    edits: list[Edit] = []
    removed: list[str] = []
    items = caption.items
    for index, item in enumerate(items):
        if isinstance(item, Tag) and item.section is Section.GENERAL and item.name in core:
            edits.append(_removal(items, index))
            removed.append(item.name)
    notes: list[str] = []
    if directional:
        for attribute in policy.trigger_policy(trigger, folder).directional:
            check = check_phrase(caption, attribute)
            if check is None or check.expected is None:
                continue
            if check.status == "contradiction":
                edits.append(phrase_edit(text, check))
                notes.append(f"'{check.found}' -> '{check.expected}' ({check.view} view)")
            elif check.status == "missing" and attribute.sentence is not None:
                sentence = attribute.sentence.replace("{phrase}", check.expected)
                at, content = insertion(caption, sentence, trigger)
                edits.append((at, at, content))
                notes.append(f"added '{sentence}' ({check.view} view)")
    for start, end, content in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + content + text[end:]
    return text, removed, notes


def plan(
    captions: list[PolicyCaption], policy: Policy, *, directional: bool = False
) -> list[Change]:
    """The changes apply would make, one per caption that changes."""
    changes = []
    for item in captions:
        new, removed, notes = plan_caption(
            item.caption, policy, item.path.parent.as_posix(), directional=directional
        )
        change = Change(item, new, removed, notes)
        if change.changed:
            changes.append(change)
    return changes
