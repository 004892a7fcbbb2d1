//! The reads both stores share. SQLite and PostgreSQL keep the same tables and columns (instants
//! as milliseconds), and sqlx's SQLite driver takes PostgreSQL's `$N` placeholders, so each read
//! is written once here, generic over the backend, and mapped by [`super::rows`]. The writes stay
//! per backend: the SQLite writer's in-memory cursors are its performance design, PostgreSQL's
//! row locks are its concurrency design.
//!
//! Reads a backend answers its own way (the last sequence numbers, which PostgreSQL keeps on the
//! contact's row; receipts of many messages, which PostgreSQL asks with `= ANY($1)`) stay with
//! that backend.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use time::OffsetDateTime;

use super::rows::*;
use super::{Created, FlowLogEntry, Range, StoreError, StoreResult, StoredRun};
use crate::clock::{from_millis, to_millis};
use crate::model::{
    Contact, Item, OutboxEntry, Participant, StoredFlow, StoredHours, StoredQuickConnect, Stream,
};

/// Reads of committed state, answered the same way by every backend (see [`super::Store`],
/// whose read methods these are).
#[async_trait]
pub trait Reads: Send + Sync {
    async fn contact(&self, contact_id: &str) -> StoreResult<Option<Contact>>;
    async fn participant(&self, participant_id: &str) -> StoreResult<Option<Participant>>;
    async fn participants(&self, contact_id: &str) -> StoreResult<Vec<Participant>>;
    async fn items(&self, contact_id: &str, range: Range) -> StoreResult<Vec<Item>>;
    async fn item(&self, contact_id: &str, item_id: &str) -> StoreResult<Option<Item>>;
    async fn seq_at(
        &self,
        contact_id: &str,
        at: OffsetDateTime,
        forward: bool,
    ) -> StoreResult<Option<i64>>;
    async fn expired_contacts(&self, now: OffsetDateTime) -> StoreResult<Vec<String>>;
    async fn routed_contacts(&self, instance_id: &str) -> StoreResult<Vec<Contact>>;
    async fn current_contact(&self, chat_id: &str) -> StoreResult<Option<Contact>>;
    async fn agent_participant(
        &self,
        contact_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Participant>>;
    async fn presences(&self) -> StoreResult<Vec<(String, String, OffsetDateTime)>>;
    async fn sign_outs(&self) -> StoreResult<Vec<(String, OffsetDateTime)>>;
    async fn flow_run(&self, chat_id: &str) -> StoreResult<Option<StoredRun>>;
    async fn due_flow_runs(
        &self,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, OffsetDateTime)>>;
    async fn flow_log(&self, chat_id: &str) -> StoreResult<Vec<FlowLogEntry>>;
    async fn contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<Option<StoredFlow>>;
    async fn contact_flows(&self, instance_id: &str) -> StoreResult<Vec<StoredFlow>>;
    async fn hours_of_operation(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredHours>>;
    async fn hours_of_operations(&self, instance_id: &str) -> StoreResult<Vec<StoredHours>>;
    async fn quick_connect(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredQuickConnect>>;
    async fn quick_connects(&self, instance_id: &str) -> StoreResult<Vec<StoredQuickConnect>>;
    async fn queue_quick_connects(&self, instance_id: &str) -> StoreResult<Vec<(String, String)>>;
    async fn stream(&self, stream_id: &str) -> StoreResult<Option<Stream>>;
    async fn pending_streams(&self) -> StoreResult<Vec<Stream>>;
    async fn backlogged_streams(&self) -> StoreResult<Vec<String>>;
    async fn outbox(&self, stream_id: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
    async fn outbox_counts(&self) -> StoreResult<(i64, i64)>;
    /// What creating the contact made, read back for a StartChatContact retried with the same
    /// client token: the contact, its customer and the stream it was started with (no items:
    /// nothing is announced again).
    async fn created_earlier(&self, contact_id: &str) -> StoreResult<Created>;
}

/// The shared reads over one backend's connection pool.
pub struct SharedReads<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SharedReads<DB> {
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl<DB> Reads for SharedReads<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'c> &'c str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    async fn contact(&self, contact_id: &str) -> StoreResult<Option<Contact>> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(contact_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn current_contact(&self, chat_id: &str) -> StoreResult<Option<Contact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts
             WHERE initial_contact_id = $1 AND next_contact_id IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(chat_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn participant(&self, participant_id: &str) -> StoreResult<Option<Participant>> {
        let row = sqlx::query("SELECT * FROM participants WHERE id = $1")
            .bind(participant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(participant_from_row).transpose()
    }

    async fn participants(&self, contact_id: &str) -> StoreResult<Vec<Participant>> {
        let rows =
            sqlx::query("SELECT * FROM participants WHERE contact_id = $1 ORDER BY joined_at, id")
                .bind(contact_id)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        rows.iter().map(participant_from_row).collect()
    }

    async fn items(&self, contact_id: &str, range: Range) -> StoreResult<Vec<Item>> {
        let (sql, from, limit) = match range {
            Range::Forward { from, limit } => (
                "SELECT * FROM items WHERE contact_id = $1 AND seq >= $2 ORDER BY seq ASC LIMIT $3",
                from,
                limit,
            ),
            Range::Backward { from, limit } => (
                "SELECT * FROM items WHERE contact_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT $3",
                from,
                limit,
            ),
        };
        let rows = sqlx::query(sql)
            .bind(contact_id)
            .bind(from)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(item_from_row).collect()
    }

    async fn item(&self, contact_id: &str, item_id: &str) -> StoreResult<Option<Item>> {
        let row = sqlx::query("SELECT * FROM items WHERE contact_id = $1 AND id = $2")
            .bind(contact_id)
            .bind(item_id)
            .fetch_optional(&self.pool)
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
        // rows (in sequence order) is the answer.
        let sql = if forward {
            "SELECT seq FROM items WHERE contact_id = $1 AND absolute_time >= $2
             ORDER BY seq ASC LIMIT 1"
        } else {
            "SELECT seq FROM items WHERE contact_id = $1 AND absolute_time <= $2
             ORDER BY seq DESC LIMIT 1"
        };
        sqlx::query_scalar(sql)
            .bind(contact_id)
            .bind(to_millis(at))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn expired_contacts(&self, now: OffsetDateTime) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            // Chats (their first contacts' rows), not each of their contacts.
            "SELECT id FROM contacts WHERE ended_at IS NULL AND expires_at <= $1
               AND id = initial_contact_id LIMIT 1000",
        )
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn routed_contacts(&self, instance_id: &str) -> StoreResult<Vec<Contact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts
             WHERE ended_at IS NULL AND next_contact_id IS NULL AND queue_id IS NOT NULL
               AND instance_id = $1
             ORDER BY enqueued_at, initiated_at"
        );
        let rows = sqlx::query(&sql)
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn agent_participant(
        &self,
        contact_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Participant>> {
        let row = sqlx::query(
            "SELECT * FROM participants WHERE contact_id = $1 AND user_id = $2 AND left_at IS NULL
             ORDER BY joined_at DESC LIMIT 1",
        )
        .bind(contact_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(participant_from_row).transpose()
    }

    async fn presences(&self) -> StoreResult<Vec<(String, String, OffsetDateTime)>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT user_id, presence, since FROM agent_presence")
                .fetch_all(&self.pool)
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
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(user, at)| (user, from_millis(at)))
            .collect())
    }

    async fn flow_run(&self, chat_id: &str) -> StoreResult<Option<StoredRun>> {
        let row: Option<(i64, String, Option<i64>)> =
            sqlx::query_as("SELECT version, state, wake_at FROM flow_runs WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(|(version, state, wake_at)| StoredRun {
            chat_id: chat_id.to_string(),
            version,
            state,
            wake_at: wake_at.map(from_millis),
        }))
    }

    async fn due_flow_runs(
        &self,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, OffsetDateTime)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT r.chat_id, r.wake_at FROM flow_runs r JOIN contacts c ON c.id = r.chat_id
             WHERE r.wake_at IS NOT NULL AND r.wake_at <= $1 AND c.ended_at IS NULL
             ORDER BY r.wake_at",
        )
        .bind(to_millis(until))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(chat, at)| (chat, from_millis(at)))
            .collect())
    }

    async fn flow_log(&self, chat_id: &str) -> StoreResult<Vec<FlowLogEntry>> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT at, flow_id, action, type, outcome FROM flow_log WHERE chat_id = $1 ORDER BY n",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(at, flow_id, action, action_type, outcome)| FlowLogEntry {
                at: from_millis(at),
                flow_id,
                action,
                action_type,
                outcome,
            })
            .collect())
    }

    async fn contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<Option<StoredFlow>> {
        let row: Option<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM contact_flows WHERE instance_id = $1 AND id = $2"
        ))
        .bind(instance_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| flow_from_row(instance_id, row)).transpose()
    }

    async fn contact_flows(&self, instance_id: &str) -> StoreResult<Vec<StoredFlow>> {
        let rows: Vec<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM contact_flows WHERE instance_id = $1 ORDER BY name"
        ))
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|row| flow_from_row(instance_id, row))
            .collect()
    }

    async fn hours_of_operation(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredHours>> {
        let row: Option<HoursRow> = sqlx::query_as(&format!(
            "SELECT {HOURS_COLUMNS} FROM hours_of_operation WHERE instance_id = $1 AND id = $2"
        ))
        .bind(instance_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| hours_from_row(instance_id, row)).transpose()
    }

    async fn hours_of_operations(&self, instance_id: &str) -> StoreResult<Vec<StoredHours>> {
        let rows: Vec<HoursRow> = sqlx::query_as(&format!(
            "SELECT {HOURS_COLUMNS} FROM hours_of_operation WHERE instance_id = $1 ORDER BY name"
        ))
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|row| hours_from_row(instance_id, row))
            .collect()
    }

    async fn quick_connect(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredQuickConnect>> {
        let row: Option<QuickConnectRow> = sqlx::query_as(&format!(
            "SELECT {QUICK_CONNECT_COLUMNS} FROM quick_connects WHERE instance_id = $1 AND id = $2"
        ))
        .bind(instance_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| quick_connect_from_row(instance_id, row))
            .transpose()
    }

    async fn quick_connects(&self, instance_id: &str) -> StoreResult<Vec<StoredQuickConnect>> {
        let rows: Vec<QuickConnectRow> = sqlx::query_as(&format!(
            "SELECT {QUICK_CONNECT_COLUMNS} FROM quick_connects WHERE instance_id = $1 ORDER BY name"
        ))
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|row| quick_connect_from_row(instance_id, row))
            .collect()
    }

    async fn queue_quick_connects(&self, instance_id: &str) -> StoreResult<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT queue_id, quick_connect_id FROM queue_quick_connects WHERE instance_id = $1
             ORDER BY queue_id, quick_connect_id",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn stream(&self, stream_id: &str) -> StoreResult<Option<Stream>> {
        let row = sqlx::query("SELECT * FROM streams WHERE id = $1")
            .bind(stream_id)
            .fetch_optional(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(stream_from_row).collect())
    }

    async fn backlogged_streams(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT stream_id FROM stream_outbox")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    async fn outbox(&self, stream_id: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            // A stream follows the chat: its ContactId is the chat's current contact.
            "SELECT o.id AS outbox_id, o.item_id AS outbox_item_id, o.event AS outbox_event,
                    c.initial_contact_id AS chat_initial_contact_id, c.id AS chat_contact_id, i.*
             FROM stream_outbox o
             JOIN streams s ON s.id = o.stream_id
             JOIN contacts c ON c.initial_contact_id = s.contact_id AND c.next_contact_id IS NULL
             LEFT JOIN items i ON o.event IS NULL AND i.id = o.item_id
             WHERE o.stream_id = $1
             ORDER BY o.id LIMIT $2",
        )
        .bind(stream_id)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| outbox_entry_from_row(row, stream_id))
            .collect()
    }

    async fn outbox_counts(&self) -> StoreResult<(i64, i64)> {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM stream_outbox), (SELECT COUNT(*) FROM stream_dead_letters)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn created_earlier(&self, contact_id: &str) -> StoreResult<Created> {
        let contact = self
            .contact(contact_id)
            .await?
            .ok_or(StoreError::ContactNotFound)?;
        let customer = self
            .participant(&contact.customer_participant_id)
            .await?
            .ok_or(StoreError::ParticipantNotFound)?;
        let stream_id = sqlx::query_scalar(
            "SELECT id FROM streams WHERE contact_id = $1 AND started_with_contact = TRUE",
        )
        .bind(contact_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Created {
            contact,
            customer,
            items: Vec::new(),
            stream_id,
        })
    }
}
