//! Writes and their rules on both stores: sequences and times, idempotency, departures and
//! endings, attributes, receipts, durations, positions by time, last sequences.

use super::*;

pub(super) async fn concurrent_appends_get_gap_free_sequences_and_rising_times(kind: Kind) {
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

pub(super) async fn client_tokens_make_writes_idempotent(kind: Kind) {
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

pub(super) async fn departures_and_endings_close_the_contact(kind: Kind) {
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
        run: None,
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
    let ended = system_event("again", CHAT_ENDED);
    assert!(store
        .end_contact("c1", ended, None)
        .await
        .unwrap()
        .is_none());
}

pub(super) async fn attribute_updates_are_refused_whole_past_the_limit(kind: Kind) {
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

pub(super) async fn receipts_record_delivery_then_read_once(kind: Kind) {
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

pub(super) async fn a_chat_ends_by_itself_when_its_duration_runs_out(kind: Kind) {
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
    let functions = Arc::new(Functions::new(&config).unwrap());
    let bots = Arc::new(Bots::new(&config).unwrap());
    let chat = ChatService::new(
        Arc::new(config),
        Ports {
            store: store.clone(),
            bus: bus.clone(),
            clock: clock.clone(),
            routing: Arc::new(WaitInQueue),
            streams: Arc::new(NoStreaming),
            functions,
            bots,
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
        .create_connection(&started.participant_token, &[], false)
        .await
        .is_err());
}

pub(super) async fn positions_by_time_find_the_first_item_at_or_after_and_the_last_at_or_before(
    kind: Kind,
) {
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

pub(super) async fn times_keep_rising_after_a_restart_even_if_the_clock_went_back(kind: Kind) {
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

pub(super) async fn last_sequences_are_read_for_many_contacts_at_once(kind: Kind) {
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

pub(super) async fn a_transfer_hands_the_chat_on_to_a_new_contact(kind: Kind) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    store
        .update_attributes(
            "c1",
            [("topic".to_string(), "billing".to_string())].into(),
            32_000,
        )
        .await
        .unwrap();
    let at = clock.now();
    let next = store
        .transfer_contact("c1", "c2", "q2", at, None)
        .await
        .unwrap();
    assert_eq!(next.id, "c2");
    assert_eq!(next.initial_contact_id, "c1");
    assert_eq!(next.chat_id(), "c1");
    assert_eq!(next.previous_contact_id.as_deref(), Some("c1"));
    assert_eq!(next.queue_id.as_deref(), Some("q2"));
    assert_eq!(next.customer_participant_id, "p1");
    assert_eq!(next.attributes["topic"], "billing");
    assert!(next.agent.is_none() && !next.is_ended());
    let before = store.contact("c1").await.unwrap().unwrap();
    assert_eq!(before.transferred_to, Some(("c2".to_string(), at)));
    assert_eq!(before.disconnected_at(), Some(at));
    // Only the chat's current contact can be handed on, and only once.
    assert!(matches!(
        store.transfer_contact("c1", "c3", "q2", at, None).await,
        Err(StoreError::ContactNotFound)
    ));
    assert_eq!(store.current_contact("c1").await.unwrap().unwrap().id, "c2");
    // The chat goes on under its first contact's id: items, and then its end, which ends the
    // new contact too.
    store
        .append_item("c1", message("after", "p1", "still here"), None)
        .await
        .unwrap();
    let ended = system_event("ended", CHAT_ENDED);
    assert!(store
        .end_contact("c1", ended, None)
        .await
        .unwrap()
        .is_some());
    assert!(store.contact("c2").await.unwrap().unwrap().is_ended());
    let first = store.contact("c1").await.unwrap().unwrap();
    assert_eq!(
        first.disconnected_at(),
        Some(at),
        "handed on before the end"
    );
    assert!(store
        .expired_contacts(at + time::Duration::days(1))
        .await
        .unwrap()
        .is_empty());
}
