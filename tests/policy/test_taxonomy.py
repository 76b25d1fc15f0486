"""The default taxonomy is built from the real Danbooru data and only lists real tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_caption._policy._taxonomy import (
    default_groups,
    directional_data,
    generate,
    read_general_tags,
)
from tests.conftest import TAG_DATA, require_shared

EXPECTED_GROUPS = [
    "hair-colour",
    "eye-colour",
    "hair-length",
    "hairstyle",
    "bangs",
    "hair-ornament",
    "attire",
    "expression",
    "pose",
    "composition",
    "background",
]


@pytest.fixture(scope="module")
def current_tags() -> dict[str, int]:
    """Danbooru's complete list of non-deprecated general tags (2025-09-24)."""
    return read_general_tags(require_shared(TAG_DATA / "danbooru_tags_full_2025-09-24.csv"))


def test_groups_in_order() -> None:
    assert list(default_groups()) == EXPECTED_GROUPS


def test_every_member_is_a_current_danbooru_general_tag(current_tags: dict[str, int]) -> None:
    missing = {
        group.name: sorted(group.members - current_tags.keys())
        for group in default_groups().values()
        if group.members - current_tags.keys()
    }
    assert missing == {}


def test_generated_members_are_up_to_date_with_the_data(current_tags: dict[str, int]) -> None:
    for group in default_groups().values():
        if group.patterns:
            assert group.generated == generate(group, current_tags), (
                f"{group.name}: run python -m anima_caption._policy._taxonomy "
                "../shared/data/tags/danbooru_tags_full_2025-09-24.csv --write"
            )


def test_colour_groups_come_from_patterns(current_tags: dict[str, int]) -> None:
    hair = default_groups()["hair-colour"]
    # every "<colour> hair" general tag with a colour word from the pattern list
    assert {"brown hair", "blonde hair", "aqua hair", "grey hair"} <= set(hair.generated)
    assert "silver hair" not in hair.members  # an alias of grey hair, not a tag
    assert "long hair" not in hair.members
    assert hair.exclusive and "two-tone hair" in hair.unless
    eyes = default_groups()["eye-colour"]
    assert "brown eyes" in eyes.members and "heterochromia" in eyes.unless
    assert "closed eyes" not in eyes.members


def test_seed_tags_land_in_the_right_groups() -> None:
    groups = default_groups()
    assert "side ponytail" in groups["hairstyle"]
    assert "ahoge" in groups["hairstyle"]
    assert "double-parted bangs" in groups["bangs"]
    assert "medium hair" in groups["hair-length"]
    assert "blue scrunchie" in groups["hair-ornament"]
    assert "angry" in groups["expression"]
    assert "from behind" in groups["composition"]
    assert "white background" in groups["background"]
    assert "school uniform" in groups["attire"]


def test_directional_data_matches_the_spec_table(current_tags: dict[str, int]) -> None:
    data = directional_data()
    assert data.phrases == {
        "front": "visible on the right side of the image",
        "back": "visible on the left side of the image",
        "facing-left": "extends from the back of her head",
        "facing-right": "visible behind her head",
    }
    assert [view for view, _ in data.views] == ["back", "side", "front"]
    for _, tags in data.views:
        assert tags <= current_tags.keys()


def test_group_files_ship_in_tag_db() -> None:
    for group in default_groups().values():
        assert group.source is not None
        assert group.source.parent.name == "groups"
        assert group.source.parent.parent.name == "tag_db"
        assert isinstance(group.source, Path)
