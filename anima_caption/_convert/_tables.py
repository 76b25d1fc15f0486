"""The data conversion works from: which SDXL-era words each dialect drops or rewrites.

Kept as tables, not ``if`` chains: adding a word here changes what ``convert`` does, and
``docs/convert.md`` lists the same entries.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Dialect = Literal["wd14", "sdxl", "pony"]
DIALECTS: Final[tuple[Dialect, ...]] = ("wd14", "sdxl", "pony")

#: Quality / aesthetic words of other models (Illustrious, NoobAI, Animagine, SD 1.5
#: prompts) that are not Anima vocabulary: dropped, since Anima reads them as plain words.
FOREIGN_QUALITY: Final[frozenset[str]] = frozenset(
    {
        "amazing quality",
        "great quality",
        "high quality",
        "highest quality",
        "top quality",
        "ultra quality",
        "very aesthetic",
        "aesthetic",
        "very awa",
        "displeasing",
        "very displeasing",
        "worst aesthetic",
        "ultra detailed",
        "ultra-detailed",
        "extremely detailed",
        "8k",
        "4k",
        "hdr",
        "uhd",
    }
)

#: Pony's source tags (``source_anime``): meaningless to Anima.
PONY_SOURCE: Final[re.Pattern[str]] = re.compile(
    r"source[ _](anime|cartoon|furry|pony|manga|western|3d|real|realistic)"
)

#: Pony's score forms: ``score_8_up``, ``score 7 up``, ``score_9_down``.
SCORE_LIKE: Final[re.Pattern[str]] = re.compile(r"score[ _]?(\d+)(?:[ _](up|down))?")

#: Prompt-style artist forms that mean ``@name``: ``artist:wlop``, ``by wlop``.
ARTIST_FORM: Final[re.Pattern[str]] = re.compile(r"(?:artist:\s*|by )(\S.*)")

#: Safety tags from the most to the least restrictive; with several, the first wins.
SAFETY_ORDER: Final[tuple[str, ...]] = ("explicit", "nsfw", "sensitive", "safe")

#: Which dialect-specific rules are on for each ``--from``. The generic rules (spelling,
#: escapes, weights, BREAK, rating words, aliases, deprecated tags, ``@artist``, duplicates,
#: year, prefix, order) run for every dialect.
DIALECT_RULES: Final[dict[Dialect, frozenset[str]]] = {
    "wd14": frozenset({"score", "foreign-quality"}),
    "sdxl": frozenset({"score", "foreign-quality", "artist-form", "pony-source"}),
    "pony": frozenset({"score", "foreign-quality", "artist-form", "pony-source"}),
}

#: One line per rule, for ``--help``, summaries and the docs.
RULES: Final[dict[str, str]] = {
    "unescape": r"remove ComfyUI escapes: `\(` `\)` → `(` `)`",
    "underscore": "underscores → spaces (not score_N, not kaomoji)",
    "lowercase": "tags are lowercase",
    "spelling": "tag spacing tidied",
    "weight": "weight / emphasis brackets removed, the tags inside kept",
    "break": "BREAK removed",
    "keep-tokens": "kohya `|||` separator removed (--markers remove)",
    "wildcard": "wildcard `{a|b}` replaced by its first option (--markers remove)",
    "rating": "rating word / form → the Anima safety tag",
    "safety-conflict": "several safety tags: the most restrictive is kept",
    "score": "Pony `score_N_up` → one `score_N`; out-of-range scores dropped",
    "pony-source": "Pony `source_*` tags dropped",
    "foreign-quality": "quality words Anima does not know dropped",
    "artist-form": "`artist:name` / `by name` → `@name`",
    "artist-at": "`@` added before artist-category tags",
    "alias": "active Danbooru alias → its tag",
    "deprecated": "removed Danbooru tags dropped where another tag of the caption carries "
    "them (others: see successor; kept with a note when the data names none)",
    "successor": "removed Danbooru tag → the tag Danbooru's data says replaced it",
    "trigger-spelling": "trigger written exactly as declared (--trigger / config)",
    "duplicate": "duplicate tags dropped",
    "implied": "tags implied by another tag of the caption dropped (--prune-implied)",
    "absorbed": "core tags the trigger absorbs dropped (--policy)",
    "year": "year tags dropped (unless --keep-year)",
    "prefix": "quality / score / safety prefix added (--prefix)",
    "trigger": "trigger moved into the character section",
    "reorder": "tags put in Anima's section order",
    "layout": "separators and line breaks made canonical (', ', one line)",
}
