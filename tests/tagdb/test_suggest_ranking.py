"""Suggestions a user would accept (issue 14), on the full real Danbooru database.

The issue's table, the seed cases, Danbooru's successors of removed tags, the rest of the
caption (context), the confidence threshold of ``--apply-suggestions``, one reason per
group in ``check``'s message, and the benchmark's accuracy floor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anima_caption._tagdb import SuggestionReason, TagDB
from anima_caption._tagdb._suggest import APPLY_THRESHOLD, explain, first_applicable

REPO = Path(__file__).resolve().parents[2]


def _first(db: TagDB, tag: str, **kwargs: object) -> str:
    found = db.suggest(tag, limit=3, **kwargs)  # type: ignore[arg-type]
    assert found, f"no suggestion for {tag!r}"
    return found[0].tag


# -- the issue's table and the seed cases --------------------------------------------------


@pytest.mark.parametrize(
    ("written", "accepted"),
    [
        ("plaid", {"plaid clothes"}),
        ("female child", {"child"}),
        ("fair skin", {"pale skin"}),
        ("x hairclip", {"x hair ornament"}),
        ("ear fluff", {"animal ear fluff"}),
        ("black sailor uniform", {"black serafuku", "serafuku"}),
        ("left side ponytail", {"side ponytail"}),
        ("double parted bangs", {"double-parted bangs"}),
    ],
)
def test_the_issue_table_and_the_seeds(real_db: TagDB, written: str, accepted: set[str]) -> None:
    assert _first(real_db, written) in accepted


def test_a_popular_close_tag_beats_a_rare_closer_one(real_db: TagDB) -> None:
    # `feral child` is one edit from `female child` but has a handful of posts.
    found = real_db.suggest("female child", limit=3)
    assert found[0].tag == "child"
    assert (found[0].post_count or 0) > 50_000


@pytest.mark.parametrize(
    ("written", "expected", "reason"),
    [
        ("cat ear", "cat ears", SuggestionReason.PLURAL),
        ("furrowed brows", "furrowed brow", SuggestionReason.PLURAL),
        ("ponytail side", "side ponytail", SuggestionReason.WORD_ORDER),
        ("wet legwear", None, SuggestionReason.SYNONYM),  # a legwear word Danbooru uses
        ("daisy", "daisy (flower)", SuggestionReason.SUCCESSOR),
        ("alternate breast size", "alternate breast size (larger)", None),
        ("worm's-eye view", "from below", SuggestionReason.CURATED),  # curated, any hyphens
        ("watercolor style", "watercolor (medium)", SuggestionReason.CURATED),
    ],
)
def test_word_structure(
    real_db: TagDB, written: str, expected: str | None, reason: SuggestionReason | None
) -> None:
    first = real_db.suggest(written, limit=3)[0]
    if expected is not None:
        assert first.tag == expected
    else:
        assert first.tag in {"wet pantyhose", "wet thighhighs", "wet socks"}
    if reason is not None:
        assert first.reason_code is reason


def test_word_forms() -> None:
    from anima_caption._tagdb._suggest import _base_forms, stem

    # a doubled s / l / f / z is part of the word: `crossed` is `cross` + -ed
    assert stem("crossed") == stem("cross")
    assert stem("rolled") == stem("roll")
    assert stem("grabbing") == stem("grab")
    assert "pout" in _base_forms("pouted")
    assert "smile" in _base_forms("smiling")
    assert "grab" in _base_forms("grabbing")
    assert "worry" in _base_forms("worried")
    assert "tear" in _base_forms("tearful")
    assert _base_forms("red") == [] and _base_forms("hair") == []


@pytest.mark.parametrize(
    ("written", "accepted"),
    [
        # the verb or noun a word is formed from (through Danbooru's alias `fear` → `scared`)
        ("fearful", {"scared"}),
        ("pouted face", {"pout"}),
        # Danbooru says a raised limb is `up`
        ("knee raised", {"knee up"}),
        ("foot raised", {"foot up"}),
        # `cross-legged` holds the words of `crossed legs`
        ("sitting cross-legged", {"crossed legs", "indian style"}),
    ],
)
def test_general_word_rules(real_db: TagDB, written: str, accepted: set[str]) -> None:
    found = [s.tag for s in real_db.suggest(written, limit=3)]
    assert set(found) & accepted, found


def test_another_form_of_a_word_is_never_applied_unasked(real_db: TagDB) -> None:
    first = real_db.suggest("fearful", limit=3)[0]
    assert first.tag == "scared" and not first.applicable


def test_the_old_behaviour_stays(real_db: TagDB) -> None:
    assert _first(real_db, "side ponytial") == "side ponytail"
    assert _first(real_db, "hatsune mikuu") == "hatsune miku"
    assert _first(real_db, "twin tails") == "twintails"
    assert real_db.suggest("side ponytail") == []
    assert [s.tag for s in real_db.suggest("front view")][:2] == ["straight-on", "facing viewer"]


# -- successors ------------------------------------------------------------------------------


def test_plaid_successor_is_plaid_clothes(real_db: TagDB) -> None:
    found = real_db.successor("plaid")
    assert found is not None
    assert found.tag == "plaid clothes"
    assert found.reason_code is SuggestionReason.SUCCESSOR
    assert found.reason.startswith("Danbooru replaced `plaid` with `plaid clothes`")
    assert found.confidence >= APPLY_THRESHOLD  # every plaid_* implication moved there


@pytest.mark.parametrize(
    ("removed", "successor"),
    [
        ("striped", "striped clothes"),  # the same migration of the pattern tags
        ("checkered", "checkered clothes"),
        ("holding hair", "holding own hair"),  # a deleted alias to a longer name
        ("brown blazer", "brown jacket"),  # a deleted alias
        ("light blue hair", "blue hair"),  # the broader tag it used to imply
    ],
)
def test_successors_from_the_alias_and_implication_history(
    real_db: TagDB, removed: str, successor: str
) -> None:
    found = real_db.successor(removed)
    assert found is not None and found.tag == successor


def test_weak_successors_are_not_applied(real_db: TagDB) -> None:
    # A deleted alias is history, not a decision: shown, never applied unasked.
    weak = real_db.successor("brown blazer")
    parent = real_db.successor("light blue hair")
    assert weak is not None and weak.confidence < APPLY_THRESHOLD
    assert parent is not None and parent.confidence < APPLY_THRESHOLD


@pytest.mark.parametrize("name", ["side ponytail", "twin tails", "masterpiece", "bangs"])
def test_no_successor_without_data(real_db: TagDB, name: str) -> None:
    # Current tags and aliases need none; `bangs` was removed with no replacement.
    assert real_db.successor(name) is None


def test_bangs_still_gets_its_specific_kinds(real_db: TagDB) -> None:
    tags = [s.tag for s in real_db.suggest("bangs", limit=3)]
    assert {"blunt bangs", "parted bangs"} <= set(tags)


# -- context -----------------------------------------------------------------------------------


def test_a_weaker_form_of_a_caption_tag_is_to_be_removed(real_db: TagDB) -> None:
    found = real_db.suggest("plaid", limit=3, context=["1girl", "plaid skirt", "smile"])
    assert found[0].remove and found[0].tag == "plaid skirt"
    assert found[0].reason_code is SuggestionReason.COVERED
    assert "plaid skirt" in found[0].reason
    # Without the context, the successor comes first.
    assert real_db.suggest("plaid", limit=3)[0].tag == "plaid clothes"


def test_a_suggestion_the_caption_holds_is_not_repeated(real_db: TagDB) -> None:
    alone = [s.tag for s in real_db.suggest("double parted bangs", limit=3)]
    assert alone[:2] == ["double-parted bangs", "parted bangs"]
    found = real_db.suggest("double parted bangs", limit=3, context=["1girl", "parted bangs"])
    assert [s.tag for s in found if not s.remove].count("parted bangs") == 0
    assert found[0].tag == "double-parted bangs" and not found[0].remove


def test_the_suggested_tag_already_in_the_caption_means_remove(real_db: TagDB) -> None:
    found = real_db.suggest("left side ponytail", context=["side ponytail", "1girl"])
    assert found[0].remove and found[0].tag == "side ponytail"
    assert all(s.tag != "side ponytail" or s.remove for s in found)


def test_context_accepts_any_spelling(real_db: TagDB) -> None:
    # `twin tails` is the alias of `twintails`: the caption holds the suggestion.
    found = real_db.suggest("twintail", context=["Twin_Tails"])
    assert found and found[0].remove


# -- confidence and --apply-suggestions --------------------------------------------------------


def test_confident_first_suggestions(real_db: TagDB) -> None:
    for tag in ("left side ponytail", "double parted bangs", "plaid", "cat ear"):
        found = real_db.applicable_suggestion(tag)
        assert found is not None, tag
        assert found.confidence >= APPLY_THRESHOLD
    assert real_db.applicable_suggestion("left side ponytail").tag == "side ponytail"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "tag", ["front view", "bangs", "sitting on chair", "touching hair", "poppy"]
)
def test_ambiguous_first_suggestions_are_not_applied(real_db: TagDB, tag: str) -> None:
    assert real_db.applicable_suggestion(tag) is None
    found = real_db.suggest(tag, limit=3)
    assert first_applicable(found) is None
    assert all(s.confidence < APPLY_THRESHOLD for s in found)


def test_only_the_first_suggestion_is_ever_applicable(real_db: TagDB) -> None:
    found = real_db.suggest("left side ponytail", limit=3)
    assert all(not s.applicable for s in found[1:])


# -- one reason per group ---------------------------------------------------------------------


def test_explain_says_each_reason_once(real_db: TagDB) -> None:
    found = real_db.suggest("bangs", limit=3)
    assert all(s.reason_code is SuggestionReason.DEPRECATED for s in found)
    text = explain(found)
    assert text.count("Danbooru no longer uses") == 1
    assert all(f"'{s.tag}'" in text for s in found)


def test_check_message_has_one_reason_per_group(real_tagdb_path: Path) -> None:
    import anima_caption

    db = TagDB.open(real_tagdb_path)
    found = [
        d
        for d in anima_caption.lint("safe, 1girl, bangs, plaid, plaid skirt", db=db)
        if d.code == "TG007"
    ]
    bangs = next(d for d in found if "'bangs'" in d.message)
    assert bangs.message.count("Danbooru no longer uses") == 1
    plaid = next(d for d in found if "'plaid'" in d.message)
    assert "remove it" in plaid.message and "plaid skirt" in plaid.message
    assert plaid.fix is not None and plaid.fix.applicability.value == "display-only"


def test_apply_suggestions_on_the_command_line(real_tagdb_path: Path, tmp_path: Path) -> None:
    from anima_caption.cli import main

    data = tmp_path / "set"
    data.mkdir()
    caption = data / "a.txt"
    caption.write_text("safe, 1girl, left side ponytail, smile, front view\n", encoding="utf-8")
    db = ["--db", str(real_tagdb_path)]
    # Without --apply-suggestions the suggestions are only shown.
    assert main(["check", str(data), "--fix", "--unsafe-fixes", "--no-progress", *db]) == 1
    assert "left side ponytail" in caption.read_text(encoding="utf-8")
    # It changes tags: only with --unsafe-fixes (usage error otherwise).
    assert main(["check", str(data), "--fix", "--apply-suggestions", "--no-progress", *db]) == 2
    apply = ["--fix", "--unsafe-fixes", "--apply-suggestions", "--no-progress"]
    main(["check", str(data), *apply, *db])
    text = caption.read_text(encoding="utf-8")
    assert "side ponytail" in text and "left side ponytail" not in text
    assert "front view" in text  # two choices: not confident, left to the user


def test_apply_suggestions_lists_them_in_the_diff(
    real_tagdb_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from anima_caption.cli import main

    caption = tmp_path / "a.txt"
    caption.write_text("safe, 1girl, double parted bangs\n", encoding="utf-8")
    apply = ["--fix", "--unsafe-fixes", "--apply-suggestions", "--diff", "--no-progress"]
    main(["check", str(tmp_path), *apply, "--db", str(real_tagdb_path)])
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("# "))
    assert "'double-parted bangs'" in note and "punctuation" in note
    assert "+safe, 1girl, double-parted bangs" in out
    assert "double parted bangs" in caption.read_text(encoding="utf-8")  # --diff writes nothing


# -- the benchmark ---------------------------------------------------------------------------------


def test_benchmark_accuracy_floor(real_tagdb_path: Path, tmp_path: Path) -> None:
    """The suggestion benchmark keeps the accuracy it reached (bench/bench_suggest.py)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_suggest.py"), "--db", str(real_tagdb_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    line = next(line for line in out.splitlines() if line.strip().startswith("all "))
    top1 = float(line.split("top-1")[1].split("%")[0])
    top3 = float(line.split("top-3")[1].split("%")[0])
    assert top1 >= 80.0, line  # the issue's targets
    assert top3 >= 90.0, line
    # it reports latency per unknown tag, cold and cached, as p50 / p95
    for label in ("latency cold", "latency cached (memory)", "latency cached (across runs)"):
        timing = next(line for line in out.splitlines() if line.strip().startswith(label))
        assert "p50" in timing and "p95" in timing and " ms" in timing, timing
    assert any(line.strip().startswith("held-out") for line in out.splitlines())
    applicable = next(line for line in out.splitlines() if "applicable" in line)
    assert float(applicable.split("accepted")[1].strip().rstrip("%")) >= 95.0, applicable
