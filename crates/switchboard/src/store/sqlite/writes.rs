//! The chat's write operations on SQLite, each a function the writer thread runs inside its
//! batch ([`super::writer`]): contacts, participants, items, receipts, departures, attributes,
//! agents' sign-outs and statuses, and the store's secrets. The batching, the savepoints and the
//! in-memory cursors that make an append one INSERT are the writer's; these only say what each
//! write does.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::stream_writes::insert_stream;
use super::writer::{backend, json_text, Cursor, Writer};
use crate::clock::{from_millis, to_millis};
use crate::model::{
    receipt_event_fields, Item, ItemType, NewItem, Receipt, ReceiptKind, StoredFlow, StoredHours,
    StoredQuickConnect,
};
use crate::store::{
    departed_before, merge_attributes, Departure, FlowStep, NewContact, NewParticipant, NewReceipt,
    NewRun, ReceiptRecorded, Replayed, StoreError, StoreResult,
};

/// What CreateContact did: created the contact with these items, or found the one its client
/// token created earlier (which the caller then reads).
pub enum ContactCreation {
    Created(Vec<Item>),
    Existing(String),
}

pub fn create_contact(
    w: &mut Writer,
    new: &NewContact,
    now_ms: i64,
) -> StoreResult<ContactCreation> {
    let c = &new.contact;
    if let Some(token) = &new.client_token {
        let existing: Option<String> = w
            .conn
            .prepare_cached("SELECT id FROM contacts WHERE instance_id = ?1 AND client_token = ?2")
            .map_err(backend)?
            .query_row(params![c.instance_id, token], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        if let Some(id) = existing {
            return Ok(ContactCreation::Existing(id));
        }
    }
    w.conn
        .prepare_cached(
            "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id, queue_id,
                customer_participant_id, client_token, attributes, details, duration_minutes,
                initiated_at, enqueued_at, expires_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(backend)?
        .execute(params![
            c.id,
            c.instance_id,
            c.initial_contact_id,
            c.contact_flow_id,
            c.queue_id,
            c.customer_participant_id,
            new.client_token,
            json_text(&c.attributes),
            json_text(&c.details),
            c.duration_minutes,
            to_millis(c.initiated_at),
            c.enqueued_at.map(to_millis),
            to_millis(c.expires_at),
            to_millis(c.updated_at),
        ])
        .map_err(backend)?;
    w.cursors.insert(
        c.id.clone(),
        Cursor {
            last_seq: 0,
            last_at: 0,
            ended: false,
            streamed: false,
        },
    );
    w.touched.push(c.id.clone());
    w.insert_participant(&new.customer, None)?;
    if let Some(run) = &new.flow_run {
        w.conn
            .prepare_cached(
                "INSERT INTO flow_runs (chat_id, version, state, wake_at) VALUES (?1, 1, ?2, ?3)",
            )
            .map_err(backend)?
            .execute(params![c.id, run.state, run.wake_at.map(to_millis)])
            .map_err(backend)?;
    }
    if let Some(stream) = &new.stream {
        insert_stream(w, stream, true)?;
    }
    let mut items = Vec::with_capacity(new.items.len());
    for item in &new.items {
        items.push(w.append_new(&c.id, item.clone(), now_ms)?);
    }
    Ok(ContactCreation::Created(items))
}

/// Adds a participant; `Err(existing id)` inside `Ok` when its client token was used before.
pub fn add_participant(
    w: &mut Writer,
    new: &NewParticipant,
    now_ms: i64,
) -> StoreResult<Result<Vec<Item>, String>> {
    let contact_id = &new.participant.contact_id;
    if let Some(token) = &new.client_token {
        let existing: Option<String> = w
            .conn
            .prepare_cached(
                "SELECT id FROM participants WHERE contact_id = ?1 AND client_token = ?2",
            )
            .map_err(backend)?
            .query_row(params![contact_id, token], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        if let Some(id) = existing {
            return Ok(Err(id));
        }
    }
    w.open_contact(contact_id)?;
    w.insert_participant(&new.participant, new.client_token.as_deref())?;
    if let Some(user_id) = &new.agent_user_id {
        w.conn
            .prepare_cached("UPDATE participants SET user_id = ?1 WHERE id = ?2")
            .map_err(backend)?
            .execute(params![user_id, new.participant.id])
            .map_err(backend)?;
        w.conn
            .prepare_cached(
                "UPDATE contacts SET agent_id = ?1, connected_to_agent_at = ?2, updated_at = ?2
                 WHERE initial_contact_id = ?3 AND next_contact_id IS NULL",
            )
            .map_err(backend)?
            .execute(params![
                user_id,
                to_millis(new.participant.joined_at),
                contact_id
            ])
            .map_err(backend)?;
    }
    let joined = w.append_new(contact_id, new.joined.clone(), now_ms)?;
    Ok(Ok(vec![joined]))
}

/// The hot path: with the contact and the sender already known to the writer, one INSERT.
/// `Err(id of the earlier item)` inside `Ok` when the client token was used before.
pub fn append_item(
    w: &mut Writer,
    contact_id: &str,
    item: NewItem,
    client_token: Option<&str>,
    now_ms: i64,
) -> StoreResult<Result<Item, String>> {
    w.open_contact(contact_id)?;
    let sender_id = item.sender.as_ref().map(|s| s.participant_id.clone());
    if let Some(sender) = &sender_id {
        if w.has_departed(sender)? {
            return Err(StoreError::ParticipantLeft);
        }
    }
    if let Some(item) = w.append(contact_id, item, client_token, now_ms)? {
        return Ok(Ok(item));
    }
    let id: String = w
        .conn
        .prepare_cached("SELECT id FROM items WHERE participant_id = ?1 AND client_token = ?2")
        .map_err(backend)?
        .query_row(params![sender_id, client_token], |r| r.get(0))
        .map_err(backend)?;
    Ok(Err(id))
}

pub fn record_receipt(
    w: &mut Writer,
    r: &NewReceipt,
    now_ms: i64,
) -> StoreResult<Replayed<ReceiptRecorded>> {
    let receipt_of = |w: &mut Writer, message_id: &str| -> StoreResult<Receipt> {
        let (delivered, read): (Option<i64>, Option<i64>) = w
            .conn
            .prepare_cached(
                "SELECT delivered_at, read_at FROM receipts WHERE message_id = ?1 AND recipient_participant_id = ?2",
            )
            .map_err(backend)?
            .query_row(params![message_id, r.recipient_participant_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(backend)?;
        Ok(Receipt {
            message_id: message_id.to_string(),
            recipient_participant_id: r.recipient_participant_id.clone(),
            delivered_at: delivered.map(from_millis),
            read_at: read.map(from_millis),
        })
    };
    if let Some(token) = &r.client_token {
        let earlier: Option<(String, i64, String)> = w
            .conn
            .prepare_cached("SELECT event_id, at, message_id FROM event_tokens WHERE participant_id = ?1 AND client_token = ?2")
            .map_err(backend)?
            .query_row(params![r.recipient_participant_id, token], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .map_err(backend)?;
        if let Some((event_id, at, message_id)) = earlier {
            return Ok(Replayed::replay(ReceiptRecorded {
                event_id,
                at: from_millis(at),
                receipt: receipt_of(w, &message_id)?,
            }));
        }
    }
    w.open_contact(&r.contact_id)?;
    let kind: Option<String> = w
        .conn
        .prepare_cached("SELECT type FROM items WHERE contact_id = ?1 AND id = ?2")
        .map_err(backend)?
        .query_row(params![r.contact_id, r.message_id], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    if kind.as_deref() != Some(ItemType::Message.as_str()) {
        return Err(StoreError::MessageNotFound);
    }
    let read_at = matches!(r.kind, ReceiptKind::Read).then_some(now_ms);
    w.conn
        .prepare_cached(
            "INSERT INTO receipts (message_id, recipient_participant_id, delivered_at, read_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (message_id, recipient_participant_id) DO UPDATE SET
                 delivered_at = COALESCE(delivered_at, excluded.delivered_at),
                 read_at = COALESCE(read_at, excluded.read_at)",
        )
        .map_err(backend)?
        .execute(params![
            r.message_id,
            r.recipient_participant_id,
            now_ms,
            read_at
        ])
        .map_err(backend)?;
    if let Some(token) = &r.client_token {
        w.conn
            .prepare_cached(
                "INSERT INTO event_tokens (participant_id, client_token, event_id, at, message_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?
            .execute(params![
                r.recipient_participant_id,
                token,
                r.event_id,
                now_ms,
                r.message_id
            ])
            .map_err(backend)?;
    }
    let receipt = receipt_of(w, &r.message_id)?;
    if w.cursor(&r.contact_id)?.streamed {
        let fields =
            receipt_event_fields(&r.event_id, from_millis(now_ms), &r.message_id, &receipt);
        let event = serde_json::Value::Object(fields).to_string();
        w.enqueue(&r.contact_id, &r.event_id, Some(&event), None)?;
    }
    Ok(Replayed::new(ReceiptRecorded {
        event_id: r.event_id.clone(),
        at: from_millis(now_ms),
        receipt,
    }))
}

pub fn depart(w: &mut Writer, d: &Departure, now_ms: i64) -> StoreResult<Replayed<Vec<Item>>> {
    let (contact_id, left_at, left_token): (String, Option<i64>, Option<String>) = w
        .conn
        .prepare_cached(
            "SELECT contact_id, left_at, left_client_token FROM participants WHERE id = ?1",
        )
        .map_err(backend)?
        .query_row([&d.participant_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(backend)?
        .ok_or(StoreError::ParticipantNotFound)?;
    if left_at.is_some() {
        return departed_before(left_token.as_deref(), d.client_token.as_deref());
    }
    w.open_contact(&contact_id)?;
    w.conn
        .prepare_cached(
            "UPDATE participants SET left_at = ?1, left_client_token = ?2 WHERE id = ?3",
        )
        .map_err(backend)?
        .execute(params![now_ms, d.client_token, d.participant_id])
        .map_err(backend)?;
    w.departed.insert(d.participant_id.clone(), true);
    if let Some(run) = &d.run {
        replace_run(w, &contact_id, run)?;
    }
    let mut items = vec![w.append_new(&contact_id, d.left.clone(), now_ms)?];
    if let Some(ended) = &d.ended {
        items.push(w.end(
            &contact_id,
            ended.clone(),
            d.disconnect_reason.clone(),
            now_ms,
        )?);
    }
    Ok(Replayed::new(items))
}

pub fn end_contact(
    w: &mut Writer,
    contact_id: &str,
    ended: NewItem,
    reason: Option<String>,
    now_ms: i64,
) -> StoreResult<Option<Item>> {
    if w.cursor(contact_id)?.ended {
        return Ok(None);
    }
    w.end(contact_id, ended, reason, now_ms).map(Some)
}

pub fn update_attributes(
    w: &mut Writer,
    contact_id: &str,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
    now_ms: i64,
) -> StoreResult<()> {
    let current: String = w
        .conn
        .prepare_cached("SELECT attributes FROM contacts WHERE id = ?1")
        .map_err(backend)?
        .query_row([contact_id], |r| r.get(0))
        .optional()
        .map_err(backend)?
        .ok_or(StoreError::ContactNotFound)?;
    let merged = merge_attributes(&current, attributes, max_bytes)?;
    w.conn
        .prepare_cached("UPDATE contacts SET attributes = ?1, updated_at = ?2 WHERE id = ?3")
        .map_err(backend)?
        .execute(params![merged, now_ms, contact_id])
        .map_err(backend)?;
    Ok(())
}

pub fn secret(w: &mut Writer, name: &str) -> StoreResult<Vec<u8>> {
    let existing: Option<Vec<u8>> = w
        .conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .map_err(backend)?
        .query_row([name], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if let Some(value) = existing {
        return Ok(value);
    }
    let value: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    w.conn
        .prepare_cached("INSERT INTO meta (name, value) VALUES (?1, ?2)")
        .map_err(backend)?
        .execute(params![name, value])
        .map_err(backend)?;
    Ok(value)
}

pub fn record_sign_out(w: &mut Writer, user_id: &str, at_ms: i64) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "INSERT INTO agent_sign_outs (user_id, signed_out_at) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET signed_out_at = MAX(signed_out_at, excluded.signed_out_at)",
        )
        .map_err(backend)?
        .execute(params![user_id, at_ms])
        .map_err(backend)?;
    Ok(())
}

pub fn record_presence(
    w: &mut Writer,
    user_id: &str,
    presence: &str,
    since_ms: i64,
) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "INSERT INTO agent_presence (user_id, presence, since) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, since = excluded.since",
        )
        .map_err(backend)?
        .execute(params![user_id, presence, since_ms])
        .map_err(backend)?;
    Ok(())
}

pub fn requeue_contact(
    w: &mut Writer,
    chat_id: &str,
    queue_id: &str,
    at_ms: i64,
) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "UPDATE contacts SET queue_id = ?1, enqueued_at = ?2, agent_id = NULL,
                                 connected_to_agent_at = NULL, updated_at = ?2
             WHERE initial_contact_id = ?3 AND next_contact_id IS NULL AND ended_at IS NULL",
        )
        .map_err(backend)?
        .execute(params![queue_id, at_ms, chat_id])
        .map_err(backend)?;
    Ok(())
}

pub fn transfer_contact(
    w: &mut Writer,
    from: &str,
    to: &str,
    queue_id: &str,
    at_ms: i64,
    run: Option<&NewRun>,
) -> StoreResult<()> {
    // With a transfer flow the new contact waits in no queue: the flow queues it.
    let (queue, enqueued) = match run {
        Some(_) => (None, None),
        None => (Some(queue_id), Some(at_ms)),
    };
    // Only the current contact of an open chat is handed on (for the chat's first contact,
    // ended_at is the chat's; for a later one, it is set when the chat ends).
    let made = w
        .conn
        .prepare_cached(
            "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id, queue_id,
                customer_participant_id, attributes, details, duration_minutes, initiated_at,
                enqueued_at, expires_at, updated_at, previous_contact_id)
             SELECT ?2, instance_id, initial_contact_id, contact_flow_id, ?3,
                customer_participant_id, attributes, details, duration_minutes, ?4,
                ?5, expires_at, ?4, id
             FROM contacts WHERE id = ?1 AND next_contact_id IS NULL AND ended_at IS NULL",
        )
        .map_err(backend)?
        .execute(params![from, to, queue, at_ms, enqueued])
        .map_err(backend)?;
    if made == 0 {
        return Err(StoreError::ContactNotFound);
    }
    w.conn
        .prepare_cached(
            "UPDATE contacts SET next_contact_id = ?2, transferred_at = ?3, updated_at = ?3
             WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![from, to, at_ms])
        .map_err(backend)?;
    if let Some(run) = run {
        let chat_id: String = w
            .conn
            .prepare_cached("SELECT initial_contact_id FROM contacts WHERE id = ?1")
            .map_err(backend)?
            .query_row([to], |r| r.get(0))
            .map_err(backend)?;
        replace_run(w, &chat_id, run)?;
    }
    Ok(())
}

/// The chat's flow run becomes `run` (made, if the chat had none): a step computed from the run
/// it replaces is refused, as the version moves on.
fn replace_run(w: &mut Writer, chat_id: &str, run: &NewRun) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "INSERT INTO flow_runs (chat_id, version, state, wake_at) VALUES (?1, 1, ?2, ?3)
             ON CONFLICT (chat_id) DO UPDATE
             SET version = flow_runs.version + 1, state = excluded.state,
                 wake_at = excluded.wake_at",
        )
        .map_err(backend)?
        .execute(params![chat_id, run.state, run.wake_at.map(to_millis)])
        .map_err(backend)?;
    Ok(())
}

/// One step of a flow run ([`FlowStep`]): refused unless the stored run is at the step's version.
pub fn flow_step(w: &mut Writer, step: FlowStep, now_ms: i64) -> StoreResult<Vec<Item>> {
    let chat = step.chat_id.as_str();
    w.open_contact(chat)?;
    let moved = w
        .conn
        .prepare_cached(
            "UPDATE flow_runs SET version = version + 1, state = ?3, wake_at = ?4
             WHERE chat_id = ?1 AND version = ?2",
        )
        .map_err(backend)?
        .execute(params![
            chat,
            step.version,
            step.state,
            step.wake_at.map(to_millis)
        ])
        .map_err(backend)?;
    if moved == 0 {
        return Err(StoreError::RunMoved);
    }
    if !step.attributes.is_empty() {
        update_attributes(w, chat, step.attributes, step.max_attribute_bytes, now_ms)?;
    }
    if let Some(queue) = &step.enqueue {
        requeue_contact(w, chat, queue, now_ms)?;
    }
    if step.leave_queue {
        w.conn
            .prepare_cached(
                "UPDATE contacts SET queue_id = NULL, updated_at = ?2
                 WHERE initial_contact_id = ?1 AND next_contact_id IS NULL",
            )
            .map_err(backend)?
            .execute(params![chat, now_ms])
            .map_err(backend)?;
    }
    let mut n: i64 = w
        .conn
        .prepare_cached("SELECT COALESCE(MAX(n), 0) FROM flow_log WHERE chat_id = ?1")
        .map_err(backend)?
        .query_row([chat], |r| r.get(0))
        .map_err(backend)?;
    for entry in &step.log {
        n += 1;
        w.conn
            .prepare_cached(
                "INSERT INTO flow_log (chat_id, n, at, flow_id, action, type, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(backend)?
            .execute(params![
                chat,
                n,
                to_millis(entry.at),
                entry.flow_id,
                entry.action,
                entry.action_type,
                entry.outcome
            ])
            .map_err(backend)?;
    }
    let mut items = Vec::with_capacity(step.items.len() + 1);
    for item in step.items {
        items.push(w.append_new(chat, item, now_ms)?);
    }
    if let Some((ended, reason)) = step.end {
        items.push(w.end(chat, ended, Some(reason), now_ms)?);
    }
    Ok(items)
}

/// Inserts or replaces a contact flow made through the API.
pub fn put_contact_flow(w: &mut Writer, flow: &StoredFlow) -> StoreResult<()> {
    let taken: Option<String> = w
        .conn
        .prepare_cached("SELECT id FROM contact_flows WHERE instance_id = ?1 AND name = ?2")
        .map_err(backend)?
        .query_row(params![flow.instance_id, flow.name], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if taken.is_some_and(|id| id != flow.id) {
        return Err(StoreError::FlowNameTaken(flow.name.clone()));
    }
    w.conn
        .prepare_cached(
            "INSERT INTO contact_flows (instance_id, id, name, type, description, content, status,
                                        state, tags, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
                type = excluded.type, description = excluded.description,
                content = excluded.content, status = excluded.status, state = excluded.state,
                tags = excluded.tags, updated_at = excluded.updated_at",
        )
        .map_err(backend)?
        .execute(params![
            flow.instance_id,
            flow.id,
            flow.name,
            flow.flow_type,
            flow.description,
            flow.content,
            flow.status,
            flow.state,
            json_text(&flow.tags),
            to_millis(flow.updated_at),
        ])
        .map_err(backend)?;
    Ok(())
}

/// Inserts or replaces hours of operation made through the API.
pub fn put_hours_of_operation(w: &mut Writer, hours: &StoredHours) -> StoreResult<()> {
    let taken: Option<String> = w
        .conn
        .prepare_cached("SELECT id FROM hours_of_operation WHERE instance_id = ?1 AND name = ?2")
        .map_err(backend)?
        .query_row(params![hours.instance_id, hours.name], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if taken.is_some_and(|id| id != hours.id) {
        return Err(StoreError::HoursNameTaken(hours.name.clone()));
    }
    w.conn
        .prepare_cached(
            "INSERT INTO hours_of_operation (instance_id, id, name, description, time_zone, config,
                                             tags, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
                description = excluded.description, time_zone = excluded.time_zone,
                config = excluded.config, tags = excluded.tags, updated_at = excluded.updated_at",
        )
        .map_err(backend)?
        .execute(params![
            hours.instance_id,
            hours.id,
            hours.name,
            hours.description,
            hours.time_zone,
            json_text(&hours.config),
            json_text(&hours.tags),
            to_millis(hours.updated_at),
        ])
        .map_err(backend)?;
    Ok(())
}

/// Inserts or replaces a quick connect made through the API.
pub fn put_quick_connect(w: &mut Writer, quick: &StoredQuickConnect) -> StoreResult<()> {
    let taken: Option<String> = w
        .conn
        .prepare_cached("SELECT id FROM quick_connects WHERE instance_id = ?1 AND name = ?2")
        .map_err(backend)?
        .query_row(params![quick.instance_id, quick.name], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if taken.is_some_and(|id| id != quick.id) {
        return Err(StoreError::QuickConnectNameTaken(quick.name.clone()));
    }
    w.conn
        .prepare_cached(
            "INSERT INTO quick_connects (instance_id, id, name, description, target, tags,
                                         updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (instance_id, id) DO UPDATE SET name = excluded.name,
                description = excluded.description, target = excluded.target,
                tags = excluded.tags, updated_at = excluded.updated_at",
        )
        .map_err(backend)?
        .execute(params![
            quick.instance_id,
            quick.id,
            quick.name,
            quick.description,
            json_text(&quick.target),
            json_text(&quick.tags),
            to_millis(quick.updated_at),
        ])
        .map_err(backend)?;
    Ok(())
}

/// Associates quick connects with a queue, or takes the associations away.
pub fn associate_quick_connects(
    w: &mut Writer,
    instance_id: &str,
    queue_id: &str,
    quick_connect_ids: &[String],
    associate: bool,
) -> StoreResult<()> {
    let sql = if associate {
        "INSERT INTO queue_quick_connects (instance_id, queue_id, quick_connect_id)
         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM queue_quick_connects
         WHERE instance_id = ?1 AND queue_id = ?2 AND quick_connect_id = ?3"
    };
    let mut statement = w.conn.prepare_cached(sql).map_err(backend)?;
    for id in quick_connect_ids {
        statement
            .execute(params![instance_id, queue_id, id])
            .map_err(backend)?;
    }
    Ok(())
}

/// Deletes a quick connect made through the API and its associations with queues.
pub fn delete_quick_connect(w: &mut Writer, instance_id: &str, id: &str) -> StoreResult<bool> {
    w.conn
        .prepare_cached(
            "DELETE FROM queue_quick_connects WHERE instance_id = ?1 AND quick_connect_id = ?2",
        )
        .map_err(backend)?
        .execute(params![instance_id, id])
        .map_err(backend)?;
    delete_owned(w, "quick_connects", instance_id, id)
}

/// Deletes a row an instance owns (a contact flow, hours of operation or a quick connect made
/// through the API);
/// false if there was none.
pub fn delete_owned(
    w: &mut Writer,
    table: &'static str,
    instance_id: &str,
    id: &str,
) -> StoreResult<bool> {
    let deleted = w
        .conn
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE instance_id = ?1 AND id = ?2"
        ))
        .map_err(backend)?
        .execute(params![instance_id, id])
        .map_err(backend)?;
    Ok(deleted > 0)
}

// ---- streaming ----------------------------------------------------------------------------------
