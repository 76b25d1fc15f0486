"""Where proposed captions and policy colours come from: ``check``'s fixes, ``convert``
and the policy engine. Each is imported only when asked for."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._errors import UsageError

if TYPE_CHECKING:
    from anima_caption._check._engine import Checker
    from anima_caption._model import Caption, Tag
    from anima_caption._review._dataset import ReviewRow


def proposer_for(
    mode: str, checker: Checker, args: argparse.Namespace
) -> Callable[[str], str] | None:
    """The function that turns a caption text into the proposed one (None: no proposal)."""
    if mode == "none":
        return None
    if mode == "fix":
        from anima_caption._review._dataset import fix_proposer

        return fix_proposer(checker, unsafe=bool(getattr(args, "unsafe_fixes", False)))
    if mode == "convert":
        return _convert_proposer(checker, args)
    if mode == "policy":
        if not getattr(args, "policy", None):
            raise UsageError("--propose policy needs --policy FILE (the policy YAML)")
        return _policy_proposer(Path(args.policy), checker)
    raise UsageError(f"--propose {mode}: use none, fix, convert or policy")


def _convert_proposer(checker: Checker, args: argparse.Namespace) -> Callable[[str], str]:
    from anima_caption._convert import Converter

    triggers = list(checker.config.triggers)
    absorbed: set[str] = set()
    if getattr(args, "policy", None):
        policy = load_policy_file(Path(args.policy))
        names: list[str | None] = [*triggers] or [*policy.trigger_names()] or [None]
        for trigger in names:
            absorbed |= policy.absorbed_tags(trigger)
    converter = Converter(
        checker.lookup,
        dialect=getattr(args, "dialect", "sdxl"),
        triggers=triggers,
        prefix=getattr(args, "prefix", "") or "",
        absorbed=absorbed,
    )

    def propose(text: str) -> str:
        converted: str = converter.convert(text).text
        return converted

    return propose


def load_policy_file(path: Path) -> Any:
    """The policy in ``path`` (a one-line usage error when the file is missing)."""
    from anima_caption._policy import load_policy

    if not path.is_file():
        raise UsageError(f"--policy {path}: no such file")
    return load_policy(path)


def _policy_proposer(path: Path, checker: Checker) -> Callable[[str], str]:
    from anima_caption._parse import parse
    from anima_caption._policy import classify

    policy = load_policy_file(path)

    def propose(text: str) -> str:
        caption = parse(text, lookup=checker.lookup, triggers=checker.config.triggers)
        core = {id(tag) for tag in classify(caption, policy).core}
        return remove_tags(caption, lambda tag: id(tag) in core)

    return propose


def policy_grouper(path: Path, checker: Checker) -> Callable[[ReviewRow, Tag], str]:
    """Colour tags by their policy role (core / structural / variable / other)."""
    from anima_caption._policy import classify

    policy = load_policy_file(path)
    cache: dict[int, dict[int, str]] = {}

    def group_of(row: ReviewRow, tag: Tag) -> str:
        assert row.caption is not None
        roles = cache.get(id(row.caption))
        if roles is None:
            folder = Path(row.key).parent.as_posix()
            result = classify(row.caption, policy, folder=None if folder == "." else folder)
            roles = {c.tag.span[0]: c.role for c in result.tags}
            cache.clear()
            cache[id(row.caption)] = roles
        return roles.get(tag.span[0], "other")

    return group_of


def remove_tags(caption: Caption, drop: Callable[[Tag], bool]) -> str:
    """The caption text without the top-level tags ``drop`` selects (and their separators).

    Everything else — sentences, spacing, line ends — is kept exactly as written.
    """
    from anima_caption._model import Tag

    parts: list[str] = []
    if caption.header is not None:
        parts.append(caption.header.raw)
    parts.append(caption.lead)
    kept: list[tuple[str, str]] = []
    removed_any = False
    for item in caption.items:
        if isinstance(item, Tag) and drop(item):
            removed_any = True
            continue
        kept.append((item.raw, item.trail))
    if not removed_any:
        return caption.to_text()
    final_trail = caption.items[-1].trail if caption.items else ""
    ending = final_trail[len(final_trail.rstrip("\r\n")) :]
    for number, (raw, trail) in enumerate(kept):
        if number == len(kept) - 1:
            # The last kept item takes the caption's own ending, not a dangling comma.
            trail = trail.rstrip(", \t\r\n") + ending
        parts.append(raw + trail)
    return "".join(parts)
