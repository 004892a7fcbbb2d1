//! The chat's writes on PostgreSQL: each one transaction on a pooled connection, answered after
//! its commit. Items are numbered through their contact's row ([`super::items`]).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::items::{append, append_new, end, enqueue, insert_participant};
use super::streams::insert_stream;
use super::{backend, is_unique_violation, PostgresStore, Tx};
use crate::clock::{from_millis, to_millis};
use crate::model::{
    receipt_event_fields, Item, ItemType, NewItem, Receipt, ReceiptKind, StoredFlow, StoredHours,
    StoredQuickConnect,
};
use crate::store::rows::*;
use crate::store::*;

pub(super) async fn find_contact_by_token(
    store: &PostgresStore,
    instance_id: &str,
    token: &str,
) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT id FROM contacts WHERE instance_id = $1 AND client_token = $2")
        .bind(instance_id)
        .bind(token)
        .fetch_optional(&store.pool)
        .await
        .map_err(backend)
}

pub(super) async fn try_create(
    store: &PostgresStore,
    new: &NewContact,
) -> Result<Vec<Item>, sqlx::Error> {
    let c = &new.contact;
    let now = store.now_ms();
    let mut tx = store.pool.begin().await?;
    sqlx::query(
        "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id, queue_id,
            customer_participant_id, client_token, attributes, details, duration_minutes,
            initiated_at, enqueued_at, expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&c.id)
    .bind(&c.instance_id)
    .bind(&c.initial_contact_id)
    .bind(&c.contact_flow_id)
    .bind(&c.queue_id)
    .bind(&c.customer_participant_id)
    .bind(&new.client_token)
    .bind(serde_json::to_string(&c.attributes).expect("serialisable"))
    .bind(serde_json::to_string(&c.details).expect("serialisable"))
    .bind(c.duration_minutes)
    .bind(to_millis(c.initiated_at))
    .bind(c.enqueued_at.map(to_millis))
    .bind(to_millis(c.expires_at))
    .bind(to_millis(c.updated_at))
    .execute(&mut *tx)
    .await?;
    insert_participant(&mut tx, &new.customer, None).await?;
    if let Some(run) = &new.flow_run {
        sqlx::query(
            "INSERT INTO flow_runs (chat_id, version, state, wake_at) VALUES ($1, 1, $2, $3)",
        )
        .bind(&c.id)
        .bind(&run.state)
        .bind(run.wake_at.map(to_millis))
        .execute(&mut *tx)
        .await?;
    }
    if let Some(stream) = &new.stream {
        insert_stream(&mut tx, stream, true)
            .await
            .map_err(to_sqlx)?;
    }
    let mut items = Vec::with_capacity(new.items.len());
    for item in &new.items {
        items.push(
            append_new(&mut tx, &c.id, item, now)
                .await
                .map_err(to_sqlx)?,
        );
    }
    tx.commit().await?;
    Ok(items)
}

pub(super) async fn existing_participant(
    store: &PostgresStore,
    id: &str,
) -> StoreResult<Replayed<Added>> {
    Ok(Replayed::replay(Added {
        participant: store
            .participant(id)
            .await?
            .ok_or(StoreError::ParticipantNotFound)?,
        items: Vec::new(),
    }))
}

pub(super) async fn receipt(
    store: &PostgresStore,
    message_id: &str,
    recipient: &str,
) -> StoreResult<Receipt> {
    let row = sqlx::query(
        "SELECT * FROM receipts WHERE message_id = $1 AND recipient_participant_id = $2",
    )
    .bind(message_id)
    .bind(recipient)
    .fetch_one(&store.pool)
    .await
    .map_err(backend)?;
    Ok(receipt_from_row(&row))
}

/// Carries a store error through code that speaks sqlx errors.
fn to_sqlx(e: StoreError) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}

pub(super) async fn create_contact(
    store: &PostgresStore,
    new: NewContact,
) -> StoreResult<Replayed<Created>> {
    let c = &new.contact;
    if let Some(token) = &new.client_token {
        if let Some(id) = find_contact_by_token(store, &c.instance_id, token).await? {
            return Ok(Replayed::replay(store.reads.created_earlier(&id).await?));
        }
    }
    match try_create(store, &new).await {
        Ok(items) => Ok(Replayed::new(Created {
            stream_id: new.stream.as_ref().map(|s| s.stream.id.clone()),
            contact: new.contact,
            customer: new.customer,
            items,
        })),
        // The same token, committed by a concurrent request in the meantime.
        Err(e) if is_unique_violation(&e) && new.client_token.is_some() => {
            let token = new.client_token.as_deref().unwrap_or_default();
            match find_contact_by_token(store, &c.instance_id, token).await? {
                Some(id) => Ok(Replayed::replay(store.reads.created_earlier(&id).await?)),
                None => Err(backend(e)),
            }
        }
        Err(e) => Err(backend(e)),
    }
}

pub(super) async fn add_participant(
    store: &PostgresStore,
    new: NewParticipant,
) -> StoreResult<Replayed<Added>> {
    let p = &new.participant;
    let by_token = |token: String| {
        sqlx::query_scalar::<_, String>(
            "SELECT id FROM participants WHERE contact_id = $1 AND client_token = $2",
        )
        .bind(p.contact_id.clone())
        .bind(token)
        .fetch_optional(&store.pool)
    };
    if let Some(token) = &new.client_token {
        if let Some(id) = by_token(token.clone()).await.map_err(backend)? {
            return existing_participant(store, &id).await;
        }
    }
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    if let Err(e) = insert_participant(&mut tx, p, new.client_token.as_deref()).await {
        drop(tx);
        if is_unique_violation(&e) {
            if let Some(token) = &new.client_token {
                if let Some(id) = by_token(token.clone()).await.map_err(backend)? {
                    return existing_participant(store, &id).await;
                }
            }
        }
        return Err(match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::ContactNotFound,
            e => backend(e),
        });
    }
    if let Some(user_id) = &new.agent_user_id {
        sqlx::query("UPDATE participants SET user_id = $1 WHERE id = $2")
            .bind(user_id)
            .bind(&p.id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "UPDATE contacts SET agent_id = $1, connected_to_agent_at = $2, updated_at = $2
             WHERE initial_contact_id = $3 AND next_contact_id IS NULL",
        )
        .bind(user_id)
        .bind(to_millis(p.joined_at))
        .bind(&p.contact_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    let joined = append_new(&mut tx, &p.contact_id, &new.joined, now).await?;
    tx.commit().await.map_err(backend)?;
    Ok(Replayed::new(Added {
        participant: new.participant,
        items: vec![joined],
    }))
}

pub(super) async fn append_item(
    store: &PostgresStore,
    contact_id: &str,
    item: NewItem,
    client_token: Option<String>,
) -> StoreResult<Replayed<Item>> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let sender_id = item.sender.as_ref().map(|s| s.participant_id.clone());
    // Numbering first: the contact's row is then locked, so a departure committed before
    // is seen below, and none can slip in between.
    let appended = append(&mut tx, contact_id, &item, client_token.as_deref(), now).await?;
    if let Some(sender) = &sender_id {
        let left: Option<Option<i64>> =
            sqlx::query_scalar("SELECT left_at FROM participants WHERE id = $1")
                .bind(sender)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        match left {
            None => return Err(StoreError::ParticipantNotFound),
            Some(Some(_)) => return Err(StoreError::ParticipantLeft),
            Some(None) => {}
        }
    }
    match appended {
        Some(item) => {
            tx.commit().await.map_err(backend)?;
            Ok(Replayed::new(item))
        }
        None => {
            drop(tx);
            let id: String = sqlx::query_scalar(
                "SELECT id FROM items WHERE participant_id = $1 AND client_token = $2",
            )
            .bind(&sender_id)
            .bind(&client_token)
            .fetch_one(&store.pool)
            .await
            .map_err(backend)?;
            Ok(Replayed::replay(
                store
                    .item(contact_id, &id)
                    .await?
                    .ok_or(StoreError::MessageNotFound)?,
            ))
        }
    }
}

pub(super) async fn record_receipt(
    store: &PostgresStore,
    r: NewReceipt,
) -> StoreResult<Replayed<ReceiptRecorded>> {
    if let Some(token) = &r.client_token {
        let earlier: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT event_id, at, message_id FROM event_tokens
             WHERE participant_id = $1 AND client_token = $2",
        )
        .bind(&r.recipient_participant_id)
        .bind(token)
        .fetch_optional(&store.pool)
        .await
        .map_err(backend)?;
        if let Some((event_id, at, message_id)) = earlier {
            return Ok(Replayed::replay(ReceiptRecorded {
                event_id,
                at: from_millis(at),
                receipt: receipt(store, &message_id, &r.recipient_participant_id).await?,
            }));
        }
    }
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let contact: Option<(Option<i64>, i32)> =
        sqlx::query_as("SELECT ended_at, active_streams FROM contacts WHERE id = $1 FOR SHARE")
            .bind(&r.contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    let active_streams = match contact {
        None => return Err(StoreError::ContactNotFound),
        Some((Some(_), _)) => return Err(StoreError::ContactEnded),
        Some((None, streams)) => streams,
    };
    let kind: Option<String> =
        sqlx::query_scalar("SELECT type FROM items WHERE contact_id = $1 AND id = $2")
            .bind(&r.contact_id)
            .bind(&r.message_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    if kind.as_deref() != Some(ItemType::Message.as_str()) {
        return Err(StoreError::MessageNotFound);
    }
    let read_at = matches!(r.kind, ReceiptKind::Read).then_some(now);
    let row = sqlx::query(
        "INSERT INTO receipts (message_id, recipient_participant_id, delivered_at, read_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id, recipient_participant_id) DO UPDATE SET
             delivered_at = COALESCE(receipts.delivered_at, excluded.delivered_at),
             read_at = COALESCE(receipts.read_at, excluded.read_at)
         RETURNING *",
    )
    .bind(&r.message_id)
    .bind(&r.recipient_participant_id)
    .bind(now)
    .bind(read_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(backend)?;
    let receipt = receipt_from_row(&row);
    if let Some(token) = &r.client_token {
        let inserted = sqlx::query(
            "INSERT INTO event_tokens (participant_id, client_token, event_id, at, message_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.recipient_participant_id)
        .bind(token)
        .bind(&r.event_id)
        .bind(now)
        .bind(&r.message_id)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            drop(tx);
            // A concurrent retry with the same token won: answer as it did.
            return if is_unique_violation(&e) {
                Box::pin(store.record_receipt(r.clone())).await
            } else {
                Err(backend(e))
            };
        }
    }
    if active_streams > 0 {
        let fields = receipt_event_fields(&r.event_id, from_millis(now), &r.message_id, &receipt);
        let event = serde_json::Value::Object(fields).to_string();
        enqueue(&mut tx, &r.contact_id, &r.event_id, Some(&event)).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(Replayed::new(ReceiptRecorded {
        event_id: r.event_id.clone(),
        at: from_millis(now),
        receipt,
    }))
}

pub(super) async fn depart(
    store: &PostgresStore,
    d: Departure,
) -> StoreResult<Replayed<Vec<Item>>> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT contact_id, left_at, left_client_token FROM participants WHERE id = $1
         FOR UPDATE",
    )
    .bind(&d.participant_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?;
    let (contact_id, left_at, left_token) = row.ok_or(StoreError::ParticipantNotFound)?;
    if left_at.is_some() {
        return departed_before(left_token.as_deref(), d.client_token.as_deref());
    }
    sqlx::query("UPDATE participants SET left_at = $1, left_client_token = $2 WHERE id = $3")
        .bind(now)
        .bind(&d.client_token)
        .bind(&d.participant_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(run) = &d.run {
        replace_run(&mut tx, &contact_id, run).await?;
    }
    let mut items = vec![append_new(&mut tx, &contact_id, &d.left, now).await?];
    if let Some(ended) = &d.ended {
        items.push(
            end(
                &mut tx,
                &contact_id,
                ended,
                d.disconnect_reason.as_deref(),
                now,
            )
            .await?,
        );
    }
    tx.commit().await.map_err(backend)?;
    Ok(Replayed::new(items))
}

pub(super) async fn end_contact(
    store: &PostgresStore,
    contact_id: &str,
    ended: NewItem,
    reason: Option<String>,
) -> StoreResult<Option<Item>> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let state: Option<Option<i64>> =
        sqlx::query_scalar("SELECT ended_at FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    match state {
        None => Err(StoreError::ContactNotFound),
        Some(Some(_)) => Ok(None),
        Some(None) => {
            let item = end(&mut tx, contact_id, &ended, reason.as_deref(), now).await?;
            tx.commit().await.map_err(backend)?;
            Ok(Some(item))
        }
    }
}

pub(super) async fn update_attributes(
    store: &PostgresStore,
    contact_id: &str,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
) -> StoreResult<()> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let current: String =
        sqlx::query_scalar("SELECT attributes FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::ContactNotFound)?;
    write_attributes(&mut tx, contact_id, &current, attributes, max_bytes, now).await?;
    tx.commit().await.map_err(backend)
}

/// Merges `attributes` into the contact's `current` ones (the store's rule) and writes them, in
/// a transaction that holds the contact's row.
async fn write_attributes(
    tx: &mut Tx,
    contact_id: &str,
    current: &str,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
    now_ms: i64,
) -> StoreResult<()> {
    let merged = merge_attributes(current, attributes, max_bytes)?;
    sqlx::query("UPDATE contacts SET attributes = $1, updated_at = $2 WHERE id = $3")
        .bind(merged)
        .bind(now_ms)
        .bind(contact_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// One step of a flow run ([`FlowStep`]), in one transaction holding the chat's row.
pub(super) async fn flow_step(store: &PostgresStore, step: FlowStep) -> StoreResult<Vec<Item>> {
    let now = store.now_ms();
    let chat = step.chat_id.as_str();
    let mut tx = store.begin().await?;
    let state: Option<(Option<i64>, String)> =
        sqlx::query_as("SELECT ended_at, attributes FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(chat)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    let (ended_at, attributes) = state.ok_or(StoreError::ContactNotFound)?;
    if ended_at.is_some() {
        return Err(StoreError::ContactEnded);
    }
    let moved = sqlx::query(
        "UPDATE flow_runs SET version = version + 1, state = $3, wake_at = $4
         WHERE chat_id = $1 AND version = $2",
    )
    .bind(chat)
    .bind(step.version)
    .bind(&step.state)
    .bind(step.wake_at.map(to_millis))
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if moved == 0 {
        return Err(StoreError::RunMoved);
    }
    if !step.attributes.is_empty() {
        let max = step.max_attribute_bytes;
        write_attributes(&mut tx, chat, &attributes, step.attributes, max, now).await?;
    }
    if let Some(queue) = &step.enqueue {
        requeue(&mut *tx, chat, queue, now).await?;
    }
    if step.leave_queue {
        sqlx::query(
            "UPDATE contacts SET queue_id = NULL, updated_at = $2
             WHERE initial_contact_id = $1 AND next_contact_id IS NULL",
        )
        .bind(chat)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    let last: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(n), 0) FROM flow_log WHERE chat_id = $1")
            .bind(chat)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
    for (n, entry) in (last + 1..).zip(&step.log) {
        sqlx::query(
            "INSERT INTO flow_log (chat_id, n, at, flow_id, action, type, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(chat)
        .bind(n)
        .bind(to_millis(entry.at))
        .bind(&entry.flow_id)
        .bind(&entry.action)
        .bind(&entry.action_type)
        .bind(&entry.outcome)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    let mut items = Vec::with_capacity(step.items.len() + 1);
    for item in &step.items {
        items.push(append_new(&mut tx, chat, item, now).await?);
    }
    if let Some((ended, reason)) = &step.end {
        items.push(end(&mut tx, chat, ended, Some(reason), now).await?);
    }
    tx.commit().await.map_err(backend)?;
    Ok(items)
}

/// Inserts or replaces a contact flow made through the API.
pub(super) async fn put_contact_flow(store: &PostgresStore, flow: StoredFlow) -> StoreResult<()> {
    let written = sqlx::query(
        "INSERT INTO contact_flows (instance_id, id, name, type, description, content, status,
                                    state, tags, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
            type = excluded.type, description = excluded.description,
            content = excluded.content, status = excluded.status, state = excluded.state,
            tags = excluded.tags, updated_at = excluded.updated_at",
    )
    .bind(&flow.instance_id)
    .bind(&flow.id)
    .bind(&flow.name)
    .bind(&flow.flow_type)
    .bind(&flow.description)
    .bind(&flow.content)
    .bind(&flow.status)
    .bind(&flow.state)
    .bind(serde_json::to_string(&flow.tags).expect("serialisable"))
    .bind(to_millis(flow.updated_at))
    .execute(&store.pool)
    .await;
    match written {
        Ok(_) => Ok(()),
        // The unique index on (instance_id, name): another flow has the name.
        Err(e) if is_unique_violation(&e) => Err(StoreError::FlowNameTaken(flow.name)),
        Err(e) => Err(backend(e)),
    }
}

/// Inserts or replaces hours of operation made through the API.
pub(super) async fn put_hours_of_operation(
    store: &PostgresStore,
    hours: StoredHours,
) -> StoreResult<()> {
    let written = sqlx::query(
        "INSERT INTO hours_of_operation (instance_id, id, name, description, time_zone, config,
                                         tags, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
            description = excluded.description, time_zone = excluded.time_zone,
            config = excluded.config, tags = excluded.tags, updated_at = excluded.updated_at",
    )
    .bind(&hours.instance_id)
    .bind(&hours.id)
    .bind(&hours.name)
    .bind(&hours.description)
    .bind(&hours.time_zone)
    .bind(serde_json::to_string(&hours.config).expect("serialisable"))
    .bind(serde_json::to_string(&hours.tags).expect("serialisable"))
    .bind(to_millis(hours.updated_at))
    .execute(&store.pool)
    .await;
    match written {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::HoursNameTaken(hours.name)),
        Err(e) => Err(backend(e)),
    }
}

/// Inserts or replaces a quick connect made through the API.
pub(super) async fn put_quick_connect(
    store: &PostgresStore,
    quick: StoredQuickConnect,
) -> StoreResult<()> {
    let written = sqlx::query(
        "INSERT INTO quick_connects (instance_id, id, name, description, target, tags, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
            description = excluded.description, target = excluded.target,
            tags = excluded.tags, updated_at = excluded.updated_at",
    )
    .bind(&quick.instance_id)
    .bind(&quick.id)
    .bind(&quick.name)
    .bind(&quick.description)
    .bind(serde_json::to_string(&quick.target).expect("serialisable"))
    .bind(serde_json::to_string(&quick.tags).expect("serialisable"))
    .bind(to_millis(quick.updated_at))
    .execute(&store.pool)
    .await;
    match written {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::QuickConnectNameTaken(quick.name)),
        Err(e) => Err(backend(e)),
    }
}

/// Associates quick connects with a queue, or takes the associations away.
pub(super) async fn associate_quick_connects(
    store: &PostgresStore,
    instance_id: &str,
    queue_id: &str,
    quick_connect_ids: Vec<String>,
    associate: bool,
) -> StoreResult<()> {
    let sql = if associate {
        "INSERT INTO queue_quick_connects (instance_id, queue_id, quick_connect_id)
         SELECT $1, $2, id FROM UNNEST($3::TEXT[]) AS id ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM queue_quick_connects
         WHERE instance_id = $1 AND queue_id = $2 AND quick_connect_id = ANY($3)"
    };
    sqlx::query(sql)
        .bind(instance_id)
        .bind(queue_id)
        .bind(quick_connect_ids)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Deletes a quick connect made through the API and its associations with queues.
pub(super) async fn delete_quick_connect(
    store: &PostgresStore,
    instance_id: &str,
    id: &str,
) -> StoreResult<bool> {
    let mut tx = store.pool.begin().await.map_err(backend)?;
    sqlx::query(
        "DELETE FROM queue_quick_connects WHERE instance_id = $1 AND quick_connect_id = $2",
    )
    .bind(instance_id)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let deleted = sqlx::query("DELETE FROM quick_connects WHERE instance_id = $1 AND id = $2")
        .bind(instance_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    tx.commit().await.map_err(backend)?;
    Ok(deleted > 0)
}

/// Deletes a row an instance owns (a contact flow, hours of operation or a quick connect made
/// through the API);
/// false if there was none.
pub(super) async fn delete_owned(
    store: &PostgresStore,
    table: &'static str,
    instance_id: &str,
    id: &str,
) -> StoreResult<bool> {
    let deleted = sqlx::query(&format!(
        "DELETE FROM {table} WHERE instance_id = $1 AND id = $2"
    ))
    .bind(instance_id)
    .bind(id)
    .execute(&store.pool)
    .await
    .map_err(backend)?
    .rows_affected();
    Ok(deleted > 0)
}

pub(super) async fn secret(store: &PostgresStore, name: &str) -> StoreResult<Vec<u8>> {
    let value: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    // The first node to ask creates it; every later one reads the same.
    sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(&value)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
        .bind(name)
        .fetch_one(&store.pool)
        .await
        .map_err(backend)
}

pub(super) async fn requeue_contact(
    store: &PostgresStore,
    chat_id: &str,
    queue_id: &str,
    at: OffsetDateTime,
) -> StoreResult<()> {
    requeue(&store.pool, chat_id, queue_id, to_millis(at)).await
}

/// The chat's current contact waits in `queue_id` since `at_ms`, with no agent (on its own, or
/// inside a transaction: a flow step's).
async fn requeue<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    chat_id: &str,
    queue_id: &str,
    at_ms: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE contacts SET queue_id = $1, enqueued_at = $2, agent_id = NULL,
                             connected_to_agent_at = NULL, updated_at = $2
         WHERE initial_contact_id = $3 AND next_contact_id IS NULL AND ended_at IS NULL",
    )
    .bind(queue_id)
    .bind(at_ms)
    .bind(chat_id)
    .execute(executor)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn transfer_contact(
    store: &PostgresStore,
    from: &str,
    to: &str,
    queue_id: &str,
    at: OffsetDateTime,
    run: Option<NewRun>,
) -> StoreResult<()> {
    let at = to_millis(at);
    // With a transfer flow the new contact waits in no queue: the flow queues it.
    let (queue, enqueued) = match run {
        Some(_) => (None, None),
        None => (Some(queue_id), Some(at)),
    };
    let mut tx = store.pool.begin().await.map_err(backend)?;
    // Only the current contact of an open chat is handed on (for the chat's first contact,
    // ended_at is the chat's; for a later one, it is set when the chat ends).
    let made = sqlx::query(
        "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id, queue_id,
            customer_participant_id, attributes, details, duration_minutes, initiated_at,
            enqueued_at, expires_at, updated_at, previous_contact_id)
         SELECT $2, instance_id, initial_contact_id, contact_flow_id, $3,
            customer_participant_id, attributes, details, duration_minutes, $4,
            $5, expires_at, $4, id
         FROM contacts WHERE id = $1 AND next_contact_id IS NULL AND ended_at IS NULL
         FOR UPDATE",
    )
    .bind(from)
    .bind(to)
    .bind(queue)
    .bind(at)
    .bind(enqueued)
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if made == 0 {
        return Err(StoreError::ContactNotFound);
    }
    sqlx::query(
        "UPDATE contacts SET next_contact_id = $2, transferred_at = $3, updated_at = $3
         WHERE id = $1",
    )
    .bind(from)
    .bind(to)
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if let Some(run) = run {
        let chat_id: String =
            sqlx::query_scalar("SELECT initial_contact_id FROM contacts WHERE id = $1")
                .bind(to)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        replace_run(&mut tx, &chat_id, &run).await?;
    }
    tx.commit().await.map_err(backend)
}

/// The chat's flow run becomes `run` (made, if the chat had none): a step computed from the run
/// it replaces is refused, as the version moves on.
async fn replace_run(tx: &mut Tx, chat_id: &str, run: &NewRun) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO flow_runs (chat_id, version, state, wake_at) VALUES ($1, 1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE
         SET version = flow_runs.version + 1, state = excluded.state,
             wake_at = excluded.wake_at",
    )
    .bind(chat_id)
    .bind(&run.state)
    .bind(run.wake_at.map(to_millis))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn record_sign_out(
    store: &PostgresStore,
    user_id: &str,
    at: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_sign_outs (user_id, signed_out_at) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE
         SET signed_out_at = GREATEST(agent_sign_outs.signed_out_at, excluded.signed_out_at)",
    )
    .bind(user_id)
    .bind(to_millis(at))
    .execute(&store.pool)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn record_presence(
    store: &PostgresStore,
    user_id: &str,
    presence: &str,
    since: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_presence (user_id, presence, since) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, since = excluded.since",
    )
    .bind(user_id)
    .bind(presence)
    .bind(to_millis(since))
    .execute(&store.pool)
    .await
    .map_err(backend)?;
    Ok(())
}
