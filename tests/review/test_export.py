"""``anima-caption review export``: the workbook and the CSV a reviewer opens."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from anima_caption._check._api import fix
from anima_caption._review._sheet import (
    COL_CURRENT,
    COL_DIAGNOSTICS,
    COL_FILE,
    COL_KEY,
    COL_NOTES,
    COL_PROPOSED,
    COL_SHA,
    HEADERS,
)
from anima_caption.cli import main
from tests.review.conftest import png_claiming


def _rows(path: Path) -> list[dict[str, object]]:
    book = load_workbook(path)
    sheet = book["review"]
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[0])
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


def test_xlsx_has_one_row_per_image_with_thumbnails(dataset: Path, db: str, tmp_path: Path) -> None:
    out = tmp_path / "review.xlsx"
    code = main(
        [
            "review",
            "export",
            str(dataset),
            "--out",
            str(out),
            "--db",
            db,
            "--trigger",
            "kanachan",
            "--no-progress",
        ]
    )
    assert code == 0
    book = load_workbook(out)
    sheet = book["review"]
    assert [c.value for c in sheet[1]] == list(HEADERS)
    assert sheet.freeze_panes == "C2"
    assert len(sheet._images) == 6  # one embedded thumbnail per image
    anchors = sorted(img.anchor._from.row for img in sheet._images)
    assert anchors == [1, 2, 3, 4, 5, 6]  # zero-based rows 2..7
    letters = {name: chr(ord("A") + i) for i, name in enumerate(HEADERS)}
    assert sheet.column_dimensions[letters[COL_KEY]].hidden
    assert sheet.column_dimensions[letters[COL_SHA]].hidden
    assert sheet.column_dimensions[letters[COL_CURRENT]].width >= 50
    assert sheet["C2"].alignment.wrap_text
    assert sheet.row_dimensions[2].height >= 90  # tall enough for the thumbnail
    rows = _rows(out)
    assert [r[COL_FILE] for r in rows] == sorted(p.name for p in dataset.glob("*.[pj][np]g"))
    for row in rows:
        caption = dataset / str(row[COL_KEY])
        assert row[COL_CURRENT] == caption.read_text(encoding="utf-8").removesuffix("\n")
        assert row[COL_PROPOSED] == row[COL_CURRENT]
        assert row[COL_SHA] == hashlib.sha256(caption.read_bytes()).hexdigest()
        assert row[COL_NOTES] is None
    by_file = {r[COL_KEY]: str(r[COL_DIAGNOSTICS] or "") for r in rows}
    assert "TG005/unknown-tag" in by_file["kanachan_blazer_run.txt"]
    assert "'reddish brown blazer' is not a Danbooru tag" in by_file["kanachan_blazer_run.txt"]
    assert "DS006/filename-contradiction" in by_file["kanachan_bikini.txt"]
    assert "NL002/ambiguous-phrase" in by_file["kanachan_bikini.txt"]
    assert by_file["kanachan_smile.txt"] == ""
    assert "about" in book.sheetnames


def test_csv_has_a_bom_and_the_same_columns(dataset: Path, db: str, tmp_path: Path) -> None:
    out = tmp_path / "review.csv"
    assert main(["review", "export", str(dataset), "--out", str(out), "--db", db]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(HEADERS)
    assert len(rows) == 6
    assert rows[0]["Image"] == "kanachan_angry.png"
    assert rows[0][COL_CURRENT] == (dataset / "kanachan_angry.txt").read_text(
        encoding="utf-8"
    ).removesuffix("\n")


def test_propose_fix_fills_the_fixed_caption(dataset: Path, db: str, tmp_path: Path) -> None:
    messy = "masterpiece, safe, 1girl, kanachan, long_hair, , smile,\n"
    (dataset / "kanachan_smile.txt").write_text(messy, encoding="utf-8")
    out = tmp_path / "review.xlsx"
    assert (
        main(
            [
                "review",
                "export",
                str(dataset),
                "--out",
                str(out),
                "--db",
                db,
                "--propose",
                "fix",
                "--trigger",
                "kanachan",
            ]
        )
        == 0
    )
    row = next(r for r in _rows(out) if r[COL_KEY] == "kanachan_smile.txt")
    assert row[COL_CURRENT] == messy.rstrip("\n")
    assert row[COL_PROPOSED] == "masterpiece, safe, 1girl, kanachan, long hair, smile"
    assert row[COL_PROPOSED] == fix(messy.rstrip("\n"))


def test_text_that_looks_like_a_formula_stays_text(dataset: Path, db: str, tmp_path: Path) -> None:
    (dataset / "kanachan_smile.txt").write_text("=1girl, smile", encoding="utf-8")
    out = tmp_path / "review.xlsx"
    assert main(["review", "export", str(dataset), "--out", str(out), "--db", db]) == 0
    book = load_workbook(out)
    cells = [c for row in book["review"].iter_rows() for c in row if c.value == "=1girl, smile"]
    assert cells and all(c.data_type == "s" for c in cells)


def test_bad_images_and_captions_are_listed_not_fatal(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dataset / "kanachan_angry.png").write_bytes(b"not a png")
    (dataset / "kanachan_smile.jpg").write_bytes(png_claiming(100_000, 100_000))
    (dataset / "kanachan_nude.txt").write_bytes("1girl, caf\xe9".encode("latin-1"))
    (dataset / "orphan.webp").write_bytes(b"RIFF")
    out = tmp_path / "review.xlsx"
    code = main(["review", "export", str(dataset), "--out", str(out), "--db", db])
    assert code == 0
    err = capsys.readouterr().err
    assert "kanachan_angry.png: not an image Pillow can read" in err
    assert "kanachan_smile.jpg" in err and "100000×100000" in err
    assert "kanachan_nude.txt: invalid UTF-8" in err
    assert "Traceback" not in err
    rows = {r[COL_FILE]: r for r in _rows(out)}
    assert len(rows) == 7
    assert str(rows["kanachan_angry.png"]["Image"]).startswith("(no thumbnail)")
    assert "no caption file" in str(rows["orphan.webp"][COL_DIAGNOSTICS])
    assert "cannot read caption" in str(rows["kanachan_nude.png"][COL_DIAGNOSTICS])
    assert len(load_workbook(out)["review"]._images) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "review.ods"], "name a .xlsx or .csv file"),
        (["--out", "r.xlsx", "--propose", "policy"], "--propose policy needs --policy FILE"),
        (["--out", "r.xlsx", "--thumb-size", "5"], "--thumb-size 5"),
    ],
)
def test_usage_errors_exit_2(
    dataset: Path,
    db: str,
    tmp_path: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a if not a.endswith((".ods", ".xlsx")) else str(tmp_path / a) for a in argv]
    assert main(["review", "export", str(dataset), "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_dataset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["review", "export", str(tmp_path / "nope"), "--out", str(tmp_path / "r.xlsx")]) == 2
    )
    assert "not a dataset folder" in capsys.readouterr().err
