-- Per-service limits set by the operator (NULL: the gateway's default).
ALTER TABLE services ADD COLUMN call_timeout_ms INTEGER CHECK (call_timeout_ms > 0);
ALTER TABLE services ADD COLUMN max_concurrent INTEGER CHECK (max_concurrent > 0);

-- Every committed change to a service's definitions, with the diff against the previous ones
-- (content hashes per definition, changed fields, flagged schema/annotation changes), written in
-- the mutation's transaction. Keyed by name so the history outlives a delete.
CREATE TABLE service_changes (
    id            BIGSERIAL PRIMARY KEY,
    service_name  TEXT NOT NULL,
    version       BIGINT NOT NULL,
    action        TEXT NOT NULL,
    cause         TEXT NOT NULL,
    diff          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX service_changes_by_name ON service_changes (service_name, id DESC);
