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

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::super::{StoreError, StoreResult};
use super::checkpoint::Checkpoints;
use crate::clock::{from_millis, to_millis, SharedClock};
use crate::model::{Item, NewItem};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many contacts and participants the writer remembers before starting afresh.
const MAX_REMEMBERED: usize = 200_000;

pub(super) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialisable")
}

pub struct Writer {
    pub(super) conn: Connection,
    pub(super) cursors: HashMap<String, Cursor>,
    /// The active streams (ids) of contacts whose cursor says they stream.
    pub(super) streams: HashMap<String, Vec<String>>,
    /// Participants known to be on (false) or gone from (true) their contact.
    pub(super) departed: HashMap<String, bool>,
    /// Contacts whose cursor the current write changed; forgotten if that write is undone.
    pub(super) touched: Vec<String>,
}

/// Where a contact's transcript stands.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub(super) last_seq: i64,
    pub(super) last_at: i64,
    pub(super) ended: bool,
    /// Whether the contact has active streams (then listed in `Writer::streams`).
    pub(super) streamed: bool,
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
    pub(super) fn forget_touched(&mut self) {
        for contact in self.touched.drain(..) {
            self.cursors.remove(&contact);
            self.streams.remove(&contact);
        }
        self.departed.clear();
    }

    pub(super) fn forget_everything(&mut self) {
        self.cursors.clear();
        self.streams.clear();
        self.departed.clear();
        self.touched.clear();
    }

    /// The contact's cursor, loaded from the file the first time.
    pub(super) fn cursor(&mut self, contact_id: &str) -> StoreResult<&mut Cursor> {
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
    pub(super) fn open_contact(&mut self, contact_id: &str) -> StoreResult<()> {
        if self.cursor(contact_id)?.ended {
            return Err(StoreError::ContactEnded);
        }
        Ok(())
    }

    /// Whether a participant has left, loaded from the file the first time.
    pub(super) fn has_departed(&mut self, participant_id: &str) -> StoreResult<bool> {
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
    pub(super) fn append(
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
    pub(super) fn append_at(
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
    pub(super) fn load_streams(&mut self, contact_id: &str) -> StoreResult<()> {
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
    pub(super) fn enqueue(
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
    pub(super) fn append_new(
        &mut self,
        contact_id: &str,
        item: NewItem,
        now_ms: i64,
    ) -> StoreResult<Item> {
        self.append(contact_id, item, None, now_ms)?
            .ok_or_else(|| StoreError::Backend("item without client token was refused".into()))
    }

    pub(super) fn insert_participant(
        &mut self,
        p: &crate::model::Participant,
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

    pub(super) fn end(
        &mut self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
        now_ms: i64,
    ) -> StoreResult<Item> {
        self.conn
            .prepare_cached(
                // The chat's row and its current contact's, if a transfer made one.
                "UPDATE contacts SET ended_at = ?1, updated_at = ?1, disconnect_reason = ?2
                 WHERE initial_contact_id = ?3 AND ended_at IS NULL",
            )
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
