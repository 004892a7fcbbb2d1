-- Contacts, participants, transcript items and receipts. Instants are milliseconds since the epoch.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE contacts (
    id                      TEXT PRIMARY KEY,
    instance_id             TEXT NOT NULL,
    initial_contact_id      TEXT NOT NULL,
    contact_flow_id         TEXT NOT NULL,
    queue_id                TEXT,
    customer_participant_id TEXT NOT NULL,
    client_token            TEXT,
    attributes              TEXT NOT NULL,  -- JSON object of string to string
    details                 TEXT NOT NULL,  -- JSON ContactDetails
    duration_minutes        INTEGER NOT NULL,
    initiated_at            INTEGER NOT NULL,
    enqueued_at             INTEGER,
    expires_at              INTEGER NOT NULL,
    ended_at                INTEGER,
    disconnect_reason       TEXT,
    updated_at              INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_by_client_token ON contacts (instance_id, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX open_contacts_by_expiry ON contacts (expires_at) WHERE ended_at IS NULL;

CREATE TABLE participants (
    id                TEXT PRIMARY KEY,
    contact_id        TEXT NOT NULL REFERENCES contacts (id),
    role              TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    client_token      TEXT,
    joined_at         INTEGER NOT NULL,
    left_at           INTEGER,
    left_client_token TEXT
);
CREATE INDEX participants_by_contact ON participants (contact_id);
CREATE UNIQUE INDEX participants_by_client_token ON participants (contact_id, client_token)
    WHERE client_token IS NOT NULL;

CREATE TABLE items (
    contact_id       TEXT NOT NULL REFERENCES contacts (id),
    seq              INTEGER NOT NULL,
    id               TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    content          TEXT,
    participant_id   TEXT,
    display_name     TEXT,
    participant_role TEXT,
    absolute_time    INTEGER NOT NULL,
    client_token     TEXT,
    PRIMARY KEY (contact_id, seq)
);
CREATE UNIQUE INDEX items_by_client_token ON items (participant_id, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX items_by_time ON items (contact_id, absolute_time);

CREATE TABLE receipts (
    message_id               TEXT NOT NULL,
    recipient_participant_id TEXT NOT NULL,
    delivered_at             INTEGER,
    read_at                  INTEGER,
    PRIMARY KEY (message_id, recipient_participant_id)
);

-- SendEvent idempotency for events that are not transcript items (receipts).
CREATE TABLE event_tokens (
    participant_id TEXT NOT NULL,
    client_token   TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    at             INTEGER NOT NULL,
    message_id     TEXT NOT NULL,
    PRIMARY KEY (participant_id, client_token)
);
