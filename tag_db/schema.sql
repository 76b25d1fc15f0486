-- anima-caption tag database, schema version 1.
--
-- One SQLite file, built once by `anima-caption tagdb import` / `tagdb pull` and then only
-- read. Names are stored under their lookup key (anima_caption._normalize.db_key):
-- lowercase, spaces instead of underscores (`side ponytail`). Danbooru's own spelling is the
-- key with spaces turned back into underscores (Danbooru names never contain spaces).
--
-- The schema version lives in PRAGMA user_version and the file is marked with
-- PRAGMA application_id (both set by the builder), so a foreign or outdated file is
-- recognised before any query runs.

-- Free-form metadata: schema_version, built_at, content_sha256, complete_list, counts.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every input file (or pulled endpoint) that went into the database.
CREATE TABLE source (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,      -- tags-full | tags-tagcomplete | tags-api | aliases | implications
    name        TEXT NOT NULL,      -- file name (or URL for pulled data)
    sha256      TEXT NOT NULL,
    rows        INTEGER NOT NULL,   -- rows read
    skipped     INTEGER NOT NULL,   -- malformed rows skipped
    data_date   TEXT,               -- date of the data (from the file name or newest created_at)
    imported_at TEXT NOT NULL
);

-- Current Danbooru tags (non-empty, non-deprecated when a complete list was imported).
CREATE TABLE tag (
    name       TEXT PRIMARY KEY,    -- lookup key
    category   INTEGER NOT NULL,    -- 0 general, 1 artist, 3 copyright, 4 character, 5 meta
    post_count INTEGER NOT NULL,
    squash     TEXT,                -- letters and digits only, NULL when equal to name
    source     INTEGER NOT NULL REFERENCES source(id)
) WITHOUT ROWID;
-- Punctuation variants: `double parted bangs` and `double-parted bangs` share a squash key.
CREATE INDEX tag_squash ON tag(squash) WHERE squash IS NOT NULL;

-- Aliases of every status. Only `active` rows redirect; `listed` marks an alias column
-- entry of a tagcomplete list whose Danbooru status is unknown.
CREATE TABLE alias (
    antecedent  TEXT NOT NULL,
    consequent  TEXT NOT NULL,
    status      TEXT NOT NULL,
    danbooru_id INTEGER,
    created_at  TEXT,
    source      INTEGER NOT NULL REFERENCES source(id),
    PRIMARY KEY (antecedent, consequent, status)
) WITHOUT ROWID;
CREATE INDEX alias_consequent ON alias(consequent);

-- Implications of every status. Only `active` rows count.
CREATE TABLE implication (
    antecedent  TEXT NOT NULL,
    consequent  TEXT NOT NULL,
    status      TEXT NOT NULL,
    danbooru_id INTEGER,
    created_at  TEXT,
    source      INTEGER NOT NULL REFERENCES source(id),
    PRIMARY KEY (antecedent, consequent, status)
) WITHOUT ROWID;
CREATE INDEX implication_consequent ON implication(consequent);

-- Names that were Danbooru tags but are deprecated or removed: flagged deprecated by the API,
-- or absent from the complete tag list while an older list or alias/implication data
-- still names them (`bangs`, `plaid`, `red footwear`).
CREATE TABLE removed (
    name       TEXT PRIMARY KEY,
    category   INTEGER,             -- last known category, when known
    post_count INTEGER,             -- last known post count, when known
    evidence   TEXT NOT NULL        -- one sentence: why we know it was a tag
) WITHOUT ROWID;

-- Fuzzy-matching index for typo suggestions: zlib-compressed, newline-separated names of one
-- length that share their first (`F`) or last (`L`) character, most used first.
-- Bucket key: '<length>F<char>' or '<length>L<char>'.
CREATE TABLE fuzzy (
    bucket TEXT PRIMARY KEY,
    names  BLOB NOT NULL
) WITHOUT ROWID;
