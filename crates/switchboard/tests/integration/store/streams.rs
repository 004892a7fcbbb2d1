//! Streams and leases on both stores: what each stream's outbox gets, and one lease holder.

use super::*;

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

pub(super) async fn streams_get_every_item_from_their_start_until_stopped_or_ended(kind: Kind) {
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

pub(super) async fn one_node_at_a_time_holds_a_named_lease(kind: Kind) {
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
