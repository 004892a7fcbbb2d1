//! The PostgreSQL store, for running several nodes on one database.
//!
//! Every write is one transaction on a pooled connection and answers only after its commit,
//! which PostgreSQL makes durable (`synchronous_commit`, the default) and shares between
//! concurrent commits (group commit happens in PostgreSQL's WAL writer). Items are numbered by
//! updating their contact's row (`last_seq`, `last_at`): that row lock serialises the appends of
//! one contact across connections and nodes, while different contacts proceed in parallel. The
//! semantics are those of the SQLite store, checked by the same store tests.
//!
//! The reads are the ones both stores share ([`super::reads`]), but for the last sequence numbers
//! (kept on the contact's row here) and receipts; the writes live in `writes.rs` (the chat's) and
//! `streams.rs` (streaming's and the leases), and `items.rs` numbers items and fills outboxes.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Transaction};
use time::OffsetDateTime;

mod items;
mod streams;
mod writes;

use super::reads::SharedReads;
use super::rows::*;
use super::*;
use crate::clock::{to_millis, SharedClock};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How the pool reaches PostgreSQL.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
}

pub struct PostgresStore {
    pool: PgPool,
    reads: SharedReads<Postgres>,
    clock: SharedClock,
}

type Tx = Transaction<'static, Postgres>;

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Whether an error is a unique-constraint violation (a concurrent write with the same token).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

impl PostgresStore {
    /// Connects, applies migrations and returns the store.
    pub async fn open(
        url: &str,
        settings: &PoolSettings,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let timeout_ms = settings.statement_timeout.as_millis();
        let options = PgConnectOptions::from_str(url)?
            .options([("statement_timeout", timeout_ms.to_string())])
            .disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            reads: SharedReads::new(pool.clone()),
            pool,
            clock,
        })
    }

    /// Reads of the store, for tools: no migrations.
    pub async fn open_reads(url: &str) -> anyhow::Result<Box<dyn Reads>> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(PgConnectOptions::from_str(url)?)
            .await?;
        Ok(Box::new(SharedReads::new(pool)))
    }

    fn now_ms(&self) -> i64 {
        to_millis(self.clock.now())
    }

    async fn begin(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(backend)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn reads(&self) -> &dyn Reads {
        &self.reads
    }

    async fn create_contact(&self, new: NewContact) -> StoreResult<Replayed<Created>> {
        writes::create_contact(self, new).await
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Replayed<Added>> {
        writes::add_participant(self, new).await
    }

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Replayed<Item>> {
        writes::append_item(self, contact_id, item, client_token).await
    }

    async fn record_receipt(&self, r: NewReceipt) -> StoreResult<Replayed<ReceiptRecorded>> {
        writes::record_receipt(self, r).await
    }

    async fn depart(&self, d: Departure) -> StoreResult<Replayed<Vec<Item>>> {
        writes::depart(self, d).await
    }

    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>> {
        writes::end_contact(self, contact_id, ended, reason).await
    }

    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()> {
        writes::update_attributes(self, contact_id, attributes, max_bytes).await
    }

    async fn last_seq(&self, contact_id: &str) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM contacts WHERE id = $1")
            .bind(contact_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        seq.ok_or(StoreError::ContactNotFound)
    }

    async fn last_seqs(&self, contact_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query_as("SELECT id, last_seq FROM contacts WHERE id = ANY($1)")
            .bind(contact_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    async fn receipts(&self, message_ids: &[String]) -> StoreResult<Vec<Receipt>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM receipts WHERE message_id = ANY($1)
             ORDER BY message_id, recipient_participant_id",
        )
        .bind(message_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(receipt_from_row).collect())
    }

    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        writes::secret(self, name).await
    }

    async fn flow_step(&self, step: FlowStep) -> StoreResult<Vec<Item>> {
        writes::flow_step(self, step).await
    }

    async fn put_contact_flow(&self, flow: StoredFlow) -> StoreResult<()> {
        writes::put_contact_flow(self, flow).await
    }

    async fn put_hours_of_operation(&self, hours: StoredHours) -> StoreResult<()> {
        writes::put_hours_of_operation(self, hours).await
    }

    async fn put_quick_connect(&self, quick_connect: StoredQuickConnect) -> StoreResult<()> {
        writes::put_quick_connect(self, quick_connect).await
    }

    async fn delete_quick_connect(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        writes::delete_quick_connect(self, instance_id, id).await
    }

    async fn associate_quick_connects(
        &self,
        instance_id: &str,
        queue_id: &str,
        quick_connect_ids: Vec<String>,
        associate: bool,
    ) -> StoreResult<()> {
        writes::associate_quick_connects(self, instance_id, queue_id, quick_connect_ids, associate)
            .await
    }

    async fn delete_hours_of_operation(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        writes::delete_owned(self, "hours_of_operation", instance_id, id).await
    }

    async fn delete_contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<bool> {
        writes::delete_owned(self, "contact_flows", instance_id, id).await
    }

    async fn requeue_contact(
        &self,
        chat_id: &str,
        queue_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        writes::requeue_contact(self, chat_id, queue_id, at).await
    }

    async fn transfer_contact(
        &self,
        from: &str,
        to: &str,
        queue_id: &str,
        at: OffsetDateTime,
        run: Option<NewRun>,
    ) -> StoreResult<Contact> {
        writes::transfer_contact(self, from, to, queue_id, at, run).await?;
        self.contact(to).await?.ok_or(StoreError::ContactNotFound)
    }

    async fn record_sign_out(&self, user_id: &str, at: OffsetDateTime) -> StoreResult<()> {
        writes::record_sign_out(self, user_id, at).await
    }

    async fn record_presence(
        &self,
        user_id: &str,
        presence: &str,
        since: OffsetDateTime,
    ) -> StoreResult<()> {
        writes::record_presence(self, user_id, presence, since).await
    }

    async fn start_stream(&self, new: NewStream) -> StoreResult<Replayed<Stream>> {
        streams::start_stream(self, new).await
    }

    async fn stop_stream(&self, contact_id: &str, stream_id: &str) -> StoreResult<Stream> {
        streams::stop_stream(self, contact_id, stream_id).await
    }

    async fn stream_event(
        &self,
        contact_id: &str,
        item_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()> {
        streams::stream_event(self, contact_id, item_id, fields).await
    }

    async fn outbox_published(&self, stream_id: &str, through: i64) -> StoreResult<()> {
        streams::outbox_published(self, stream_id, through).await
    }

    async fn outbox_dead_letter(&self, entry: &OutboxEntry, reason: &str) -> StoreResult<()> {
        streams::outbox_dead_letter(self, entry, reason).await
    }

    async fn claim_lease(
        &self,
        name: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        streams::claim_lease(self, name, node, until).await
    }

    async fn release_lease(&self, name: &str, node: &str) -> StoreResult<()> {
        streams::release_lease(self, name, node).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
