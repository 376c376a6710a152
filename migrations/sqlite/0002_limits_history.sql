-- Per-service limits set by the operator (NULL: the gateway's default).
ALTER TABLE services ADD COLUMN call_timeout_ms INTEGER CHECK (call_timeout_ms > 0);
ALTER TABLE services ADD COLUMN max_concurrent INTEGER CHECK (max_concurrent > 0);

-- Every committed change to a service's definitions with its diff, as in PostgreSQL.
CREATE TABLE service_changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    service_name  TEXT NOT NULL,
    version       INTEGER NOT NULL,
    action        TEXT NOT NULL,
    cause         TEXT NOT NULL,
    diff          TEXT NOT NULL CHECK (json_valid(diff)),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX service_changes_by_name ON service_changes (service_name, id DESC);
