-- The embedded registry: the same tables and soft-delete rules as PostgreSQL's.
CREATE TABLE services (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at  TEXT
);
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE deleted_at IS NULL;

-- tools: a JSON array of the tool definitions as the downstream returned them.
CREATE TABLE service_tools (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id  INTEGER NOT NULL REFERENCES services (id),
    tools       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tools)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at  TEXT
);
CREATE UNIQUE INDEX service_tools_live_service ON service_tools (service_id) WHERE deleted_at IS NULL;

CREATE TABLE registry_version (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO registry_version (id, version) VALUES (1, 0);
