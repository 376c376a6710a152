-- Services registered through the admin API, soft-deleted by setting deleted_at.
CREATE TABLE services (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ
);
-- A name is unique among live rows; a deleted name can be registered again.
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE deleted_at IS NULL;

-- The tool definitions each service returned, as the downstream sent them.
CREATE TABLE service_tools (
    id          BIGSERIAL PRIMARY KEY,
    service_id  BIGINT NOT NULL REFERENCES services (id),
    tools       JSONB[] NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX service_tools_live_service ON service_tools (service_id) WHERE deleted_at IS NULL;

-- The registry version: a millisecond timestamp bumped in the same transaction as every mutation,
-- strictly increasing even within one millisecond. The row lock orders concurrent mutations.
CREATE TABLE registry_version (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    version     BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO registry_version (id, version) VALUES (1, 0);
