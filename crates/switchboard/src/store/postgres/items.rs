//! How PostgreSQL numbers a contact's items: by updating the contact's row (`last_seq`,
//! `last_at`) inside the writing transaction, whose row lock serialises one contact's appends
//! across connections and nodes; and how an item reaches the outbox of the contact's streams.

use sqlx::Row;

use super::{backend, Tx};
use crate::clock::{from_millis, to_millis};
use crate::model::{Item, NewItem, Participant};
use crate::store::*;

/// Numbers and inserts an item of an open contact (or, with `closing`, of the contact being
/// ended), and puts it in the outbox of the contact's active streams. `None` when the sender's
/// client token was used before (the transaction must then be rolled back).
pub(super) async fn append(
    tx: &mut Tx,
    contact_id: &str,
    item: &NewItem,
    client_token: Option<&str>,
    now_ms: i64,
) -> StoreResult<Option<Item>> {
    let row = sqlx::query(
        "UPDATE contacts SET last_seq = last_seq + 1, last_at = GREATEST($2, last_at + 1)
         WHERE id = $1
         RETURNING last_seq, last_at, ended_at, active_streams",
    )
    .bind(contact_id)
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?
    .ok_or(StoreError::ContactNotFound)?;
    if row.get::<Option<i64>, _>("ended_at").is_some() {
        return Err(StoreError::ContactEnded);
    }
    let (seq, at): (i64, i64) = (row.get("last_seq"), row.get("last_at"));
    let sender = item.sender.as_ref();
    let inserted = sqlx::query(
        "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                            display_name, participant_role, absolute_time, client_token)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (participant_id, client_token) WHERE client_token IS NOT NULL DO NOTHING",
    )
    .bind(contact_id)
    .bind(seq)
    .bind(&item.id)
    .bind(item.item_type.as_str())
    .bind(&item.content_type)
    .bind(&item.content)
    .bind(sender.map(|s| s.participant_id.as_str()))
    .bind(sender.map(|s| s.display_name.as_str()))
    .bind(sender.map(|s| s.role.as_str()))
    .bind(at)
    .bind(client_token)
    .execute(&mut **tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    if row.get::<i32, _>("active_streams") > 0 {
        enqueue(tx, contact_id, &item.id, None).await?;
    }
    Ok(Some(Item {
        contact_id: contact_id.to_string(),
        seq,
        id: item.id.clone(),
        item_type: item.item_type,
        content_type: item.content_type.clone(),
        content: item.content.clone(),
        sender: item.sender.clone(),
        absolute_time: from_millis(at),
    }))
}

pub(super) async fn append_new(
    tx: &mut Tx,
    contact_id: &str,
    item: &NewItem,
    now_ms: i64,
) -> StoreResult<Item> {
    append(tx, contact_id, item, None, now_ms)
        .await?
        .ok_or_else(|| StoreError::Backend("item without client token was refused".into()))
}

/// Puts an item in the outbox of each active stream of the contact.
pub(super) async fn enqueue(
    tx: &mut Tx,
    contact_id: &str,
    item_id: &str,
    event: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO stream_outbox (stream_id, item_id, event)
         SELECT id, $2, $3 FROM streams WHERE contact_id = $1 AND stopped_at IS NULL
         ORDER BY started_at, id",
    )
    .bind(contact_id)
    .bind(item_id)
    .bind(event)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Appends chat.ended, marks the contact ended and finishes its streams (after chat.ended went
/// into their outboxes).
pub(super) async fn end(
    tx: &mut Tx,
    contact_id: &str,
    ended: &NewItem,
    reason: Option<&str>,
    now_ms: i64,
) -> StoreResult<Item> {
    let item = append_new(tx, contact_id, ended, now_ms).await?;
    sqlx::query(
        // The chat's row and its current contact's, if a transfer made one.
        "UPDATE contacts SET ended_at = $1, updated_at = $1, disconnect_reason = $2,
                             active_streams = 0
         WHERE initial_contact_id = $3 AND ended_at IS NULL",
    )
    .bind(now_ms)
    .bind(reason)
    .bind(contact_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    sqlx::query(
        "UPDATE streams SET stopped_at = $1, stop_reason = 'CHAT_ENDED'
         WHERE contact_id = $2 AND stopped_at IS NULL",
    )
    .bind(now_ms)
    .bind(contact_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(item)
}

pub(super) async fn insert_participant(
    tx: &mut Tx,
    p: &Participant,
    client_token: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO participants (id, contact_id, role, display_name, client_token, joined_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&p.id)
    .bind(&p.contact_id)
    .bind(p.role.as_str())
    .bind(&p.display_name)
    .bind(client_token)
    .bind(to_millis(p.joined_at))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
