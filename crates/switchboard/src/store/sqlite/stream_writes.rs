//! The streaming write operations on SQLite: starting and stopping a contact's streams (a new
//! endpoint gets the transcript so far), typing events for the outbox, delivered and dead-lettered
//! outbox rows, and the named leases nodes take streams and instances with.

use rusqlite::{params, OptionalExtension};

use super::writer::{backend, Writer};
use crate::clock::{from_millis, to_millis};
use crate::model::{OutboxEntry, Stream};
use crate::store::{admit_stream, retried_stream, NewStream, Replayed, StoreError, StoreResult};

fn stream_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stream> {
    Ok(Stream {
        id: r.get("id")?,
        contact_id: r.get("contact_id")?,
        instance_id: r.get("instance_id")?,
        endpoint_arn: r.get("endpoint_arn")?,
        started_at: from_millis(r.get("started_at")?),
        stopped_at: r.get::<_, Option<i64>>("stopped_at")?.map(from_millis),
    })
}

const STREAM_COLUMNS: &str = "id, contact_id, instance_id, endpoint_arn, started_at, stopped_at";

pub(super) fn insert_stream(
    w: &mut Writer,
    new: &NewStream,
    with_contact: bool,
) -> StoreResult<()> {
    let s = &new.stream;
    w.conn
        .prepare_cached(
            "INSERT INTO streams (id, contact_id, instance_id, endpoint_arn, client_token, started_at,
                                  started_with_contact)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?
        .execute(params![
            s.id,
            s.contact_id,
            s.instance_id,
            s.endpoint_arn,
            new.client_token,
            to_millis(s.started_at),
            with_contact
        ])
        .map_err(backend)?;
    w.load_streams(&s.contact_id)
}

pub fn start_stream(w: &mut Writer, new: &NewStream) -> StoreResult<Replayed<Stream>> {
    let contact_id = &new.stream.contact_id;
    if let Some(token) = &new.client_token {
        let earlier = w
            .conn
            .prepare_cached(&format!(
                "SELECT {STREAM_COLUMNS} FROM streams WHERE contact_id = ?1 AND client_token = ?2"
            ))
            .map_err(backend)?
            .query_row(params![contact_id, token], stream_from_row)
            .optional()
            .map_err(backend)?;
        if let Some(stream) = earlier {
            return retried_stream(stream, new);
        }
    }
    w.open_contact(contact_id)?;
    let all: Vec<Stream> = w
        .conn
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE contact_id = ?1"
        ))
        .map_err(backend)?
        .query_map([contact_id], stream_from_row)
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let new_endpoint = admit_stream(&all, new)?;
    insert_stream(w, new, false)?;
    if new_endpoint {
        backfill(w, contact_id, &new.stream.id)?;
    }
    Ok(Replayed::new(new.stream.clone()))
}

/// A stream to an endpoint new to the contact starts with the items already in its transcript.
fn backfill(w: &mut Writer, contact_id: &str, stream_id: &str) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "INSERT INTO stream_outbox (stream_id, item_id)
             SELECT ?1, id FROM items WHERE contact_id = ?2 ORDER BY seq",
        )
        .map_err(backend)?
        .execute(params![stream_id, contact_id])
        .map_err(backend)?;
    Ok(())
}

pub fn stop_stream(
    w: &mut Writer,
    contact_id: &str,
    stream_id: &str,
    now_ms: i64,
) -> StoreResult<Stream> {
    let stream = w
        .conn
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE id = ?1 AND contact_id = ?2"
        ))
        .map_err(backend)?
        .query_row(params![stream_id, contact_id], stream_from_row)
        .optional()
        .map_err(backend)?
        .ok_or(StoreError::StreamNotFound)?;
    if stream.stopped_at.is_some() {
        return Ok(stream);
    }
    w.conn
        .prepare_cached("UPDATE streams SET stopped_at = ?1, stop_reason = 'STOPPED' WHERE id = ?2")
        .map_err(backend)?
        .execute(params![now_ms, stream_id])
        .map_err(backend)?;
    w.load_streams(contact_id)?;
    Ok(Stream {
        stopped_at: Some(from_millis(now_ms)),
        ..stream
    })
}

pub fn stream_event(
    w: &mut Writer,
    contact_id: &str,
    item_id: &str,
    event: &str,
) -> StoreResult<()> {
    if w.cursor(contact_id)?.streamed {
        w.enqueue(contact_id, item_id, Some(event), None)?;
    }
    Ok(())
}

pub fn outbox_published(w: &mut Writer, stream_id: &str, through: i64) -> StoreResult<()> {
    w.conn
        .prepare_cached("DELETE FROM stream_outbox WHERE stream_id = ?1 AND id <= ?2")
        .map_err(backend)?
        .execute(params![stream_id, through])
        .map_err(backend)?;
    Ok(())
}

pub fn outbox_dead_letter(
    w: &mut Writer,
    entry: &OutboxEntry,
    reason: &str,
    now_ms: i64,
) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "INSERT OR IGNORE INTO stream_dead_letters (outbox_id, stream_id, item_id, message, failed_at, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?
        .execute(params![entry.id, entry.stream_id, entry.item_id, entry.message, now_ms, reason])
        .map_err(backend)?;
    w.conn
        .prepare_cached("DELETE FROM stream_outbox WHERE id = ?1")
        .map_err(backend)?
        .execute([entry.id])
        .map_err(backend)?;
    Ok(())
}

/// Takes a free or run-out lease, or renews one's own.
const CLAIM_LEASE: &str = "INSERT INTO leases (name, owner, until_ms) VALUES (?1, ?2, ?3)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
     WHERE leases.owner = excluded.owner OR leases.until_ms < ?4";

pub fn claim_lease(
    w: &mut Writer,
    name: &str,
    node: &str,
    now_ms: i64,
    until_ms: i64,
) -> StoreResult<bool> {
    let claimed = w
        .conn
        .prepare_cached(CLAIM_LEASE)
        .map_err(backend)?
        .execute(params![name, node, until_ms, now_ms])
        .map_err(backend)?;
    Ok(claimed == 1)
}

pub fn release_lease(w: &mut Writer, name: &str, node: &str) -> StoreResult<()> {
    w.conn
        .prepare_cached("DELETE FROM leases WHERE name = ?1 AND owner = ?2")
        .map_err(backend)?
        .execute(params![name, node])
        .map_err(backend)?;
    Ok(())
}
