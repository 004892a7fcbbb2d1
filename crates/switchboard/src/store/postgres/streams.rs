//! Streaming's writes on PostgreSQL: starting and stopping a contact's streams (a new endpoint
//! gets the transcript so far), typing events for the outbox, delivered and dead-lettered outbox
//! rows, and the named leases nodes take streams and instances with.

use super::items::enqueue;
use super::{backend, PostgresStore, Tx};
use crate::clock::{from_millis, to_millis};
use crate::model::{OutboxEntry, Stream};
use crate::store::rows::*;
use crate::store::*;

/// Takes a free or run-out lease, or renews one's own.
const CLAIM_LEASE: &str = "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until_ms = EXCLUDED.until_ms
     WHERE leases.owner = EXCLUDED.owner OR leases.until_ms < $4";

pub(super) async fn insert_stream(
    tx: &mut Tx,
    new: &NewStream,
    with_contact: bool,
) -> StoreResult<()> {
    let s = &new.stream;
    sqlx::query(
        "INSERT INTO streams (id, contact_id, instance_id, endpoint_arn, client_token, started_at,
                              started_with_contact)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.contact_id)
    .bind(&s.instance_id)
    .bind(&s.endpoint_arn)
    .bind(&new.client_token)
    .bind(to_millis(s.started_at))
    .bind(with_contact)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    sqlx::query("UPDATE contacts SET active_streams = active_streams + 1 WHERE id = $1")
        .bind(&s.contact_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn start_stream(
    store: &PostgresStore,
    new: NewStream,
) -> StoreResult<Replayed<Stream>> {
    let contact_id = &new.stream.contact_id;
    let mut tx = store.begin().await?;
    let ended: Option<Option<i64>> =
        sqlx::query_scalar("SELECT ended_at FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    let all: Vec<Stream> = sqlx::query("SELECT * FROM streams WHERE contact_id = $1")
        .bind(contact_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(stream_from_row)
        .collect();
    if let Some(token) = &new.client_token {
        let rows = sqlx::query("SELECT * FROM streams WHERE contact_id = $1 AND client_token = $2")
            .bind(contact_id)
            .bind(token)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(stream) = rows.as_ref().map(stream_from_row) {
            return retried_stream(stream, &new);
        }
    }
    match ended {
        None => return Err(StoreError::ContactNotFound),
        Some(Some(_)) => return Err(StoreError::ContactEnded),
        Some(None) => {}
    }
    let new_endpoint = admit_stream(&all, &new)?;
    insert_stream(&mut tx, &new, false).await?;
    if new_endpoint {
        sqlx::query(
            "INSERT INTO stream_outbox (stream_id, item_id)
             SELECT $1, id FROM items WHERE contact_id = $2 ORDER BY seq",
        )
        .bind(&new.stream.id)
        .bind(contact_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(Replayed::new(new.stream))
}

pub(super) async fn stop_stream(
    store: &PostgresStore,
    contact_id: &str,
    stream_id: &str,
) -> StoreResult<Stream> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    // The contact's row first, as appends lock it: an append and a stop never cross.
    sqlx::query("SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE")
        .bind(contact_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let stream = sqlx::query("SELECT * FROM streams WHERE id = $1 AND contact_id = $2")
        .bind(stream_id)
        .bind(contact_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .as_ref()
        .map(stream_from_row)
        .ok_or(StoreError::StreamNotFound)?;
    if stream.stopped_at.is_some() {
        return Ok(stream);
    }
    sqlx::query("UPDATE streams SET stopped_at = $1, stop_reason = 'STOPPED' WHERE id = $2")
        .bind(now)
        .bind(stream_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(
        "UPDATE contacts SET active_streams = GREATEST(active_streams - 1, 0) WHERE id = $1",
    )
    .bind(contact_id)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(Stream {
        stopped_at: Some(from_millis(now)),
        ..stream
    })
}

pub(super) async fn stream_event(
    store: &PostgresStore,
    contact_id: &str,
    item_id: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) -> StoreResult<()> {
    let event = serde_json::Value::Object(fields).to_string();
    let mut tx = store.begin().await?;
    let streams: Option<i32> =
        sqlx::query_scalar("SELECT active_streams FROM contacts WHERE id = $1 FOR SHARE")
            .bind(contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    match streams {
        None => return Err(StoreError::ContactNotFound),
        Some(0) => return Ok(()),
        Some(_) => enqueue(&mut tx, contact_id, item_id, Some(&event)).await?,
    }
    tx.commit().await.map_err(backend)
}

pub(super) async fn outbox_published(
    store: &PostgresStore,
    stream_id: &str,
    through: i64,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM stream_outbox WHERE stream_id = $1 AND id <= $2")
        .bind(stream_id)
        .bind(through)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn outbox_dead_letter(
    store: &PostgresStore,
    entry: &OutboxEntry,
    reason: &str,
) -> StoreResult<()> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO stream_dead_letters (outbox_id, stream_id, item_id, message, failed_at, reason)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outbox_id) DO NOTHING",
    )
    .bind(entry.id)
    .bind(&entry.stream_id)
    .bind(&entry.item_id)
    .bind(&entry.message)
    .bind(now)
    .bind(reason)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::query("DELETE FROM stream_outbox WHERE id = $1")
        .bind(entry.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

pub(super) async fn claim_lease(
    store: &PostgresStore,
    name: &str,
    node: &str,
    until: OffsetDateTime,
) -> StoreResult<bool> {
    let claimed = sqlx::query(CLAIM_LEASE)
        .bind(name)
        .bind(node)
        .bind(to_millis(until))
        .bind(store.now_ms())
        .execute(&store.pool)
        .await
        .map_err(backend)?
        .rows_affected();
    Ok(claimed == 1)
}

pub(super) async fn release_lease(
    store: &PostgresStore,
    name: &str,
    node: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(node)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    Ok(())
}
