//! The store through its trait, and the chat rules that depend on time, with an injected clock
//! instead of sleeps. The same tests run on SQLite files and on fresh PostgreSQL databases: the
//! two stores must not differ in anything a caller can see.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard::bus::{Bus, LocalBus};
use switchboard::chat::service::Ports;
use switchboard::chat::service::StartChat;
use switchboard::chat::tokens::Tokens;
use switchboard::chat::{ChatService, NoStreaming, WaitInQueue};
use switchboard::clock::{Clock, ManualClock};
use switchboard::config::Config;
use switchboard::flows::bots::Bots;
use switchboard::flows::functions::Functions;
use switchboard::model::*;
use switchboard::store::postgres::{PoolSettings, PostgresStore};
use switchboard::store::sqlite::SqliteStore;
use switchboard::store::*;
use time::{Duration, OffsetDateTime};

use crate::common::PostgresDatabase;

mod flows;
mod migration;
mod streams;
mod writes;

use flows::*;
use streams::*;
use writes::*;

fn start_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.join("store.db"), clock)
            .await
            .unwrap(),
    )
}

/// Which store a test runs against: every test of the store's semantics runs on both.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// Where a test's data lives: a fresh SQLite directory, or a fresh PostgreSQL database.
enum Location {
    Sqlite(tempfile::TempDir),
    Postgres(PostgresDatabase),
}

impl Location {
    /// `None` when the test is skipped (no PostgreSQL server here).
    async fn fresh(kind: Kind) -> Option<Self> {
        Some(match kind {
            Kind::Sqlite => Location::Sqlite(tempfile::tempdir().unwrap()),
            Kind::Postgres => Location::Postgres(PostgresDatabase::fresh().await?),
        })
    }

    async fn open(&self, clock: Arc<ManualClock>) -> Arc<dyn Store> {
        match self {
            Location::Sqlite(dir) => open(dir.path(), clock).await,
            Location::Postgres(database) => Arc::new(
                PostgresStore::open(
                    &database.url(),
                    &PoolSettings {
                        max_connections: 8,
                        acquire_timeout: std::time::Duration::from_secs(10),
                        statement_timeout: std::time::Duration::from_secs(10),
                    },
                    clock,
                )
                .await
                .unwrap(),
            ),
        }
    }
}

macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Kind::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Kind::Postgres).await
                }
            )*
        }
    };
}

on_both_stores!(
    concurrent_appends_get_gap_free_sequences_and_rising_times,
    client_tokens_make_writes_idempotent,
    departures_and_endings_close_the_contact,
    attribute_updates_are_refused_whole_past_the_limit,
    receipts_record_delivery_then_read_once,
    a_chat_ends_by_itself_when_its_duration_runs_out,
    positions_by_time_find_the_first_item_at_or_after_and_the_last_at_or_before,
    times_keep_rising_after_a_restart_even_if_the_clock_went_back,
    streams_get_every_item_from_their_start_until_stopped_or_ended,
    one_node_at_a_time_holds_a_named_lease,
    last_sequences_are_read_for_many_contacts_at_once,
    a_transfer_hands_the_chat_on_to_a_new_contact,
    a_flow_step_is_written_whole_and_only_from_the_version_it_was_computed_from,
    a_flow_step_that_ends_the_chat_ends_its_run_too,
    flows_and_hours_made_through_the_api_are_kept_by_instance_under_unique_names,
    quick_connects_made_through_the_api_are_kept_by_instance_under_unique_names,
    a_transfer_through_a_flow_leaves_the_new_contact_to_its_flow,
    a_departure_switches_the_run_to_the_disconnect_flow_in_the_same_write,
);

/// A store in a fresh place holding contact `c1` with customer `p1`; `None` when the test is
/// skipped (no PostgreSQL server here).
async fn store_with_contact(kind: Kind) -> Option<(Location, Arc<ManualClock>, Arc<dyn Store>)> {
    let at = Location::fresh(kind).await?;
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = at.open(clock.clone()).await;
    store
        .create_contact(contact("c1", "p1", clock.now()))
        .await
        .unwrap();
    Some((at, clock, store))
}

fn contact(id: &str, customer: &str, now: OffsetDateTime) -> NewContact {
    NewContact {
        contact: Contact {
            id: id.into(),
            instance_id: "i".into(),
            initial_contact_id: id.into(),
            contact_flow_id: "f".into(),
            queue_id: Some("q".into()),
            customer_participant_id: customer.into(),
            attributes: BTreeMap::new(),
            details: ContactDetails {
                supported_messaging_content_types: vec!["text/plain".into()],
                ..Default::default()
            },
            duration_minutes: 60,
            initiated_at: now,
            enqueued_at: Some(now),
            expires_at: now + Duration::minutes(60),
            ended_at: None,
            disconnect_reason: None,
            updated_at: now,
            agent: None,
            previous_contact_id: None,
            transferred_to: None,
        },
        customer: Participant {
            id: customer.into(),
            contact_id: id.into(),
            role: Role::Customer,
            display_name: "Customer".into(),
            joined_at: now,
            left_at: None,
        },
        items: vec![],
        client_token: Some(format!("token-{id}")),
        stream: None,
        flow_run: None,
    }
}

/// An event with no sender (chat.ended, say).
fn system_event(id: &str, content_type: &str) -> NewItem {
    NewItem {
        id: id.into(),
        item_type: ItemType::Event,
        content_type: content_type.into(),
        content: None,
        sender: None,
    }
}

fn message(id: &str, from: &str, text: &str) -> NewItem {
    NewItem {
        id: id.into(),
        item_type: ItemType::Message,
        content_type: "text/plain".into(),
        content: Some(text.into()),
        sender: Some(Sender {
            participant_id: from.into(),
            display_name: "Customer".into(),
            role: Role::Customer,
        }),
    }
}
