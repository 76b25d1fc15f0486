"""The batch API: picklable ``Linter`` and ``Converter``, ``lint_many``, Arrow tables."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

import anima_caption
from anima_caption import TagDB
from anima_caption._check import _api
from anima_caption._check._api import Linter
from anima_caption._convert import Converter

CAPTIONS = [
    "1girl, long_hair, general",
    "masterpiece, safe, 1girl, side tail, smile",
    "safe, 1girl, twin tails, hatsune miku, wlop",
    "",
    "1girl, (smile:1.2), BREAK, blush",
]


def _names(diagnostics: list[anima_caption.Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.line, d.column, d.message) for d in diagnostics]


def test_lint_many_finds_what_lint_finds(small_db_path: Path) -> None:
    db = TagDB.open(small_db_path)
    linter = Linter(db=db, config={"triggers": ["kanachan"]})
    many = linter.lint_many(CAPTIONS)
    for text, found in zip(CAPTIONS, many, strict=True):
        fresh = anima_caption.lint(text, db=db, config={"triggers": ["kanachan"]})
        assert _names(found) == _names(fresh)
    # the database matters: an alias is reported with it
    assert "TG006" in {d.code for d in many[1]}


def test_lint_reuses_one_cached_linter_per_settings() -> None:
    first = _api._cached_linter({"triggers": ["a"]}, None, None, None)
    assert _api._cached_linter({"triggers": ["a"]}, None, None, None) is first
    assert _api._cached_linter({"triggers": ["b"]}, None, None, None) is not first
    # a cached linter does not carry one call's settings into another
    found = anima_caption.lint("safe, 1girl", config={"triggers": ["a"]})
    assert "TR001" in {d.code for d in found}
    assert anima_caption.lint("safe, 1girl") == []


def test_lint_many_with_dataset_rules_reports_duplicates() -> None:
    linter = Linter()
    found = linter.lint_many(
        ["safe, 1girl, smile", "safe, 1girl, smile", "safe, 1boy"],
        ids=["a.png", "b.png", "c.png"],
        dataset=True,
    )
    assert [d.code for d in found[1]] == ["DS003"]
    assert found[1][0].path == "b.png"
    assert found[0] == []
    assert [d.code for d in found[2]] == ["DS005"]  # 'smile' in 2 of 3: a likely trigger


def test_linter_pickles_the_database_path_not_the_connection(small_db_path: Path) -> None:
    linter = Linter(db=small_db_path, config={"triggers": ["kanachan"]}, ignore=["OR"])
    data = pickle.dumps(linter)
    assert len(data) < 20_000  # configuration and a path, no caches, no connection
    copy = pickle.loads(data)
    assert copy.db is not None and copy.db is not linter.db
    assert copy.db.path == small_db_path and copy.db.has_danbooru_data
    for text in CAPTIONS:
        assert _names(copy.lint(text)) == _names(linter.lint(text))


def _lint_in_worker(linter: Linter, texts: list[str]) -> list[list[str]]:
    return [[d.name for d in found] for found in linter.lint_many(texts)]


def _convert_in_worker(converter: Converter, texts: list[str]) -> list[str]:
    return [r.text for r in converter.convert_many(texts)]


def test_linter_and_converter_work_in_a_fresh_process(small_db_path: Path) -> None:
    linter = Linter(db=small_db_path)
    converter = Converter(TagDB.open(small_db_path), dialect="sdxl")
    texts = CAPTIONS[:3]
    spawn = multiprocessing.get_context("spawn")  # nothing inherited: the file is reopened
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        linted = pool.submit(_lint_in_worker, linter, texts).result()
        converted = pool.submit(_convert_in_worker, converter, texts).result()
    assert linted == _lint_in_worker(linter, texts)
    assert converted == _convert_in_worker(converter, texts)
    # the database was used over there: the alias was resolved and '@' added
    assert converted[2] == "safe, 1girl, hatsune miku, @wlop, twintails"


def test_converter_pickle_keeps_options_and_reopens_the_database(small_db_path: Path) -> None:
    converter = Converter(
        TagDB.open(small_db_path), dialect="pony", triggers=["kanachan"], prefix="masterpiece"
    )
    converter.convert_many(CAPTIONS[:3])  # fill the caches
    copy = pickle.loads(pickle.dumps(converter))
    assert copy.db is not converter.db and copy.db.path == small_db_path
    assert copy.dialect == "pony" and copy.triggers == ("kanachan",)
    for text in CAPTIONS[:3]:
        assert copy.convert(text) == converter.convert(text)
    vocabulary_only = pickle.loads(pickle.dumps(Converter(None)))
    assert vocabulary_only.db is None


def test_lint_table_adds_diagnostics_and_counts() -> None:
    table = pa.table({"file_name": ["a.png", "b.png"], "caption": [CAPTIONS[0], "safe, 1girl"]})
    out = Linter().lint_table(table, id_column="file_name")
    assert out.column_names == ["file_name", "caption", "diagnostics", "errors", "warnings"]
    rows = out.to_pylist()
    assert [d["code"] for d in rows[0]["diagnostics"]] == ["TG001", "SF003"]
    assert rows[0]["diagnostics"][0]["line"] == 1 and rows[0]["diagnostics"][0]["column"] == 8
    assert rows[0]["errors"] == 2 and rows[1]["errors"] == 0 and rows[1]["diagnostics"] == []
    with pytest.raises(anima_caption.UsageError, match=r"no column 'text'.*file_name, caption"):
        Linter().lint_table(table, column="text")


def test_convert_table_replaces_the_caption_and_keeps_bad_rows() -> None:
    table = pa.table({"id": [1, 2, 3], "caption": ["1girl, long_hair, general", "(smile", None]})
    out = Converter(None).convert_table(table)
    rows = out.to_pylist()
    assert rows[0]["caption"] == "safe, 1girl, long hair"
    assert {c["rule"] for c in rows[0]["changes"]} >= {"underscore", "rating"}
    assert rows[0]["changed"] is True
    assert rows[1]["caption"] == "(smile" and rows[1]["changes"][0]["rule"] == "error"
    assert rows[1]["changed"] is False
    assert rows[2]["caption"] == "" and rows[2]["changed"] is False
    assert out.column("id").to_pylist() == [1, 2, 3]
