"""``TagDB.complete``: prefix completion for the review server's tag editor, on the real
database (925k names)."""

from __future__ import annotations

import time

from anima_caption._tagdb import TagDB


def test_prefix_ranked_by_post_count(real_db: TagDB) -> None:
    found = real_db.complete("side p", limit=5)
    assert found[0].name == "side ponytail"
    assert found[0].category == "general"
    counts = [c.post_count or 0 for c in found]
    assert counts == sorted(counts, reverse=True)
    assert all(c.name.startswith("side p") for c in found)


def test_either_spelling_and_case(real_db: TagDB) -> None:
    assert real_db.complete("Blue_H", limit=3)[0].name == "blue hair"


def test_alias_reaches_the_canonical_tag(real_db: TagDB) -> None:
    found = {c.name: c for c in real_db.complete("twin tai", limit=10)}
    assert found["twintails"].alias == "twin tails"
    assert found["twintails"].post_count and found["twintails"].post_count > 100_000


def test_vocabulary_first_and_categories(real_db: TagDB) -> None:
    names = [c.name for c in real_db.complete("mas", limit=6)]
    assert names[0] == "masterpiece"
    assert [c.name for c in real_db.complete("score_", limit=3)] == [
        "score_9",
        "score_8",
        "score_7",
    ]
    characters = real_db.complete("hatsune m", limit=3)
    assert characters[0].name == "hatsune miku" and characters[0].category == "character"


def test_each_tag_once_and_limit(real_db: TagDB) -> None:
    found = real_db.complete("s", limit=20)
    assert len(found) == 20
    assert len({c.name for c in found}) == 20
    assert real_db.complete("", limit=5) == []
    assert real_db.complete("zzzzqqqxx", limit=5) == []


def test_fast_enough_to_type(real_db: TagDB) -> None:
    real_db.complete("warmup")
    start = time.perf_counter()
    for prefix in ("s", "sh", "sho", "short h", "b", "bl", "blu", "blue e"):
        real_db.complete(prefix, limit=12)
    assert time.perf_counter() - start < 2.0  # ~0.15 s here; generous for a busy CI box


def test_without_danbooru_data() -> None:
    only = TagDB.vocabulary_only()
    assert [c.name for c in only.complete("best", limit=3)] == ["best quality"]
