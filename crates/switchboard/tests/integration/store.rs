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
use switchboard::model::*;
use switchboard::store::postgres::{PoolSettings, PostgresStore};
use switchboard::store::sqlite::SqliteStore;
use switchboard::store::*;
use time::{Duration, OffsetDateTime};

use crate::common::PostgresDatabase;

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
);

/// A store in a fresh place holding contact `c1` with customer `p1`.
/// A store with one contact on it; `None` when the test is skipped (no PostgreSQL server here).
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

async fn concurrent_appends_get_gap_free_sequences_and_rising_times(kind: Kind) {
    let Some((_at, _clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let appends = (0..200).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_item(
                    "c1",
                    message(&format!("m{n}"), "p1", "x"),
                    Some(format!("t{n}")),
                )
                .await
                .unwrap()
        })
    });
    let results = futures::future::join_all(appends).await;
    let mut seqs: Vec<i64> = results.iter().map(|r| r.as_ref().unwrap().seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let items = store
        .items(
            "c1",
            Range::Forward {
                from: 1,
                limit: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(items.len(), 200);
    // The clock never moved, yet times strictly rise with the sequence.
    assert!(items
        .windows(2)
        .all(|w| w[0].absolute_time < w[1].absolute_time));
    assert_eq!(store.last_seq("c1").await.unwrap(), 200);
    let backward = store
        .items(
            "c1",
            Range::Backward {
                from: 200,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        backward.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![200, 199, 198]
    );
}

async fn client_tokens_make_writes_idempotent(kind: Kind) {
    let Some(at) = Location::fresh(kind).await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = at.open(clock.clone()).await;
    let first = store
        .create_contact(contact("c1", "p1", clock.now()))
        .await
        .unwrap();
    assert!(!first.replayed);
    let mut retry = contact("c2", "p2", clock.now());
    retry.client_token = Some("token-c1".into());
    let again = store.create_contact(retry).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.contact.id, "c1");
    assert!(store.contact("c2").await.unwrap().is_none());

    let a = store
        .append_item("c1", message("m1", "p1", "x"), Some("t".into()))
        .await
        .unwrap();
    let b = store
        .append_item("c1", message("m2", "p1", "y"), Some("t".into()))
        .await
        .unwrap();
    assert!(!a.replayed && b.replayed);
    assert_eq!(b.id, "m1");
    assert_eq!(store.last_seq("c1").await.unwrap(), 1);
}

async fn departures_and_endings_close_the_contact(kind: Kind) {
    let Some((_at, _clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let leave = |token: &str| Departure {
        participant_id: "p1".into(),
        left: NewItem {
            id: format!("left-{token}"),
            item_type: ItemType::Event,
            content_type: PARTICIPANT_LEFT.into(),
            content: None,
            sender: None,
        },
        ended: Some(NewItem {
            id: format!("ended-{token}"),
            item_type: ItemType::Event,
            content_type: CHAT_ENDED.into(),
            content: None,
            sender: None,
        }),
        disconnect_reason: Some("CUSTOMER_DISCONNECT".into()),
        client_token: Some(token.into()),
    };
    let departed = store.depart(leave("d1")).await.unwrap();
    assert_eq!(departed.len(), 2);
    assert!(store.depart(leave("d1")).await.unwrap().replayed);
    assert!(matches!(
        store.depart(leave("d2")).await,
        Err(StoreError::ParticipantLeft)
    ));
    assert!(matches!(
        store
            .append_item("c1", message("late", "p1", "x"), None)
            .await,
        Err(StoreError::ContactEnded)
    ));
    let contact = store.contact("c1").await.unwrap().unwrap();
    assert!(contact.is_ended());
    assert_eq!(
        contact.disconnect_reason.as_deref(),
        Some("CUSTOMER_DISCONNECT")
    );
    let ended = NewItem {
        id: "again".into(),
        item_type: ItemType::Event,
        content_type: CHAT_ENDED.into(),
        content: None,
        sender: None,
    };
    assert!(store
        .end_contact("c1", ended, None)
        .await
        .unwrap()
        .is_none());
}

async fn attribute_updates_are_refused_whole_past_the_limit(kind: Kind) {
    let Some((_at, _clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let attrs = |k: &str, n: usize| BTreeMap::from([(k.to_string(), "v".repeat(n))]);
    store
        .update_attributes("c1", attrs("a", 20_000), 32_768)
        .await
        .unwrap();
    let err = store
        .update_attributes("c1", attrs("b", 20_000), 32_768)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AttributesTooLarge(32_768)));
    let stored = store.contact("c1").await.unwrap().unwrap().attributes;
    assert_eq!(stored.keys().collect::<Vec<_>>(), vec!["a"]);
}

async fn receipts_record_delivery_then_read_once(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    store
        .append_item("c1", message("m1", "p1", "x"), None)
        .await
        .unwrap();
    let receipt = |kind, token: &str| NewReceipt {
        contact_id: "c1".into(),
        message_id: "m1".into(),
        recipient_participant_id: "p2".into(),
        kind,
        event_id: format!("e-{token}"),
        client_token: Some(token.into()),
    };
    let delivered = store
        .record_receipt(receipt(ReceiptKind::Delivered, "r1"))
        .await
        .unwrap();
    assert!(delivered.receipt.delivered_at.is_some() && delivered.receipt.read_at.is_none());
    clock.advance(Duration::seconds(5));
    let read = store
        .record_receipt(receipt(ReceiptKind::Read, "r2"))
        .await
        .unwrap();
    assert_eq!(read.receipt.delivered_at, delivered.receipt.delivered_at);
    assert_eq!(
        read.receipt.read_at,
        Some(start_time() + Duration::seconds(5))
    );
    let retried = store
        .record_receipt(receipt(ReceiptKind::Read, "r2"))
        .await
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.event_id, "e-r2");
    let mut bad = receipt(ReceiptKind::Read, "r3");
    bad.message_id = "nope".into();
    assert!(matches!(
        store.record_receipt(bad).await,
        Err(StoreError::MessageNotFound)
    ));
    assert_eq!(store.receipts(&["m1".to_string()]).await.unwrap().len(), 1);
}

async fn a_chat_ends_by_itself_when_its_duration_runs_out(kind: Kind) {
    let Some(at) = Location::fresh(kind).await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = at.open(clock.clone()).await;
    let config = Config::parse(
        r#"
        [[instances]]
        id = "i"
        [[instances.queues]]
        id = "q"
        name = "Q"
        [[instances.contact_flows]]
        id = "f"
        name = "F"
        queue = "q"
        "#,
    )
    .unwrap();
    let bus = Arc::new(LocalBus::new(64));
    let chat = ChatService::new(
        Arc::new(config),
        Ports {
            store: store.clone(),
            bus: bus.clone(),
            clock: clock.clone(),
            routing: Arc::new(WaitInQueue),
            streams: Arc::new(NoStreaming),
        },
        Tokens::new(b"test".to_vec()),
        "ws://127.0.0.1:1".into(),
    );
    let started = chat
        .start_chat(StartChat {
            instance_id: "i".into(),
            contact_flow_id: "f".into(),
            display_name: "Clocked".into(),
            duration_minutes: Some(60),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut watcher = bus.subscribe(&started.contact_id);

    clock.advance(Duration::minutes(59));
    assert_eq!(chat.end_expired_chats().await.unwrap(), 0);
    assert!(!store
        .contact(&started.contact_id)
        .await
        .unwrap()
        .unwrap()
        .is_ended());

    clock.advance(Duration::minutes(1));
    assert_eq!(chat.end_expired_chats().await.unwrap(), 1);
    let contact = store.contact(&started.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.ended_at, Some(start_time() + Duration::minutes(60)));
    let pushed = watcher.recv().await.unwrap();
    assert!(pushed.item.contains("chat.ended"), "{}", pushed.item);
    let last = store
        .items(
            &started.contact_id,
            Range::Backward {
                from: i64::MAX,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(last[0].content_type, CHAT_ENDED);
    // The customer's credentials stop working with the chat.
    assert!(chat
        .create_connection(&started.participant_token, &[])
        .await
        .is_err());
}

async fn positions_by_time_find_the_first_item_at_or_after_and_the_last_at_or_before(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let mut times = Vec::new();
    for n in 1..=5 {
        clock.advance(Duration::seconds(10));
        let appended = store
            .append_item("c1", message(&format!("m{n}"), "p1", "x"), None)
            .await
            .unwrap();
        times.push(appended.absolute_time);
    }
    let seq_at = |at, forward| {
        let store = store.clone();
        async move { store.seq_at("c1", at, forward).await.unwrap() }
    };
    // Exactly at an item's time: that item, both ways.
    assert_eq!(seq_at(times[2], true).await, Some(3));
    assert_eq!(seq_at(times[2], false).await, Some(3));
    // Between two items: the later one forward, the earlier one backward.
    let between = times[2] + Duration::seconds(5);
    assert_eq!(seq_at(between, true).await, Some(4));
    assert_eq!(seq_at(between, false).await, Some(3));
    // Before the first and after the last.
    assert_eq!(seq_at(times[0] - Duration::seconds(1), true).await, Some(1));
    assert_eq!(seq_at(times[0] - Duration::seconds(1), false).await, None);
    assert_eq!(seq_at(times[4] + Duration::seconds(1), true).await, None);
    assert_eq!(
        seq_at(times[4] + Duration::seconds(1), false).await,
        Some(5)
    );
    // Another contact's items are not looked at.
    assert_eq!(store.seq_at("c2", times[2], true).await.unwrap(), None);
}

async fn times_keep_rising_after_a_restart_even_if_the_clock_went_back(kind: Kind) {
    let Some(at) = Location::fresh(kind).await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(start_time()));
    let last = {
        let store = at.open(clock.clone()).await;
        store
            .create_contact(contact("c1", "p1", clock.now()))
            .await
            .unwrap();
        clock.advance(Duration::minutes(5));
        store
            .append_item("c1", message("m1", "p1", "before"), None)
            .await
            .unwrap()
            .value
    };
    // The restarted server's clock is behind the last item (a clock adjusted backwards).
    let behind = Arc::new(ManualClock::new(start_time()));
    let store = at.open(behind).await;
    let next = store
        .append_item("c1", message("m2", "p1", "after"), None)
        .await
        .unwrap()
        .value;
    assert_eq!(next.seq, last.seq + 1);
    assert!(next.absolute_time > last.absolute_time);
}

#[tokio::test]
async fn items_stored_before_the_transcript_table_was_clustered_survive_the_migration() {
    use sqlx::ConnectOptions;
    use std::str::FromStr;

    // A database as the first schema left it, with a contact, a participant and two items.
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("first-schema-only");
    std::fs::create_dir(&migrations).unwrap();
    let first = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite/0001_chat.sql"
    );
    std::fs::copy(first, migrations.join("0001_chat.sql")).unwrap();
    let path = dir.path().join("store.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let t0 = switchboard::clock::to_millis(start_time());
    for statement in [
        format!(
            "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id,
                 customer_participant_id, attributes, details, duration_minutes, initiated_at,
                 expires_at, updated_at)
             VALUES ('c1', 'i', 'c1', 'f', 'p1', '{{}}', '{{}}', 60, {t0}, {}, {t0})",
            t0 + 3_600_000
        ),
        format!(
            "INSERT INTO participants (id, contact_id, role, display_name, joined_at)
             VALUES ('p1', 'c1', 'CUSTOMER', 'Customer', {t0})"
        ),
        format!(
            "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                 display_name, participant_role, absolute_time, client_token)
             VALUES ('c1', 1, 'm1', 'MESSAGE', 'text/plain', 'one', 'p1', 'Customer', 'CUSTOMER',
                     {}, 'tok-1'),
                    ('c1', 2, 'm2', 'MESSAGE', 'text/plain', 'two', 'p1', 'Customer', 'CUSTOMER',
                     {}, NULL)",
            t0 + 1000,
            t0 + 2000
        ),
    ] {
        sqlx::query(&statement).execute(&mut conn).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();

    // Opening the store applies the later migrations; everything is still there and still works.
    let clock = Arc::new(ManualClock::new(start_time() + Duration::seconds(10)));
    let store = open(dir.path(), clock).await;
    let items = store
        .items("c1", Range::Forward { from: 1, limit: 10 })
        .await
        .unwrap();
    let contents: Vec<_> = items.iter().map(|i| i.content.clone().unwrap()).collect();
    assert_eq!(contents, ["one", "two"]);
    assert_eq!(store.item("c1", "m2").await.unwrap().unwrap().seq, 2);
    // The old ClientToken still answers with the old item; a new message follows the old ones.
    let retried = store
        .append_item("c1", message("m1-again", "p1", "one"), Some("tok-1".into()))
        .await
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.id, "m1");
    let next = store
        .append_item("c1", message("m3", "p1", "three"), None)
        .await
        .unwrap();
    assert_eq!(next.seq, 3);
    assert_eq!(store.last_seq("c1").await.unwrap(), 3);
}

fn new_stream(id: &str, arn: &str, token: Option<&str>, now: OffsetDateTime) -> NewStream {
    NewStream {
        stream: Stream {
            id: id.into(),
            contact_id: "c1".into(),
            instance_id: "i".into(),
            endpoint_arn: arn.into(),
            started_at: now,
            stopped_at: None,
        },
        client_token: token.map(str::to_string),
    }
}

async fn outbox_ids(store: &Arc<dyn Store>, stream: &str) -> Vec<String> {
    store
        .outbox(stream, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.item_id)
        .collect()
}

async fn streams_get_every_item_from_their_start_until_stopped_or_ended(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let now = clock.now();
    store
        .append_item("c1", message("m1", "p1", "before"), None)
        .await
        .unwrap();

    // Starting: idempotent by token, two at most, not the same endpoint twice.
    let a = store
        .start_stream(new_stream("s-a", "arn-a", Some("tok-a"), now))
        .await
        .unwrap();
    assert!(!a.replayed);
    let again = store
        .start_stream(new_stream("s-other", "arn-a", Some("tok-a"), now))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.id, "s-a");
    assert!(matches!(
        store
            .start_stream(new_stream("s-x", "arn-a", Some("tok-x"), now))
            .await,
        Err(StoreError::StreamConflict(_))
    ));
    assert!(matches!(
        store
            .start_stream(new_stream("s-y", "arn-y", Some("tok-a"), now))
            .await,
        Err(StoreError::StreamConflict(_))
    ));
    store
        .start_stream(new_stream("s-b", "arn-b", Some("tok-b"), now))
        .await
        .unwrap();
    assert!(matches!(
        store
            .start_stream(new_stream("s-c", "arn-c", Some("tok-c"), now))
            .await,
        Err(StoreError::StreamLimit(2))
    ));

    // Items, and events the transcript does not keep, go to every active stream, in order; a
    // stream to a new endpoint starts with the chat so far.
    store
        .append_item("c1", message("m2", "p1", "during"), None)
        .await
        .unwrap();
    let mut typing = serde_json::Map::new();
    typing.insert("ContentType".into(), TYPING_EVENT.into());
    typing.insert("Id".into(), "t1".into());
    store.stream_event("c1", "t1", typing).await.unwrap();
    assert_eq!(outbox_ids(&store, "s-a").await, ["m1", "m2", "t1"]);
    assert_eq!(outbox_ids(&store, "s-b").await, ["m1", "m2", "t1"]);
    let entries = store.outbox("s-a", 10).await.unwrap();
    let m2: serde_json::Value = serde_json::from_str(&entries[1].message).unwrap();
    assert_eq!(m2["Id"], "m2");
    assert_eq!(m2["Content"], "during");
    assert_eq!(m2["ContactId"], "c1");
    assert_eq!(m2["InitialContactId"], "c1");
    let t1: serde_json::Value = serde_json::from_str(&entries[2].message).unwrap();
    assert_eq!(t1["ContentType"], TYPING_EVENT);
    assert_eq!(t1["ContactId"], "c1");

    // Published rows leave the outbox; a refused one becomes a dead letter.
    store.outbox_published("s-a", entries[0].id).await.unwrap();
    store
        .outbox_dead_letter(&entries[2], "answered 400")
        .await
        .unwrap();
    assert_eq!(outbox_ids(&store, "s-a").await, ["m2"]);
    assert_eq!(store.outbox_counts().await.unwrap(), (4, 1));
    let backlogged = store.backlogged_streams().await.unwrap();
    assert_eq!(backlogged.len(), 2);

    // A stopped stream gets nothing more; started again, it carries on without the history.
    assert!(store
        .stop_stream("c1", "s-a")
        .await
        .unwrap()
        .stopped_at
        .is_some());
    store.stop_stream("c1", "s-a").await.unwrap();
    assert!(matches!(
        store.stop_stream("c1", "nope").await,
        Err(StoreError::StreamNotFound)
    ));
    store
        .append_item("c1", message("m3", "p1", "after"), None)
        .await
        .unwrap();
    assert_eq!(outbox_ids(&store, "s-a").await, ["m2"]);
    assert_eq!(outbox_ids(&store, "s-b").await, ["m1", "m2", "t1", "m3"]);
    store
        .start_stream(new_stream("s-a2", "arn-a", Some("tok-a2"), now))
        .await
        .unwrap();
    assert!(outbox_ids(&store, "s-a2").await.is_empty());
    let pending: Vec<String> = store
        .pending_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(pending.len(), 3, "{pending:?}");
    for id in ["s-a", "s-b", "s-a2"] {
        assert!(pending.iter().any(|p| p == id), "{id} in {pending:?}");
    }

    // The chat's end is the last item of its streams, which then stop.
    let ended = store
        .end_contact("c1", system_event("e1", CHAT_ENDED), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        outbox_ids(&store, "s-a2").await,
        std::slice::from_ref(&ended.id)
    );
    assert_eq!(outbox_ids(&store, "s-b").await.last(), Some(&ended.id));
    assert!(store
        .stream("s-b")
        .await
        .unwrap()
        .unwrap()
        .stopped_at
        .is_some());
    assert!(matches!(
        store
            .start_stream(new_stream("s-d", "arn-d", Some("tok-d"), now))
            .await,
        Err(StoreError::ContactEnded)
    ));
}

const TYPING_EVENT: &str = "application/vnd.amazonaws.connect.event.typing";

fn system_event(id: &str, content_type: &str) -> NewItem {
    NewItem {
        id: id.into(),
        item_type: ItemType::Event,
        content_type: content_type.into(),
        content: None,
        sender: None,
    }
}

async fn one_node_at_a_time_holds_a_named_lease(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let lease = |clock: &ManualClock| clock.now() + Duration::seconds(10);
    let claim = |node: &'static str| {
        let (store, until) = (store.clone(), lease(&clock));
        async move { store.claim_lease("routing/x", node, until).await.unwrap() }
    };
    assert!(claim("node-a").await, "a free lease is taken");
    assert!(!claim("node-b").await, "held by another node");
    assert!(
        store
            .claim_lease("routing/y", "node-b", lease(&clock))
            .await
            .unwrap(),
        "another name is another lease"
    );
    clock.advance(Duration::seconds(8));
    assert!(claim("node-a").await, "renewed");
    clock.advance(Duration::seconds(8));
    assert!(!claim("node-b").await, "the renewal still runs");
    // Node A stops renewing (it died): once the lease has run out, B takes it over.
    clock.advance(Duration::seconds(3));
    assert!(claim("node-b").await);
    assert!(!claim("node-a").await, "A lost it");
    store.release_lease("routing/x", "node-a").await.unwrap();
    assert!(!claim("node-a").await, "only the holder can give it up");
    store.release_lease("routing/x", "node-b").await.unwrap();
    assert!(claim("node-a").await, "given up, it is free at once");
}

async fn last_sequences_are_read_for_many_contacts_at_once(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    store
        .create_contact(contact("c2", "p2", clock.now()))
        .await
        .unwrap();
    for n in 0..3 {
        store
            .append_item("c1", message(&format!("m{n}"), "p1", "x"), None)
            .await
            .unwrap();
    }
    let c1 = store.last_seq("c1").await.unwrap();
    let c2 = store.last_seq("c2").await.unwrap();
    assert_eq!(c1, c2 + 3, "c1 has three more items");
    let ids = ["c1", "c2", "missing"].map(String::from);
    let mut found = store.last_seqs(&ids).await.unwrap();
    found.sort();
    assert_eq!(found, vec![("c1".to_string(), c1), ("c2".to_string(), c2)]);
}
