//! The embedded SQLite store: WAL journal, `synchronous = FULL`, and group commit.
//!
//! All writes go through one writer task that owns the only writing connection. It takes every
//! write waiting in its queue, runs each inside its own savepoint of one transaction (so one
//! failing write does not undo the others), commits once and only then answers the callers. A
//! burst of concurrent requests therefore shares one fsync, and a caller that got `Ok` knows its
//! write survives a crash. Reads use a separate pool of read-only connections, which WAL lets run
//! beside the writer.

use std::collections::BTreeMap;
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

    async fn write<T: Send + 'static>(
        &self,
        run: impl for<'c> FnOnce(&'c mut SqliteConnection, i64) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            run: Some(Box::new(run)),
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

type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection, i64) -> BoxFuture<'c, StoreResult<T>> + Send>;

struct Job<T> {
    run: Option<WriteFn<T>>,
    result: Option<StoreResult<T>>,
    reply: Option<oneshot::Sender<StoreResult<T>>>,
}

trait PendingWrite: Send {
    /// Runs the write; returns whether it succeeded (and its savepoint should be kept).
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection, now_ms: i64) -> BoxFuture<'c, bool>;
    /// Answers the caller once the transaction's fate is known.
    fn complete(self: Box<Self>, commit_failure: Option<&str>);
}

impl<T: Send + 'static> PendingWrite for Job<T> {
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection, now_ms: i64) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(run) = self.run.take() else {
                return false;
            };
            let result = run(conn, now_ms).await;
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
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn PendingWrite>>,
    clock: SharedClock,
) {
    let mut batch: Vec<Box<dyn PendingWrite>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now_ms = to_millis(clock.now());
        let outcome = run_batch(&mut conn, &mut batch, now_ms).await;
        let failure = outcome.err().map(|e| e.to_string());
        if let Some(why) = &failure {
            tracing::error!(error = %why, writes = batch.len(), "store transaction failed");
        }
        for job in batch.drain(..) {
            job.complete(failure.as_deref());
        }
    }
    let _ = conn.close().await;
}

async fn run_batch(
    conn: &mut SqliteConnection,
    batch: &mut [Box<dyn PendingWrite>],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for job in batch.iter_mut() {
        let mut savepoint = tx.begin().await?;
        if job.run(&mut savepoint, now_ms).await {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
    }
    tx.commit().await
}

// ---- write operations (run inside the writer's transaction) -------------------------------

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialisable")
}

/// Gives `item` the contact's next sequence number and a time strictly after the previous item's.
async fn append(
    conn: &mut SqliteConnection,
    contact_id: &str,
    item: NewItem,
    client_token: Option<&str>,
    now_ms: i64,
) -> StoreResult<Item> {
    let row = sqlx::query(
        "UPDATE contacts SET last_seq = last_seq + 1, last_item_at = MAX(last_item_at + 1, ?1)
         WHERE id = ?2 RETURNING last_seq, last_item_at",
    )
    .bind(now_ms)
    .bind(contact_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::ContactNotFound)?;
    let seq: i64 = row.get(0);
    let at: i64 = row.get(1);
    let sender = item.sender.as_ref();
    sqlx::query(
        "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                            display_name, participant_role, absolute_time, client_token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(Item {
        contact_id: contact_id.to_string(),
        seq,
        id: item.id,
        item_type: item.item_type,
        content_type: item.content_type,
        content: item.content,
        sender: item.sender,
        absolute_time: from_millis(at),
    })
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

/// The contact, refusing one that has ended.
async fn open_contact(conn: &mut SqliteConnection, id: &str) -> StoreResult<Contact> {
    let contact = load_contact(conn, id).await?;
    if contact.is_ended() {
        return Err(StoreError::ContactEnded);
    }
    Ok(contact)
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

async fn create_contact(
    conn: &mut SqliteConnection,
    new: NewContact,
    now_ms: i64,
) -> StoreResult<Created> {
    let c = &new.contact;
    if let Some(token) = &new.client_token {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE instance_id = ?1 AND client_token = ?2",
        )
        .bind(&c.instance_id)
        .bind(token)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some(id) = existing {
            let contact = load_contact(conn, &id).await?;
            let customer = load_participant(conn, &contact.customer_participant_id).await?;
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
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    insert_participant(conn, &new.customer, None).await?;
    let mut items = Vec::with_capacity(new.items.len());
    for item in new.items {
        items.push(append(conn, &c.id, item, None, now_ms).await?);
    }
    Ok(Created {
        contact: new.contact,
        customer: new.customer,
        items,
        existing: false,
    })
}

async fn add_participant(
    conn: &mut SqliteConnection,
    new: NewParticipant,
    now_ms: i64,
) -> StoreResult<Added> {
    let contact_id = new.participant.contact_id.clone();
    if let Some(token) = &new.client_token {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM participants WHERE contact_id = ?1 AND client_token = ?2",
        )
        .bind(&contact_id)
        .bind(token)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some(id) = existing {
            return Ok(Added {
                participant: load_participant(conn, &id).await?,
                items: Vec::new(),
                existing: true,
            });
        }
    }
    open_contact(conn, &contact_id).await?;
    insert_participant(conn, &new.participant, new.client_token.as_deref()).await?;
    let joined = append(conn, &contact_id, new.joined, None, now_ms).await?;
    Ok(Added {
        participant: new.participant,
        items: vec![joined],
        existing: false,
    })
}

async fn append_item(
    conn: &mut SqliteConnection,
    contact_id: String,
    item: NewItem,
    client_token: Option<String>,
    now_ms: i64,
) -> StoreResult<Appended> {
    let sender_id = item.sender.as_ref().map(|s| s.participant_id.clone());
    if let (Some(token), Some(sender)) = (&client_token, &sender_id) {
        let existing =
            sqlx::query("SELECT * FROM items WHERE participant_id = ?1 AND client_token = ?2")
                .bind(sender)
                .bind(token)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        if let Some(row) = existing {
            return Ok(Appended {
                item: item_from_row(&row)?,
                existing: true,
            });
        }
    }
    open_contact(conn, &contact_id).await?;
    if let Some(sender) = &sender_id {
        if load_participant(conn, sender).await?.has_left() {
            return Err(StoreError::ParticipantLeft);
        }
    }
    let item = append(conn, &contact_id, item, client_token.as_deref(), now_ms).await?;
    Ok(Appended {
        item,
        existing: false,
    })
}

async fn record_receipt(
    conn: &mut SqliteConnection,
    r: NewReceipt,
    now_ms: i64,
) -> StoreResult<ReceiptRecorded> {
    if let Some(token) = &r.client_token {
        let earlier = sqlx::query(
            "SELECT event_id, at, message_id FROM event_tokens WHERE participant_id = ?1 AND client_token = ?2",
        )
        .bind(&r.recipient_participant_id)
        .bind(token)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some(row) = earlier {
            let message_id: String = row.get("message_id");
            let receipt = sqlx::query(
                "SELECT * FROM receipts WHERE message_id = ?1 AND recipient_participant_id = ?2",
            )
            .bind(&message_id)
            .bind(&r.recipient_participant_id)
            .fetch_one(&mut *conn)
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
    open_contact(conn, &r.contact_id).await?;
    let is_message: Option<String> =
        sqlx::query_scalar("SELECT type FROM items WHERE contact_id = ?1 AND id = ?2")
            .bind(&r.contact_id)
            .bind(&r.message_id)
            .fetch_optional(&mut *conn)
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
    .fetch_one(&mut *conn)
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
        .execute(&mut *conn)
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
    conn: &mut SqliteConnection,
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
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    append(conn, contact_id, ended, None, now_ms).await
}

async fn depart(conn: &mut SqliteConnection, d: Departure, now_ms: i64) -> StoreResult<Departed> {
    let row = sqlx::query(
        "SELECT contact_id, left_at, left_client_token FROM participants WHERE id = ?1",
    )
    .bind(&d.participant_id)
    .fetch_optional(&mut *conn)
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
    open_contact(conn, &contact_id).await?;
    sqlx::query("UPDATE participants SET left_at = ?1, left_client_token = ?2 WHERE id = ?3")
        .bind(now_ms)
        .bind(&d.client_token)
        .bind(&d.participant_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let mut items = vec![append(conn, &contact_id, d.left, None, now_ms).await?];
    if let Some(ended) = d.ended {
        items.push(end(conn, &contact_id, ended, d.disconnect_reason, now_ms).await?);
    }
    Ok(Departed {
        items,
        existing: false,
    })
}

async fn end_contact(
    conn: &mut SqliteConnection,
    contact_id: String,
    ended: NewItem,
    reason: Option<String>,
    now_ms: i64,
) -> StoreResult<Option<Item>> {
    if load_contact(conn, &contact_id).await?.is_ended() {
        return Ok(None);
    }
    end(conn, &contact_id, ended, reason, now_ms)
        .await
        .map(Some)
}

async fn update_attributes(
    conn: &mut SqliteConnection,
    contact_id: String,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
    now_ms: i64,
) -> StoreResult<()> {
    let mut merged = load_contact(conn, &contact_id).await?.attributes;
    merged.extend(attributes);
    let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > max_bytes {
        return Err(StoreError::AttributesTooLarge(max_bytes));
    }
    sqlx::query("UPDATE contacts SET attributes = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(json_text(&merged))
        .bind(now_ms)
        .bind(&contact_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

async fn secret(conn: &mut SqliteConnection, name: String) -> StoreResult<Vec<u8>> {
    let existing: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
        .bind(&name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if let Some(value) = existing {
        return Ok(value);
    }
    let value: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    sqlx::query("INSERT INTO meta (name, value) VALUES (?1, ?2)")
        .bind(&name)
        .bind(&value)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(value)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_contact(&self, new: NewContact) -> StoreResult<Created> {
        self.write(move |conn, now| Box::pin(create_contact(conn, new, now)))
            .await
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Added> {
        self.write(move |conn, now| Box::pin(add_participant(conn, new, now)))
            .await
    }

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Appended> {
        let contact_id = contact_id.to_string();
        self.write(move |conn, now| {
            Box::pin(append_item(conn, contact_id, item, client_token, now))
        })
        .await
    }

    async fn record_receipt(&self, receipt: NewReceipt) -> StoreResult<ReceiptRecorded> {
        self.write(move |conn, now| Box::pin(record_receipt(conn, receipt, now)))
            .await
    }

    async fn depart(&self, departure: Departure) -> StoreResult<Departed> {
        self.write(move |conn, now| Box::pin(depart(conn, departure, now)))
            .await
    }

    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>> {
        let contact_id = contact_id.to_string();
        self.write(move |conn, now| Box::pin(end_contact(conn, contact_id, ended, reason, now)))
            .await
    }

    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()> {
        let contact_id = contact_id.to_string();
        self.write(move |conn, now| {
            Box::pin(update_attributes(
                conn, contact_id, attributes, max_bytes, now,
            ))
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
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM contacts WHERE id = ?1")
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
        self.write(move |conn, _| Box::pin(secret(conn, name)))
            .await
    }

    async fn close(&self) {
        // Writes are answered in queue order, so once a no-op queued now is answered every write
        // queued before it has been committed.
        let _ = self.write(|_, _| Box::pin(async { Ok(()) })).await;
        self.reads.close().await;
    }
}
