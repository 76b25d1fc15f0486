"""A trigger is the user's own token: every command that writes text writes it as declared.

Issue 13 item 4: ``convert --trigger lilith_default`` wrote ``lilith default`` and ``a TOK
style`` became ``a tok style``. Here triggers with underscores, capitals and digits go
through convert, format, fix, edit and policy apply, and must come out byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_caption import Converter, fix, format, load_policy, parse
from anima_caption._convert._edit import EditOptions, Editor, Operation
from anima_caption._policy._apply import plan_caption

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Triggers as people declare them: underscores, capitals, digits, mixed.
triggers = st.one_of(
    st.from_regex(r"[a-z]{2,8}(_[a-z0-9]{1,6}){1,2}", fullmatch=True),  # lilith_default
    st.from_regex(r"[A-Z]{2,5}[0-9]?", fullmatch=True),  # TOK, SKS1
    st.from_regex(r"[a-z]{2,6}[0-9]{1,3}", fullmatch=True),  # ohwx2
    st.from_regex(r"[A-Z][a-z]{2,6}_[A-Z][a-z]{2,6}", fullmatch=True),  # Lilith_Default
)
TAGS = ["1girl", "solo", "long hair", "brown hair", "smile", "looking at viewer", "outdoors"]
SENTENCE = "She stands in the rain."


@st.composite
def captions(draw: st.DrawFn, trigger: str) -> str:
    tags = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=6, unique=True))
    at = draw(st.integers(0, len(tags)))
    items = [*tags[:at], trigger, *tags[at:]]
    if draw(st.booleans()):
        items.append(SENTENCE)
    return ", ".join(items)


def _written_as_declared(text: str, trigger: str) -> None:
    caption = parse(text, triggers=[trigger])
    raws = [item.raw for item in caption.tags]
    assert trigger in raws, (trigger, text)
    assert all(t.text == trigger for t in caption.tags if t.raw == trigger)


@SETTINGS
@given(st.data(), triggers, st.sampled_from(["sdxl", "wd14", "pony"]))
def test_convert_writes_the_trigger_as_declared(
    data: st.DataObject, trigger: str, dialect: str
) -> None:
    text = data.draw(captions(trigger))
    converter = Converter(None, dialect=dialect, triggers=[trigger])  # type: ignore[arg-type]
    out = converter.convert(text).text
    _written_as_declared(out, trigger)
    assert converter.convert(out).text == out


@SETTINGS
@given(st.data(), triggers)
def test_format_and_fix_write_the_trigger_as_declared(data: st.DataObject, trigger: str) -> None:
    text = data.draw(captions(trigger))
    _written_as_declared(format(text, triggers=[trigger]), trigger)
    config = {"triggers": [trigger]}
    _written_as_declared(fix(text, config=config), trigger)
    _written_as_declared(fix(text, unsafe=True, config=config), trigger)


@SETTINGS
@given(st.data(), triggers)
def test_fix_restores_a_trigger_written_otherwise(data: st.DataObject, trigger: str) -> None:
    other = trigger.replace("_", " ").lower()
    if other == trigger:
        other = trigger.upper()
    if other == trigger:
        return
    text = data.draw(captions(other))
    fixed = fix(text, config={"triggers": [trigger]})
    _written_as_declared(fixed, trigger)


@SETTINGS
@given(st.data(), triggers)
def test_edit_keeps_the_trigger_as_declared(data: st.DataObject, trigger: str) -> None:
    text = data.draw(captions(trigger))
    options = EditOptions(triggers=[trigger])
    for operation in (
        Operation("add", new="blush"),
        Operation("remove", old="smile"),
        Operation("replace", old="long hair", new="very long hair"),
    ):
        out = Editor([operation], options).edit(text).text
        _written_as_declared(out, trigger)


@SETTINGS
@given(st.data(), triggers)
def test_policy_apply_keeps_the_trigger_as_declared(data: st.DataObject, trigger: str) -> None:
    text = data.draw(captions(trigger))
    policy = _policy_for(trigger)
    caption = parse(text, triggers=[trigger])
    out, removed, _ = plan_caption(caption, policy, "")
    _written_as_declared(out, trigger)
    if "brown hair" in text:
        assert "brown hair" in removed


_POLICIES: dict[str, object] = {}


def _policy_for(trigger: str):  # type: ignore[no-untyped-def]
    import tempfile

    if trigger not in _POLICIES:
        folder = Path(tempfile.mkdtemp())
        path = folder / "policy.yaml"
        path.write_text(f'triggers:\n  "{trigger}":\n    core: [hair-colour]\n', encoding="utf-8")
        _POLICIES[trigger] = load_policy(path)
    return _POLICIES[trigger]
