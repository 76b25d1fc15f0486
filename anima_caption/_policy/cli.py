"""``anima-caption policy report | apply`` (argparse only at import: heavy imports inside)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

_REPORT_EPILOG = """\
examples:
  anima-caption policy report examples/kanachan --policy examples/kanachan-policy.yaml
  anima-caption policy report DATASET --policy kanachan-policy.yaml --format json > report.json

Without --policy, the file named by `policy:` in the dataset's anima-caption.yaml is used.

Per trigger and tag group: each tag with its role (core / structural / variable / other),
the number of captions that have it and their share; then the findings (core tags that
leak, structural tags that come and go, variable groups that never vary, conflicting
colours in solo images, directional phrases that contradict the view) and whether flip
augmentation must be off. Exit 0, or 1 when some caption files could not be read.
"""

_APPLY_EPILOG = """\
examples:
  anima-caption policy apply DATASET --policy kanachan-policy.yaml          # diff only
  anima-caption policy apply DATASET --policy kanachan-policy.yaml --write  # write it
  anima-caption policy apply DATASET --policy kanachan-policy.yaml --directional --write
                                              # also fix left/right phrases
  anima-caption undo DATASET                  # put the files back

Removes the tags the trigger absorbs (core groups such as hair-colour) from every caption
of that trigger. With --directional it also replaces direction phrases that contradict the
view and, where the policy gives a `sentence:`, adds the missing phrase. Without --write it
only prints a unified diff. Writes are atomic and journaled (`anima-caption undo`); a file
changed on disk meanwhile, or one that is not UTF-8, is reported and left untouched.
Exit 0 (a dry run with changes pending too, like every other dry run), 1 when files could
not be read or written, 2 on usage errors.
"""


def add_parsers(commands: Any) -> None:
    """Add ``policy report`` and ``policy apply`` to the CLI."""
    policy = commands.add_parser(
        "policy",
        help="core / structural / variable tags per trigger: report and apply",
        description="The policy engine: which tags a LoRA trigger absorbs (core), which stay "
        "independent and constant (structural), which vary (variable). See docs/policy.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n  policy report DATASET   counts per group, findings\n"
        "  policy apply DATASET    remove absorbed tags (diff; --write to write)\n",
    )
    sub = policy.add_subparsers(dest="policy_command", metavar="COMMAND")
    policy.set_defaults(func=lambda args: _no_command(policy))

    report = sub.add_parser(
        "report",
        help="per group, each tag with its count and share of captions; findings",
        description="Report a dataset against a policy.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_REPORT_EPILOG,
    )
    _common(report)
    report.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (text)"
    )
    report.set_defaults(func=_run_report)

    apply = sub.add_parser(
        "apply",
        help="remove absorbed tags (dry-run diff unless --write)",
        description="Apply a policy to a dataset's captions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_APPLY_EPILOG,
    )
    _common(apply)
    apply.add_argument("--write", action="store_true", help="write the changes (journaled)")
    apply.add_argument(
        "--directional",
        action="store_true",
        help="also fix contradicting direction phrases and add missing ones",
    )
    apply.set_defaults(func=_run_apply)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="dataset folder (or caption file)")
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file, or a config with a `policy:` section (default: the `policy:` of "
        "the closest anima-caption.yaml / pyproject.toml)",
    )
    from anima_caption.datasets.cli import add_input_options

    add_input_options(parser)  # issue 17: DATASET may be parquet, JSON lines, a tar shard…


def _no_command(parser: argparse.ArgumentParser) -> int:
    from anima_caption._errors import UsageError

    raise UsageError("policy: choose a command: report or apply (see --help)")


def _policy_for(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from anima_caption._errors import UsageError
    from anima_caption._policy._load import load_policy
    from anima_caption._policy._model import Policy

    if args.policy is not None:
        return load_policy(Path(args.policy))
    from anima_caption._check._configfile import config_for
    from anima_caption._check._rules_policy import policy_of

    loaded = config_for(Path(args.dataset), None)
    policy = policy_of(loaded.config)
    if not isinstance(policy, Policy):
        where = f" in {loaded.path}" if loaded.path is not None else ""
        raise UsageError(
            f"no policy{where}: pass --policy FILE or add `policy:` to anima-caption.yaml"
        )
    return policy


def _read(args: argparse.Namespace, policy: Any) -> Any:
    from anima_caption._policy._dataset import read_dataset

    progress = None
    if sys.stderr.isatty():

        def progress(count: int) -> None:
            if count % 500 == 0:
                sys.stderr.write(f"\rread {count} captions")
                sys.stderr.flush()

    from anima_caption.datasets.cli import dataset_source

    source = dataset_source(args.dataset, args)  # issue 17: any dataset source
    if source is not None:
        from anima_caption.datasets._commands import policy_dataset

        if getattr(args, "write", False):
            from anima_caption._errors import UsageError

            raise UsageError(
                f"{args.dataset}: a dataset file is never rewritten in place; 'policy apply' "
                "without --write shows the diff (issue 17)"
            )
        return policy_dataset([source], triggers=policy.trigger_names())
    dataset = read_dataset([args.dataset], triggers=policy.trigger_names(), progress=progress)
    if progress is not None and len(dataset.captions) >= 500:
        sys.stderr.write("\r" + " " * 30 + "\r")
    return dataset


def _run_report(args: argparse.Namespace) -> int:
    import json

    from anima_caption._policy._report import build_report, render_text

    policy = _policy_for(args)
    dataset = _read(args, policy)
    report = build_report(dataset, policy)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(report))
    for error in dataset.unreadable:
        sys.stderr.write(f"{error}\n")
    return 1 if dataset.unreadable else 0


def _run_apply(args: argparse.Namespace) -> int:
    from pathlib import Path

    from anima_caption._errors import AnimaCaptionError
    from anima_caption._io import encode_caption, unified_diff
    from anima_caption._parse import parse
    from anima_caption._policy._apply import plan

    policy = _policy_for(args)
    dataset = _read(args, policy)
    changes = plan(dataset.captions, policy, directional=args.directional)
    for error in dataset.unreadable:
        sys.stderr.write(f"{error} (left untouched)\n")
    failed = bool(dataset.unreadable)
    for change in changes:
        # The new text must parse as cleanly as the old one before anything is written.
        before = len(change.item.caption.errors)
        if len(parse(change.new_text).errors) > before:  # pragma: no cover - defensive
            sys.stderr.write(f"{change.item.display}: the change would break the caption\n")
            failed = True
            change.new_text = change.item.file.text
    changes = [c for c in changes if c.changed]
    if not args.write:
        for change in changes:
            item = change.item
            sys.stdout.write(unified_diff(item.display, item.file.text, change.new_text))
        _summary(changes, written=False)
        return 1 if failed else 0  # issue 15 item 13: a dry run exits 0, like the others
    if changes:
        from anima_caption._journal import WriteRun

        root = Path(args.dataset)
        root = root if root.is_dir() else root.parent
        command = "policy apply" + (" --directional" if args.directional else "")
        with WriteRun(root, command) as run:
            for change in changes:
                data = encode_caption(change.new_text, bom=change.item.file.bom)
                try:
                    run.write(change.item.path, data, original=change.item.file.data)
                except AnimaCaptionError as error:
                    sys.stderr.write(f"{change.item.display}: {error}\n")
                    failed = True
    _summary(changes, written=True)
    return 1 if failed else 0


def _summary(changes: list[Any], *, written: bool) -> None:
    removed = sum(len(c.removed) for c in changes)
    phrases = sum(len(c.directional) for c in changes)
    verb = "changed" if written else "would change"
    extra = f", {phrases} direction phrase(s)" if phrases else ""
    sys.stderr.write(
        f"{len(changes)} caption(s) {verb}: {removed} absorbed tag(s) removed{extra}"
        + ("" if written or not changes else "; run with --write to apply")
        + "\n"
    )
