"""Parsing real-looking captions: tags vs sentences, sections, prompt syntax, errors."""

from __future__ import annotations

import pytest

import anima_caption
from anima_caption import CaptionSyntaxError, Group, Kind, Marker, Section, Sentence, Tag, Wildcard

SEED_TEMPLATE = (
    "masterpiece, best quality, score_7, safe,\n"
    "1girl, solo, kanachan,\n"
    "A close-up portrait of a young girl with an angry expression and a slight frown looking "
    "directly at the viewer.\n"
    "Her bound hair with a blue scrunchie is visible on the right side of the image,\n"
    "and a small antenna of hair rises from the top of her head.\n"
    "brown eyes, left side ponytail, ahoge, brown hair, double parted bangs, medium hair, "
    "blue scrunchie,\n"
    "angry, frown, looking at viewer, portrait, bare shoulders,\n"
    "white background, simple background"
)
SEED_ONE_LINE = " ".join(line.strip() for line in SEED_TEMPLATE.splitlines())


def _kinds(text: str, **kw: object) -> list[tuple[str, str]]:
    caption = anima_caption.parse(text, **kw)  # type: ignore[arg-type]
    return [(item.type, getattr(item, "text", item.raw)) for item in caption.items]


@pytest.mark.parametrize("text", [SEED_TEMPLATE, SEED_ONE_LINE])
def test_seed_template_has_two_sentences_and_the_tags(text: str) -> None:
    caption = anima_caption.parse(text, triggers=["kanachan"])
    assert str(caption) == text
    sentences = [s.text for s in caption.sentences]
    assert len(sentences) == 2
    assert sentences[0].startswith("A close-up portrait") and sentences[0].endswith("viewer.")
    assert sentences[1].startswith("Her bound hair") and sentences[1].endswith("her head.")
    assert "image, and a small antenna" in sentences[1]  # the comma stays inside the sentence
    names = [t.text for t in caption.tags]
    assert names[:7] == [
        "masterpiece",
        "best quality",
        "score_7",
        "safe",
        "1girl",
        "solo",
        "kanachan",
    ]
    assert "left side ponytail" in names and "simple background" in names
    assert len(names) == 7 + 14


def test_seed_sections_and_kinds() -> None:
    caption = anima_caption.parse(SEED_ONE_LINE, triggers=["kanachan"])
    by_text = {t.text: t for t in caption.tags}
    assert by_text["masterpiece"].kind is Kind.QUALITY
    assert by_text["score_7"].kind is Kind.SCORE
    assert by_text["safe"].kind is Kind.SAFETY
    assert by_text["1girl"].kind is Kind.COUNT and by_text["1girl"].section is Section.COUNT
    assert by_text["solo"].section is Section.COUNT  # right after the count tag
    assert by_text["kanachan"].kind is Kind.TRIGGER
    assert by_text["kanachan"].section is Section.CHARACTER
    # Without a tag database other tags are unknown and sit in the general section.
    assert by_text["side ponytail" if "side ponytail" in by_text else "ahoge"].kind is Kind.UNKNOWN
    assert by_text["ahoge"].section is Section.GENERAL


def test_solo_among_general_tags_is_general() -> None:
    caption = anima_caption.parse("1girl, smile, solo")
    assert caption.tags[2].section is Section.GENERAL


@pytest.mark.parametrize(
    "text",
    [
        "Yanagise Eika, 1girl, solo, long hair, smile",
        "1girl, Yanagise Eika, solo, long hair, smile",
        "Yanagise Eika, 1girl, solo, long hair, smile.",
        "Hatsune Miku, Vocaloid, twin tails, aqua hair",
    ],
)
def test_capitalised_triggers_are_tags_not_sentences(text: str) -> None:
    caption = anima_caption.parse(text)
    assert caption.sentences == ()
    assert len(caption.tags) == len(text.split(","))


def test_capitalised_trigger_is_classified_when_configured() -> None:
    caption = anima_caption.parse("Yanagise Eika, 1girl", triggers=["yanagise eika"])
    assert caption.tags[0].kind is Kind.TRIGGER
    assert caption.tags[0].text == "yanagise eika"


def test_tags_then_period_then_prose_like_the_model_card() -> None:
    text = (
        "masterpiece, best quality, @big chungus. "
        "An anime girl with medium-length blonde hair is standing."
    )
    caption = anima_caption.parse(text)
    assert [t.text for t in caption.tags] == ["masterpiece", "best quality", "@big chungus"]
    assert caption.tags[2].kind is Kind.ARTIST
    assert [s.text for s in caption.sentences] == [
        "An anime girl with medium-length blonde hair is standing."
    ]


def test_sentence_spanning_commas_then_tags_after_a_space() -> None:
    caption = anima_caption.parse("A girl, smiling at the viewer. smile, solo")
    assert [s.text for s in caption.sentences] == ["A girl, smiling at the viewer."]
    assert [t.text for t in caption.tags] == ["smile", "solo"]


def test_lowercase_sentence_is_recognised() -> None:
    caption = anima_caption.parse("1girl, a girl standing in the rain with an umbrella., smile")
    assert [s.text for s in caption.sentences] == ["a girl standing in the rain with an umbrella."]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("st. louis (azur lane)", "st. louis (azur lane)"),
        ("mr. game & watch", "mr. game & watch"),
        ("ganyu (genshin impact)", "ganyu (genshin impact)"),
        ("ganyu \\(genshin impact\\)", "ganyu (genshin impact)"),
        ("Side_Ponytail", "side ponytail"),
        ("score_7", "score_7"),
        ("@nnn yryr", "@nnn yryr"),
        ("love live! school idol project", "love live! school idol project"),
    ],
)
def test_single_tags(raw: str, text: str) -> None:
    caption = anima_caption.parse(f"1girl, {raw}, smile")
    assert [t.text for t in caption.tags] == ["1girl", text, "smile"]
    assert caption.sentences == ()


@pytest.mark.parametrize("kaomoji", ["^_^", ">_<", ":d", ";)", ":3", "o_o", "\\(^o^)/", ">:("])
def test_kaomoji_keep_their_characters(kaomoji: str) -> None:
    caption = anima_caption.parse(f"smile, {kaomoji}, 1girl")
    tag = caption.tags[1]
    assert tag.kaomoji and tag.text == kaomoji
    assert caption.errors == ()


def test_escaped_tag_is_flagged() -> None:
    tag = anima_caption.parse("ganyu \\(genshin impact\\)").tags[0]
    assert tag.escaped and tag.raw == "ganyu \\(genshin impact\\)"


def test_weight_groups() -> None:
    caption = anima_caption.parse("(red hair:1.2), ((smile)), [blurry], {sparkle}, (a, b:0.8)")
    groups = [item for item in caption.items if isinstance(item, Group)]
    assert [(g.bracket, g.weight) for g in groups] == [
        ("(", 1.2),
        ("(", None),
        ("[", None),
        ("{", None),
        ("(", 0.8),
    ]
    assert [t.text for t in groups[0].items if isinstance(t, Tag)] == ["red hair"]
    assert [t.text for t in caption.tags] == ["red hair", "smile", "blurry", "sparkle", "a", "b"]


def test_break_keep_separator_and_wildcards() -> None:
    caption = anima_caption.parse("masterpiece, 1girl ||| kanachan, BREAK, {smile|grin|frown}")
    markers = [item for item in caption.items if isinstance(item, Marker)]
    assert [m.name for m in markers] == ["keep-tokens", "break"]
    wildcard = next(item for item in caption.items if isinstance(item, Wildcard))
    assert wildcard.options == ("smile", "grin", "frown")


def test_break_inside_text_is_not_a_marker() -> None:
    caption = anima_caption.parse("lunch BREAK, smile")
    assert not any(isinstance(i, Marker) for i in caption.items)


def test_dataset_header_with_title() -> None:
    text = "deviantart\nFlame\nDigital painting of a fire. The flames are orange."
    caption = anima_caption.parse(text)
    assert caption.header is not None
    assert (caption.header.dataset, caption.header.title) == ("deviantart", "Flame")
    assert len(caption.sentences) == 2
    assert str(caption) == text


def test_dataset_header_without_title() -> None:
    caption = anima_caption.parse("ye-pop\nA photo of a red bicycle leaning on a wall.")
    assert caption.header is not None and caption.header.title is None
    assert len(caption.sentences) == 1


def test_dataset_word_not_on_its_own_line_is_not_a_header() -> None:
    assert anima_caption.parse("ye-pop, 1girl").header is None


@pytest.mark.parametrize(
    ("text", "span", "needle"),
    [
        ("1girl, (smile, solo", (7, 8), "never closed"),
        ("1girl, smile), solo", (12, 13), "without an opening"),
        ("1girl, sm\x00ile", (9, 10), "control character"),
    ],
)
def test_errors_are_items_and_strict_mode_raises(
    text: str, span: tuple[int, int], needle: str
) -> None:
    caption = anima_caption.parse(text)
    assert str(caption) == text
    assert caption.errors and caption.errors[0].error_span == span
    with pytest.raises(CaptionSyntaxError) as info:
        anima_caption.parse(text, strict=True)
    error = info.value
    assert error.span == span and needle in error.message
    assert isinstance(error, ValueError)
    assert (error.line, error.column) == (1, span[0] + 1)
    frame = str(error).splitlines()
    assert frame[-1].strip().endswith("^")
    assert frame[-1].index("^") - 4 == span[0]


def test_strict_error_on_second_line_has_right_position() -> None:
    with pytest.raises(CaptionSyntaxError) as info:
        anima_caption.parse("1girl,\nsmile, (solo", strict=True)
    assert (info.value.line, info.value.column) == (2, 8)


def test_parse_rejects_bytes() -> None:
    with pytest.raises(TypeError):
        anima_caption.parse(b"1girl")  # type: ignore[arg-type]


def test_model_is_frozen() -> None:
    caption = anima_caption.parse("1girl")
    with pytest.raises(ValueError):
        caption.tags[0].text = "2girls"  # type: ignore[misc]


def test_sentence_object_keeps_raw_with_newlines() -> None:
    caption = anima_caption.parse("A girl,\nsmiling.")
    sentence = caption.items[0]
    assert isinstance(sentence, Sentence)
    assert sentence.raw == "A girl,\nsmiling." and sentence.text == "A girl, smiling."
