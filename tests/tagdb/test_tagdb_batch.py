"""The fast batch path of ``TagDB.lookup_many`` says exactly what a slow, independent
reading of the database says: field by field, for every spelling, cached or not."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anima_caption._kinds import Category, Kind
from anima_caption._normalize import db_key
from anima_caption._tagdb import TagDB, TagInfo, TagStatus
from anima_caption._tagdb._db import _INFO_CACHE, _literal_prefix, _lookup_keys


def _names(db: TagDB) -> list[str]:
    assert db._conn is not None
    return [row[0] for row in db._conn.execute("SELECT name FROM tag")]


def test_lookup_keys_match_db_key_on_every_real_name(real_db: TagDB) -> None:
    names = _names(real_db)
    spellings = names + [n.replace(" ", "_") for n in names] + [n.upper() for n in names[::50]]
    assert _lookup_keys(spellings) == [db_key(s) for s in spellings]


_PIECES = [*"ab z_ 09-().:'@\\AÉéß\t\n\xa0\u3000İ", "score", "score_", "  ", "__"]


@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), max_size=20))
def test_lookup_keys_match_db_key_on_tricky_text(queries: list[str]) -> None:
    assert _lookup_keys(queries) == [db_key(q) for q in queries]


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("score_[1-9]", "score_"), ("year [0-9]{4}", "year "), ("ab?c", "a"), ("a*", ""), ("(a)", "")],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert _literal_prefix(pattern) == prefix


def _implied(conn: sqlite3.Connection, key: str) -> tuple[str, ...]:
    return tuple(
        r[0]
        for r in conn.execute(
            "SELECT consequent FROM implication WHERE antecedent = ? AND status = 'active' "
            "ORDER BY consequent",
            (key,),
        )
    )


def _expected(db: TagDB, conn: sqlite3.Connection, query: str) -> TagInfo:
    """A current tag's TagInfo, read with plain SQL and built with keywords."""
    key = db_key(query)
    category, count, source = conn.execute(
        "SELECT t.category, t.post_count, s.name FROM tag t JOIN source s ON s.id = t.source "
        "WHERE t.name = ?",
        (key,),
    ).fetchone()
    implies = _implied(conn, key)
    closure: dict[str, None] = {}
    queue = list(implies)
    while queue:  # breadth first, each level in name order
        node = queue.pop(0)
        if node not in closure and node != key:
            closure[node] = None
            queue.extend(_implied(conn, node))
    aliases = tuple(
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT antecedent FROM alias WHERE consequent = ? AND status = 'active' "
            "ORDER BY antecedent",
            (key,),
        )
    )
    kind = Category(category)
    vocab = db._vocab.kind(key)
    note = f"Danbooru {kind.name.lower()} tag, {count:,} posts"
    if vocab is not None:
        note += f"; also Anima vocabulary ({vocab.value})"
    return TagInfo(
        query=query,
        name=key,
        status=TagStatus.TAG,
        known=True,
        category=kind,
        post_count=count,
        canonical=key,
        implies=implies,
        implies_all=tuple(closure),
        aliases=aliases,
        vocabulary=vocab,
        source=source,
        note=note,
    )


def test_batch_records_equal_an_independent_reading(real_tagdb_path: Path) -> None:
    db = TagDB.open(real_tagdb_path)
    conn = sqlite3.connect(f"{real_tagdb_path.as_uri()}?mode=ro", uri=True)
    rng = random.Random(3)
    implying = [r[0] for r in conn.execute("SELECT DISTINCT antecedent FROM implication")]
    aliased = [r[0] for r in conn.execute("SELECT consequent FROM alias WHERE status='active'")]
    sample = [*rng.sample(_names(db), 3000), "1girl", "solo", "side ponytail", "blue scrunchie"]
    sample += rng.sample(implying, 300) + rng.sample(aliased, 300)
    queries = [n.replace(" ", "_") if i % 3 == 0 else n for i, n in enumerate(sample)]
    infos = db.lookup_many(queries)
    checked = 0
    for query, info in zip(queries, infos, strict=True):
        if info.status is not TagStatus.TAG:
            continue  # a consequent/antecedent that is an alias or no longer a tag
        assert info == _expected(db, conn, query), query
        checked += 1
    assert checked > 3000
    assert any(i.implies_all and len(i.implies_all) > len(i.implies) for i in infos)
    assert any(i.aliases for i in infos)
    assert any(i.vocabulary is Kind.COUNT for i in infos)
    # The slow path (one tag at a time, a fresh database, no cache) agrees.
    fresh = TagDB.open(real_tagdb_path)
    for query, info in zip(queries[:300], infos[:300], strict=True):
        assert fresh.lookup(query) == info
    conn.close()


def test_repeated_and_respelled_tags(real_tagdb_path: Path) -> None:
    db = TagDB.open(real_tagdb_path)
    queries = [
        "Side_Ponytail",
        "side ponytail",
        "side_ponytail",
        "side ponytail",
        "twin tails",
        "twin_tails",
        "not a real tag x",
        "masterpiece",
        "score_7",
        "year 2024",
        "@nnn yryr",
        "nnn_yryr",
    ]
    infos = db.lookup_many(queries)
    assert [i.query for i in infos] == queries
    assert infos[1] is infos[3]  # the same spelling: the same immutable answer
    assert {i._replace(query="") for i in infos[:4]} == {infos[1]._replace(query="")}
    assert infos[0].status is TagStatus.TAG and infos[0].category is Category.GENERAL
    assert infos[4].canonical == infos[5].canonical == "twintails"
    assert infos[4].status is infos[5].status is TagStatus.ALIAS
    assert infos[6].status is TagStatus.UNKNOWN
    assert infos[7].vocabulary is Kind.QUALITY and infos[7].status is TagStatus.VOCABULARY
    assert infos[8].vocabulary is Kind.SCORE and infos[9].vocabulary is Kind.YEAR
    assert infos[10].name == infos[11].name == "nnn yryr"
    again = db.lookup_many(queries)  # from the cache
    assert all(a is b for a, b in zip(again, infos, strict=True))
    uncached = TagDB.open(real_tagdb_path)
    assert [uncached.lookup(q) for q in queries] == infos
    assert [i.to_dict() for i in infos] == [uncached.lookup(q).to_dict() for q in queries]


def test_cache_stays_bounded_and_correct(real_tagdb_path: Path) -> None:
    db = TagDB.open(real_tagdb_path)
    names = _names(db)[: _INFO_CACHE + 5000]
    first = db.lookup_many(names)
    assert len(db._infos) <= _INFO_CACHE
    second = db.lookup_many(names[:10] + names[-10:])
    assert second == first[:10] + first[-10:]


def test_tag_info_is_immutable(real_db: TagDB) -> None:
    info = real_db.lookup("side ponytail")
    with pytest.raises(AttributeError):
        info.known = False  # type: ignore[misc]
    assert real_db.lookup("side ponytail").known


def test_vocabulary_only_batch() -> None:
    db = TagDB.vocabulary_only()
    infos = db.lookup_many(["masterpiece", "side ponytail", "score_7", "Year_2024", "general"])
    assert [i.status for i in infos] == [
        TagStatus.VOCABULARY,
        TagStatus.UNKNOWN,
        TagStatus.VOCABULARY,
        TagStatus.VOCABULARY,
        TagStatus.RATING_WORD,
    ]
    assert "no tag database" in infos[1].note


def test_per_key_relations_equal_the_full_maps(
    real_tagdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small batches fetch alias and implication rows per key; big ones load the whole
    maps. Both ways must give the same answers, field by field."""
    from anima_caption._tagdb import _db

    probe = sqlite3.connect(real_tagdb_path)
    rng = random.Random(7)
    implying = [r[0] for r in probe.execute("SELECT DISTINCT antecedent FROM implication")]
    aliased = [r[0] for r in probe.execute("SELECT antecedent FROM alias")]
    targets = [r[0] for r in probe.execute("SELECT DISTINCT consequent FROM alias")]
    probe.close()
    sample = (
        rng.sample(implying, 300)
        + rng.sample(aliased, 300)
        + rng.sample(targets, 200)
        + ["arch mouth", "twin tails", "blue scrunchie", "side ponytail", "bangs", "nope tag"]
    )
    lazy = TagDB.open(real_tagdb_path)
    small = [lazy.lookup_many(sample[i : i + 40]) for i in range(0, len(sample), 40)]
    lazy_infos = [info for batch in small for info in batch]
    assert lazy._aliases is None, "small batches must not load the full alias map"

    full = TagDB.open(real_tagdb_path)
    full._alias_map()
    full._implication_map()
    assert full.lookup_many(sample) == lazy_infos
    caption = ["blue scrunchie", "scrunchie", "twin tails", "twintails", "hair ornament"]
    assert lazy.redundant(caption) == full.redundant(caption)
    assert [lazy.suggest(t)[:3] for t in ("left side ponytail", "twin tail")] == [
        full.suggest(t)[:3] for t in ("left side ponytail", "twin tail")
    ]

    # Past the threshold, the next batch loads the maps once and answers the same.
    monkeypatch.setattr(_db, "_FULL_RELATIONS_AFTER", 200)
    switching = TagDB.open(real_tagdb_path)
    assert switching.lookup_many(sample[:10]) == lazy_infos[:10]
    assert switching._aliases is None
    assert switching.lookup_many(sample[10:]) == lazy_infos[10:]
    assert switching._aliases is not None and switching._implications is not None
