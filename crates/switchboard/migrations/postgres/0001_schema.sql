-- The whole schema for PostgreSQL, equivalent to the SQLite migrations up to 0004. Instants are
-- milliseconds since the epoch, as on SQLite, so that both stores read rows the same way.
--
-- Unlike the SQLite writer, which keeps each contact's position in memory, the PostgreSQL store
-- keeps it in the contact's row (last_seq, last_at): appending an item first updates that row,
-- which both numbers the item and serialises the appends of one contact across connections and
-- nodes. active_streams saves a lookup of the streams on every append to a contact without any.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE contacts (
    id                      TEXT PRIMARY KEY,
    instance_id             TEXT NOT NULL,
    initial_contact_id      TEXT NOT NULL,
    contact_flow_id         TEXT NOT NULL,
    queue_id                TEXT,
    customer_participant_id TEXT NOT NULL,
    client_token            TEXT,
    attributes              TEXT NOT NULL,
    details                 TEXT NOT NULL,
    duration_minutes        BIGINT NOT NULL,
    initiated_at            BIGINT NOT NULL,
    enqueued_at             BIGINT,
    expires_at              BIGINT NOT NULL,
    ended_at                BIGINT,
    disconnect_reason       TEXT,
    updated_at              BIGINT NOT NULL,
    agent_id                TEXT,
    connected_to_agent_at   BIGINT,
    last_seq                BIGINT NOT NULL DEFAULT 0,
    last_at                 BIGINT NOT NULL DEFAULT 0,
    active_streams          INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX contacts_by_client_token ON contacts (instance_id, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX open_contacts_by_expiry ON contacts (expires_at) WHERE ended_at IS NULL;
CREATE INDEX open_routed_contacts ON contacts (instance_id, enqueued_at)
    WHERE ended_at IS NULL AND queue_id IS NOT NULL;

CREATE TABLE participants (
    id                TEXT PRIMARY KEY,
    contact_id        TEXT NOT NULL REFERENCES contacts (id),
    role              TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    client_token      TEXT,
    joined_at         BIGINT NOT NULL,
    left_at           BIGINT,
    left_client_token TEXT,
    user_id           TEXT
);
CREATE INDEX participants_by_contact ON participants (contact_id);
CREATE UNIQUE INDEX participants_by_client_token ON participants (contact_id, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX participants_by_user ON participants (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE items (
    contact_id       TEXT NOT NULL REFERENCES contacts (id),
    seq              BIGINT NOT NULL,
    id               TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    content          TEXT,
    participant_id   TEXT,
    display_name     TEXT,
    participant_role TEXT,
    absolute_time    BIGINT NOT NULL,
    client_token     TEXT,
    PRIMARY KEY (contact_id, seq)
);
CREATE UNIQUE INDEX items_by_client_token ON items (participant_id, client_token)
    WHERE client_token IS NOT NULL;

CREATE TABLE receipts (
    message_id               TEXT NOT NULL,
    recipient_participant_id TEXT NOT NULL,
    delivered_at             BIGINT,
    read_at                  BIGINT,
    PRIMARY KEY (message_id, recipient_participant_id)
);

CREATE TABLE event_tokens (
    participant_id TEXT NOT NULL,
    client_token   TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    at             BIGINT NOT NULL,
    message_id     TEXT NOT NULL,
    PRIMARY KEY (participant_id, client_token)
);

CREATE TABLE agent_sign_outs (
    user_id       TEXT PRIMARY KEY,
    signed_out_at BIGINT NOT NULL
);

CREATE TABLE agent_presence (
    user_id  TEXT PRIMARY KEY,
    presence TEXT NOT NULL,
    since    BIGINT NOT NULL
);

CREATE TABLE streams (
    id                   TEXT PRIMARY KEY,
    contact_id           TEXT NOT NULL REFERENCES contacts (id),
    instance_id          TEXT NOT NULL,
    endpoint_arn         TEXT NOT NULL,
    client_token         TEXT,
    started_with_contact BOOLEAN NOT NULL DEFAULT FALSE,
    started_at           BIGINT NOT NULL,
    stopped_at           BIGINT,
    stop_reason          TEXT,
    owner                TEXT,     -- the node publishing it now, until lease_until
    lease_until          BIGINT
);
CREATE INDEX streams_by_contact ON streams (contact_id);
CREATE INDEX active_streams ON streams (started_at) WHERE stopped_at IS NULL;
CREATE UNIQUE INDEX streams_by_client_token ON streams (contact_id, client_token)
    WHERE client_token IS NOT NULL;

CREATE TABLE stream_outbox (
    id        BIGSERIAL PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id),
    item_id   TEXT NOT NULL,
    event     TEXT
);
CREATE INDEX stream_outbox_by_stream ON stream_outbox (stream_id, id);

CREATE TABLE stream_dead_letters (
    outbox_id BIGINT PRIMARY KEY,
    stream_id TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    message   TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    reason    TEXT NOT NULL
);
