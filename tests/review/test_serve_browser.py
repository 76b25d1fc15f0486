"""``review serve`` in a real headless Chromium (Debian's ``chromium`` through Playwright,
launched as the report's browser test does): open the app with its token, filter, apply a
fix, add a tag with autocompletion, save, bulk-replace with a diff, save, check the files
and the journal, undo from the page; a request without the token is refused.

``ANIMA_CAPTION_SERVE_SCREENSHOT=docs/review-serve.png`` also writes the README's
screenshot. In CI a missing Chromium fails the test; elsewhere it is skipped with the
reason.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anima_caption._journal import list_runs
from tests.review.test_report_browser import CHROMIUM, CHROMIUM_ARGS, _unavailable

TOKEN = "browser-test-token-" + "x" * 24


@pytest.fixture
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' package is not installed (pip install -e '.[dev]')")
    profile = tmp_path_factory.mktemp("chromium-serve-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            bypass_csp=True,  # Playwright evaluates its waits as strings; the page never does
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def server(dataset: Path, db: str, tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the dataset in a thread, on a free port; yields the base URL."""
    pytest.importorskip("uvicorn", reason="review serve needs the serve extra")
    import uvicorn

    from anima_caption._review._dataset import make_checker
    from anima_caption._review._server import create_app, free_port
    from anima_caption._review._session import ReviewSession

    checker = make_checker(dataset, config=None, triggers=["kanachan"], db_path=db)
    session = ReviewSession(dataset, checker, thumb_cache=tmp_path / "thumbs")
    session.start()
    port = free_port("127.0.0.1")
    config = uvicorn.Config(
        create_app(session, TOKEN), host="127.0.0.1", port=port, log_level="warning"
    )
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        thread.join(10)
        session.stop()


def _shown(page: Any) -> list[str]:
    files: list[str] = page.eval_on_selector_all(
        "#cards .card", "cards => cards.map(c => c.dataset.file)"
    )
    return sorted(files)


def test_review_serve_in_chromium(chromium: Any, server: str, dataset: Path) -> None:
    # Without the token: refused, for the page and for the API.
    for path in ("/", "/api/items", "/thumb/0"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server + path, timeout=10)
        assert refused.value.code == 403

    page = chromium.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(f"{server}/?token={TOKEN}")
    assert page.url == f"{server}/"  # the token left the address bar for a cookie
    page.wait_for_function("document.querySelector('#count').textContent === '6 of 6 shown'")
    page.wait_for_function(
        "document.querySelector('#progress').textContent.startsWith('6 images')"
    )
    widths = page.eval_on_selector_all(
        "#cards .card img",
        "imgs => Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth)))",
    )
    assert len(widths) == 6 and all(w > 0 for w in widths)

    # Filter by rule code.
    page.fill("#filter", "TG005")
    page.wait_for_function("document.querySelector('#count').textContent === '3 of 6 shown'")
    assert _shown(page) == ["kanachan_bikini.txt", "kanachan_blazer_run.txt", "kanachan_nude.txt"]

    # Open the nude caption from the keyboard: focus the cards, move, Enter.
    page.focus("#filter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.file") == "kanachan_nude.txt"
    page.keyboard.press("Enter")
    page.wait_for_selector("#editor[open]")
    page.wait_for_selector('#editor-diags button.fix[data-code="TG005"]')

    # One click applies TG005's fix (double parted bangs -> double-parted bangs).
    page.click('#editor-diags button.fix[data-code="TG005"]')
    page.wait_for_function("document.querySelector('#raw').value.includes('double-parted bangs')")

    # Add a tag with autocompletion, by keyboard.
    page.focus("#add-tag")
    page.keyboard.type("looking at vie")
    page.wait_for_selector('#add-tag-list [role=option][data-name="looking at viewer"]')
    meta = page.inner_text("#add-tag-list [role=option]:first-child")
    assert "general" in meta and "posts" in meta
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#raw').value.includes('looking at viewer')")
    chips = page.eval_on_selector_all("#chips .chip", "cs => cs.map(c => c.dataset.tag)")
    assert "looking at viewer" in chips

    # Remove a chip by keyboard (Delete on its label).
    page.focus('#chips .chip[data-tag="beach"] .label')
    page.keyboard.press("Delete")
    page.wait_for_function("!document.querySelector('#chips .chip[data-tag=\"beach\"]')")
    assert page.input_value("#raw").endswith("from behind, looking at viewer")

    if os.environ.get("ANIMA_CAPTION_SERVE_SCREENSHOT"):
        page.screenshot(path=os.environ["ANIMA_CAPTION_SERVE_SCREENSHOT"])

    # Save (Ctrl+S): through the journal.
    page.keyboard.press("Control+s")
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Saved 1')")
    nude = (dataset / "kanachan_nude.txt").read_text(encoding="utf-8")
    assert "double-parted bangs" in nude and "looking at viewer" in nude
    assert nude.endswith("from behind, looking at viewer\n")  # the tag beach went
    assert len(list_runs(dataset)) == 1
    page.keyboard.press("Escape")
    page.wait_for_selector("#editor:not([open])", state="attached")

    # Bulk replace over the filtered set (all six), diff first, then save.
    page.fill("#filter", "")
    page.wait_for_function("document.querySelector('#count').textContent === '6 of 6 shown'")
    page.click("#bulk-open")
    page.select_option("#bulk-action", "replace")
    page.fill("#bulk-tag", "blue scrunchie")
    page.fill("#bulk-new", "hair scrunchie")
    page.click("#bulk-preview")
    page.wait_for_function(
        "document.querySelector('#bulk-summary').textContent.startsWith('6 of 6')"
    )
    assert page.locator("#bulk-diff .add").count() == 6
    assert page.locator("#bulk-diff .del").count() == 6
    assert all("blue scrunchie" in p.read_text() for p in dataset.glob("*.txt"))
    page.click("#bulk-save")
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Saved 6')")
    assert all("hair scrunchie" in p.read_text() for p in dataset.glob("*.txt"))
    assert len(list_runs(dataset)) == 2

    # Undo from the page: the bulk replace goes back, the first save stays.
    page.click("#undo")
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Undid')")
    assert all("blue scrunchie" in p.read_text() for p in dataset.glob("*.txt"))
    assert "looking at viewer" in (dataset / "kanachan_nude.txt").read_text()
    page.fill("#filter", "hair scrunchie")
    page.wait_for_function("document.querySelector('#count').textContent === '0 of 6 shown'")

    # The dataset panel pairs the swapped captions, both images.
    page.click("#panels summary")
    pair = page.locator("#findings .finding", has_text="DS006").first.locator(".pair button")
    assert pair.count() == 2
    page.close()
    assert problems == []
