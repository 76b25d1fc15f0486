"""Differential test: the fast scanner gives exactly what the lark grammar gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from anima_caption._grammar import lark_parser, lark_scan
from anima_caption._scanner import scan, terminals
from tests.property.test_roundtrip import _ARBITRARY
from tests.strategies import realistic_caption


@settings(max_examples=800)
@given(_ARBITRARY)
def test_scanner_equals_grammar_on_arbitrary_text(text: str) -> None:
    assert scan(text) == lark_scan(text)


@settings(max_examples=400)
@given(realistic_caption())
def test_scanner_equals_grammar_on_realistic_captions(text: str) -> None:
    assert scan(text) == lark_scan(text)


@given(
    st.sampled_from(["ye-pop\n", "deviantart\nTitle\n", "deviantart\n\n", "ye-pop \r\n"]),
    _ARBITRARY,
)
def test_scanner_equals_grammar_with_headers(head: str, text: str) -> None:
    assert scan(head + text) == lark_scan(head + text)


def test_scanner_reads_the_same_terminals_as_lark() -> None:
    """The scanner's regular expressions are lark's, read from the one grammar file."""
    ours = {name: (regex, priority) for name, regex, priority in terminals()}
    theirs = {t.name: (t.pattern.to_regexp(), t.priority) for t in lark_parser().terminals}
    assert set(ours) == set(theirs)
    for name, (regex, priority) in ours.items():
        lark_regex, lark_priority = theirs[name]
        assert priority == lark_priority, name
        # lark wraps string literals and flags differently; compare by behaviour on samples.
        import re

        for sample in ["(", ")", "|||", "BREAK", ":d", "a b", ", ", "\n", ":1.2", "\\(", "x"]:
            assert bool(re.match(regex, sample)) == bool(re.match(lark_regex, sample)), (
                name,
                sample,
            )
