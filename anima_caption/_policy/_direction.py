"""Directional attributes: the natural-language phrase that says where an attribute on the
character's left (or right) lands in the image, per view (docs/policy.md).

The view comes from the caption's composition tags (``tag_db/groups/directional.yaml``):
``from behind`` is a back view, ``profile`` / ``from side`` a side view whose direction the
sentences must state ("facing left"), ``portrait`` / ``upper body`` / ``looking at viewer`` …
a front view. For the seed's side ponytail, on the character's left:

=================  ==========================================
view               phrase
=================  ==========================================
front / portrait   visible on the right side of the image
from behind        visible on the left side of the image
facing left        extends from the back of her head
facing right       visible behind her head
=================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from anima_caption._model import Caption, Sentence, Tag
from anima_caption._normalize import db_key
from anima_caption._policy._model import DirectionalAttribute, View
from anima_caption._policy._taxonomy import directional_data

ViewFound = Literal["front", "back", "facing-left", "facing-right", "side"]
Status = Literal["ok", "contradiction", "missing", "unverifiable"]

_MIRROR_VIEW: Mapping[View, View] = {
    "front": "front",
    "back": "back",
    "facing-left": "facing-right",
    "facing-right": "facing-left",
}


def caption_view(caption: Caption) -> ViewFound | None:
    """The view of a caption from its composition tags; a side view is made
    ``facing-left`` / ``facing-right`` by the sentences, else stays ``side``. None when no
    composition tag says."""
    data = directional_data()
    names = {t.name for t in caption.tags}
    for view, tags in data.views:
        if names & tags:
            if view == "side":
                text = " ".join(s.text for s in caption.sentences)
                for direction, patterns in data.facing.items():
                    if any(p.search(text) for p in patterns):
                        return direction  # type: ignore[return-value]
                return "side"
            return view  # type: ignore[return-value]
    return None


def _swap_sides(text: str) -> str:
    return re.sub(r"\b(left|right)\b", lambda m: "right" if m.group(1) == "left" else "left", text)


def expected_phrases(attribute: DirectionalAttribute) -> dict[View, str]:
    """The phrase per view for this attribute: the built-in table (mirrored for an
    attribute on the character's right), with the attribute's own ``phrases`` on top."""
    table: dict[View, str] = {}
    for view, phrase in directional_data().phrases.items():
        if view not in _MIRROR_VIEW:
            continue
        key: View = view  # type: ignore[assignment]
        if attribute.side == "left":
            table[key] = phrase
        else:
            table[_MIRROR_VIEW[key]] = _swap_sides(phrase) if key in ("front", "back") else phrase
    table.update(attribute.phrases)
    return table


def _all_phrases(attribute: DirectionalAttribute) -> list[str]:
    """Every phrase that states a direction for this attribute (either side), longest first."""
    other = attribute.model_copy(update={"side": "right" if attribute.side == "left" else "left"})
    phrases = {*expected_phrases(attribute).values(), *expected_phrases(other).values()}
    return sorted(phrases, key=len, reverse=True)


def mentions(attribute: DirectionalAttribute) -> tuple[str, ...]:
    """Words that name the attribute in sentences (``side ponytail``, ``ponytail``)."""
    if attribute.mentions:
        return tuple(m.lower() for m in attribute.mentions)
    tag = db_key(attribute.tag)
    return tuple(dict.fromkeys((tag, tag.split()[-1])))


@dataclass(frozen=True)
class PhraseCheck:
    """The directional phrase of one attribute in one caption."""

    attribute: DirectionalAttribute
    view: ViewFound | None
    status: Status
    expected: str | None
    """The phrase the view asks for (None when the view is unknown)."""
    found: str | None = None
    """The direction phrase found in the sentences, if any."""
    span: tuple[int, int] | None = None
    """Where ``found`` is in the caption text."""
    sentence: Sentence | None = None


def check_phrase(caption: Caption, attribute: DirectionalAttribute) -> PhraseCheck | None:
    """Check one attribute's phrase; None when the caption has neither the attribute's tag
    nor a direction phrase for it (nothing to say)."""
    tag = db_key(attribute.tag)
    has_tag = any(t.name == tag for t in caption.tags)
    found, span, sentence = _find_phrase(caption, attribute)
    if not has_tag and found is None:
        return None
    view = caption_view(caption)
    if view is None or view == "side":
        return PhraseCheck(attribute, view, "unverifiable", None, found, span, sentence)
    expected = expected_phrases(attribute)[view]
    if found is None:
        return PhraseCheck(attribute, view, "missing", expected)
    status: Status = "ok" if found.lower() == expected.lower() else "contradiction"
    return PhraseCheck(attribute, view, status, expected, found, span, sentence)


def _find_phrase(
    caption: Caption, attribute: DirectionalAttribute
) -> tuple[str | None, tuple[int, int] | None, Sentence | None]:
    phrases = _all_phrases(attribute)
    words = mentions(attribute)
    sentences = caption.sentences
    naming = [s for s in sentences if any(w in s.text.lower() for w in words)]
    for sentence in naming or sentences:
        lower = sentence.raw.lower()
        for phrase in phrases:
            pattern = r"\s+".join(re.escape(w) for w in phrase.lower().split())
            match = re.search(pattern, lower)
            if match:
                start = sentence.span[0] + match.start()
                return (
                    sentence.raw[match.start() : match.end()],
                    (
                        start,
                        sentence.span[0] + match.end(),
                    ),
                    sentence,
                )
    return None, None, None


def has_directional_phrase(caption: Caption, attributes: list[DirectionalAttribute]) -> bool:
    """True when the caption states a direction for any of ``attributes`` (such captions
    must not be trained with flip augmentation)."""
    return any(_find_phrase(caption, a)[0] is not None for a in attributes)


def insertion(caption: Caption, sentence: str, trigger: str | None) -> tuple[int, str]:
    """Where and what to insert to add ``sentence``: after the last sentence, else before
    the first tag after the trigger, else at the end."""
    last: Sentence | None = None
    for item in caption.items:
        if isinstance(item, Sentence):
            last = item
    if last is not None:
        return last.span[1], " " + sentence
    items = caption.items
    for index, item in enumerate(items):
        if isinstance(item, Tag) and item.name == trigger and index + 1 < len(items):
            return items[index + 1].span[0], sentence + " "
    text = caption.to_text()
    end = len(text.rstrip())
    return end, (", " if end else "") + sentence


_COPULA = re.compile(r"\b(?:is|are)\s+$", re.IGNORECASE)


def _needs_copula(phrase: str) -> bool:
    """Adjective phrases ("visible on …") follow "is"; verb phrases ("extends …") do not."""
    return phrase.split()[0].lower() in {"visible", "seen", "shown", "hidden", "on", "behind"}


def phrase_edit(text: str, check: PhraseCheck) -> tuple[int, int, str]:
    """The edit ``(start, end, content)`` that replaces a contradicting phrase with the
    expected one, keeping the sentence grammatical ("is visible …" ↔ "extends …")."""
    assert check.span is not None and check.expected is not None and check.found is not None
    start, end = check.span
    content = check.expected
    copula = _COPULA.search(text[:start])
    if copula and not _needs_copula(content):
        start = copula.start()
    elif not copula and _needs_copula(content) and not _needs_copula(check.found):
        content = "is " + content
    return start, end, content
