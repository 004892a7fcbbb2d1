//! The PostgreSQL store, for running several nodes on one database.
//!
//! Every write is one transaction on a pooled connection and answers only after its commit,
//! which PostgreSQL makes durable (`synchronous_commit`, the default) and shares between
//! concurrent commits (group commit happens in PostgreSQL's WAL writer). Items are numbered by
//! updating their contact's row (`last_seq`, `last_at`): that row lock serialises the appends of
//! one contact across connections and nodes, while different contacts proceed in parallel. The
//! semantics are those of the SQLite store, checked by the same store tests.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Row, Transaction};
use time::OffsetDateTime;

use super::reads::SharedReads;
use super::rows::*;
use super::*;
use crate::clock::{from_millis, to_millis, SharedClock};
use crate::model::{receipt_event_fields, ItemType, ReceiptKind};

/// Takes a free or run-out lease, or renews one's own.
const CLAIM_LEASE: &str = "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until_ms = EXCLUDED.until_ms
     WHERE leases.owner = EXCLUDED.owner OR leases.until_ms < $4";

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

    fn now_ms(&self) -> i64 {
        to_millis(self.clock.now())
    }

    async fn begin(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(backend)
    }
}

/// Numbers and inserts an item of an open contact (or, with `closing`, of the contact being
/// ended), and puts it in the outbox of the contact's active streams. `None` when the sender's
/// client token was used before (the transaction must then be rolled back).
async fn append(
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

async fn append_new(
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
async fn enqueue(
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
async fn end(
    tx: &mut Tx,
    contact_id: &str,
    ended: &NewItem,
    reason: Option<&str>,
    now_ms: i64,
) -> StoreResult<Item> {
    let item = append_new(tx, contact_id, ended, now_ms).await?;
    sqlx::query(
        "UPDATE contacts SET ended_at = $1, updated_at = $1, disconnect_reason = $2,
                             active_streams = 0
         WHERE id = $3",
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

async fn insert_participant(
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

async fn insert_stream(tx: &mut Tx, new: &NewStream, with_contact: bool) -> StoreResult<()> {
    let s = &new.stream;
    sqlx::query(
        "INSERT INTO streams (id, contact_id, instance_id, endpoint_arn, client_token, started_at,
                              started_with_contact)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.contact_id)
    .bind(&s.instance_id)
    .bind(&s.endpoint_arn)
    .bind(&new.client_token)
    .bind(to_millis(s.started_at))
    .bind(with_contact)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    sqlx::query("UPDATE contacts SET active_streams = active_streams + 1 WHERE id = $1")
        .bind(&s.contact_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

impl PostgresStore {
    async fn find_contact_by_token(
        &self,
        instance_id: &str,
        token: &str,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT id FROM contacts WHERE instance_id = $1 AND client_token = $2")
            .bind(instance_id)
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn try_create(&self, new: &NewContact) -> Result<Vec<Item>, sqlx::Error> {
        let c = &new.contact;
        let now = self.now_ms();
        let mut tx = self.pool.begin().await?;
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
}

/// Carries a store error through code that speaks sqlx errors.
fn to_sqlx(e: StoreError) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}

#[async_trait]
impl Store for PostgresStore {
    fn reads(&self) -> &dyn Reads {
        &self.reads
    }

    async fn create_contact(&self, new: NewContact) -> StoreResult<Replayed<Created>> {
        let c = &new.contact;
        if let Some(token) = &new.client_token {
            if let Some(id) = self.find_contact_by_token(&c.instance_id, token).await? {
                return Ok(Replayed::replay(self.reads.created_earlier(&id).await?));
            }
        }
        match self.try_create(&new).await {
            Ok(items) => Ok(Replayed::new(Created {
                stream_id: new.stream.as_ref().map(|s| s.stream.id.clone()),
                contact: new.contact,
                customer: new.customer,
                items,
            })),
            // The same token, committed by a concurrent request in the meantime.
            Err(e) if is_unique_violation(&e) && new.client_token.is_some() => {
                let token = new.client_token.as_deref().unwrap_or_default();
                match self.find_contact_by_token(&c.instance_id, token).await? {
                    Some(id) => Ok(Replayed::replay(self.reads.created_earlier(&id).await?)),
                    None => Err(backend(e)),
                }
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Replayed<Added>> {
        let p = &new.participant;
        let by_token = |token: String| {
            sqlx::query_scalar::<_, String>(
                "SELECT id FROM participants WHERE contact_id = $1 AND client_token = $2",
            )
            .bind(p.contact_id.clone())
            .bind(token)
            .fetch_optional(&self.pool)
        };
        if let Some(token) = &new.client_token {
            if let Some(id) = by_token(token.clone()).await.map_err(backend)? {
                return self.existing_participant(&id).await;
            }
        }
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        if let Err(e) = insert_participant(&mut tx, p, new.client_token.as_deref()).await {
            drop(tx);
            if is_unique_violation(&e) {
                if let Some(token) = &new.client_token {
                    if let Some(id) = by_token(token.clone()).await.map_err(backend)? {
                        return self.existing_participant(&id).await;
                    }
                }
            }
            return Err(match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                    StoreError::ContactNotFound
                }
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
                 WHERE id = $3",
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

    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Replayed<Item>> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
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
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
                Ok(Replayed::replay(
                    self.item(contact_id, &id)
                        .await?
                        .ok_or(StoreError::MessageNotFound)?,
                ))
            }
        }
    }

    async fn record_receipt(&self, r: NewReceipt) -> StoreResult<Replayed<ReceiptRecorded>> {
        if let Some(token) = &r.client_token {
            let earlier: Option<(String, i64, String)> = sqlx::query_as(
                "SELECT event_id, at, message_id FROM event_tokens
                 WHERE participant_id = $1 AND client_token = $2",
            )
            .bind(&r.recipient_participant_id)
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            if let Some((event_id, at, message_id)) = earlier {
                return Ok(Replayed::replay(ReceiptRecorded {
                    event_id,
                    at: from_millis(at),
                    receipt: self
                        .receipt(&message_id, &r.recipient_participant_id)
                        .await?,
                }));
            }
        }
        let now = self.now_ms();
        let mut tx = self.begin().await?;
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
                    Box::pin(self.record_receipt(r.clone())).await
                } else {
                    Err(backend(e))
                };
            }
        }
        if active_streams > 0 {
            let fields =
                receipt_event_fields(&r.event_id, from_millis(now), &r.message_id, &receipt);
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

    async fn depart(&self, d: Departure) -> StoreResult<Replayed<Vec<Item>>> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
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

    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
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

    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        let current: String =
            sqlx::query_scalar("SELECT attributes FROM contacts WHERE id = $1 FOR UPDATE")
                .bind(contact_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                .ok_or(StoreError::ContactNotFound)?;
        let mut merged: BTreeMap<String, String> = serde_json::from_str(&current)
            .map_err(|e| StoreError::Backend(format!("attributes: {e}")))?;
        merged.extend(attributes);
        let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > max_bytes {
            return Err(StoreError::AttributesTooLarge(max_bytes));
        }
        sqlx::query("UPDATE contacts SET attributes = $1, updated_at = $2 WHERE id = $3")
            .bind(serde_json::to_string(&merged).expect("serialisable"))
            .bind(now)
            .bind(contact_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
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
        let value: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        // The first node to ask creates it; every later one reads the same.
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&value)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn requeue_contact(
        &self,
        contact_id: &str,
        queue_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE contacts SET queue_id = $1, enqueued_at = $2, agent_id = NULL,
                                 connected_to_agent_at = NULL, updated_at = $2
             WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(queue_id)
        .bind(to_millis(at))
        .bind(contact_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn record_sign_out(&self, user_id: &str, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_sign_outs (user_id, signed_out_at) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE
             SET signed_out_at = GREATEST(agent_sign_outs.signed_out_at, excluded.signed_out_at)",
        )
        .bind(user_id)
        .bind(to_millis(at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn record_presence(
        &self,
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn start_stream(&self, new: NewStream) -> StoreResult<Replayed<Stream>> {
        let contact_id = &new.stream.contact_id;
        let mut tx = self.begin().await?;
        let ended: Option<Option<i64>> =
            sqlx::query_scalar("SELECT ended_at FROM contacts WHERE id = $1 FOR UPDATE")
                .bind(contact_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let all: Vec<Stream> = sqlx::query("SELECT * FROM streams WHERE contact_id = $1")
            .bind(contact_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(stream_from_row)
            .collect();
        if let Some(token) = &new.client_token {
            let rows =
                sqlx::query("SELECT * FROM streams WHERE contact_id = $1 AND client_token = $2")
                    .bind(contact_id)
                    .bind(token)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            if let Some(stream) = rows.as_ref().map(stream_from_row) {
                return retried_stream(stream, &new);
            }
        }
        match ended {
            None => return Err(StoreError::ContactNotFound),
            Some(Some(_)) => return Err(StoreError::ContactEnded),
            Some(None) => {}
        }
        let new_endpoint = admit_stream(&all, &new)?;
        insert_stream(&mut tx, &new, false).await?;
        if new_endpoint {
            sqlx::query(
                "INSERT INTO stream_outbox (stream_id, item_id)
                 SELECT $1, id FROM items WHERE contact_id = $2 ORDER BY seq",
            )
            .bind(&new.stream.id)
            .bind(contact_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(Replayed::new(new.stream))
    }

    async fn stop_stream(&self, contact_id: &str, stream_id: &str) -> StoreResult<Stream> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        // The contact's row first, as appends lock it: an append and a stop never cross.
        sqlx::query("SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE")
            .bind(contact_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let stream = sqlx::query("SELECT * FROM streams WHERE id = $1 AND contact_id = $2")
            .bind(stream_id)
            .bind(contact_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .as_ref()
            .map(stream_from_row)
            .ok_or(StoreError::StreamNotFound)?;
        if stream.stopped_at.is_some() {
            return Ok(stream);
        }
        sqlx::query("UPDATE streams SET stopped_at = $1, stop_reason = 'STOPPED' WHERE id = $2")
            .bind(now)
            .bind(stream_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "UPDATE contacts SET active_streams = GREATEST(active_streams - 1, 0) WHERE id = $1",
        )
        .bind(contact_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Stream {
            stopped_at: Some(from_millis(now)),
            ..stream
        })
    }

    async fn stream_event(
        &self,
        contact_id: &str,
        item_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()> {
        let event = serde_json::Value::Object(fields).to_string();
        let mut tx = self.begin().await?;
        let streams: Option<i32> =
            sqlx::query_scalar("SELECT active_streams FROM contacts WHERE id = $1 FOR SHARE")
                .bind(contact_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        match streams {
            None => return Err(StoreError::ContactNotFound),
            Some(0) => return Ok(()),
            Some(_) => enqueue(&mut tx, contact_id, item_id, Some(&event)).await?,
        }
        tx.commit().await.map_err(backend)
    }

    async fn outbox_published(&self, stream_id: &str, through: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM stream_outbox WHERE stream_id = $1 AND id <= $2")
            .bind(stream_id)
            .bind(through)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn outbox_dead_letter(&self, entry: &OutboxEntry, reason: &str) -> StoreResult<()> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO stream_dead_letters (outbox_id, stream_id, item_id, message, failed_at, reason)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outbox_id) DO NOTHING",
        )
        .bind(entry.id)
        .bind(&entry.stream_id)
        .bind(&entry.item_id)
        .bind(&entry.message)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM stream_outbox WHERE id = $1")
            .bind(entry.id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn claim_lease(
        &self,
        name: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let claimed = sqlx::query(CLAIM_LEASE)
            .bind(name)
            .bind(node)
            .bind(to_millis(until))
            .bind(self.now_ms())
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(claimed == 1)
    }

    async fn release_lease(&self, name: &str, node: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
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

impl PostgresStore {
    async fn existing_participant(&self, id: &str) -> StoreResult<Replayed<Added>> {
        Ok(Replayed::replay(Added {
            participant: self
                .participant(id)
                .await?
                .ok_or(StoreError::ParticipantNotFound)?,
            items: Vec::new(),
        }))
    }

    async fn receipt(&self, message_id: &str, recipient: &str) -> StoreResult<Receipt> {
        let row = sqlx::query(
            "SELECT * FROM receipts WHERE message_id = $1 AND recipient_participant_id = $2",
        )
        .bind(message_id)
        .bind(recipient)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(receipt_from_row(&row))
    }
}
