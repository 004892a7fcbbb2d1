-- Contact flows in progress. A chat whose flow is written in the flow language keeps its run here
-- between the events it waits for: `state` is what the interpreter keeps (JSON), `version` grows by
-- one with each step, so that a step computed from an older state is refused (two nodes, or a
-- deadline and a message, cannot both move the run on), and `wake_at` is when the run waits until,
-- if it waits for a time (input, Wait, a function's answer). A run written with its chat and
-- never stepped has `wake_at` set to its start, so a node that dies before starting it leaves it
-- for another to start.
CREATE TABLE flow_runs (
    chat_id TEXT PRIMARY KEY REFERENCES contacts (id),
    version INTEGER NOT NULL,
    state   TEXT NOT NULL,
    wake_at INTEGER
);
CREATE INDEX flow_runs_by_wake ON flow_runs (wake_at) WHERE wake_at IS NOT NULL;

-- The flow log: each action a chat's flow ran, and how it came out, in order.
CREATE TABLE flow_log (
    chat_id TEXT NOT NULL REFERENCES contacts (id),
    n       INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    flow_id TEXT NOT NULL,
    action  TEXT NOT NULL,
    type    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (chat_id, n)
) WITHOUT ROWID;

-- Contact flows made through the Connect API (CreateContactFlow), beside those of the
-- configuration file. `content` is the flow-language JSON as given; a SAVED flow's content was
-- not validated and does not run.
CREATE TABLE contact_flows (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    description TEXT,
    content     TEXT NOT NULL,
    status      TEXT NOT NULL,
    state       TEXT NOT NULL,
    tags        TEXT NOT NULL,  -- JSON object of string to string
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX contact_flows_by_name ON contact_flows (instance_id, name);

-- Hours of operation made through the Connect API (CreateHoursOfOperation), beside those of the
-- configuration file. `config` is the open ranges as JSON: [{"day", "start", "end"}], times as
-- HH:MM in the hours' time zone.
CREATE TABLE hours_of_operation (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    time_zone   TEXT NOT NULL,
    config      TEXT NOT NULL,
    tags        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX hours_of_operation_by_name ON hours_of_operation (instance_id, name);
