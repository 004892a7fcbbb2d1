//! The embedded SQLite store: WAL journal, `synchronous = FULL`, and group commit.
//!
//! All writes go through one writer task that owns the only writing connection. It takes every
//! write waiting in its queue, runs each inside its own savepoint of one transaction (so one
//! failing write does not undo the others), commits once and only then answers the callers. A
//! burst of concurrent requests therefore shares one fsync, and a caller that got `Ok` knows its
//! write survives a crash. Reads use a separate pool of read-only connections, which WAL lets run
//! beside the writer.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::chat::model::{ContactDetails, ItemType, Role, Sender};
use crate::clock::{from_millis, to_millis, SharedClock};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 512;

pub struct SqliteStore {
    writes: mpsc::Sender<Box<dyn PendingWrite>>,
    reads: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path, clock: SharedClock) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut conn = SqliteConnection::connect_with(&options).await?;
        MIGRATOR.run(&mut conn).await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (writes, queue) = mpsc::channel(4096);
        tokio::spawn(run_writer(conn, queue, clock));
        Ok(Self { writes, reads })
    }

    /// Queues a write that may issue several statements (undone whole if it fails).
    async fn write<T: Send + 'static>(
        &self,
        run: impl for<'c> FnOnce(&'c mut Writer, i64) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        self.queue(true, Box::new(run)).await
    }

    async fn queue<T: Send + 'static>(
        &self,
        several_statements: bool,
        run: WriteFn<T>,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            run: Some(run),
            several_statements,
            result: None,
            reply: Some(reply),
        };
        self.writes
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the writer stopped".into()))?
    }
}

// ---- the writer ---------------------------------------------------------------------------

/// The writer task's state: the only writing connection, and what it knows for certain about the
/// contacts it writes to. Being the only writer, it can keep each contact's next sequence number
/// and ended flag in memory, so appending a message is a single INSERT.
pub(super) struct Writer {
    conn: SqliteConnection,
    cursors: HashMap<String, Cursor>,
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
}

/// How many contacts and participants the writer remembers before starting afresh.
const MAX_REMEMBERED: usize = 200_000;

impl Writer {
    fn forget_touched(&mut self) {
        for contact in self.touched.drain(..) {
            self.cursors.remove(&contact);
        }
        self.departed.clear();
    }

    fn forget_everything(&mut self) {
        self.cursors.clear();
        self.departed.clear();
        self.touched.clear();
    }
}

type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut Writer, i64) -> BoxFuture<'c, StoreResult<T>> + Send>;

struct Job<T> {
    run: Option<WriteFn<T>>,
    /// Whether the write may issue several statements and so needs a savepoint to be undone
    /// whole; a single-statement write is undone by SQLite itself when it fails.
    several_statements: bool,
    result: Option<StoreResult<T>>,
    reply: Option<oneshot::Sender<StoreResult<T>>>,
}

trait PendingWrite: Send {
    fn several_statements(&self) -> bool;
    /// Runs the write; returns whether it succeeded.
    fn run<'c>(&'c mut self, writer: &'c mut Writer, now_ms: i64) -> BoxFuture<'c, bool>;
    /// Answers the caller once the transaction's fate is known.
    fn complete(self: Box<Self>, commit_failure: Option<&str>);
}

impl<T: Send + 'static> PendingWrite for Job<T> {
    fn several_statements(&self) -> bool {
        self.several_statements
    }

    fn run<'c>(&'c mut self, writer: &'c mut Writer, now_ms: i64) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(run) = self.run.take() else {
                return false;
            };
            let result = run(writer, now_ms).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
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

async fn run_writer(
    conn: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn PendingWrite>>,
    clock: SharedClock,
) {
    let mut writer = Writer {
        conn,
        cursors: HashMap::new(),
        departed: HashMap::new(),
        touched: Vec::new(),
    };
    let mut batch: Vec<Box<dyn PendingWrite>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
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
        let outcome = run_batch(&mut writer, &mut batch, now_ms).await;
        let failure = outcome.err().map(|e| e.to_string());
        if let Some(why) = &failure {
            tracing::error!(error = %why, writes = batch.len(), "store transaction failed");
            // Nothing of this batch was kept; what the writer remembered may be ahead of the file.
            writer.forget_everything();
            let _ = sqlx::query("ROLLBACK").execute(&mut writer.conn).await;
        }
        for job in batch.drain(..) {
            job.complete(failure.as_deref());
        }
    }
    let _ = writer.conn.close().await;
}

/// Runs a batch in one transaction: each write that may issue several statements inside its own
/// savepoint, so that a failing write is undone whole without undoing the others.
async fn run_batch(
    writer: &mut Writer,
    batch: &mut [Box<dyn PendingWrite>],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer.conn)
        .await?;
    for job in batch.iter_mut() {
        writer.touched.clear();
        if job.several_statements() {
            sqlx::query("SAVEPOINT write")
                .execute(&mut writer.conn)
                .await?;
            if job.run(writer, now_ms).await {
                sqlx::query("RELEASE write")
                    .execute(&mut writer.conn)
                    .await?;
            } else {
                sqlx::query("ROLLBACK TO write")
                    .execute(&mut writer.conn)
                    .await?;
                sqlx::query("RELEASE write")
                    .execute(&mut writer.conn)
                    .await?;
                writer.forget_touched();
            }
        } else if !job.run(writer, now_ms).await {
            writer.forget_touched();
        }
    }
    sqlx::query("COMMIT").execute(&mut writer.conn).await?;
    Ok(())
}

// ---- write operations (run inside the writer's transaction) -------------------------------

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialisable")
}

/// The contact's cursor, loaded from the file the first time.
async fn cursor<'w>(w: &'w mut Writer, contact_id: &str) -> StoreResult<&'w mut Cursor> {
    if !w.cursors.contains_key(contact_id) {
        let row = sqlx::query(
            "SELECT ended_at IS NOT NULL AS ended,
                    (SELECT COALESCE(MAX(seq), 0) FROM items WHERE contact_id = ?1) AS last_seq,
                    (SELECT COALESCE(MAX(absolute_time), 0) FROM items WHERE contact_id = ?1) AS last_at
             FROM contacts WHERE id = ?1",
        )
        .bind(contact_id)
        .fetch_optional(&mut w.conn)
        .await
        .map_err(backend)?
        .ok_or(StoreError::ContactNotFound)?;
        w.cursors.insert(
            contact_id.to_string(),
            Cursor {
                last_seq: row.get("last_seq"),
                last_at: row.get("last_at"),
                ended: row.get("ended"),
            },
        );
    }
    Ok(w.cursors.get_mut(contact_id).expect("just loaded"))
}

/// Whether a participant has left, loaded from the file the first time.
async fn has_departed(w: &mut Writer, participant_id: &str) -> StoreResult<bool> {
    if let Some(departed) = w.departed.get(participant_id) {
        return Ok(*departed);
    }
    let left: Option<Option<i64>> =
        sqlx::query_scalar("SELECT left_at FROM participants WHERE id = ?1")
            .bind(participant_id)
            .fetch_optional(&mut w.conn)
            .await
            .map_err(backend)?;
    let departed = left.ok_or(StoreError::ParticipantNotFound)?.is_some();
    w.departed.insert(participant_id.to_string(), departed);
    Ok(departed)
}

/// Refuses a contact that has ended (or does not exist).
async fn open_contact(w: &mut Writer, contact_id: &str) -> StoreResult<()> {
    if cursor(w, contact_id).await?.ended {
        return Err(StoreError::ContactEnded);
    }
    Ok(())
}

/// Gives `item` the contact's next sequence number and a time strictly after the previous item's,
/// and inserts it. `None` when the sender's client token was used before (nothing inserted).
async fn append(
    w: &mut Writer,
    contact_id: &str,
    item: NewItem,
    client_token: Option<&str>,
    now_ms: i64,
) -> StoreResult<Option<Item>> {
    let c = *cursor(w, contact_id).await?;
    let (seq, at) = (c.last_seq + 1, now_ms.max(c.last_at + 1));
    let sender = item.sender.as_ref();
    let inserted = sqlx::query(
        "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                            display_name, participant_role, absolute_time, client_token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
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
    .execute(&mut w.conn)
    .await
    .map_err(backend)?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    let cursor = w.cursors.get_mut(contact_id).expect("loaded above");
    cursor.last_seq = seq;
    cursor.last_at = at;
    w.touched.push(contact_id.to_string());
    Ok(Some(Item {
        contact_id: contact_id.to_string(),
        seq,
        id: item.id,
        item_type: item.item_type,
        content_type: item.content_type,
        content: item.content,
        sender: item.sender,
        absolute_time: from_millis(at),
    }))
}

/// Appends an item the server itself produces (no client token, so it always goes in).
async fn append_new(
    w: &mut Writer,
    contact_id: &str,
    item: NewItem,
    now_ms: i64,
) -> StoreResult<Item> {
    append(w, contact_id, item, None, now_ms)
        .await?
        .ok_or_else(|| StoreError::Backend("item without client token was refused".into()))
}

const CONTACT_COLUMNS: &str = "id, instance_id, initial_contact_id, contact_flow_id, queue_id,
    customer_participant_id, attributes, details, duration_minutes, initiated_at, enqueued_at,
    expires_at, ended_at, disconnect_reason, updated_at";

fn contact_from_row(row: &SqliteRow) -> StoreResult<Contact> {
    let attributes: String = row.get("attributes");
    let details: String = row.get("details");
    let millis = |name: &str| from_millis(row.get::<i64, _>(name));
    let opt_millis = |name: &str| row.get::<Option<i64>, _>(name).map(from_millis);
    Ok(Contact {
        id: row.get("id"),
        instance_id: row.get("instance_id"),
        initial_contact_id: row.get("initial_contact_id"),
        contact_flow_id: row.get("contact_flow_id"),
        queue_id: row.get("queue_id"),
        customer_participant_id: row.get("customer_participant_id"),
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Backend(format!("attributes: {e}")))?,
        details: serde_json::from_str::<ContactDetails>(&details)
            .map_err(|e| StoreError::Backend(format!("details: {e}")))?,
        duration_minutes: row.get("duration_minutes"),
        initiated_at: millis("initiated_at"),
        enqueued_at: opt_millis("enqueued_at"),
        expires_at: millis("expires_at"),
        ended_at: opt_millis("ended_at"),
        disconnect_reason: row.get("disconnect_reason"),
        updated_at: millis("updated_at"),
    })
}

fn participant_from_row(row: &SqliteRow) -> StoreResult<Participant> {
    let role: String = row.get("role");
    Ok(Participant {
        id: row.get("id"),
        contact_id: row.get("contact_id"),
        role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("role {role}")))?,
        display_name: row.get("display_name"),
        joined_at: from_millis(row.get("joined_at")),
        left_at: row.get::<Option<i64>, _>("left_at").map(from_millis),
    })
}

fn item_from_row(row: &SqliteRow) -> StoreResult<Item> {
    let item_type: String = row.get("type");
    let sender = match (
        row.get::<Option<String>, _>("participant_id"),
        row.get::<Option<String>, _>("display_name"),
        row.get::<Option<String>, _>("participant_role"),
    ) {
        (Some(participant_id), Some(display_name), Some(role)) => Some(Sender {
            participant_id,
            display_name,
            role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("role {role}")))?,
        }),
        _ => None,
    };
    Ok(Item {
        contact_id: row.get("contact_id"),
        seq: row.get("seq"),
        id: row.get("id"),
        item_type: ItemType::parse(&item_type)
            .ok_or_else(|| StoreError::Backend(format!("item type {item_type}")))?,
        content_type: row.get("content_type"),
        content: row.get("content"),
        sender,
        absolute_time: from_millis(row.get("absolute_time")),
    })
}

fn receipt_from_row(row: &SqliteRow) -> Receipt {
    Receipt {
        message_id: row.get("message_id"),
        recipient_participant_id: row.get("recipient_participant_id"),
        delivered_at: row.get::<Option<i64>, _>("delivered_at").map(from_millis),
        read_at: row.get::<Option<i64>, _>("read_at").map(from_millis),
    }
}

async fn load_contact(conn: &mut SqliteConnection, id: &str) -> StoreResult<Contact> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::ContactNotFound)?;
    contact_from_row(&row)
}

async fn load_participant(conn: &mut SqliteConnection, id: &str) -> StoreResult<Participant> {
    let row = sqlx::query("SELECT * FROM participants WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .ok_or(StoreError::ParticipantNotFound)?;
    participant_from_row(&row)
}

async fn insert_participant(
    conn: &mut SqliteConnection,
    p: &Participant,
    client_token: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO participants (id, contact_id, role, display_name, client_token, joined_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&p.id)
    .bind(&p.contact_id)
    .bind(p.role.as_str())
    .bind(&p.display_name)
    .bind(client_token)
    .bind(to_millis(p.joined_at))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn create_contact(w: &mut Writer, new: NewContact, now_ms: i64) -> StoreResult<Created> {
    let c = &new.contact;
    if let Some(token) = &new.client_token {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE instance_id = ?1 AND client_token = ?2",
        )
        .bind(&c.instance_id)
        .bind(token)
        .fetch_optional(&mut w.conn)
        .await
        .map_err(backend)?;
        if let Some(id) = existing {
            let contact = load_contact(&mut w.conn, &id).await?;
            let customer = load_participant(&mut w.conn, &contact.customer_participant_id).await?;
            return Ok(Created {
                contact,
                customer,
                items: Vec::new(),
                existing: true,
            });
        }
    }
    sqlx::query(
        "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id, queue_id,
            customer_participant_id, client_token, attributes, details, duration_minutes,
            initiated_at, enqueued_at, expires_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .bind(&c.id)
    .bind(&c.instance_id)
    .bind(&c.initial_contact_id)
    .bind(&c.contact_flow_id)
    .bind(&c.queue_id)
    .bind(&c.customer_participant_id)
    .bind(&new.client_token)
    .bind(json_text(&c.attributes))
    .bind(json_text(&c.details))
    .bind(c.duration_minutes)
    .bind(to_millis(c.initiated_at))
    .bind(c.enqueued_at.map(to_millis))
    .bind(to_millis(c.expires_at))
    .bind(to_millis(c.updated_at))
    .execute(&mut w.conn)
    .await
    .map_err(backend)?;
    insert_participant(&mut w.conn, &new.customer, None).await?;
    w.cursors.insert(
        c.id.clone(),
        Cursor {
            last_seq: 0,
            last_at: 0,
            ended: false,
        },
    );
    w.touched.push(c.id.clone());
    w.departed.insert(new.customer.id.clone(), false);
    let mut items = Vec::with_capacity(new.items.len());
    for item in new.items {
        items.push(append_new(w, &c.id, item, now_ms).await?);
    }
    Ok(Created {
        contact: new.contact,
        customer: new.customer,
        items,
        existing: false,
    })
}

async fn add_participant(w: &mut Writer, new: NewParticipant, now_ms: i64) -> StoreResult<Added> {
    let contact_id = new.participant.contact_id.clone();
    if let Some(token) = &new.client_token {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM participants WHERE contact_id = ?1 AND client_token = ?2",
        )
        .bind(&contact_id)
        .bind(token)
        .fetch_optional(&mut w.conn)
        .await
        .map_err(backend)?;
        if let Some(id) = existing {
            return Ok(Added {
                participant: load_participant(&mut w.conn, &id).await?,
                items: Vec::new(),
                existing: true,
            });
        }
    }
    open_contact(w, &contact_id).await?;
    insert_participant(&mut w.conn, &new.participant, new.client_token.as_deref()).await?;
    w.departed.insert(new.participant.id.clone(), false);
    let joined = append_new(w, &contact_id, new.joined, now_ms).await?;
    Ok(Added {
        participant: new.participant,
        items: vec![joined],
        existing: false,
    })
}

/// The hot path: with the contact and sender already known to the writer, one INSERT.
async fn append_item(
    w: &mut Writer,
    contact_id: String,
    item: NewItem,
    client_token: Option<String>,
    now_ms: i64,
) -> StoreResult<Appended> {
    let sender_id = item.sender.as_ref().map(|s| s.participant_id.clone());
    open_contact(w, &contact_id).await?;
    if let Some(sender) = &sender_id {
        if has_departed(w, sender).await? {
            return Err(StoreError::ParticipantLeft);
        }
    }
    if let Some(item) = append(w, &contact_id, item, client_token.as_deref(), now_ms).await? {
        return Ok(Appended {
            item,
            existing: false,
        });
    }
    // The client token was used before: answer with what it produced then.
    let row = sqlx::query("SELECT * FROM items WHERE participant_id = ?1 AND client_token = ?2")
        .bind(sender_id)
        .bind(client_token)
        .fetch_one(&mut w.conn)
        .await
        .map_err(backend)?;
    Ok(Appended {
        item: item_from_row(&row)?,
        existing: true,
    })
}

async fn record_receipt(
    w: &mut Writer,
    r: NewReceipt,
    now_ms: i64,
) -> StoreResult<ReceiptRecorded> {
    if let Some(token) = &r.client_token {
        let earlier = sqlx::query(
            "SELECT event_id, at, message_id FROM event_tokens WHERE participant_id = ?1 AND client_token = ?2",
        )
        .bind(&r.recipient_participant_id)
        .bind(token)
        .fetch_optional(&mut w.conn)
        .await
        .map_err(backend)?;
        if let Some(row) = earlier {
            let message_id: String = row.get("message_id");
            let receipt = sqlx::query(
                "SELECT * FROM receipts WHERE message_id = ?1 AND recipient_participant_id = ?2",
            )
            .bind(&message_id)
            .bind(&r.recipient_participant_id)
            .fetch_one(&mut w.conn)
            .await
            .map_err(backend)?;
            return Ok(ReceiptRecorded {
                event_id: row.get("event_id"),
                at: from_millis(row.get("at")),
                receipt: receipt_from_row(&receipt),
                existing: true,
            });
        }
    }
    open_contact(w, &r.contact_id).await?;
    let is_message: Option<String> =
        sqlx::query_scalar("SELECT type FROM items WHERE contact_id = ?1 AND id = ?2")
            .bind(&r.contact_id)
            .bind(&r.message_id)
            .fetch_optional(&mut w.conn)
            .await
            .map_err(backend)?;
    if is_message.as_deref() != Some(ItemType::Message.as_str()) {
        return Err(StoreError::MessageNotFound);
    }
    let read_at = matches!(r.kind, ReceiptKind::Read).then_some(now_ms);
    let row = sqlx::query(
        "INSERT INTO receipts (message_id, recipient_participant_id, delivered_at, read_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (message_id, recipient_participant_id) DO UPDATE SET
             delivered_at = COALESCE(delivered_at, excluded.delivered_at),
             read_at = COALESCE(read_at, excluded.read_at)
         RETURNING *",
    )
    .bind(&r.message_id)
    .bind(&r.recipient_participant_id)
    .bind(now_ms)
    .bind(read_at)
    .fetch_one(&mut w.conn)
    .await
    .map_err(backend)?;
    if let Some(token) = &r.client_token {
        sqlx::query(
            "INSERT INTO event_tokens (participant_id, client_token, event_id, at, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&r.recipient_participant_id)
        .bind(token)
        .bind(&r.event_id)
        .bind(now_ms)
        .bind(&r.message_id)
        .execute(&mut w.conn)
        .await
        .map_err(backend)?;
    }
    Ok(ReceiptRecorded {
        event_id: r.event_id,
        at: from_millis(now_ms),
        receipt: receipt_from_row(&row),
        existing: false,
    })
}

async fn end(
    w: &mut Writer,
    contact_id: &str,
    ended: NewItem,
    reason: Option<String>,
    now_ms: i64,
) -> StoreResult<Item> {
    sqlx::query(
        "UPDATE contacts SET ended_at = ?1, updated_at = ?1, disconnect_reason = ?2 WHERE id = ?3",
    )
    .bind(now_ms)
    .bind(reason)
    .bind(contact_id)
    .execute(&mut w.conn)
    .await
    .map_err(backend)?;
    let item = append_new(w, contact_id, ended, now_ms).await?;
    w.cursors.get_mut(contact_id).expect("appended").ended = true;
    Ok(item)
}

async fn depart(w: &mut Writer, d: Departure, now_ms: i64) -> StoreResult<Departed> {
    let row = sqlx::query(
        "SELECT contact_id, left_at, left_client_token FROM participants WHERE id = ?1",
    )
    .bind(&d.participant_id)
    .fetch_optional(&mut w.conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::ParticipantNotFound)?;
    let contact_id: String = row.get("contact_id");
    if row.get::<Option<i64>, _>("left_at").is_some() {
        let same_token = d.client_token.is_some()
            && row.get::<Option<String>, _>("left_client_token") == d.client_token;
        return if same_token {
            Ok(Departed {
                items: Vec::new(),
                existing: true,
            })
        } else {
            Err(StoreError::ParticipantLeft)
        };
    }
    open_contact(w, &contact_id).await?;
    sqlx::query("UPDATE participants SET left_at = ?1, left_client_token = ?2 WHERE id = ?3")
        .bind(now_ms)
        .bind(&d.client_token)
        .bind(&d.participant_id)
        .execute(&mut w.conn)
        .await
        .map_err(backend)?;
    w.departed.insert(d.participant_id.clone(), true);
    let mut items = vec![append_new(w, &contact_id, d.left, now_ms).await?];
    if let Some(ended) = d.ended {
        items.push(end(w, &contact_id, ended, d.disconnect_reason, now_ms).await?);
    }
    Ok(Departed {
        items,
        existing: false,
    })
}

async fn end_contact(
    w: &mut Writer,
    contact_id: String,
    ended: NewItem,
    reason: Option<String>,
    now_ms: i64,
) -> StoreResult<Option<Item>> {
    if cursor(w, &contact_id).await?.ended {
        return Ok(None);
    }
    end(w, &contact_id, ended, reason, now_ms).await.map(Some)
}

async fn update_attributes(
    w: &mut Writer,
    contact_id: String,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
    now_ms: i64,
) -> StoreResult<()> {
    let mut merged = load_contact(&mut w.conn, &contact_id).await?.attributes;
    merged.extend(attributes);
    let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > max_bytes {
        return Err(StoreError::AttributesTooLarge(max_bytes));
    }
    sqlx::query("UPDATE contacts SET attributes = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(json_text(&merged))
        .bind(now_ms)
        .bind(&contact_id)
        .execute(&mut w.conn)
        .await
        .map_err(backend)?;
    Ok(())
}

async fn secret(w: &mut Writer, name: String) -> StoreResult<Vec<u8>> {
    let existing: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
        .bind(&name)
        .fetch_optional(&mut w.conn)
        .await
        .map_err(backend)?;
    if let Some(value) = existing {
        return Ok(value);
    }
    let value: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    sqlx::query("INSERT INTO meta (name, value) VALUES (?1, ?2)")
        .bind(&name)
        .bind(&value)
        .execute(&mut w.conn)
        .await
        .map_err(backend)?;
    Ok(value)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_contact(&self, new: NewContact) -> StoreResult<Created> {
        self.write(move |w, now| Box::pin(create_contact(w, new, now)))
            .await
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Added> {
        self.write(move |w, now| Box::pin(add_participant(w, new, now)))
            .await
    }

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Appended> {
        let contact_id = contact_id.to_string();
        // One INSERT once the writer knows the contact and the sender; loading them is reads
        // only, so no savepoint is needed for this write to fail cleanly.
        self.queue(
            false,
            Box::new(move |w, now| Box::pin(append_item(w, contact_id, item, client_token, now))),
        )
        .await
    }

    async fn record_receipt(&self, receipt: NewReceipt) -> StoreResult<ReceiptRecorded> {
        self.write(move |w, now| Box::pin(record_receipt(w, receipt, now)))
            .await
    }

    async fn depart(&self, departure: Departure) -> StoreResult<Departed> {
        self.write(move |w, now| Box::pin(depart(w, departure, now)))
            .await
    }

    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>> {
        let contact_id = contact_id.to_string();
        self.write(move |w, now| Box::pin(end_contact(w, contact_id, ended, reason, now)))
            .await
    }

    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()> {
        let contact_id = contact_id.to_string();
        self.write(move |w, now| {
            Box::pin(update_attributes(w, contact_id, attributes, max_bytes, now))
        })
        .await
    }

    async fn contact(&self, contact_id: &str) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ?1"
        ))
        .bind(contact_id)
        .fetch_optional(&self.reads)
        .await
        .map_err(backend)?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn participant(&self, participant_id: &str) -> StoreResult<Option<Participant>> {
        let row = sqlx::query("SELECT * FROM participants WHERE id = ?1")
            .bind(participant_id)
            .fetch_optional(&self.reads)
            .await
            .map_err(backend)?;
        row.as_ref().map(participant_from_row).transpose()
    }

    async fn participants(&self, contact_id: &str) -> StoreResult<Vec<Participant>> {
        let rows =
            sqlx::query("SELECT * FROM participants WHERE contact_id = ?1 ORDER BY joined_at, id")
                .bind(contact_id)
                .fetch_all(&self.reads)
                .await
                .map_err(backend)?;
        rows.iter().map(participant_from_row).collect()
    }

    async fn items(&self, contact_id: &str, range: Range) -> StoreResult<Vec<Item>> {
        let (sql, from, limit) = match range {
            Range::Forward { from, limit } => (
                "SELECT * FROM items WHERE contact_id = ?1 AND seq >= ?2 ORDER BY seq ASC LIMIT ?3",
                from,
                limit,
            ),
            Range::Backward { from, limit } => (
                "SELECT * FROM items WHERE contact_id = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT ?3",
                from,
                limit,
            ),
        };
        let rows = sqlx::query(sql)
            .bind(contact_id)
            .bind(from)
            .bind(limit as i64)
            .fetch_all(&self.reads)
            .await
            .map_err(backend)?;
        rows.iter().map(item_from_row).collect()
    }

    async fn item(&self, contact_id: &str, item_id: &str) -> StoreResult<Option<Item>> {
        let row = sqlx::query("SELECT * FROM items WHERE contact_id = ?1 AND id = ?2")
            .bind(contact_id)
            .bind(item_id)
            .fetch_optional(&self.reads)
            .await
            .map_err(backend)?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn seq_at(
        &self,
        contact_id: &str,
        at: OffsetDateTime,
        forward: bool,
    ) -> StoreResult<Option<i64>> {
        let sql = if forward {
            "SELECT MIN(seq) FROM items WHERE contact_id = ?1 AND absolute_time >= ?2"
        } else {
            "SELECT MAX(seq) FROM items WHERE contact_id = ?1 AND absolute_time <= ?2"
        };
        sqlx::query_scalar(sql)
            .bind(contact_id)
            .bind(to_millis(at))
            .fetch_one(&self.reads)
            .await
            .map_err(backend)
    }

    async fn last_seq(&self, contact_id: &str) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM items WHERE contact_id = ?1) FROM contacts WHERE id = ?1",
        )
            .bind(contact_id)
            .fetch_optional(&self.reads)
            .await
            .map_err(backend)?;
        seq.ok_or(StoreError::ContactNotFound)
    }

    async fn receipts(&self, message_ids: &[String]) -> StoreResult<Vec<Receipt>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; message_ids.len()].join(", ");
        let sql = format!(
            "SELECT * FROM receipts WHERE message_id IN ({placeholders}) ORDER BY message_id, recipient_participant_id"
        );
        let mut query = sqlx::query(&sql);
        for id in message_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.reads).await.map_err(backend)?;
        Ok(rows.iter().map(receipt_from_row).collect())
    }

    async fn expired_contacts(&self, now: OffsetDateTime) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM contacts WHERE ended_at IS NULL AND expires_at <= ?1 LIMIT 1000",
        )
        .bind(to_millis(now))
        .fetch_all(&self.reads)
        .await
        .map_err(backend)
    }

    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        let name = name.to_string();
        self.write(move |w, _| Box::pin(secret(w, name))).await
    }

    async fn close(&self) {
        // Writes are answered in queue order, so once a no-op queued now is answered every write
        // queued before it has been committed.
        let _ = self.write(|_, _| Box::pin(async { Ok(()) })).await;
        self.reads.close().await;
    }
}
