"""The HTML report in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): it loads without console errors, the filter box filters, and a screenshot is
saved.

In CI (``CI`` set) a missing Chromium or Playwright is a failure with the reason; elsewhere
the test is skipped with the reason printed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anima_caption.cli import main

CHROMIUM = os.environ.get("ANIMA_CAPTION_CHROMIUM", "/usr/bin/chromium")
#: Quiet, offline, sandbox-less headless Chromium (containers, CI runners as root).
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


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs Debian's chromium)")
    pytest.skip(f"{reason} (outside CI the browser test is skipped)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A persistent headless Chromium context with a fresh profile."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' package is not installed (pip install -e '.[dev]')")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _visible_files(page: Any) -> list[str]:
    files: list[str] = page.eval_on_selector_all(
        "article.card:not([hidden])", "cards => cards.map(c => c.dataset.file)"
    )
    return sorted(files)


def test_report_in_chromium(browser: Any, dataset: Path, db: str, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    argv = ["report", str(dataset), "--out", str(html), "--db", db, "--trigger", "kanachan"]
    assert main([*argv, "--no-progress"]) == 0

    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")

    everything = sorted(p.name for p in dataset.glob("*.txt"))
    assert _visible_files(page) == everything
    assert page.inner_text("#count") == "6 of 6 shown"
    # Every thumbnail decoded (naturalWidth is 0 for a broken image).
    widths = page.eval_on_selector_all(".thumb img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 6 and all(w > 0 for w in widths)

    # Filter by rule code, by slug, by tag, and by two terms at once.
    page.fill("#filter", "TG005")
    unknown = ["kanachan_bikini.txt", "kanachan_blazer_run.txt", "kanachan_nude.txt"]
    assert _visible_files(page) == unknown
    assert page.inner_text("#count") == "3 of 6 shown"
    page.fill("#filter", "filename-contradiction")
    assert _visible_files(page) == ["kanachan_bikini.txt", "kanachan_nude.txt"]
    page.fill("#filter", "from behind")
    assert _visible_files(page) == [
        "kanachan_bikini.txt",
        "kanachan_from_behind.txt",
        "kanachan_nude.txt",
    ]
    page.fill("#filter", "from behind, pink bikini")
    assert _visible_files(page) == ["kanachan_nude.txt"]
    highlighted = page.eval_on_selector_all(
        "article.card:not([hidden]) .tag.hit", "tags => tags.map(t => t.dataset.tag)"
    )
    assert sorted(set(highlighted)) == ["from behind", "pink bikini"]
    page.fill("#filter", "no such tag anywhere")
    assert _visible_files(page) == []
    assert page.inner_text("#count") == "0 of 6 shown"

    # Clicking a bar of the frequency chart filters by its tag.
    page.click('#chart .bar[data-filter="semi-long hair"]')
    assert page.input_value("#filter") == "semi-long hair"
    assert _visible_files(page) == ["kanachan_blazer_run.txt"]

    page.fill("#filter", "TG005")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"screenshot saved to {shot}")
    page.close()
    assert problems == []
