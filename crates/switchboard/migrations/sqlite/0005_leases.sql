-- Named leases: which node holds a cluster-wide duty (such as routing one instance's queues)
-- until when. A node renews its lease while it works; once `until_ms` has passed, another node
-- may take it over.

CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);

-- Streams are leased here too (`stream/<id>`), so their own lease columns go.
ALTER TABLE streams DROP COLUMN owner;
ALTER TABLE streams DROP COLUMN lease_until;
