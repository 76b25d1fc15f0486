"""``anima-caption review apply``: the round trip a reviewer makes, and every refusal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from anima_caption._journal import undo
from anima_caption._review._sheet import COL_KEY, COL_NOTES, COL_PROPOSED, COL_SHA, HEADERS
from anima_caption.cli import main

#: The reviewer's corrections: the swapped bikini / nude captions put right, the blazer
#: caption's non-existent tags replaced by real ones.
BIKINI_FIXED = (
    "masterpiece, best quality, score_7, sensitive, 1girl, solo, kanachan, A girl facing the "
    "viewer, standing on a beach. Her side ponytail with a blue scrunchie is visible on the "
    "right side of the image. side ponytail, ahoge, double-parted bangs, medium hair, blue "
    "scrunchie, pink bikini, beach"
)
NUDE_FIXED = (
    "masterpiece, best quality, score_7, nsfw, 1girl, solo, kanachan, A girl standing with her "
    "back to the viewer on a beach. Her side ponytail with a blue scrunchie is visible on the "
    "left side of the image. side ponytail, ahoge, medium hair, blue scrunchie, nude, from "
    "behind, beach"
)
BLAZER_FIXED = (
    "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A girl running down a "
    "school hallway in a hurry. Her side ponytail with a blue scrunchie is visible on the right "
    "side of the image. side ponytail, ahoge, medium hair, blue scrunchie, running, blazer, "
    "brown jacket, collared shirt, white shirt, red necktie, motion lines, straight-on"
)
EDITS = {
    "kanachan_bikini.txt": BIKINI_FIXED,
    "kanachan_nude.txt": NUDE_FIXED,
    "kanachan_blazer_run.txt": BLAZER_FIXED,
}


def _export(dataset: Path, db: str, out: Path) -> None:
    argv = ["review", "export", str(dataset), "--out", str(out), "--db", db, "--no-progress"]
    assert main([*argv, "--trigger", "kanachan"]) == 0


def _edit_xlsx(path: Path, edits: dict[str, str], column: str = COL_PROPOSED) -> None:
    """Edit the sheet as a reviewer would, with openpyxl: find rows by file, set cells."""
    book = load_workbook(path)
    sheet = book["review"]
    header = [c.value for c in sheet[1]]
    key_col = header.index(COL_KEY) + 1
    edit_col = header.index(column) + 1
    notes_col = header.index(COL_NOTES) + 1
    for row in range(2, sheet.max_row + 1):
        key = sheet.cell(row=row, column=key_col).value
        if key in edits:
            sheet.cell(row=row, column=edit_col).value = edits[key]
            sheet.cell(row=row, column=notes_col).value = "checked against the image"
    book.save(path)


def _snapshot(dataset: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(dataset.iterdir()) if p.is_file()}


def test_round_trip_xlsx(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, EDITS)
    before = _snapshot(dataset)
    capsys.readouterr()

    # Dry run: a diff, nothing written.
    assert (
        main(["review", "apply", str(sheet), str(dataset), "--db", db, "--trigger", "kanachan"])
        == 0
    )
    captured = capsys.readouterr()
    assert _snapshot(dataset) == before
    assert captured.out.count("--- a/") == 3
    assert (
        "-masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A girl running"
        in captured.out
    )
    assert "+" + BLAZER_FIXED in captured.out
    assert "3 caption(s) would change" in captured.err
    assert "3 unchanged" in captured.err

    # --write: the captions on disk are the edited ones, line ends as before.
    assert (
        main(
            [
                "review",
                "apply",
                str(sheet),
                str(dataset),
                "--db",
                db,
                "--trigger",
                "kanachan",
                "--write",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "3 caption(s) written" in err
    assert "anima-caption undo" in err
    for name, text in EDITS.items():
        assert (dataset / name).read_text(encoding="utf-8") == text + "\n"
    after = _snapshot(dataset)
    untouched = set(before) - set(EDITS)
    assert {n: after[n] for n in untouched} == {n: before[n] for n in untouched}

    # The export no longer matches the files it wrote: applying again refuses those rows.
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db]) == 1
    assert capsys.readouterr().err.count("changed after the export") == 3

    # The fixed dataset is clean of the errors the reviewer fixed.
    assert (
        main(["check", str(dataset), "--db", db, "--trigger", "kanachan", "--format", "concise"])
        == 0
    )

    # `anima-caption undo` (the journal the write went through) puts every caption back.
    capsys.readouterr()
    assert main(["undo", str(dataset)]) == 0
    assert _snapshot(dataset) == before


def test_round_trip_csv(dataset: Path, db: str, tmp_path: Path) -> None:
    sheet = tmp_path / "review.csv"
    _export(dataset, db, sheet)
    text = sheet.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        row[COL_PROPOSED] = EDITS.get(row[COL_KEY], row[COL_PROPOSED])
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(HEADERS))
    writer.writeheader()
    writer.writerows(rows)
    sheet.write_bytes(("\ufeff" + buffer.getvalue()).encode("utf-8"))
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 0
    for name, caption in EDITS.items():
        assert (dataset / name).read_text(encoding="utf-8") == caption + "\n"


def test_rows_whose_file_changed_since_export_are_refused(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, EDITS)
    meanwhile = "kanachan, 1girl, edited by someone else\n"
    (dataset / "kanachan_nude.txt").write_text(meanwhile, encoding="utf-8")
    (dataset / "kanachan_bikini.txt").unlink()
    capsys.readouterr()
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 1
    err = capsys.readouterr().err
    assert "(kanachan_nude.txt): the caption file changed after the export" in err
    assert "(kanachan_bikini.txt): the caption file was deleted after the export" in err
    assert "1 caption(s) written" in err and "2 refused" in err
    assert (dataset / "kanachan_nude.txt").read_text(encoding="utf-8") == meanwhile
    assert not (dataset / "kanachan_bikini.txt").exists()
    assert (dataset / "kanachan_blazer_run.txt").read_text(encoding="utf-8") == BLAZER_FIXED + "\n"


def test_captions_that_do_not_parse_are_refused(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, {"kanachan_smile.txt": "1girl, (smile, kanachan"})
    before = _snapshot(dataset)
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 1
    err = capsys.readouterr().err
    assert "(kanachan_smile.txt): the new caption does not parse: 1:8:" in err
    assert _snapshot(dataset) == before


def test_strict_refuses_captions_with_errors(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    edit = "masterpiece, safe, 1girl, kanachan, left side ponytail, smile"
    _edit_xlsx(sheet, {"kanachan_smile.txt": edit})
    before = _snapshot(dataset)
    argv = ["review", "apply", str(sheet), str(dataset), "--db", db, "--trigger", "kanachan"]
    assert main([*argv, "--write", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "TG005/unknown-tag" in err and "(--strict)" in err
    assert _snapshot(dataset) == before
    # Without --strict the reviewer's word wins, and the error is shown.
    assert main([*argv, "--write"]) == 0
    err = capsys.readouterr().err
    assert "new caption: TG005/unknown-tag" in err
    assert (dataset / "kanachan_smile.txt").read_text(encoding="utf-8") == edit + "\n"


def test_bom_and_crlf_are_kept(dataset: Path, db: str, tmp_path: Path) -> None:
    path = dataset / "kanachan_smile.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, kanachan, smile\r\n")
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, {"kanachan_smile.txt": "1girl, kanachan, grin"})
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf1girl, kanachan, grin\r\n"


def test_new_caption_for_an_image_without_one(dataset: Path, db: str, tmp_path: Path) -> None:
    (dataset / "kanachan_smile.txt").unlink()
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, {"kanachan_smile.txt": "1girl, kanachan, smile"})
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 0
    assert (dataset / "kanachan_smile.txt").read_text(encoding="utf-8") == "1girl, kanachan, smile"
    undo(dataset)
    assert not (dataset / "kanachan_smile.txt").exists()


def test_undecodable_file_is_never_touched(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dataset / "kanachan_smile.txt"
    path.write_bytes("1girl, caf\xe9".encode("latin-1"))
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, {"kanachan_smile.txt": "1girl, cafe"})
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 1
    assert "invalid UTF-8" in capsys.readouterr().err
    assert path.read_bytes() == "1girl, caf\xe9".encode("latin-1")


def test_tampered_rows_are_refused(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    book = load_workbook(sheet)
    ws = book["review"]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index(COL_KEY) + 1).value = "../outside.txt"
    ws.cell(row=3, column=header.index(COL_PROPOSED) + 1).value = "1girl, kanachan, smile"
    ws.cell(row=3, column=header.index(COL_SHA) + 1).value = "0" * 64
    # A duplicated row with a different caption for the same file.
    last = ws.max_row
    for col in range(1, len(header) + 1):
        ws.cell(row=last + 1, column=col).value = ws.cell(row=last, column=col).value
    ws.cell(row=last + 1, column=header.index(COL_PROPOSED) + 1).value = "1girl, other"
    book.save(sheet)
    before = _snapshot(dataset)
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 1
    err = capsys.readouterr().err
    assert "row 2 (../outside.txt): not a caption file inside the dataset" in err
    assert "row 3 (kanachan_bikini.txt): the caption file changed after the export" in err
    assert f"row {last + 1} (kanachan_smile.txt): the same caption file appears" in err
    assert _snapshot(dataset) == before
    assert not (tmp_path / "outside.txt").exists()


def test_empty_cells_leave_files_alone(
    dataset: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "review.xlsx"
    _export(dataset, db, sheet)
    _edit_xlsx(sheet, {"kanachan_smile.txt": ""})
    before = _snapshot(dataset)
    assert main(["review", "apply", str(sheet), str(dataset), "--db", db, "--write"]) == 0
    assert "caption cell is empty; file left unchanged" in capsys.readouterr().err
    assert _snapshot(dataset) == before


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"a,b,c\r\n1,2,3\r\n", "other.csv", "not a review sheet exported by anima-caption"),
        (b"\x00\x01 not a zip", "broken.xlsx", "cannot read the workbook"),
        ("Image,File\r\n".encode("utf-16"), "utf16.csv", "save it as 'CSV UTF-8'"),
        (b"", "review.ods", "expected a .xlsx or .csv review sheet"),
    ],
)
def test_bad_sheets_exit_2_with_one_line(
    dataset: Path,
    tmp_path: Path,
    content: bytes,
    name: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sheet = tmp_path / name
    sheet.write_bytes(content)
    assert main(["review", "apply", str(sheet), str(dataset)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)
