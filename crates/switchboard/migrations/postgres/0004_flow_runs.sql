-- Contact flows in progress and their log; see the SQLite migration 0007 for what each column
-- means.
CREATE TABLE flow_runs (
    chat_id TEXT PRIMARY KEY REFERENCES contacts (id),
    version BIGINT NOT NULL,
    state   TEXT NOT NULL,
    wake_at BIGINT
);
CREATE INDEX flow_runs_by_wake ON flow_runs (wake_at) WHERE wake_at IS NOT NULL;

CREATE TABLE flow_log (
    chat_id TEXT NOT NULL REFERENCES contacts (id),
    n       BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    flow_id TEXT NOT NULL,
    action  TEXT NOT NULL,
    type    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (chat_id, n)
);

CREATE TABLE contact_flows (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    description TEXT,
    content     TEXT NOT NULL,
    status      TEXT NOT NULL,
    state       TEXT NOT NULL,
    tags        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX contact_flows_by_name ON contact_flows (instance_id, name);

CREATE TABLE hours_of_operation (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    time_zone   TEXT NOT NULL,
    config      TEXT NOT NULL,
    tags        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX hours_of_operation_by_name ON hours_of_operation (instance_id, name);
