"""The real-caption corpus is well formed (its boundary decisions are tested elsewhere)."""

from __future__ import annotations

import yaml

from tests.corpus_real.boundary import CORPUS_DIR, EXPECT_KINDS, corpus_files, load_corpus

REQUIRED_STYLES = {"wd14_raw", "hand_tags", "pony", "vlm_prose", "phrase", "mixed", "anima", "cjk"}


def test_at_least_eight_styles_including_the_required_ones() -> None:
    styles = {path.stem for path in corpus_files()}
    assert len(styles) >= 8
    assert styles >= REQUIRED_STYLES


def test_at_least_150_captions() -> None:
    assert len(load_corpus()) >= 150


def test_every_file_is_a_list_of_mappings_with_known_keys() -> None:
    for path in corpus_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, list) and data, path.name
        for raw in data:
            assert isinstance(raw, dict), path.name
            assert set(raw) <= {"source", "text", "expect", "note"}, (path.name, raw.get("source"))
            assert {"source", "text", "expect"} <= set(raw), (path.name, raw.get("source"))


def test_every_entry_has_provenance() -> None:
    for entry in load_corpus():
        source = entry.source
        assert source.strip(), entry
        # owner/repo@commit:path for GitHub sources, or the page's address
        assert ("@" in source and ":" in source) or source.startswith("https://"), source


def test_every_readme_section_names_a_repository_of_the_corpus() -> None:
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    for entry in load_corpus():
        source = entry.source
        origin = source if source.startswith("https://") else source.split("@", 1)[0]
        assert origin in readme, origin


def test_texts_are_verbatim_single_captions() -> None:
    for entry in load_corpus():
        assert entry.text, entry.source
        assert not entry.text.endswith("\n"), entry.source
        assert entry.expect, entry.source
        assert all(item.kind in EXPECT_KINDS for item in entry.expect)


def test_every_expected_item_occurs_in_the_text_in_order() -> None:
    for entry in load_corpus():
        position = 0
        for item in entry.expect:
            found = entry.text.find(item.raw, position)
            assert found >= 0, (entry.source, item)
            position = found + len(item.raw)


def test_expected_items_do_not_overlap_and_leave_only_separators_between_them() -> None:
    # What lies between two expected items is separator text: commas, spaces, line ends
    # and a full stop that ends a tag list (the items themselves carry their words).
    allowed = set(" ,\n.，\t")
    for entry in load_corpus():
        position = 0
        for item in entry.expect:
            found = entry.text.find(item.raw, position)
            gap = entry.text[position:found]
            assert set(gap) <= allowed, (entry.source, gap)
            position = found + len(item.raw)
        assert set(entry.text[position:]) <= allowed, (entry.source, entry.text[position:])
