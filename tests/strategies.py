"""Hypothesis strategies for realistic Anima and SDXL-era captions."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

_SHARED_CSV = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tags" / "danbooru.csv"
)

_FALLBACK_TAGS = [
    "1girl",
    "solo",
    "long hair",
    "side ponytail",
    "ahoge",
    "double-parted bangs",
    "smile",
    "looking at viewer",
    "blue scrunchie",
    "white background",
    "simple background",
    "ganyu (genshin impact)",
    "genshin impact",
    "st. louis (azur lane)",
    "mr. game & watch",
    "hatsune miku",
    "school uniform",
    "red necktie",
    "collared shirt",
    "brown jacket",
]
KAOMOJI = ["^_^", ">_<", ":d", ";)", ":3", "o_o", ";d", ":o", "=_=", "+_+"]
VOCAB = [
    "masterpiece",
    "best quality",
    "score_7",
    "score_9",
    "safe",
    "sensitive",
    "nsfw",
    "newest",
    "year 2024",
    "highres",
    "absurdres",
]
SENTENCES = [
    "A close-up portrait of a young girl with an angry expression looking at the viewer.",
    "Her side ponytail with a blue scrunchie is visible on the right side of the image,\n"
    "and a small antenna of hair rises from the top of her head.",
    "She smiles.",
    "The girl stands in the rain, holding a red umbrella, and looks over her shoulder.",
    "Two cats sleep on a sunny windowsill!",
    "Is she waiting for someone?",
    "An anime girl with medium-length blonde hair is standing in a field of flowers.",
]


@cache
def real_tags() -> list[str]:
    """Tag names (spaces) from the shared tagcomplete list, or a small fallback list."""
    if not _SHARED_CSV.exists():
        return _FALLBACK_TAGS
    names = []
    with _SHARED_CSV.open(encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.reader(handle)):
            if i >= 4000:
                break
            names.append(row[0])
    return names


@st.composite
def tag_text(draw: st.DrawFn) -> str:
    """One tag written as SDXL-era or Anima captions write tags."""
    name = draw(st.sampled_from(real_tags()))
    style = draw(
        st.sampled_from(
            [
                "plain",
                "plain",
                "plain",
                "underscore",
                "upper",
                "escape",
                "weight",
                "at",
                "vocab",
                "kaomoji",
            ]
        )
    )
    if style == "underscore":
        return name.replace(" ", "_")
    if style == "upper":
        return name.title()
    if style == "escape":
        return name.replace("(", "\\(").replace(")", "\\)") + " \\(series\\)"
    if style == "weight" and not any(c in name for c in "()[]{}:\\|"):
        return f"({name}:{draw(st.sampled_from(['1.2', '0.8', '1.05']))})"
    if style == "at" and name[:1].isalnum():  # "@;)" would be a stray bracket, not a tag
        return "@" + name
    if style == "vocab":
        return draw(st.sampled_from(VOCAB))
    if style == "kaomoji":
        return draw(st.sampled_from(KAOMOJI))
    return name.replace("_", " ")


@st.composite
def realistic_caption(draw: st.DrawFn) -> str:
    """About 1–30 tags and 0–3 sentences, joined with realistic separators."""
    items = draw(st.lists(tag_text(), min_size=1, max_size=30))
    for _ in range(draw(st.integers(0, 3))):
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(SENTENCES)))
    if draw(st.booleans()):
        items.insert(
            draw(st.integers(0, len(items))), draw(st.sampled_from(["BREAK", "|||", "{a|b}"]))
        )
    seps = st.sampled_from([", ", ",", ", ", ",\n", "\n", " , ", ",  ", ", ,"])
    out = items[0]
    for item in items[1:]:
        out += draw(seps) + item
    if draw(st.booleans()):
        out += draw(st.sampled_from(["\n", ",", " ", "\r\n"]))
    if draw(st.integers(0, 9)) == 0:
        out = draw(st.sampled_from(["ye-pop\n", "deviantart\nA title\n"])) + out
    return out
