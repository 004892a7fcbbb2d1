-- Real-time streaming (StartContactStreaming): the streams of each contact, and the outbox of
-- items waiting to be published to them. An item's outbox rows are written in the same
-- transaction as the item, so an item is either committed with everything it owes the streams,
-- or not at all; a row is deleted only once its endpoint accepted it.

CREATE TABLE streams (
    id           TEXT PRIMARY KEY,   -- StreamingId
    contact_id   TEXT NOT NULL REFERENCES contacts (id),
    instance_id  TEXT NOT NULL,
    endpoint_arn TEXT NOT NULL,
    client_token TEXT,
    started_with_contact INTEGER NOT NULL DEFAULT 0,  -- ChatStreamingConfiguration on StartChatContact
    started_at   INTEGER NOT NULL,
    stopped_at   INTEGER,             -- StopContactStreaming, or the chat ended
    stop_reason  TEXT,                -- STOPPED or CHAT_ENDED
    owner        TEXT,                -- the node publishing it now, until lease_until
    lease_until  INTEGER
);
CREATE INDEX streams_by_contact ON streams (contact_id);
CREATE INDEX active_streams ON streams (started_at) WHERE stopped_at IS NULL;
CREATE UNIQUE INDEX streams_by_client_token ON streams (contact_id, client_token)
    WHERE client_token IS NOT NULL;

-- Publication order within a stream is the order of `id`. A transcript item is named by its id
-- and rendered when it is published; an event the transcript does not keep (typing, receipts)
-- carries its fields in `event`.
CREATE TABLE stream_outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL REFERENCES streams (id),
    item_id   TEXT NOT NULL,
    event     TEXT                   -- JSON object of the event's fields, without the contact ids
);
CREATE INDEX stream_outbox_by_stream ON stream_outbox (stream_id, id);

-- Items an endpoint refused for good (an HTTP 4xx, a missing topic): kept, not lost.
CREATE TABLE stream_dead_letters (
    outbox_id INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    message   TEXT NOT NULL,         -- the message as it was offered
    failed_at INTEGER NOT NULL,
    reason    TEXT NOT NULL
);
