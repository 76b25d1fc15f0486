"""Reading caption files: encodings, BOM, line ends, binary, empty and huge files; atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anima_caption import CaptionDecodeError, read_caption_file
from anima_caption._errors import UsageError
from anima_caption._io import iter_caption_files, write_atomic


def _write(tmp_path: Path, data: bytes, name: str = "c.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "text", "bom", "newline"),
    [
        (b"1girl, smile", "1girl, smile", False, "none"),
        (b"\xef\xbb\xbf1girl, smile\n", "1girl, smile\n", True, "\n"),
        (b"1girl,\r\nsmile\r\n", "1girl,\r\nsmile\r\n", False, "\r\n"),
        (b"1girl,\rsmile", "1girl,\rsmile", False, "\r"),
        (b"1girl,\r\nsmile\n", "1girl,\r\nsmile\n", False, "mixed"),
        ("caf\u00e9, \u6d99".encode(), "caf\u00e9, \u6d99", False, "none"),
    ],
)
def test_reads_utf8_with_any_line_ends(
    tmp_path: Path, data: bytes, text: str, bom: bool, newline: str
) -> None:
    caption = read_caption_file(_write(tmp_path, data))
    assert (caption.text, caption.bom, caption.newline) == (text, bom, newline)
    assert caption.data == data


def test_invalid_utf8_reports_byte_offset_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b"1girl,\nsm\xe9ile")  # latin-1 e-acute
    with pytest.raises(CaptionDecodeError) as info:
        read_caption_file(path)
    assert info.value.offset == 9
    assert "invalid UTF-8" in str(info.value) and "line 2" in str(info.value)
    assert str(path) in str(info.value)


def test_utf16_is_refused_not_guessed(tmp_path: Path) -> None:
    path = _write(tmp_path, "1girl".encode("utf-16"))
    with pytest.raises(CaptionDecodeError, match="UTF-16"):
        read_caption_file(path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt")
    with pytest.raises(CaptionDecodeError, match="binary") as info:
        read_caption_file(path)
    assert info.value.offset == 8


def test_empty_file_reads_as_empty(tmp_path: Path) -> None:
    caption = read_caption_file(_write(tmp_path, b""))
    assert caption.text == "" and caption.empty


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a, " * 1000)
    with pytest.raises(CaptionDecodeError, match="refused"):
        read_caption_file(path, max_bytes=100)


def test_missing_file_is_a_decode_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CaptionDecodeError, match="cannot read"):
        read_caption_file(tmp_path / "nope.txt")


def test_write_atomic_replaces_and_keeps_mode(tmp_path: Path) -> None:
    path = _write(tmp_path, b"old")
    path.chmod(0o640)
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]  # no temp file left


def test_write_atomic_failure_leaves_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, b"old")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_iter_caption_files_walks_sorted_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".anima-caption").mkdir()
    for name in ["b/2.txt", "1.txt", "b/1.TXT", ".anima-caption/x.txt", "img.png", ".hidden.txt"]:
        (tmp_path / name).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_caption_files([tmp_path])]
    assert found == ["1.txt", "b/1.TXT", "b/2.txt"]


def test_iter_caption_files_missing_path_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        list(iter_caption_files([tmp_path / "missing"]))
    assert info.value.exit_code == 2
