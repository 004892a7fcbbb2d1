//! The store through its trait (SQLite files on disk), and the chat rules that depend on time,
//! with an injected clock instead of sleeps.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard::bus::{Bus, LocalBus};
use switchboard::chat::model::*;
use switchboard::chat::service::Ports;
use switchboard::chat::service::StartChat;
use switchboard::chat::tokens::Tokens;
use switchboard::chat::{ChatService, NoStreaming, WaitInQueue};
use switchboard::clock::{Clock, ManualClock};
use switchboard::config::Config;
use switchboard::store::sqlite::SqliteStore;
use switchboard::store::*;
use time::{Duration, OffsetDateTime};

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

/// A store in a fresh directory holding contact `c1` with customer `p1`.
async fn store_with_contact() -> (tempfile::TempDir, Arc<ManualClock>, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = open(dir.path(), clock.clone()).await;
    store
        .create_contact(contact("c1", "p1", clock.now()))
        .await
        .unwrap();
    (dir, clock, store)
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

#[tokio::test]
async fn concurrent_appends_get_gap_free_sequences_and_rising_times() {
    let (_dir, _clock, store) = store_with_contact().await;
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
    let mut seqs: Vec<i64> = results
        .iter()
        .map(|r| r.as_ref().unwrap().item.seq)
        .collect();
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

#[tokio::test]
async fn client_tokens_make_writes_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = open(dir.path(), clock.clone()).await;
    let first = store
        .create_contact(contact("c1", "p1", clock.now()))
        .await
        .unwrap();
    assert!(!first.existing);
    let mut retry = contact("c2", "p2", clock.now());
    retry.client_token = Some("token-c1".into());
    let again = store.create_contact(retry).await.unwrap();
    assert!(again.existing);
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
    assert!(!a.existing && b.existing);
    assert_eq!(b.item.id, "m1");
    assert_eq!(store.last_seq("c1").await.unwrap(), 1);
}

#[tokio::test]
async fn departures_and_endings_close_the_contact() {
    let (_dir, _clock, store) = store_with_contact().await;
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
    assert_eq!(departed.items.len(), 2);
    assert!(store.depart(leave("d1")).await.unwrap().existing);
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

#[tokio::test]
async fn attribute_updates_are_refused_whole_past_the_limit() {
    let (_dir, _clock, store) = store_with_contact().await;
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

#[tokio::test]
async fn receipts_record_delivery_then_read_once() {
    let (_dir, clock, store) = store_with_contact().await;
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
    assert!(retried.existing);
    assert_eq!(retried.event_id, "e-r2");
    let mut bad = receipt(ReceiptKind::Read, "r3");
    bad.message_id = "nope".into();
    assert!(matches!(
        store.record_receipt(bad).await,
        Err(StoreError::MessageNotFound)
    ));
    assert_eq!(store.receipts(&["m1".to_string()]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_chat_ends_by_itself_when_its_duration_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = open(dir.path(), clock.clone()).await;
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
    assert!(pushed.frame.contains("chat.ended"), "{}", pushed.frame);
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

#[tokio::test]
async fn positions_by_time_find_the_first_item_at_or_after_and_the_last_at_or_before() {
    let (_dir, clock, store) = store_with_contact().await;
    let mut times = Vec::new();
    for n in 1..=5 {
        clock.advance(Duration::seconds(10));
        let appended = store
            .append_item("c1", message(&format!("m{n}"), "p1", "x"), None)
            .await
            .unwrap();
        times.push(appended.item.absolute_time);
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

#[tokio::test]
async fn times_keep_rising_after_a_restart_even_if_the_clock_went_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let last = {
        let store = open(dir.path(), clock.clone()).await;
        store
            .create_contact(contact("c1", "p1", clock.now()))
            .await
            .unwrap();
        clock.advance(Duration::minutes(5));
        store
            .append_item("c1", message("m1", "p1", "before"), None)
            .await
            .unwrap()
            .item
    };
    // The restarted server's clock is behind the last item (a clock adjusted backwards).
    let behind = Arc::new(ManualClock::new(start_time()));
    let store = open(dir.path(), behind).await;
    let next = store
        .append_item("c1", message("m2", "p1", "after"), None)
        .await
        .unwrap()
        .item;
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
    assert!(retried.existing);
    assert_eq!(retried.item.id, "m1");
    let next = store
        .append_item("c1", message("m3", "p1", "three"), None)
        .await
        .unwrap();
    assert_eq!(next.item.seq, 3);
    assert_eq!(store.last_seq("c1").await.unwrap(), 3);
}
