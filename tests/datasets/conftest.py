"""Fixtures of the dataset tests: a small real tag database built from a tag list the
test writes (the same builder as the full one)."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_TAGS = """\
1girl,0,6008644,"1girls,sole_female"
solo,0,5000954,"female_solo"
long_hair,0,4000000,"longhair"
smile,0,3000000,""
side_ponytail,0,200000,"side_tail,sidetail"
twintails,0,900000,"twin_tails"
hatsune_miku,4,150000,"miku"
vocaloid,3,200000,""
wlop,1,3000,""
highres,5,5256195,"high_res"
"""

SMALL_ALIASES = """\
antecedent_name,consequent_name,status,id,created_at,source
side_tail,side_ponytail,active,1,2013-02-16T03:41:57.113-05:00,test
twin_tails,twintails,active,2,2013-02-16T03:41:57.113-05:00,test
"""


@pytest.fixture(scope="session")
def small_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tag database of ten real Danbooru tags (general, character, series, artist)."""
    from anima_caption._tagdb import build_database

    folder = tmp_path_factory.mktemp("small-tagdb")
    tags = folder / "tags.csv"
    tags.write_text(SMALL_TAGS, encoding="utf-8")
    aliases = folder / "aliases.csv"
    aliases.write_text(SMALL_ALIASES, encoding="utf-8")
    target = folder / "tags.sqlite"
    build_database(target, [tags], aliases=[aliases])
    return target
