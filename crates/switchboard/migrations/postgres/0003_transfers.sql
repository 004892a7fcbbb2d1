-- A transfer gives the chat a new contact, as Amazon Connect does: a row of its own with the same
-- initial_contact_id, whose previous_contact_id names the contact it came from. The contact it
-- came from records its successor and when it was handed on. The chat itself (its items,
-- participants, streams and whether it has ended) stays keyed by its first contact's row.
ALTER TABLE contacts ADD COLUMN previous_contact_id TEXT,
                     ADD COLUMN next_contact_id TEXT,
                     ADD COLUMN transferred_at BIGINT;
CREATE INDEX contacts_by_chat ON contacts (initial_contact_id);
