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
