"""SPEC §3 against the real Danbooru data: every row of the table must hold."""

from __future__ import annotations

import pytest

from anima_caption._kinds import Category, Kind
from anima_caption._lookup import TagLookup
from anima_caption._tagdb import SuggestionReason, TagDB, TagStatus
from anima_caption._tagdb._suggest import curated


def test_left_side_ponytail_suggests_side_ponytail_with_direction_reason(real_db: TagDB) -> None:
    info = real_db.lookup("left side ponytail")
    assert not info.known
    assert info.status is TagStatus.UNKNOWN
    first = real_db.suggest("left side ponytail")[0]
    assert first.tag == "side ponytail"
    assert first.reason_code is SuggestionReason.DIRECTION_WORD
    assert "left" in first.reason and "natural-language" in first.reason


@pytest.mark.parametrize(
    "spelling", ["side ponytail", "side_ponytail", "Side Ponytail", "SIDE_PONYTAIL"]
)
def test_side_ponytail_exists_in_any_spelling(real_db: TagDB, spelling: str) -> None:
    info = real_db.lookup(spelling)
    assert info.known and info.status is TagStatus.TAG
    assert info.category is Category.GENERAL
    assert info.post_count is not None and 190_000 < info.post_count < 250_000
    assert info.danbooru_name == "side_ponytail"
    assert {"side tail", "sidetail"} <= set(info.aliases)


@pytest.mark.parametrize("alias", ["side tail", "sidetail"])
def test_side_ponytail_aliases_redirect(real_db: TagDB, alias: str) -> None:
    info = real_db.lookup(alias)
    assert info.status is TagStatus.ALIAS and info.canonical == "side ponytail"


def test_double_parted_bangs_punctuation_variant(real_db: TagDB) -> None:
    assert not real_db.lookup("double parted bangs").known
    first = real_db.suggest("double parted bangs")[0]
    assert first.tag == "double-parted bangs"
    assert first.reason_code is SuggestionReason.PUNCTUATION
    assert first.post_count is not None and 45_000 < first.post_count < 52_000


def test_front_view_curated(real_db: TagDB) -> None:
    assert not real_db.lookup("front view").known
    tags = [s.tag for s in real_db.suggest("front view")]
    assert tags[:2] == ["straight-on", "facing viewer"]


def test_semi_long_hair_curated(real_db: TagDB) -> None:
    assert not real_db.lookup("semi-long hair").known
    tags = [s.tag for s in real_db.suggest("semi-long hair")]
    assert tags[:2] == ["medium hair", "long hair"]
    assert real_db.lookup("shoulder-length hair").canonical == "medium hair"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("reddish brown blazer", {"blazer", "brown jacket"}),
        ("white collared shirt", {"collared shirt", "white shirt"}),
    ],
)
def test_compound_phrases_do_not_exist(real_db: TagDB, written: str, expected: set[str]) -> None:
    assert not real_db.lookup(written).known
    assert expected <= {s.tag for s in real_db.suggest(written)}


def test_action_shot_does_not_exist(real_db: TagDB) -> None:
    assert not real_db.lookup("action shot").known
    assert real_db.suggest("action shot")


@pytest.mark.parametrize("existing", ["blazer", "brown jacket", "collared shirt", "white shirt"])
def test_the_parts_exist(real_db: TagDB, existing: str) -> None:
    assert real_db.lookup(existing).status is TagStatus.TAG


def test_twin_tails_is_active_alias(real_db: TagDB) -> None:
    info = real_db.lookup("twin tails")
    assert info.known and info.status is TagStatus.ALIAS
    assert info.alias_status == "active" and info.canonical == "twintails"
    assert real_db.category("twin tails") is Category.GENERAL
    assert real_db.suggest("twin_tails")[0].tag == "twintails"


def test_brown_blazer_is_deleted_alias_not_tag(real_db: TagDB) -> None:
    info = real_db.lookup("brown blazer")
    assert not info.known
    assert info.status is TagStatus.INACTIVE_ALIAS
    assert info.alias_status == "deleted" and info.alias_target == "brown jacket"
    assert info.canonical is None  # deleted aliases do not redirect
    assert real_db.category("brown blazer") is None


@pytest.mark.parametrize("tag", ["bangs", "plaid", "red footwear", "red_footwear"])
def test_deprecated_tags(real_db: TagDB, tag: str) -> None:
    info = real_db.lookup(tag)
    assert not info.known
    assert info.status is TagStatus.REMOVED and info.deprecated
    assert info.evidence
    assert real_db.category(tag) is None


def test_deprecated_tags_suggest_specific_kinds(real_db: TagDB) -> None:
    assert {"blunt bangs", "parted bangs"} & {s.tag for s in real_db.suggest("bangs")}
    assert {"red shoes", "red boots"} <= {s.tag for s in real_db.suggest("red footwear")}


def test_red_footwear_evidence_names_the_older_list(real_db: TagDB) -> None:
    assert "danbooru.csv" in (real_db.lookup("red footwear").evidence or "")


@pytest.mark.parametrize(("word", "safety"), [("general", "safe"), ("questionable", "nsfw")])
def test_rating_words(real_db: TagDB, word: str, safety: str) -> None:
    info = real_db.lookup(word)
    assert info.status is TagStatus.RATING_WORD and not info.known
    first = real_db.suggest(word)[0]
    assert first.tag == safety and first.reason_code is SuggestionReason.RATING_WORD


def test_sensitive_is_a_safety_tag_in_anima(real_db: TagDB) -> None:
    info = real_db.lookup("sensitive")
    assert info.status is TagStatus.VOCABULARY and info.vocabulary is Kind.SAFETY


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("year 2024", Kind.YEAR),
        ("score_7", Kind.SCORE),
        ("masterpiece", Kind.QUALITY),
        ("safe", Kind.SAFETY),
    ],
)
def test_anima_vocabulary_is_known_but_not_danbooru(real_db: TagDB, tag: str, kind: Kind) -> None:
    info = real_db.lookup(tag)
    assert info.known and info.status is TagStatus.VOCABULARY
    assert info.vocabulary is kind
    assert "Anima vocabulary" in (info.source or "")
    assert real_db.category(tag) is None  # not a Danbooru tag


def test_blue_scrunchie_implies_scrunchie(real_db: TagDB) -> None:
    info = real_db.lookup("blue scrunchie")
    assert "scrunchie" in info.implies
    found = real_db.redundant(["1girl", "blue scrunchie", "side ponytail", "scrunchie"])
    assert [(r.tag, r.implied_by, r.chain) for r in found] == [
        ("scrunchie", "blue scrunchie", ("blue scrunchie", "scrunchie"))
    ]


def test_redundancy_follows_aliases_and_transitive_chains(real_db: TagDB) -> None:
    found = real_db.redundant(["low twintails", "twin tails"])
    assert [(r.tag, r.implied_by) for r in found] == [("twin tails", "low twintails")]
    chain = next(
        (a, c)
        for a, targets in real_db._implication_map().items()
        for c in targets
        if real_db._implication_map().get(c)
    )
    grand = real_db._implication_map()[chain[1]][0]
    assert grand in real_db.implications(chain[0])
    assert real_db.implication_chain(chain[0], grand) is not None


def test_artist_without_at(real_db: TagDB) -> None:
    info = real_db.lookup("nnn yryr")
    assert info.category is Category.ARTIST
    first = real_db.suggest("nnn yryr")[0]
    assert first.tag == "@nnn yryr" and first.reason_code is SuggestionReason.ARTIST_AT
    assert real_db.suggest("@nnn yryr") == []


def test_typo_and_word_order(real_db: TagDB) -> None:
    assert real_db.suggest("side ponytial")[0].tag == "side ponytail"
    assert real_db.suggest("ponytail side")[0].tag == "side ponytail"
    assert real_db.suggest("hatsune mikuu")[0].tag == "hatsune miku"


def test_correct_tags_get_no_suggestions(real_db: TagDB) -> None:
    assert real_db.suggest("side ponytail") == []
    assert real_db.suggest("masterpiece") == []


def test_curated_targets_exist(real_db: TagDB) -> None:
    """Every tag the curated map suggests is a current Danbooru tag or Anima vocabulary."""
    data = curated()
    targets = {t for suggest, _ in data.phrases.values() for t in suggest}
    for info in real_db.lookup_many(sorted(targets)):
        assert info.known, f"curated suggestion {info.query!r} is not a tag: {info.note}"


def test_protocol_and_batch(real_db: TagDB) -> None:
    assert isinstance(real_db, TagLookup)
    names = [
        "side ponytail",
        "twin tails",
        "left side ponytail",
        "ganyu (genshin impact)",
        "nnn yryr",
    ]
    assert real_db.categories(names) == [
        Category.GENERAL,
        Category.GENERAL,
        None,
        Category.CHARACTER,
        Category.ARTIST,
    ]
    batch = real_db.lookup_many(names)
    assert [b.to_dict() for b in batch] == [real_db.lookup(n).to_dict() for n in names]


def test_kaomoji_lookup(real_db: TagDB) -> None:
    assert real_db.lookup("^_^").known
    assert real_db.lookup(":d").known
