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
use super::reads::SharedReads;
use super::rows::*;
use super::*;
use crate::clock::{to_millis, SharedClock};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writes: WriteQueue,
    /// Read-only connections, which WAL lets run beside the writer.
    pool: SqlitePool,
    reads: SharedReads<sqlx::Sqlite>,
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
        Ok(Self {
            writes,
            reads: SharedReads::new(reads.clone()),
            pool: reads,
        })
    }
}

/// Reads of a store another process writes (a server running on it), for tools: no writer, no
/// migrations.
pub async fn open_reads(path: &Path) -> anyhow::Result<Box<dyn Reads>> {
    anyhow::ensure!(path.exists(), "no store at {}", path.display());
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    Ok(Box::new(SharedReads::new(pool)))
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl Store for SqliteStore {
    fn reads(&self) -> &dyn Reads {
        &self.reads
    }

    async fn create_contact(&self, new: NewContact) -> StoreResult<Replayed<Created>> {
        let outcome = self
            .writes
            .submit(true, {
                let new = new.clone();
                move |w, now| writes::create_contact(w, &new, now)
            })
            .await?;
        match outcome {
            ContactCreation::Created(items) => Ok(Replayed::new(Created {
                stream_id: new.stream.map(|s| s.stream.id),
                contact: new.contact,
                customer: new.customer,
                items,
            })),
            ContactCreation::Existing(id) => {
                Ok(Replayed::replay(self.reads.created_earlier(&id).await?))
            }
        }
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Replayed<Added>> {
        let outcome = self
            .writes
            .submit(true, {
                let new = new.clone();
                move |w, now| writes::add_participant(w, &new, now)
            })
            .await?;
        match outcome {
            Ok(items) => Ok(Replayed::new(Added {
                participant: new.participant,
                items,
            })),
            Err(id) => Ok(Replayed::replay(Added {
                participant: self
                    .participant(&id)
                    .await?
                    .ok_or(StoreError::ParticipantNotFound)?,
                items: Vec::new(),
            })),
        }
    }

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Replayed<Item>> {
        let contact = contact_id.to_string();
        // Reads, then at most one INSERT: no savepoint needed for it to fail cleanly.
        let outcome = self
            .writes
            .submit(false, move |w, now| {
                writes::append_item(w, &contact, item, client_token.as_deref(), now)
            })
            .await?;
        match outcome {
            Ok(item) => Ok(Replayed::new(item)),
            Err(id) => Ok(Replayed::replay(
                self.item(contact_id, &id)
                    .await?
                    .ok_or(StoreError::MessageNotFound)?,
            )),
        }
    }

    async fn record_receipt(&self, receipt: NewReceipt) -> StoreResult<Replayed<ReceiptRecorded>> {
        self.writes
            .submit(true, move |w, now| writes::record_receipt(w, &receipt, now))
            .await
    }

    async fn depart(&self, departure: Departure) -> StoreResult<Replayed<Vec<Item>>> {
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

    async fn last_seq(&self, contact_id: &str) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM items WHERE contact_id = ?1) FROM contacts WHERE id = ?1",
        )
            .bind(contact_id)
            .fetch_optional(&self.pool)
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
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.iter().map(receipt_from_row).collect())
    }

    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        let name = name.to_string();
        self.writes
            .submit(true, move |w, _| writes::secret(w, &name))
            .await
    }

    async fn flow_step(&self, step: FlowStep) -> StoreResult<Vec<Item>> {
        self.writes
            .submit(true, move |w, now| writes::flow_step(w, step, now))
            .await
    }

    async fn put_contact_flow(&self, flow: StoredFlow) -> StoreResult<()> {
        self.writes
            .submit(false, move |w, _| writes::put_contact_flow(w, &flow))
            .await
    }

    async fn put_hours_of_operation(&self, hours: StoredHours) -> StoreResult<()> {
        self.writes
            .submit(false, move |w, _| writes::put_hours_of_operation(w, &hours))
            .await
    }

    async fn put_quick_connect(&self, quick_connect: StoredQuickConnect) -> StoreResult<()> {
        self.writes
            .submit(false, move |w, _| {
                writes::put_quick_connect(w, &quick_connect)
            })
            .await
    }

    async fn delete_quick_connect(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.writes
            .submit(false, move |w, _| {
                writes::delete_quick_connect(w, &instance_id, &id)
            })
            .await
    }

    async fn associate_quick_connects(
        &self,
        instance_id: &str,
        queue_id: &str,
        quick_connect_ids: Vec<String>,
        associate: bool,
    ) -> StoreResult<()> {
        let (instance_id, queue_id) = (instance_id.to_string(), queue_id.to_string());
        self.writes
            .submit(false, move |w, _| {
                writes::associate_quick_connects(
                    w,
                    &instance_id,
                    &queue_id,
                    &quick_connect_ids,
                    associate,
                )
            })
            .await
    }

    async fn delete_hours_of_operation(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.writes
            .submit(false, move |w, _| {
                writes::delete_owned(w, "hours_of_operation", &instance_id, &id)
            })
            .await
    }

    async fn delete_contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        let (instance_id, id) = (instance_id.to_string(), id.to_string());
        self.writes
            .submit(false, move |w, _| {
                writes::delete_owned(w, "contact_flows", &instance_id, &id)
            })
            .await
    }

    async fn requeue_contact(
        &self,
        chat_id: &str,
        queue_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let (contact_id, queue_id, at) = (chat_id.to_string(), queue_id.to_string(), to_millis(at));
        self.writes
            .submit(false, move |w, _| {
                writes::requeue_contact(w, &contact_id, &queue_id, at)
            })
            .await
    }

    async fn transfer_contact(
        &self,
        from: &str,
        to: &str,
        queue_id: &str,
        at: OffsetDateTime,
        run: Option<NewRun>,
    ) -> StoreResult<Contact> {
        let (from, new_id, queue_id, at) = (
            from.to_string(),
            to.to_string(),
            queue_id.to_string(),
            to_millis(at),
        );
        self.writes
            .submit(true, move |w, _| {
                writes::transfer_contact(w, &from, &new_id, &queue_id, at, run.as_ref())
            })
            .await?;
        self.contact(to).await?.ok_or(StoreError::ContactNotFound)
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

    async fn start_stream(&self, new: NewStream) -> StoreResult<Replayed<Stream>> {
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

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        // An empty write: the writer thread is alive and its transactions commit.
        self.writes.submit(false, |_, _| Ok(())).await
    }

    async fn close(&self) {
        // Writes are answered in queue order, so once a no-op queued now is answered every write
        // queued before it has been committed.
        let _ = self.writes.submit(true, |_, _| Ok(())).await;
        self.pool.close().await;
    }
}
