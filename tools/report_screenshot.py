"""Regenerate ``docs/report.png``: the HTML report of ``examples/kanachan`` in headless
Chromium, filtered by a tag, as shown in the README.

    python tools/report_screenshot.py [--db PATH] [--chromium /usr/bin/chromium]

Needs Debian's ``chromium`` package and the ``playwright`` Python package (dev extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Flags for a quiet, offline, sandbox-less headless Chromium (containers, CI).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="tag database (default: the usual lookup)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default=str(REPO / "docs" / "report.png"))
    parser.add_argument(
        "--filter", default="TG005", help="text typed into the filter box (default: TG005)"
    )
    parser.add_argument("--height", type=int, default=1100, help="viewport height in pixels")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from anima_caption.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        command = ["report", str(REPO / "examples" / "kanachan"), "--out", str(html)]
        command += ["--trigger", "kanachan", "--title", "kanachan — caption report"]
        if args.db:
            command += ["--db", args.db]
        if cli(command) != 0:
            return 1
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"),
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": args.height},
            )
            page = context.new_page()
            page.goto(html.as_uri())
            if args.filter:
                page.fill("#filter", args.filter)
            page.screenshot(path=args.out, full_page=False)
            context.close()
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
