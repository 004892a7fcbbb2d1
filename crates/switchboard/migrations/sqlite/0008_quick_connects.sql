-- Quick connects made through the Connect API (CreateQuickConnect), beside those of the
-- configuration file: the destinations agents transfer chats to. `target` is where the chat
-- goes and the transfer flow it runs on the way, as JSON (`model::QuickConnectTarget`).
CREATE TABLE quick_connects (
    instance_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    target      TEXT NOT NULL,
    tags        TEXT NOT NULL,  -- JSON object of string to string
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX quick_connects_by_name ON quick_connects (instance_id, name);

-- Which quick connects the agents serving a queue see (AssociateQueueQuickConnects), beside those
-- the configuration file gives a queue.
CREATE TABLE queue_quick_connects (
    instance_id      TEXT NOT NULL,
    queue_id         TEXT NOT NULL,
    quick_connect_id TEXT NOT NULL,
    PRIMARY KEY (instance_id, queue_id, quick_connect_id)
);
