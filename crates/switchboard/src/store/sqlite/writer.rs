//! The SQLite writer: one OS thread that owns the only writing connection.
//!
//! It takes every write waiting in its queue, runs them in one transaction (each write that may
//! issue several statements inside its own savepoint, so one failing write does not undo the
//! others), commits once and only then answers the callers: a burst of concurrent requests shares
//! one fsync, and a caller that got `Ok` knows its write survives a crash. Being the only writer,
//! it keeps each contact's next sequence number and ended flag, and each participant's presence,
//! in memory: appending a message is then a single INSERT. Running on its own thread with a
//! synchronous connection costs one thread hand-off per batch rather than one per statement.
//!
//! It also keeps, for contacts that stream, their active streams: every item appended to such a
//! contact is copied into each stream's outbox by the same transaction (see [`crate::streaming`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::super::{StoreError, StoreResult};
use super::checkpoint::Checkpoints;
use crate::chat::model::{
    receipt_event_fields, Item, ItemType, NewItem, OutboxEntry, Receipt, ReceiptKind, Stream,
};
use crate::clock::{from_millis, to_millis, SharedClock};
use crate::store::{
    admit_stream, retried_stream, Departed, Departure, NewContact, NewParticipant, NewReceipt,
    NewStream, ReceiptRecorded, StreamStarted,
};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many contacts and participants the writer remembers before starting afresh.
const MAX_REMEMBERED: usize = 200_000;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialisable")
}

pub struct Writer {
    conn: Connection,
    cursors: HashMap<String, Cursor>,
    /// The active streams (ids) of contacts whose cursor says they stream.
    streams: HashMap<String, Vec<String>>,
    /// Participants known to be on (false) or gone from (true) their contact.
    departed: HashMap<String, bool>,
    /// Contacts whose cursor the current write changed; forgotten if that write is undone.
    touched: Vec<String>,
}

/// Where a contact's transcript stands.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    last_seq: i64,
    last_at: i64,
    ended: bool,
    /// Whether the contact has active streams (then listed in `Writer::streams`).
    streamed: bool,
}

type WriteFn<T> = Box<dyn FnOnce(&mut Writer, i64) -> StoreResult<T> + Send>;

struct Job<T> {
    run: Option<WriteFn<T>>,
    several_statements: bool,
    result: Option<StoreResult<T>>,
    reply: Option<oneshot::Sender<StoreResult<T>>>,
}

trait PendingWrite: Send {
    fn several_statements(&self) -> bool;
    fn run(&mut self, writer: &mut Writer, now_ms: i64) -> bool;
    fn complete(self: Box<Self>, commit_failure: Option<&str>);
}

impl<T: Send + 'static> PendingWrite for Job<T> {
    fn several_statements(&self) -> bool {
        self.several_statements
    }

    fn run(&mut self, writer: &mut Writer, now_ms: i64) -> bool {
        let Some(run) = self.run.take() else {
            return false;
        };
        let result = run(writer, now_ms);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn complete(mut self: Box<Self>, commit_failure: Option<&str>) {
        let result = match (commit_failure, self.result.take()) {
            (Some(why), Some(Ok(_))) => Err(StoreError::Backend(format!("commit failed: {why}"))),
            (_, Some(result)) => result,
            (Some(why), None) => Err(StoreError::Backend(format!("transaction failed: {why}"))),
            (None, None) => Err(StoreError::Backend("write was not run".into())),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        }
    }
}

/// The queue into the writer thread.
#[derive(Clone)]
pub struct WriteQueue {
    sender: mpsc::Sender<Box<dyn PendingWrite>>,
}

impl WriteQueue {
    /// Opens the writing connection on `path` and starts the writer thread.
    pub fn start(path: &Path, clock: SharedClock) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )?;
        let checkpoints = Checkpoints::start(path, &conn)?;
        let (sender, queue) = mpsc::channel(8192);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, queue, clock, checkpoints))?;
        Ok(Self { sender })
    }

    /// Queues a write; `several_statements` writes are undone whole if they fail.
    pub async fn submit<T: Send + 'static>(
        &self,
        several_statements: bool,
        run: impl FnOnce(&mut Writer, i64) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            run: Some(Box::new(run)),
            several_statements,
            result: None,
            reply: Some(reply),
        };
        self.sender
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the writer stopped".into()))?
    }
}

fn run_writer(
    conn: Connection,
    mut queue: mpsc::Receiver<Box<dyn PendingWrite>>,
    clock: SharedClock,
    checkpoints: Checkpoints,
) {
    let mut writer = Writer {
        conn,
        cursors: HashMap::new(),
        streams: HashMap::new(),
        departed: HashMap::new(),
        touched: Vec::new(),
    };
    let mut batch: Vec<Box<dyn PendingWrite>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if writer.cursors.len() > MAX_REMEMBERED || writer.departed.len() > MAX_REMEMBERED {
            writer.forget_everything();
        }
        let now_ms = to_millis(clock.now());
        let failure = run_batch(&mut writer, &mut batch, now_ms)
            .err()
            .map(|e| e.to_string());
        if let Some(why) = &failure {
            tracing::error!(error = %why, writes = batch.len(), "store transaction failed");
            // Nothing of this batch was kept; what the writer remembered may be ahead of the file.
            writer.forget_everything();
            let _ = writer.conn.execute_batch("ROLLBACK");
        }
        for job in batch.drain(..) {
            job.complete(failure.as_deref());
        }
        checkpoints.after_batch(&writer.conn);
    }
}

fn run_batch(
    w: &mut Writer,
    batch: &mut [Box<dyn PendingWrite>],
    now_ms: i64,
) -> rusqlite::Result<()> {
    w.conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        w.touched.clear();
        if job.several_statements() {
            w.conn.execute_batch("SAVEPOINT write")?;
            if job.run(w, now_ms) {
                w.conn.execute_batch("RELEASE write")?;
            } else {
                w.conn.execute_batch("ROLLBACK TO write; RELEASE write")?;
                w.forget_touched();
            }
        } else if !job.run(w, now_ms) {
            w.forget_touched();
        }
    }
    w.conn.execute_batch("COMMIT")
}

impl Writer {
    fn forget_touched(&mut self) {
        for contact in self.touched.drain(..) {
            self.cursors.remove(&contact);
            self.streams.remove(&contact);
        }
        self.departed.clear();
    }

    fn forget_everything(&mut self) {
        self.cursors.clear();
        self.streams.clear();
        self.departed.clear();
        self.touched.clear();
    }

    /// The contact's cursor, loaded from the file the first time.
    fn cursor(&mut self, contact_id: &str) -> StoreResult<&mut Cursor> {
        if !self.cursors.contains_key(contact_id) {
            let cursor = self
                .conn
                .prepare_cached(
                    "SELECT c.ended_at IS NOT NULL, COALESCE(last.seq, 0), COALESCE(last.absolute_time, 0),
                            EXISTS (SELECT 1 FROM streams s WHERE s.contact_id = ?1 AND s.stopped_at IS NULL)
                     FROM contacts c
                     LEFT JOIN (SELECT seq, absolute_time FROM items WHERE contact_id = ?1
                                ORDER BY seq DESC LIMIT 1) last ON 1
                     WHERE c.id = ?1",
                )
                .map_err(backend)?
                .query_row([contact_id], |r| {
                    Ok(Cursor {
                        ended: r.get(0)?,
                        last_seq: r.get(1)?,
                        last_at: r.get(2)?,
                        streamed: r.get(3)?,
                    })
                })
                .optional()
                .map_err(backend)?
                .ok_or(StoreError::ContactNotFound)?;
            self.cursors.insert(contact_id.to_string(), cursor);
            if cursor.streamed {
                self.load_streams(contact_id)?;
            }
        }
        Ok(self.cursors.get_mut(contact_id).expect("just loaded"))
    }

    /// Refuses a contact that has ended (or does not exist).
    fn open_contact(&mut self, contact_id: &str) -> StoreResult<()> {
        if self.cursor(contact_id)?.ended {
            return Err(StoreError::ContactEnded);
        }
        Ok(())
    }

    /// Whether a participant has left, loaded from the file the first time.
    fn has_departed(&mut self, participant_id: &str) -> StoreResult<bool> {
        if let Some(departed) = self.departed.get(participant_id) {
            return Ok(*departed);
        }
        let left: Option<i64> = self
            .conn
            .prepare_cached("SELECT left_at FROM participants WHERE id = ?1")
            .map_err(backend)?
            .query_row([participant_id], |r| r.get(0))
            .optional()
            .map_err(backend)?
            .ok_or(StoreError::ParticipantNotFound)?;
        self.departed
            .insert(participant_id.to_string(), left.is_some());
        Ok(left.is_some())
    }

    /// Gives `item` the contact's next sequence number and a time strictly after the previous
    /// item's, and inserts it. `None` when the sender's client token was used before.
    fn append(
        &mut self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Option<Item>> {
        let c = *self.cursor(contact_id)?;
        if c.streamed {
            // The item and its outbox rows stand or fall together, even inside a write that
            // runs without a savepoint of its own (a plain append).
            self.conn
                .execute_batch("SAVEPOINT streamed_item")
                .map_err(backend)?;
            let appended = self.append_at(contact_id, c, item, client_token, now_ms);
            let end = if appended.is_ok() {
                "RELEASE streamed_item"
            } else {
                "ROLLBACK TO streamed_item; RELEASE streamed_item"
            };
            self.conn.execute_batch(end).map_err(backend)?;
            return appended;
        }
        self.append_at(contact_id, c, item, client_token, now_ms)
    }

    /// [`Writer::append`] at the contact's cursor `c`.
    fn append_at(
        &mut self,
        contact_id: &str,
        c: Cursor,
        item: NewItem,
        client_token: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Option<Item>> {
        let (seq, at) = (c.last_seq + 1, now_ms.max(c.last_at + 1));
        let sender = item.sender.as_ref();
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                                    display_name, participant_role, absolute_time, client_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (participant_id, client_token) WHERE client_token IS NOT NULL DO NOTHING",
            )
            .map_err(backend)?
            .execute(params![
                contact_id,
                seq,
                item.id,
                item.item_type.as_str(),
                item.content_type,
                item.content,
                sender.map(|s| s.participant_id.as_str()),
                sender.map(|s| s.display_name.as_str()),
                sender.map(|s| s.role.as_str()),
                at,
                client_token,
            ])
            .map_err(backend)?;
        if inserted == 0 {
            return Ok(None);
        }
        let cursor = self.cursors.get_mut(contact_id).expect("loaded above");
        cursor.last_seq = seq;
        cursor.last_at = at;
        self.touched.push(contact_id.to_string());
        let item = Item {
            contact_id: contact_id.to_string(),
            seq,
            id: item.id,
            item_type: item.item_type,
            content_type: item.content_type,
            content: item.content,
            sender: item.sender,
            absolute_time: from_millis(at),
        };
        if c.streamed {
            self.enqueue(contact_id, &item.id, None, None)?;
        }
        Ok(Some(item))
    }

    /// Reads the contact's active streams into memory (after its cursor, or a change of them).
    fn load_streams(&mut self, contact_id: &str) -> StoreResult<()> {
        let stream_ids = self
            .conn
            .prepare_cached(
                "SELECT id FROM streams WHERE contact_id = ?1 AND stopped_at IS NULL
                 ORDER BY started_at, id",
            )
            .map_err(backend)?
            .query_map([contact_id], |r| r.get::<_, String>(0))
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        if let Some(cursor) = self.cursors.get_mut(contact_id) {
            cursor.streamed = !stream_ids.is_empty();
        }
        if stream_ids.is_empty() {
            self.streams.remove(contact_id);
        } else {
            self.streams.insert(contact_id.to_string(), stream_ids);
        }
        self.touched.push(contact_id.to_string());
        Ok(())
    }

    /// Puts an item in the outbox of each of the contact's active streams, or of `only` that
    /// one. `event` holds the fields of an item the transcript does not keep.
    fn enqueue(
        &mut self,
        contact_id: &str,
        item_id: &str,
        event: Option<&str>,
        only: Option<&str>,
    ) -> StoreResult<()> {
        let Some(stream_ids) = self.streams.get(contact_id) else {
            return Ok(());
        };
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT INTO stream_outbox (stream_id, item_id, event) VALUES (?1, ?2, ?3)",
            )
            .map_err(backend)?;
        for stream_id in stream_ids {
            if only.is_none_or(|only| only == stream_id) {
                insert
                    .execute(params![stream_id, item_id, event])
                    .map_err(backend)?;
            }
        }
        Ok(())
    }

    /// Appends an item the server itself produces (no client token, so it always goes in).
    fn append_new(&mut self, contact_id: &str, item: NewItem, now_ms: i64) -> StoreResult<Item> {
        self.append(contact_id, item, None, now_ms)?
            .ok_or_else(|| StoreError::Backend("item without client token was refused".into()))
    }

    fn insert_participant(
        &mut self,
        p: &crate::chat::model::Participant,
        client_token: Option<&str>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO participants (id, contact_id, role, display_name, client_token, joined_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(backend)?
            .execute(params![p.id, p.contact_id, p.role.as_str(), p.display_name, client_token, to_millis(p.joined_at)])
            .map_err(backend)?;
        self.departed.insert(p.id.clone(), false);
        Ok(())
    }

    fn end(
        &mut self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
        now_ms: i64,
    ) -> StoreResult<Item> {
        self.conn
            .prepare_cached("UPDATE contacts SET ended_at = ?1, updated_at = ?1, disconnect_reason = ?2 WHERE id = ?3")
            .map_err(backend)?
            .execute(params![now_ms, reason, contact_id])
            .map_err(backend)?;
        let item = self.append_new(contact_id, ended, now_ms)?;
        let cursor = self.cursors.get_mut(contact_id).expect("appended");
        cursor.ended = true;
        if cursor.streamed {
            // chat.ended went into the outboxes above: the streams finish with it.
            self.conn
                .prepare_cached(
                    "UPDATE streams SET stopped_at = ?1, stop_reason = 'CHAT_ENDED'
                     WHERE contact_id = ?2 AND stopped_at IS NULL",
                )
                .map_err(backend)?
                .execute(params![now_ms, contact_id])
                .map_err(backend)?;
            self.load_streams(contact_id)?;
        }
        Ok(item)
    }
}

// ---- the write operations ---------------------------------------------------------------------

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
                "UPDATE contacts SET agent_id = ?1, connected_to_agent_at = ?2, updated_at = ?2 WHERE id = ?3",
            )
            .map_err(backend)?
            .execute(params![user_id, to_millis(new.participant.joined_at), contact_id])
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

pub fn record_receipt(w: &mut Writer, r: &NewReceipt, now_ms: i64) -> StoreResult<ReceiptRecorded> {
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
            return Ok(ReceiptRecorded {
                event_id,
                at: from_millis(at),
                receipt: receipt_of(w, &message_id)?,
                existing: true,
            });
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
    Ok(ReceiptRecorded {
        event_id: r.event_id.clone(),
        at: from_millis(now_ms),
        receipt,
        existing: false,
    })
}

pub fn depart(w: &mut Writer, d: &Departure, now_ms: i64) -> StoreResult<Departed> {
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
        return if d.client_token.is_some() && left_token == d.client_token {
            Ok(Departed {
                items: Vec::new(),
                existing: true,
            })
        } else {
            Err(StoreError::ParticipantLeft)
        };
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
    let mut items = vec![w.append_new(&contact_id, d.left.clone(), now_ms)?];
    if let Some(ended) = &d.ended {
        items.push(w.end(
            &contact_id,
            ended.clone(),
            d.disconnect_reason.clone(),
            now_ms,
        )?);
    }
    Ok(Departed {
        items,
        existing: false,
    })
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
    let mut merged: BTreeMap<String, String> = serde_json::from_str(&current)
        .map_err(|e| StoreError::Backend(format!("attributes: {e}")))?;
    merged.extend(attributes);
    let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > max_bytes {
        return Err(StoreError::AttributesTooLarge(max_bytes));
    }
    w.conn
        .prepare_cached("UPDATE contacts SET attributes = ?1, updated_at = ?2 WHERE id = ?3")
        .map_err(backend)?
        .execute(params![json_text(&merged), now_ms, contact_id])
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
    contact_id: &str,
    queue_id: &str,
    at_ms: i64,
) -> StoreResult<()> {
    w.conn
        .prepare_cached(
            "UPDATE contacts SET queue_id = ?1, enqueued_at = ?2, agent_id = NULL,
                                 connected_to_agent_at = NULL, updated_at = ?2
             WHERE id = ?3 AND ended_at IS NULL",
        )
        .map_err(backend)?
        .execute(params![queue_id, at_ms, contact_id])
        .map_err(backend)?;
    Ok(())
}

// ---- streaming ----------------------------------------------------------------------------------

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

fn insert_stream(w: &mut Writer, new: &NewStream, with_contact: bool) -> StoreResult<()> {
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

pub fn start_stream(w: &mut Writer, new: &NewStream) -> StoreResult<StreamStarted> {
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
    Ok(StreamStarted {
        stream: new.stream.clone(),
        existing: false,
    })
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
