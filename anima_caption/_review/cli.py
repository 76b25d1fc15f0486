"""``anima-caption review export|apply`` and ``anima-caption report``.

Light to import (argparse only): everything else is imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption._model import Tag
    from anima_caption._review._dataset import ReviewRow

_EXPORT_EPILOG = """\
examples:
  anima-caption review export dataset/ --out review.xlsx
  anima-caption review export dataset/ --out review.xlsx --propose fix
  anima-caption review export dataset/ --out review.xlsx --propose convert
  anima-caption review export dataset/ --out review.xlsx --propose policy --policy policy.yaml
  anima-caption review export dataset/ --out review.csv      CSV (UTF-8 with BOM), no thumbnails

Edit the 'Proposed caption (edit this)' column, then:
  anima-caption review apply review.xlsx dataset/            show the diff (dry run)
  anima-caption review apply review.xlsx dataset/ --write    write it, with a backup
  anima-caption undo dataset/                                put the old captions back
"""

_APPLY_EPILOG = """\
examples:
  anima-caption review apply review.xlsx dataset/             diff only, nothing written
  anima-caption review apply review.xlsx dataset/ --write     write, with a backup journal
  anima-caption review apply review.csv dataset/ --strict     refuse captions with errors
  anima-caption undo dataset/                                 put the old captions back

Rows whose caption file changed after the export are refused (their SHA-256 is stored in
a hidden column). Captions that do not parse are refused. exit codes: 0 all rows applied
(or would be), 1 rows refused, 2 usage error.
"""

_REPORT_EPILOG = """\
examples:
  anima-caption report dataset/ --out report.html
  anima-caption report dataset/ --out report.html --trigger kanachan --db tags.sqlite
  anima-caption report dataset/ --out report.html --policy policy.yaml   colour by policy group

Open the file in any browser: it is self-contained (thumbnails embedded, no network).
Type a tag ('side ponytail'), a rule ('TG005', 'unknown-tag') or a file name in the
filter box; separate several with commas. Click a tag, a bar or a rule to filter by it.
"""


def add_parsers(commands: Any) -> None:
    """Add ``review`` (``export``, ``apply``) and ``report`` to the command line."""
    review = commands.add_parser(
        "review",
        help="side-by-side review: live in the browser (serve), or in a spreadsheet "
        "(export with thumbnails, apply edits back)",
        description="Review captions next to their images, live in the browser "
        "(review serve) or in a spreadsheet (review export / apply), correct them by eye, "
        "and write the corrections back safely.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = review.add_subparsers(dest="review_command", metavar="STEP")
    review.set_defaults(func=lambda args: _need_step(review))

    export = steps.add_parser(
        "export",
        help="write a review sheet (.xlsx with thumbnails, or .csv)",
        description="Write one row per image: thumbnail, file name, current caption, "
        "proposed caption (edit this column), diagnostics from 'check', and an empty notes "
        "column. Header frozen, text wrapped. Images that cannot be opened are listed, not "
        "fatal.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    export.add_argument(
        "--out", "-o", required=True, metavar="FILE", help="review.xlsx or review.csv"
    )
    export.add_argument(
        "--propose",
        choices=("none", "fix", "convert", "policy"),
        default="none",
        help="what the proposed-caption column starts with: the current caption (none, "
        "default), the caption after check's safe fixes (fix), after conversion from "
        "SDXL-era tags (convert), or with the tags the policy absorbs into the trigger "
        "removed (policy)",
    )
    export.add_argument(
        "--unsafe-fixes", action="store_true", help="with --propose fix: unsafe fixes too"
    )
    export.add_argument(
        "--from",
        dest="dialect",
        choices=("wd14", "sdxl", "pony"),
        default="sdxl",
        help="with --propose convert: what wrote the captions (default: sdxl)",
    )
    export.add_argument(
        "--prefix",
        default="",
        metavar="TAGS",
        help='with --propose convert: tags to add where missing, e.g. "masterpiece, best '
        'quality, score_7, safe"',
    )
    export.add_argument(
        "--thumb-size",
        type=int,
        default=128,
        metavar="PX",
        help="thumbnail box in pixels (default 128; rows are at most 409 pt tall)",
    )
    _add_common(export)
    export.set_defaults(func=_run_export)

    apply = steps.add_parser(
        "apply",
        help="apply an edited review sheet (dry run with a diff unless --write)",
        description="Read the edited caption column back, validate each caption, show the "
        "diff, and with --write replace the files atomically with a backup journal that "
        "'anima-caption undo' restores.",
        epilog=_APPLY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    apply.add_argument("sheet", metavar="SHEET", help="the edited review.xlsx or review.csv")
    apply.add_argument("dataset", metavar="DATASET", help="the dataset folder it was exported from")
    apply.add_argument("--write", action="store_true", help="write the changes")
    apply.add_argument(
        "--strict",
        action="store_true",
        help="refuse rows whose new caption has error-severity diagnostics",
    )
    apply.add_argument("--quiet", "-q", action="store_true", help="no diff on standard output")
    _add_common(apply, policy=False)
    apply.set_defaults(func=_run_apply)

    _add_serve(steps)

    report = commands.add_parser(
        "report",
        help="write a self-contained HTML report of a dataset (thumbnails, coloured tags)",
        description="One HTML file: a card per image (thumbnail, caption with tags coloured "
        "by section or policy group, diagnostics), a tag-frequency chart, a group summary "
        "and a filter box.",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    from anima_caption.datasets.cli import add_input_options

    add_input_options(report)  # issue 17: DATASET may be parquet, JSON lines, a tar shard…
    report.add_argument(
        "--out", "-o", default="report.html", metavar="FILE", help="default: report.html"
    )
    report.add_argument("--title", metavar="TEXT", help="page title (default: the folder name)")
    report.add_argument(
        "--thumb-size", type=int, default=192, metavar="PX", help="thumbnail box (default 192)"
    )
    _add_common(report)
    report.set_defaults(func=_run_report)


_SERVE_EPILOG = """\
examples:
  anima-caption review serve dataset/                         open the printed URL
  anima-caption review serve dataset/ --trigger kanachan --policy policy.yaml
  anima-caption review serve dataset/ --port 9000

on a GPU box over SSH (the server only listens on 127.0.0.1):
  ssh -N -L 8765:127.0.0.1:8765 you@gpu-box                  on your own computer
  then open the printed http://127.0.0.1:8765/?token=... there

In the page: type in the filter box (a tag, a rule such as TG005, a file name; commas for
several), pick a rule or a tag group, click a card or press Enter on it for the large view.
There: remove, move (Alt+Left/Right) or replace tags, add one with autocompletion from the
tag database, edit sentences as text; diagnostics follow as you type and each fix is one
click. 'Bulk' adds, removes or replaces a tag, or applies the safe fixes, over the cards
shown, with a diff before anything is saved. Saving is journalled: a caption changed on
disk since it was loaded is refused and shown beside yours; 'Undo last save' in the page
or 'anima-caption undo dataset/' puts the old captions back. Press ? for every key.
Needs the serve extra: pip install 'anima-caption[serve]'.
"""


def _add_serve(steps: Any) -> None:
    serve = steps.add_parser(
        "serve",
        help="review and edit captions beside their images in the browser (a local web app)",
        description="Serve a dataset as a local web app: a grid of images with their "
        "captions (tags coloured by section or policy role) and check's diagnostics, "
        "filters, a large view with a tag editor and autocompletion from the tag database, "
        "one-click fixes, bulk edits with a diff, dataset panels (swapped captions, "
        "file-name contradictions, policy findings, tag frequency). Saves go through the "
        "backup journal. Only this run's token (in the printed URL) opens it.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "dataset",
        metavar="DATASET",
        help="the dataset folder, or a dataset file (parquet, JSON lines, metadata JSON, "
        "captions.json, WebDataset tar: shown read-only)",
    )
    from anima_caption.datasets.cli import add_input_options

    add_input_options(serve)
    serve.add_argument(
        "--port",
        type=int,
        default=8765,
        metavar="N",
        help="port to listen on (default 8765; 0 picks a free one)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default 127.0.0.1: this machine only; use SSH port "
        "forwarding rather than 0.0.0.0)",
    )
    serve.add_argument(
        "--token",
        metavar="TEXT",
        help="use this token instead of a random one (at least 16 characters)",
    )
    _add_common(serve)
    serve.set_defaults(func=_run_serve)


def _add_common(parser: argparse.ArgumentParser, *, policy: bool = True) -> None:
    parser.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="WORD",
        help="a LoRA trigger word (known tag, character section); repeatable",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="tag database (default: $ANIMA_CAPTION_TAGDB, then the user cache)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="check configuration (default: nearest anima-caption.yaml / pyproject.toml)",
    )
    if policy:
        parser.add_argument(
            "--policy",  # issue 15 item 14: the help is shared with report (no --propose)
            metavar="FILE",
            help="policy YAML: core / structural / variable tags per trigger",
        )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _need_step(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _dataset(args: argparse.Namespace) -> Path:
    from anima_caption._errors import UsageError

    root = Path(args.dataset)
    if not root.is_dir():
        raise UsageError(f"{root}: not a dataset folder")
    return root


def _thumb_size(args: argparse.Namespace) -> int:
    from anima_caption._errors import UsageError

    size: int = args.thumb_size
    if not 16 <= size <= 1024:
        raise UsageError(f"--thumb-size {size}: use 16 … 1024 pixels")
    return size


def _progress(args: argparse.Namespace) -> Any:
    if args.no_progress:
        return None
    from anima_caption.cli import _progress_bar

    return _progress_bar()


def _checker(args: argparse.Namespace, root: Path) -> Any:
    from anima_caption._review._dataset import make_checker

    triggers = list(args.trigger)
    if not triggers and getattr(args, "policy", None):
        from anima_caption._review._proposals import load_policy_file

        triggers = list(load_policy_file(Path(args.policy)).trigger_names())
    return make_checker(root, config=args.config, triggers=triggers, db_path=args.db)


def _run_export(args: argparse.Namespace) -> int:
    from anima_caption._errors import UsageError
    from anima_caption._review._dataset import collect
    from anima_caption._review._proposals import proposer_for
    from anima_caption._review._sheet import write_csv, write_xlsx

    root = _dataset(args)
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise UsageError(f"--out {out}: name a .xlsx or .csv file")
    size = _thumb_size(args)
    checker = _checker(args, root)
    proposer = proposer_for(args.propose, checker, args)
    progress = _progress(args)
    review = collect(root, checker, propose=args.propose, proposer=proposer, progress=progress)
    if suffix == ".csv":
        problems = write_csv(review, out)
    else:
        problems = write_xlsx(review, out, thumb_box=size, progress=progress)
    if progress is not None:
        progress(-1, -1)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    failed = [r for r in review.rows if r.read_error or r.propose_error]
    for row in failed:
        print(f"warning: {row.read_error or f'{row.key}: {row.propose_error}'}", file=sys.stderr)
    proposals = sum(1 for r in review.rows if r.proposed is not None and r.proposed != r.text)
    detail = f", {proposals} with a proposed change" if args.propose != "none" else ""
    print(f"wrote {out}: {len(review.rows)} rows{detail}", file=sys.stderr)
    return 0


def _run_apply(args: argparse.Namespace) -> int:
    from anima_caption._io import unified_diff
    from anima_caption._review._apply import plan_apply, write_changes
    from anima_caption._review._sheet import read_sheet

    root = _dataset(args)
    rows = read_sheet(Path(args.sheet))
    checker = _checker(args, root)
    plan = plan_apply(rows, root, checker, strict=args.strict)
    for note in plan.notes:
        print(note, file=sys.stderr)
    for change in plan.changes:
        if not args.quiet:
            shown = (root / change.key).as_posix()
            sys.stdout.write(unified_diff(shown, change.old_text, change.new_text))
        for d in change.diagnostics:
            print(
                f"row {change.row} ({change.key}): new caption: {d.name} "
                f"{d.line}:{d.column} {d.message}",
                file=sys.stderr,
            )
    refused = list(plan.refused)
    written = 0
    if args.write and plan.changes:
        written, late = write_changes(root, plan.changes, f"review apply {args.sheet}")
        refused += late
    for line in refused:
        print(f"refused: {line}", file=sys.stderr)
    if args.write:
        summary = f"{written} caption(s) written"
    else:
        summary = f"{len(plan.changes)} caption(s) would change (dry run; --write to write)"
    summary += f", {plan.unchanged} unchanged"
    if refused:
        summary += f", {len(refused)} refused"
    print(summary, file=sys.stderr)
    if args.write and written:
        print(f"undo with: anima-caption undo {root}", file=sys.stderr)
    return 1 if refused else 0


def _run_report(args: argparse.Namespace) -> int:
    from anima_caption._errors import UsageError
    from anima_caption._review._dataset import collect
    from anima_caption._review._proposals import policy_grouper
    from anima_caption._review._report import ReportOptions, by_section, render_report
    from anima_caption._review._sheet import _save_atomic
    from anima_caption.datasets.cli import dataset_source

    source = dataset_source(args.dataset, args)  # issue 17: any dataset source
    root = _dataset(args) if source is None else source.path.parent
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: name a .html file")
    size = _thumb_size(args)
    checker = _checker(args, root)
    progress = _progress(args)
    if source is not None:
        from anima_caption.datasets._commands import review_set

        review = review_set(source, checker)
    else:
        review = collect(root, checker, progress=progress)
    grouping = "section"
    group_of: Callable[[ReviewRow, Tag], str] = by_section
    if args.policy:
        group_of = policy_grouper(Path(args.policy), checker)
        grouping = "policy"
    page, problems = render_report(
        review,
        options=ReportOptions(title=args.title or "", thumb_box=size, grouping=grouping),
        group_of=group_of,
        progress=progress,
    )
    if progress is not None:
        progress(-1, -1)
    _save_atomic(out, lambda target: Path(target).write_text(page, encoding="utf-8"))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"wrote {out}: {len(review.rows)} images and captions", file=sys.stderr)
    return 0


def serve_session(args: argparse.Namespace) -> Any:
    """The :class:`~anima_caption._review._session.ReviewSession` ``review serve`` opens."""
    from anima_caption._review._dataset import make_checker
    from anima_caption._review._session import ReviewSession

    source = None
    fmt = getattr(args, "input_format", "auto")
    path = Path(args.dataset)
    if path.is_file() or fmt not in ("auto", "folder"):
        from anima_caption.datasets import open_source

        source = open_source(path, fmt=fmt, column=args.column, id_column=args.id_column)
        if source.kind == "folder":
            source = None
    root = path.parent if source is not None else _dataset(args)
    policy = None
    if args.policy:
        from anima_caption._review._proposals import load_policy_file

        policy = load_policy_file(Path(args.policy))
    checker = make_checker(
        root, config=args.config, triggers=list(args.trigger), db_path=args.db, policy=policy
    )
    return ReviewSession(root, checker, policy=policy, source=source)


def _run_serve(args: argparse.Namespace) -> int:
    from anima_caption._errors import UsageError
    from anima_caption._review._server import free_port, new_token, require_extra, run_server

    require_extra()
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: use 1 … 65535 (0: any free port)")
    token = args.token or new_token()
    if len(token) < 16:
        raise UsageError("--token: at least 16 characters")
    session = serve_session(args)
    session.start()
    port = args.port or free_port(args.host)
    try:
        run_server(session, args.host, port, token)
    finally:
        session.stop()
    return 0
