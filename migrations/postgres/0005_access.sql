-- Virtual servers: named views of the federation (include/exclude patterns, tool overrides,
-- a rate limit), stored as their validated JSON definition. Soft-deleted like services.
CREATE TABLE virtual_servers (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX virtual_servers_live_name ON virtual_servers (name) WHERE deleted_at IS NULL;

-- Client tokens of MCP_AUTH=token: only the SHA-256 of the secret is kept.
CREATE TABLE access_tokens (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    virtual_servers  TEXT NOT NULL DEFAULT '[]',
    expires_at_ms    BIGINT,
    rate_per_minute  INTEGER CHECK (rate_per_minute > 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at       TIMESTAMPTZ
);
