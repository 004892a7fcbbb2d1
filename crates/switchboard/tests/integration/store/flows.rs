//! Flow runs on both stores: a step is written whole, only from the version it was computed
//! from, and a run of a chat that ended is no longer due.

use super::*;

/// A store holding chat `f1` whose flow run is due at the store's start time.
async fn store_with_flow(kind: Kind) -> Option<(Location, Arc<ManualClock>, Arc<dyn Store>)> {
    let (at, clock, store) = store_with_contact(kind).await?;
    let mut new = contact("f1", "fp1", clock.now());
    new.contact.queue_id = None;
    new.flow_run = Some(NewRun {
        state: "{\"started\":false}".into(),
        wake_at: Some(clock.now()),
    });
    store.create_contact(new).await.unwrap();
    Some((at, clock, store))
}

fn step(version: i64, state: &str, now: OffsetDateTime) -> FlowStep {
    FlowStep {
        chat_id: "f1".into(),
        version,
        state: state.into(),
        wake_at: None,
        items: Vec::new(),
        attributes: BTreeMap::new(),
        max_attribute_bytes: 32_000,
        enqueue: None,
        leave_queue: false,
        end: None,
        log: vec![FlowLogEntry {
            at: now,
            flow_id: "inbound".into(),
            action: "greet".into(),
            action_type: "MessageParticipant".into(),
            outcome: "done".into(),
        }],
    }
}

fn flow_message(id: &str, text: &str) -> NewItem {
    NewItem {
        id: id.into(),
        item_type: ItemType::Message,
        content_type: "text/plain".into(),
        content: Some(text.into()),
        sender: Some(Sender {
            participant_id: "system".into(),
            display_name: "SYSTEM_MESSAGE".into(),
            role: Role::System,
        }),
    }
}

pub(super) async fn a_flow_step_is_written_whole_and_only_from_the_version_it_was_computed_from(
    kind: Kind,
) {
    let Some((_at, clock, store)) = store_with_flow(kind).await else {
        return;
    };
    let now = clock.now();
    let run = store.flow_run("f1").await.unwrap().unwrap();
    assert_eq!((run.version, run.wake_at), (1, Some(now)));
    assert_eq!(
        store.flow_run("c1").await.unwrap(),
        None,
        "no flow-language flow"
    );
    assert_eq!(
        store.due_flow_runs(now).await.unwrap(),
        vec![("f1".to_string(), now)]
    );

    let mut first = step(1, "{\"at\":\"ask\"}", now);
    first.items = vec![flow_message("hello", "Hello"), flow_message("ask", "Why?")];
    first.attributes = [("greeted".to_string(), "yes".to_string())].into();
    first.wake_at = Some(now + Duration::seconds(30));
    let written = store.flow_step(first).await.unwrap();
    assert_eq!(
        written.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(written[0].sender.as_ref().unwrap().role, Role::System);
    let run = store.flow_run("f1").await.unwrap().unwrap();
    assert_eq!(run.version, 2);
    assert_eq!(run.state, "{\"at\":\"ask\"}");
    assert_eq!(run.wake_at, Some(now + Duration::seconds(30)));
    assert!(store.due_flow_runs(now).await.unwrap().is_empty());
    assert_eq!(
        store
            .due_flow_runs(now + Duration::seconds(30))
            .await
            .unwrap()
            .len(),
        1
    );
    let contact = store.contact("f1").await.unwrap().unwrap();
    assert_eq!(contact.attributes["greeted"], "yes");

    // A second step computed from version 1 (another node, or a deadline racing a message)
    // writes nothing.
    let mut stale = step(1, "{\"at\":\"elsewhere\"}", now);
    stale.items = vec![flow_message("twice", "Hello again")];
    assert!(matches!(
        store.flow_step(stale).await,
        Err(StoreError::RunMoved)
    ));
    // A step whose attributes do not fit is refused whole: no message, no version.
    let mut too_big = step(2, "{\"at\":\"big\"}", now);
    too_big.items = vec![flow_message("big", "Big")];
    too_big.attributes = [("blob".to_string(), "x".repeat(40_000))].into();
    assert!(matches!(
        store.flow_step(too_big).await,
        Err(StoreError::AttributesTooLarge(_))
    ));
    let run = store.flow_run("f1").await.unwrap().unwrap();
    assert_eq!((run.version, run.state.as_str()), (2, "{\"at\":\"ask\"}"));
    assert_eq!(store.last_seq("f1").await.unwrap(), 2);

    // Queueing the chat is part of a step.
    let mut queued = step(2, "{\"over\":true}", now);
    queued.enqueue = Some("q2".into());
    assert!(store.flow_step(queued).await.unwrap().is_empty());
    let contact = store.contact("f1").await.unwrap().unwrap();
    assert_eq!(contact.queue_id.as_deref(), Some("q2"));
    assert!(store
        .routed_contacts("i")
        .await
        .unwrap()
        .iter()
        .any(|c| c.id == "f1"));
    let log = store.flow_log("f1").await.unwrap();
    assert_eq!(log.len(), 2, "one entry from each step written");
    assert!(log.iter().all(|e| e.action == "greet"));
}

pub(super) async fn a_flow_step_that_ends_the_chat_ends_its_run_too(kind: Kind) {
    let Some((_at, clock, store)) = store_with_flow(kind).await else {
        return;
    };
    let now = clock.now();
    let mut last = step(1, "{\"over\":true}", now);
    last.items = vec![flow_message("bye", "Goodbye")];
    last.wake_at = Some(now);
    last.end = Some((
        system_event("ended", CHAT_ENDED),
        "CONTACT_FLOW_DISCONNECT".into(),
    ));
    let written = store.flow_step(last).await.unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(written[1].content_type, CHAT_ENDED);
    let contact = store.contact("f1").await.unwrap().unwrap();
    assert!(contact.is_ended());
    assert_eq!(
        contact.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT")
    );
    // Nothing is due in an ended chat, and nothing more is written to it.
    assert!(store
        .due_flow_runs(now + Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.flow_step(step(2, "{}", now)).await,
        Err(StoreError::ContactEnded)
    ));
}

fn stored_flow(id: &str, name: &str, now: OffsetDateTime) -> StoredFlow {
    StoredFlow {
        instance_id: "i".into(),
        id: id.into(),
        name: name.into(),
        flow_type: "CONTACT_FLOW".into(),
        description: None,
        content: "{}".into(),
        status: "SAVED".into(),
        state: "ACTIVE".into(),
        tags: [("team".to_string(), "support".to_string())].into(),
        updated_at: now,
    }
}

pub(super) async fn flows_and_hours_made_through_the_api_are_kept_by_instance_under_unique_names(
    kind: Kind,
) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let now = clock.now();
    store
        .put_contact_flow(stored_flow("f1", "Greeting", now))
        .await
        .unwrap();
    store
        .put_contact_flow(stored_flow("f2", "Survey", now))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_contact_flow(stored_flow("f3", "Greeting", now))
            .await,
        Err(StoreError::FlowNameTaken(_))
    ));
    // The same flow, changed: its own name is no conflict.
    let mut changed = stored_flow("f1", "Greeting", now);
    changed.content = "{\"changed\": true}".into();
    changed.status = "PUBLISHED".into();
    store.put_contact_flow(changed.clone()).await.unwrap();
    assert_eq!(store.contact_flow("i", "f1").await.unwrap(), Some(changed));
    assert_eq!(
        store
            .contact_flows("i")
            .await
            .unwrap()
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["Greeting", "Survey"]
    );
    assert!(store.contact_flows("other").await.unwrap().is_empty());
    assert!(store.delete_contact_flow("i", "f2").await.unwrap());
    assert!(!store.delete_contact_flow("i", "f2").await.unwrap());
    assert_eq!(store.contact_flow("i", "f2").await.unwrap(), None);

    let hours = StoredHours {
        instance_id: "i".into(),
        id: "h1".into(),
        name: "Office".into(),
        description: Some("Weekdays".into()),
        time_zone: "Europe/Berlin".into(),
        config: vec![switchboard::config::OpenRange {
            day: "MONDAY".into(),
            start: "09:00".into(),
            end: "17:00".into(),
        }],
        tags: Default::default(),
        updated_at: now,
    };
    store.put_hours_of_operation(hours.clone()).await.unwrap();
    assert_eq!(
        store.hours_of_operation("i", "h1").await.unwrap(),
        Some(hours.clone())
    );
    let mut twin = hours.clone();
    twin.id = "h2".into();
    assert!(matches!(
        store.put_hours_of_operation(twin).await,
        Err(StoreError::HoursNameTaken(_))
    ));
    assert_eq!(store.hours_of_operations("i").await.unwrap().len(), 1);
    assert!(store.delete_hours_of_operation("i", "h1").await.unwrap());
    assert!(store.hours_of_operations("i").await.unwrap().is_empty());
}

pub(super) async fn quick_connects_made_through_the_api_are_kept_by_instance_under_unique_names(
    kind: Kind,
) {
    let Some((_at, clock, store)) = store_with_contact(kind).await else {
        return;
    };
    let quick = |id: &str, name: &str, target: QuickConnectTarget| StoredQuickConnect {
        instance_id: "i".into(),
        id: id.into(),
        name: name.into(),
        description: None,
        target,
        tags: [("team".to_string(), "billing".to_string())].into(),
        updated_at: clock.now(),
    };
    let billing = quick(
        "qc1",
        "Billing",
        QuickConnectTarget::Queue {
            queue_id: "billing".into(),
            flow_id: Some("transfer".into()),
        },
    );
    store.put_quick_connect(billing.clone()).await.unwrap();
    let ben = quick(
        "qc2",
        "Ben",
        QuickConnectTarget::User {
            user_id: "ben".into(),
            flow_id: None,
        },
    );
    store.put_quick_connect(ben.clone()).await.unwrap();
    assert_eq!(
        store.quick_connect("i", "qc1").await.unwrap(),
        Some(billing.clone())
    );
    assert!(matches!(
        store
            .put_quick_connect(quick(
                "qc3",
                "Billing",
                QuickConnectTarget::PhoneNumber {
                    phone_number: "+14155550100".into()
                }
            ))
            .await,
        Err(StoreError::QuickConnectNameTaken(_))
    ));
    // The same quick connect, changed: its own name is no conflict.
    let mut changed = billing.clone();
    changed.target = QuickConnectTarget::Flow {
        flow_id: "elsewhere".into(),
    };
    store.put_quick_connect(changed.clone()).await.unwrap();
    assert_eq!(
        store
            .quick_connects("i")
            .await
            .unwrap()
            .into_iter()
            .map(|q| (q.name, q.target))
            .collect::<Vec<_>>(),
        [
            ("Ben".to_string(), ben.target),
            ("Billing".to_string(), changed.target)
        ]
    );
    assert!(store.quick_connects("other").await.unwrap().is_empty());

    // Associations with queues: twice is once; taken away; gone with their quick connect.
    let ids = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    store
        .associate_quick_connects("i", "billing", ids(&["qc1", "qc2"]), true)
        .await
        .unwrap();
    store
        .associate_quick_connects("i", "billing", ids(&["qc1"]), true)
        .await
        .unwrap();
    store
        .associate_quick_connects("i", "support", ids(&["qc2"]), true)
        .await
        .unwrap();
    let pair = |q: &str, c: &str| (q.to_string(), c.to_string());
    assert_eq!(
        store.queue_quick_connects("i").await.unwrap(),
        [
            pair("billing", "qc1"),
            pair("billing", "qc2"),
            pair("support", "qc2")
        ]
    );
    store
        .associate_quick_connects("i", "billing", ids(&["qc1", "nothing"]), false)
        .await
        .unwrap();
    assert!(store
        .queue_quick_connects("other")
        .await
        .unwrap()
        .is_empty());
    assert!(store.delete_quick_connect("i", "qc2").await.unwrap());
    assert!(store.queue_quick_connects("i").await.unwrap().is_empty());
    assert!(!store.delete_quick_connect("i", "qc2").await.unwrap());
    assert_eq!(store.quick_connect("i", "qc2").await.unwrap(), None);
}

pub(super) async fn a_transfer_through_a_flow_leaves_the_new_contact_to_its_flow(kind: Kind) {
    // A chat whose inbound flow ran in the flow language, its run at version 2.
    let Some((_at, clock, store)) = store_with_flow(kind).await else {
        return;
    };
    store
        .flow_step(step(1, "{\"inbound\":1}", clock.now()))
        .await
        .unwrap();
    let at = clock.now();
    let run = NewRun {
        state: "{\"transfer\":1}".into(),
        wake_at: Some(at),
    };
    let next = store
        .transfer_contact("f1", "f2", "billing", at, Some(run))
        .await
        .unwrap();
    // The new contact waits in no queue until its flow queues it; the chat's run is the
    // transfer flow's, due at once, and a step computed from the inbound run is refused.
    assert_eq!(next.queue_id, None);
    assert_eq!(next.enqueued_at, None);
    assert_eq!(next.previous_contact_id.as_deref(), Some("f1"));
    let stored = store.flow_run("f1").await.unwrap().unwrap();
    assert_eq!(stored.state, "{\"transfer\":1}");
    assert_eq!(stored.version, 3);
    assert_eq!(stored.wake_at, Some(at));
    assert!(matches!(
        store.flow_step(step(2, "{\"late\":1}", at)).await,
        Err(StoreError::RunMoved)
    ));
    // A chat that had no run gets one.
    assert!(store.flow_run("c1").await.unwrap().is_none());
    let run = NewRun {
        state: "{\"transfer\":2}".into(),
        wake_at: Some(at),
    };
    store
        .transfer_contact("c1", "c2", "billing", at, Some(run))
        .await
        .unwrap();
    let stored = store.flow_run("c1").await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.state.as_str()),
        (1, "{\"transfer\":2}")
    );
    assert_eq!(
        store.due_flow_runs(at).await.unwrap().len(),
        2,
        "both runs are due at once"
    );
}

pub(super) async fn a_departure_switches_the_run_to_the_disconnect_flow_in_the_same_write(
    kind: Kind,
) {
    let Some((_at, clock, store)) = store_with_flow(kind).await else {
        return;
    };
    store
        .flow_step(step(1, "{\"inbound\":1}", clock.now()))
        .await
        .unwrap();
    // The store does not mind whose departure it is: here the chat's one participant's.
    let at = clock.now();
    let departed = store
        .depart(Departure {
            participant_id: "fp1".into(),
            left: NewItem {
                id: "left".into(),
                item_type: ItemType::Event,
                content_type: PARTICIPANT_LEFT.into(),
                content: None,
                sender: None,
            },
            ended: None,
            disconnect_reason: None,
            client_token: None,
            run: Some(NewRun {
                state: "{\"disconnect\":1}".into(),
                wake_at: Some(at),
            }),
        })
        .await
        .unwrap();
    assert_eq!(departed.len(), 1, "the chat goes on");
    let stored = store.flow_run("f1").await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.state.as_str(), stored.wake_at),
        (3, "{\"disconnect\":1}", Some(at))
    );
    assert_eq!(store.due_flow_runs(at).await.unwrap().len(), 1);
    assert!(matches!(
        store.flow_step(step(2, "{\"late\":1}", at)).await,
        Err(StoreError::RunMoved)
    ));
}
