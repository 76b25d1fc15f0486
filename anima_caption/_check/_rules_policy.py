"""Policy rules (``PL``): run when the config has a ``policy:`` (docs/policy.md).

They read the policy's core / structural / variable groups per trigger and report leaks of
absorbed tags, structural tags that come and go, variable groups that never vary,
conflicting tags in solo images and natural-language directions that contradict the view.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._check._diagnostic import Applicability, EditRecord, FixRecord, Severity
from anima_caption._check._registry import Finding, Rule
from anima_caption._kinds import Section
from anima_caption._model import Tag

if TYPE_CHECKING:
    from anima_caption._check._config import CheckConfig
    from anima_caption._check._context import CaptionContext, DatasetContext, DatasetEntry
    from anima_caption._policy._analysis import Member
    from anima_caption._policy._model import Policy

UNSAFE = Applicability.UNSAFE


def policy_of(config: CheckConfig) -> Policy | None:
    """The config's policy (a path is loaded relative to the working directory)."""
    from anima_caption._policy._model import Policy

    policy = config.policy
    if policy is None or isinstance(policy, Policy):
        return policy
    return _load(str(Path(policy).resolve()))


@cache
def _load(path: str) -> Policy:
    from anima_caption._policy._load import load_policy

    return load_policy(Path(path))


class _PolicyRule(Rule):
    """Caption rules that run only with a policy and a decoded caption."""

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        return config.policy is not None

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        policy = policy_of(ctx.config)
        if policy is None or ctx.caption is None:
            return iter(())
        return self.run(ctx, policy)

    def run(self, ctx: CaptionContext, policy: Policy) -> Iterator[Finding]:
        return iter(())


class CoreTagLeak(_PolicyRule):
    """A tag the trigger absorbs is written in the caption.

    What it does: with a policy, reports tags of the trigger's *core* groups or tags
    (by default every hair-colour and eye-colour tag) in captions of that trigger.

    Why: a core attribute is learnt by the trigger itself. Writing it as a tag ties it to
    the base model's idea of the tag instead: in the seed, `brown hair` drifted the
    character's hair to orange; removing it let `kanachan` learn the real colour.

    Example: policy `kanachan: {core: [hair-colour, eye-colour]}` and the caption
    `1girl, kanachan, brown hair, side ponytail` → `1girl, kanachan, side ponytail`.

    Fix safety: unsafe — removes the tag (the training signal changes); also done in bulk
    by `anima-caption policy apply`.
    """

    code = "PL001"
    slug = "core-tag-leak"
    severity = Severity.ERROR
    fix = UNSAFE

    def run(self, ctx: CaptionContext, policy: Policy) -> Iterator[Finding]:
        from anima_caption._check._rules_caption import _removal
        from anima_caption._policy._classify import caption_trigger

        assert ctx.caption is not None
        trigger = caption_trigger(ctx.caption, policy)
        if trigger is None:
            return
        resolver = policy.resolver(trigger, ctx.path.parent.as_posix())
        core = resolver.role_names["core"]
        items = ctx.caption.items
        for index, item in enumerate(items):
            if isinstance(item, Tag) and item.section is Section.GENERAL and item.name in core:
                group = resolver.group(item.name)
                where = f" ({group})" if group else ""
                fix = FixRecord(
                    UNSAFE,
                    f"remove '{item.name}'",
                    (_removal(items, index),),
                )
                yield Finding(
                    f"'{item.name}'{where} is absorbed by the trigger '{trigger}': "
                    "leave it out of the caption",
                    item.span,
                    fix,
                )


class ConflictingTags(_PolicyRule):
    """Two tags of an exclusive group in a solo image.

    What it does: in captions of one character (`solo`, or a single `1girl` / `1boy` /
    `1other`), reports two hair colours without `multicolored hair` / `two-tone hair` /
    `gradient hair` …, or two eye colours without `heterochromia`. The groups and the tags
    that allow several are data (`exclusive:` in `tag_db/groups/*.yaml`).

    Why: one of the two is wrong, or the image is a two-tone design that needs its tag;
    either way the model learns a mixture.

    Example: `1girl, solo, kanachan, brown hair, blonde hair` (add `two-tone hair` if
    that is the design, else remove the wrong colour).

    Fix safety: no fix — look at the image.
    """

    code = "PL004"
    slug = "conflicting-tags"

    def run(self, ctx: CaptionContext, policy: Policy) -> Iterator[Finding]:
        from anima_caption._policy._analysis import conflicts

        if not policy.solo_conflicts:
            return
        assert ctx.caption is not None
        tags = [t for t in ctx.caption.tags if t.section is Section.GENERAL]
        names = [t.name for t in tags]
        all_names = frozenset(t.name for t in ctx.caption.tags)
        for conflict in conflicts(names, all_names, policy.groups_map()):
            second = next(t for t in tags if t.name == conflict.tags[1])
            allowed = ", ".join(f"'{u}'" for u in conflict.unless[:3])
            yield Finding(
                f"{' and '.join(repr(t) for t in conflict.tags)} ({conflict.group}) in a solo "
                f"image: keep one, or add {allowed} if the design has both",
                second.span,
            )


class DirectionalPhraseContradiction(_PolicyRule):
    """The natural-language direction contradicts the caption's view.

    What it does: for a directional attribute of the policy (an attribute on the
    character's left or right, e.g. the side ponytail), reads the view from the
    composition tags (`portrait`, `upper body`, `looking at viewer` … front; `from behind`
    back; `profile` / `from side` + "facing left/right") and reports a sentence whose
    phrase belongs to another view: for a ponytail on the character's left, a front view
    shows it "visible on the right side of the image", a back view "on the left side".

    Why: the phrase is the only direction signal the model gets (`left side ponytail` is
    not a tag). A phrase that contradicts the image teaches the opposite side.

    Example: `portrait`, "Her side ponytail is visible on the left side of the image." →
    "… visible on the right side of the image."

    Fix safety: unsafe — replaces the phrase with the one the view asks for; check the
    image first (the view tag may be the wrong part, as in the seed's swapped captions).
    """

    code = "PL005"
    slug = "directional-phrase-contradiction"
    severity = Severity.ERROR
    fix = UNSAFE

    def run(self, ctx: CaptionContext, policy: Policy) -> Iterator[Finding]:
        from anima_caption._policy._classify import caption_trigger
        from anima_caption._policy._direction import check_phrase, phrase_edit

        assert ctx.caption is not None
        trigger = caption_trigger(ctx.caption, policy)
        if trigger is None:
            return
        for attribute in policy.trigger_policy(trigger, ctx.path.parent.as_posix()).directional:
            check = check_phrase(ctx.caption, attribute)
            if check is None or check.status != "contradiction" or check.span is None:
                continue
            assert check.expected is not None
            start, end, content = phrase_edit(ctx.text, check)
            fix = FixRecord(
                UNSAFE,
                f"say '{check.expected}'",
                (EditRecord(start, end, content),),
            )
            yield Finding(
                f"'{check.found}' contradicts the {check.view} view: the {attribute.tag} is "
                f"on the character's {attribute.side}, so say '{check.expected}'",
                check.span,
                fix,
            )


class DirectionalPhraseMissing(_PolicyRule):
    """A caption with a directional attribute does not say where it is.

    What it does: reports captions that have the attribute's tag (`side ponytail`) and a
    view tag, but no sentence stating the side for it. With `sentence:` set on the
    attribute in the policy, the fix adds that sentence with the phrase the view asks for.

    Why: without the phrase, the image teaches a side the text never names, and the model
    keeps its own bias (Anima base puts a side ponytail on the viewer's left).

    Example: `1girl, kanachan, portrait, side ponytail` → add "Her side ponytail is
    visible on the right side of the image."

    Fix safety: unsafe — adds a sentence (only when the policy gives one).
    """

    code = "PL006"
    slug = "directional-phrase-missing"
    fix = UNSAFE

    def run(self, ctx: CaptionContext, policy: Policy) -> Iterator[Finding]:
        from anima_caption._policy._classify import caption_trigger
        from anima_caption._policy._direction import check_phrase, insertion

        assert ctx.caption is not None
        trigger = caption_trigger(ctx.caption, policy)
        if trigger is None:
            return
        for attribute in policy.trigger_policy(trigger, ctx.path.parent.as_posix()).directional:
            check = check_phrase(ctx.caption, attribute)
            if check is None or check.status != "missing" or check.expected is None:
                continue
            tag = next((t for t in ctx.caption.tags if t.name == attribute.tag.lower()), None)
            fix = None
            if attribute.sentence is not None:
                sentence = attribute.sentence.replace("{phrase}", check.expected)
                at, content = insertion(ctx.caption, sentence, trigger)
                fix = FixRecord(
                    UNSAFE,
                    f"add '{sentence}'",
                    (EditRecord(at, at, content),),
                )
            yield Finding(
                f"no sentence says where the {attribute.tag} is; for the {check.view} view "
                f"say '{check.expected}'",
                tag.span if tag is not None else None,
                fix,
            )


# -- dataset rules --------------------------------------------------------------------------


def _members(ctx: DatasetContext) -> list[Member]:
    from anima_caption._policy._analysis import Member

    out = []
    for entry in ctx.captions:
        if entry.tags is None:
            continue
        out.append(_member(entry, Member))
    return out


def _member(entry: DatasetEntry, cls: type[Member]) -> Member:
    assert entry.tags is not None
    from anima_caption._kinds import SECTION_OF_KIND

    general = frozenset(
        t.name
        for t in entry.tags
        if SECTION_OF_KIND.get(t.kind) is Section.GENERAL and not t.kaomoji
    )
    return cls(
        display=entry.display,
        folder=entry.path.parent.as_posix(),
        names=general,
        all_names=frozenset(t.name for t in entry.tags),
    )


class StructuralTagInconsistent(Rule):
    """A structural tag is in some captions of a trigger and missing in others.

    What it does: with a policy, counts each *structural* tag (listed, or from the
    structural groups: hair length, hairstyle, bangs by default) over the captions of the
    trigger. When most captions have it, reports the ones that lack it; when only a few
    have it, reports those few.

    Why: structural tags stay independent of the trigger only if they are there every
    time; in the captions that lack one, the trigger absorbs the attribute again, and at
    inference `kanachan, twintails` is pulled back to the side ponytail.

    Example: `side ponytail` in 52 of 53 captions; the one without it (it said
    `left side ponytail`, which is not a tag) is reported.

    Fix safety: no fix — add the tag (`anima-caption edit`) where the image shows it.
    """

    code = "PL002"
    slug = "structural-tag-inconsistent"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        from anima_caption._policy._analysis import populations, structural_gaps

        policy = policy_of(ctx.config)
        if policy is None:
            return
        for pop in populations(policy, _members(ctx)):
            total = len(pop.members)
            for gap in structural_gaps(pop):
                if gap.mostly_present:
                    for display in gap.missing:
                        yield Finding(
                            f"structural tag '{gap.tag}' of '{pop.trigger}' is missing here "
                            f"(it is in {len(gap.present)} of {total} captions)",
                            path=display,
                        )
                else:
                    for display in gap.present:
                        yield Finding(
                            f"structural tag '{gap.tag}' of '{pop.trigger}' is only in "
                            f"{len(gap.present)} of {total} captions: use it in every "
                            "caption or in none",
                            path=display,
                        )


class VariableGroupConstant(Rule):
    """A variable group never varies across the captions of a trigger.

    What it does: with a policy, reports a *variable* group (attire, expression, pose,
    composition, background, hair ornaments by default) whose tags are the same in every
    caption of the trigger (3 captions or more).

    Why: what never varies is learnt as part of the trigger: the LoRA then draws the white
    background or the school uniform whether asked or not. Vary the images, or declare the
    tags structural (or core) in the policy.

    Example: every caption has `white background, simple background`.

    Fix safety: no fix — a dataset decision.
    """

    code = "PL003"
    slug = "variable-group-constant"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        from anima_caption._policy._analysis import constant_variable_groups, populations

        policy = policy_of(ctx.config)
        if policy is None:
            return
        for pop in populations(policy, _members(ctx)):
            for const in constant_variable_groups(pop):
                yield Finding(
                    f"variable group '{const.group}' of '{pop.trigger}' never varies: all "
                    f"{const.captions} captions have {', '.join(repr(t) for t in const.tags)}",
                    path=const.first,
                )


class FlipSensitiveCaptions(Rule):
    """Captions state left/right directions: flip augmentation must be off.

    What it does: with a policy that declares directional attributes, counts the captions
    whose sentences state a side for them and reports it once (info), so the training
    configuration keeps flip augmentation off (`flip_aug = false`, `flip_augment: false`).

    Why: a horizontally flipped image with an unflipped caption teaches the opposite side
    on every other step.

    Example: 53 captions say "visible on the right side of the image".

    Fix safety: no fix — a training setting (`anima-caption train` sets it).
    """

    code = "PL007"
    slug = "flip-sensitive-captions"
    scope = "dataset"
    severity = Severity.INFO

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        policy = policy_of(ctx.config)
        if policy is None or not policy.has_directional_attributes():
            return
        from anima_caption._policy._direction import _all_phrases

        phrases = {
            p.lower()
            for trig in policy.triggers.values()
            for a in trig.directional
            for p in _all_phrases(a)
        }
        flagged = [
            e.display
            for e in ctx.captions
            if any(p in s.lower() for s in e.sentences for p in phrases)
        ]
        if flagged:
            yield Finding(
                f"{len(flagged)} caption(s) state left/right directions for directional "
                "attributes: train with flip augmentation off",
                path=flagged[0],
            )
