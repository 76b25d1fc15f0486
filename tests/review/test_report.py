"""``anima-caption report``: one self-contained HTML file (checked without a browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from anima_caption.cli import main
from tests.review.conftest import png_claiming


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.cards: list[dict[str, str | None]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "article":
            self.cards.append(values)
        if tag == "script":
            self.scripts += 1
            assert "src" not in values


def _report(dataset: Path, db: str, tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "report.html"
    argv = ["report", str(dataset), "--out", str(out), "--db", db, "--trigger", "kanachan"]
    assert main([*argv, "--no-progress", *extra]) == 0
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(dataset: Path, db: str, tmp_path: Path) -> None:
    page = _report(dataset, db, tmp_path)
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.scripts == 1
    # Only inline data and in-page links: the file works offline, anywhere.
    assert all(u.startswith(("data:", "#")) for u in parsed.urls), parsed.urls
    assert sum(u.startswith("data:image/") for u in parsed.urls) == 6
    assert len(parsed.cards) == 6
    blazer = next(c for c in parsed.cards if c["data-file"] == "kanachan_blazer_run.txt")
    assert "tg005" in str(blazer["data-rules"]) and "unknown-tag" in str(blazer["data-rules"])
    assert "reddish brown blazer" in str(blazer["data-tags"]).split("|")
    # Tags carry their section's colour class; the flagged ones are marked.
    assert re.search(r'class="tag g-character" data-tag="kanachan"', page)
    assert re.search(r'class="tag g-general flag" data-tag="reddish brown blazer"', page)
    assert 'class="tag g-prefix" data-tag="masterpiece"' in page
    assert "Tag frequency" in page and 'id="groups"' in page


def test_caption_text_is_escaped(dataset: Path, db: str, tmp_path: Path) -> None:
    (dataset / "kanachan_smile.txt").write_text(
        "1girl, kanachan, A girl says <script>alert(1)</script> & waves.", encoding="utf-8"
    )
    page = _report(dataset, db, tmp_path)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; waves." in page


def test_bad_images_are_listed(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dataset / "kanachan_angry.png").write_bytes(png_claiming(80_000, 80_000))
    (dataset / "kanachan_smile.jpg").write_bytes(b"\xff\xd8\xff garbage")
    page = _report(dataset, db, tmp_path)
    err = capsys.readouterr().err
    assert "kanachan_angry.png" in err and "80000×80000" in err
    assert "kanachan_smile.jpg" in err
    assert "Images that could not be opened" in page
    assert "2 images could not be opened" in page
    assert page.count('<div class="noimg bad">') == 2


def test_report_needs_an_html_name(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(dataset), "--out", str(tmp_path / "r.pdf")]) == 2
    assert "name a .html file" in capsys.readouterr().err
