-- Virtual servers and client tokens, as in PostgreSQL.
CREATE TABLE virtual_servers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL CHECK (json_valid(definition)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at  TEXT
);
CREATE UNIQUE INDEX virtual_servers_live_name ON virtual_servers (name) WHERE deleted_at IS NULL;

CREATE TABLE access_tokens (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    virtual_servers  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(virtual_servers)),
    expires_at_ms    INTEGER,
    rate_per_minute  INTEGER CHECK (rate_per_minute > 0),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at       TEXT
);
