//! The embedded SQLite store: WAL journal, `synchronous = FULL`, group commit.
//!
//! Writes go through [`writer`], one thread owning the only writing connection; reads use a pool
//! of read-only connections, which WAL lets run beside the writer; [`checkpoint`] copies the log
//! into the database file off the writer's path. A write's `Ok` means
//! committed; a read issued after it sees it.

mod checkpoint;
mod stream_writes;
mod writer;
mod writes;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use time::OffsetDateTime;

use self::writer::WriteQueue;
use self::writes::ContactCreation;
use super::rows::*;
use super::*;
use crate::clock::{from_millis, to_millis, SharedClock};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writes: WriteQueue,
    reads: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, applies migrations and starts the writer.
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
        let mut migrations = options.connect().await?;
        MIGRATOR.run(&mut migrations).await?;
        sqlx::Connection::close(migrations).await?;
        let writes = WriteQueue::start(path, clock)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writes, reads })
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_contact(&self, new: NewContact) -> StoreResult<Created> {
        let outcome = self
            .writes
            .submit(true, {
                let new = new.clone();
                move |w, now| writes::create_contact(w, &new, now)
            })
            .await?;
        match outcome {
            ContactCreation::Created(items) => Ok(Created {
                stream_id: new.stream.map(|s| s.stream.id),
                contact: new.contact,
                customer: new.customer,
                items,
                existing: false,
            }),
            ContactCreation::Existing(id) => {
                let contact = self
                    .contact(&id)
                    .await?
                    .ok_or(StoreError::ContactNotFound)?;
                let customer = self
                    .participant(&contact.customer_participant_id)
                    .await?
                    .ok_or(StoreError::ParticipantNotFound)?;
                let stream_id = sqlx::query_scalar(
                    "SELECT id FROM streams WHERE contact_id = ?1 AND started_with_contact = 1",
                )
                .bind(&id)
                .fetch_optional(&self.reads)
                .await
                .map_err(backend)?;
                Ok(Created {
                    contact,
                    customer,
                    items: Vec::new(),
                    existing: true,
                    stream_id,
                })
            }
        }
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Added> {
        let outcome = self
            .writes
            .submit(true, {
                let new = new.clone();
                move |w, now| writes::add_participant(w, &new, now)
            })
            .await?;
        match outcome {
            Ok(items) => Ok(Added {
                participant: new.participant,
                items,
                existing: false,
            }),
            Err(id) => Ok(Added {
                participant: self
                    .participant(&id)
                    .await?
                    .ok_or(StoreError::ParticipantNotFound)?,
                items: Vec::new(),
                existing: true,
            }),
        }
    }

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Appended> {
        let contact = contact_id.to_string();
        // Reads, then at most one INSERT: no savepoint needed for it to fail cleanly.
        let outcome = self
            .writes
            .submit(false, move |w, now| {
                writes::append_item(w, &contact, item, client_token.as_deref(), now)
            })
            .await?;
        match outcome {
            Ok(item) => Ok(Appended {
                item,
                existing: false,
            }),
            Err(id) => Ok(Appended {
                item: self
                    .item(contact_id, &id)
                    .await?
                    .ok_or(StoreError::MessageNotFound)?,
                existing: true,
            }),
        }
    }

    async fn record_receipt(&self, receipt: NewReceipt) -> StoreResult<ReceiptRecorded> {
        self.writes
            .submit(true, move |w, now| writes::record_receipt(w, &receipt, now))
            .await
    }

    async fn depart(&self, departure: Departure) -> StoreResult<Departed> {
        self.writes
            .submit(true, move |w, now| writes::depart(w, &departure, now))
            .await
    }

    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>> {
        let contact = contact_id.to_string();
        self.writes
            .submit(true, move |w, now| {
                writes::end_contact(w, &contact, ended, reason, now)
            })
            .await
    }

    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()> {
        let contact = contact_id.to_string();
        self.writes
            .submit(true, move |w, now| {
                writes::update_attributes(w, &contact, attributes, max_bytes, now)
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
        // Times rise with the sequence within a contact, so the first match along the contact's
        // rows (in sequence order, the table's own order) is the answer.
        let sql = if forward {
            "SELECT seq FROM items WHERE contact_id = ?1 AND absolute_time >= ?2
             ORDER BY seq ASC LIMIT 1"
        } else {
            "SELECT seq FROM items WHERE contact_id = ?1 AND absolute_time <= ?2
             ORDER BY seq DESC LIMIT 1"
        };
        sqlx::query_scalar(sql)
            .bind(contact_id)
            .bind(to_millis(at))
            .fetch_optional(&self.reads)
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
        self.writes
            .submit(true, move |w, _| writes::secret(w, &name))
            .await
    }

    async fn routed_contacts(&self, instance_id: &str) -> StoreResult<Vec<Contact>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts
             WHERE ended_at IS NULL AND queue_id IS NOT NULL AND instance_id = ?1
             ORDER BY enqueued_at, initiated_at"
        ))
        .bind(instance_id)
        .fetch_all(&self.reads)
        .await
        .map_err(backend)?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn requeue_contact(
        &self,
        contact_id: &str,
        queue_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let (contact_id, queue_id, at) =
            (contact_id.to_string(), queue_id.to_string(), to_millis(at));
        self.writes
            .submit(false, move |w, _| {
                writes::requeue_contact(w, &contact_id, &queue_id, at)
            })
            .await
    }

    async fn agent_participant(
        &self,
        contact_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Participant>> {
        let row = sqlx::query(
            "SELECT * FROM participants WHERE contact_id = ?1 AND user_id = ?2 AND left_at IS NULL
             ORDER BY joined_at DESC LIMIT 1",
        )
        .bind(contact_id)
        .bind(user_id)
        .fetch_optional(&self.reads)
        .await
        .map_err(backend)?;
        row.as_ref().map(participant_from_row).transpose()
    }

    async fn record_sign_out(&self, user_id: &str, at: OffsetDateTime) -> StoreResult<()> {
        let (user_id, at) = (user_id.to_string(), to_millis(at));
        self.writes
            .submit(false, move |w, _| writes::record_sign_out(w, &user_id, at))
            .await
    }

    async fn record_presence(
        &self,
        user_id: &str,
        presence: &str,
        since: OffsetDateTime,
    ) -> StoreResult<()> {
        let (user_id, presence, since) =
            (user_id.to_string(), presence.to_string(), to_millis(since));
        self.writes
            .submit(false, move |w, _| {
                writes::record_presence(w, &user_id, &presence, since)
            })
            .await
    }

    async fn presences(&self) -> StoreResult<Vec<(String, String, OffsetDateTime)>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT user_id, presence, since FROM agent_presence")
                .fetch_all(&self.reads)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(user, presence, since)| (user, presence, from_millis(since)))
            .collect())
    }

    async fn sign_outs(&self) -> StoreResult<Vec<(String, OffsetDateTime)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT user_id, signed_out_at FROM agent_sign_outs")
                .fetch_all(&self.reads)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(user, at)| (user, from_millis(at)))
            .collect())
    }

    async fn start_stream(&self, new: NewStream) -> StoreResult<StreamStarted> {
        self.writes
            .submit(true, move |w, _| stream_writes::start_stream(w, &new))
            .await
    }

    async fn stop_stream(&self, contact_id: &str, stream_id: &str) -> StoreResult<Stream> {
        let (contact_id, stream_id) = (contact_id.to_string(), stream_id.to_string());
        self.writes
            .submit(true, move |w, now| {
                stream_writes::stop_stream(w, &contact_id, &stream_id, now)
            })
            .await
    }

    async fn stream_event(
        &self,
        contact_id: &str,
        item_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()> {
        let (contact_id, item_id) = (contact_id.to_string(), item_id.to_string());
        let event = serde_json::Value::Object(fields).to_string();
        self.writes
            .submit(true, move |w, _| {
                stream_writes::stream_event(w, &contact_id, &item_id, &event)
            })
            .await
    }

    async fn stream(&self, stream_id: &str) -> StoreResult<Option<Stream>> {
        let row = sqlx::query("SELECT * FROM streams WHERE id = ?1")
            .bind(stream_id)
            .fetch_optional(&self.reads)
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(stream_from_row))
    }

    async fn pending_streams(&self) -> StoreResult<Vec<Stream>> {
        let rows = sqlx::query(
            // Both halves use an index, so a start does not read every stream ever stopped.
            "SELECT * FROM streams WHERE stopped_at IS NULL
             UNION
             SELECT * FROM streams WHERE id IN (SELECT DISTINCT stream_id FROM stream_outbox)
             ORDER BY started_at, id",
        )
        .fetch_all(&self.reads)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(stream_from_row).collect())
    }

    async fn backlogged_streams(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT stream_id FROM stream_outbox")
            .fetch_all(&self.reads)
            .await
            .map_err(backend)
    }

    async fn outbox(&self, stream_id: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT o.id AS outbox_id, o.item_id AS outbox_item_id, o.event AS outbox_event,
                    c.initial_contact_id AS chat_initial_contact_id, c.id AS chat_contact_id, i.*
             FROM stream_outbox o
             JOIN streams s ON s.id = o.stream_id
             JOIN contacts c ON c.id = s.contact_id
             LEFT JOIN items i ON o.event IS NULL AND i.id = o.item_id
             WHERE o.stream_id = ?1
             ORDER BY o.id LIMIT ?2",
        )
        .bind(stream_id)
        .bind(limit as i64)
        .fetch_all(&self.reads)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| outbox_entry_from_row(row, stream_id))
            .collect()
    }

    async fn outbox_published(&self, stream_id: &str, through: i64) -> StoreResult<()> {
        let stream_id = stream_id.to_string();
        self.writes
            .submit(false, move |w, _| {
                stream_writes::outbox_published(w, &stream_id, through)
            })
            .await
    }

    async fn outbox_dead_letter(&self, entry: &OutboxEntry, reason: &str) -> StoreResult<()> {
        let (entry, reason) = (entry.clone(), reason.to_string());
        self.writes
            .submit(true, move |w, now| {
                stream_writes::outbox_dead_letter(w, &entry, &reason, now)
            })
            .await
    }

    async fn claim_lease(
        &self,
        name: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (name, node, until) = (name.to_string(), node.to_string(), to_millis(until));
        self.writes
            .submit(false, move |w, now| {
                stream_writes::claim_lease(w, &name, &node, now, until)
            })
            .await
    }

    async fn release_lease(&self, name: &str, node: &str) -> StoreResult<()> {
        let (name, node) = (name.to_string(), node.to_string());
        self.writes
            .submit(false, move |w, _| {
                stream_writes::release_lease(w, &name, &node)
            })
            .await
    }

    async fn outbox_counts(&self) -> StoreResult<(i64, i64)> {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM stream_outbox), (SELECT COUNT(*) FROM stream_dead_letters)",
        )
        .fetch_one(&self.reads)
        .await
        .map_err(backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reads)
            .await
            .map_err(backend)?;
        // An empty write: the writer thread is alive and its transactions commit.
        self.writes.submit(false, |_, _| Ok(())).await
    }

    async fn close(&self) {
        // Writes are answered in queue order, so once a no-op queued now is answered every write
        // queued before it has been committed.
        let _ = self.writes.submit(true, |_, _| Ok(())).await;
        self.reads.close().await;
    }
}
