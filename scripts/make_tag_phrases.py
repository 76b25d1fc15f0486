"""Print the `tag_phrases` list of tag_db/vocabulary.yaml from a Danbooru tag dump.

usage: python scripts/make_tag_phrases.py ../shared/data/tags/danbooru_tags_full_2025-09-24.csv

A Danbooru tag whose words read like natural language ("looking to the side", "the legend of
zelda") would be taken for a phrase among tags when no tag database is open; the vocabulary
lists those with at least MIN_POSTS posts so that the parser reads them as tags anyway. The
list is the tags that, written between two tags, the parser without the list reads as a
sentence.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from anima_caption._build import Builder

MIN_POSTS = 500


def main(path: str) -> int:
    builder = Builder(None)
    builder._tag_phrases = frozenset()  # judge every tag as if the list were empty
    found: list[tuple[int, str]] = []
    with Path(path).open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 3 or not row[2].isdigit() or int(row[2]) < MIN_POSTS:
                continue
            name = row[0].replace("_", " ")
            caption = builder.parse(f"1girl, {name}, smile")
            if any(item.type == "sentence" for item in caption.items):
                found.append((int(row[2]), name))
    found.sort(key=lambda pair: (-pair[0], pair[1]))
    print(f"# {len(found)} tags with {MIN_POSTS}+ posts")
    for _, name in found:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        print(f'  - "{quoted}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
