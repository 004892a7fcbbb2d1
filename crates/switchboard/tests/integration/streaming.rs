//! Streaming to webhooks, end to end: the real server publishes to a receiver in the test,
//! which checks signatures and can fail deliveries on purpose.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_connect::types::ChatStreamingConfiguration;
use serde_json::Value;

use crate::common::*;
use crate::receiver::{Answer, Receiver};

const ACCOUNT: &str = "123456789012";
pub const SECRET: &str = "receiver-secret-0123456789";

/// Streaming configuration naming `hooks`, with fast retries and short timeouts, and an SNS
/// endpoint nothing listens on.
pub fn streaming_config(hooks: &[(&str, &Receiver)]) -> String {
    let mut text = String::from(
        r#"
[streaming]
retry_initial_ms = 20
retry_max_seconds = 1

[streaming.sns]
endpoint_url = "http://127.0.0.1:9"
access_key_id = "AKIDSNS"
secret_access_key = "sns-secret"
timeout_seconds = 1
"#,
    );
    for (name, receiver) in hooks {
        text.push_str(&format!(
            "\n[[streaming.webhooks]]\nname = \"{name}\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_seconds = 1\n",
            receiver.url
        ));
    }
    text
}

pub fn webhook_arn(name: &str) -> String {
    format!("arn:switchboard:webhook:{REGION}:{ACCOUNT}:{name}")
}

async fn streaming_server(dir: &std::path::Path, hooks: &[(&str, &Receiver)]) -> TestServer {
    TestServer::builder()
        .dir(dir)
        .config(&streaming_config(hooks))
        .start()
        .await
}

/// A ChatStreamingConfiguration to `endpoint`.
pub fn streaming_to(endpoint: &str) -> ChatStreamingConfiguration {
    ChatStreamingConfiguration::builder()
        .streaming_endpoint_arn(endpoint)
        .build()
        .unwrap()
}

/// StartChatContact with ChatStreamingConfiguration, and the customer connected.
async fn start_streamed_chat(server: &TestServer, name: &str, endpoint: &str) -> Chat {
    let started = start_chat_request(server, name)
        .initial_message(
            aws_sdk_connect::types::ChatMessage::builder()
                .content_type("text/plain")
                .content(format!("{name} says hello"))
                .build()
                .unwrap(),
        )
        .chat_streaming_configuration(streaming_to(endpoint))
        .send()
        .await
        .expect("StartChatContact with streaming");
    assert!(started.streaming_id().is_some(), "StreamingId is answered");
    customer_of(server, &started).await
}

async fn send(server: &TestServer, chat: &Chat, text: &str) -> String {
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content(text)
        .send()
        .await
        .expect("SendMessage")
        .id()
        .unwrap()
        .to_string()
}

pub async fn start_streaming(server: &TestServer, contact_id: &str, endpoint: &str) -> String {
    server
        .connect()
        .start_contact_streaming()
        .instance_id(INSTANCE)
        .contact_id(contact_id)
        .chat_streaming_configuration(streaming_to(endpoint))
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("StartContactStreaming")
        .streaming_id()
        .to_string()
}

async fn disconnect(server: &TestServer, chat: &Chat) {
    server
        .participant()
        .disconnect_participant()
        .connection_token(&chat.connection_token)
        .send()
        .await
        .expect("DisconnectParticipant");
}

/// Waits until every outbox is empty.
async fn wait_for_empty_outboxes(server: &TestServer) {
    tokio::time::timeout(PATIENCE, async {
        while metric(server, "switchboard_stream_backlog", "").await > 0.0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the outboxes never emptied");
}

#[tokio::test]
async fn a_chat_streams_every_item_in_order_with_its_attributes_and_a_valid_signature() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(SECRET).await;
    let server = streaming_server(dir.path(), &[("crm", &receiver)]).await;
    let chat = start_streamed_chat(&server, "Jane", &webhook_arn("crm")).await;
    let participant = server.participant();

    let first = send(&server, &chat, "Where is my order?").await;
    participant
        .send_event()
        .connection_token(&chat.connection_token)
        .content_type(TYPING)
        .send()
        .await
        .expect("typing");
    participant
        .send_event()
        .connection_token(&chat.connection_token)
        .content_type(READ)
        .content(format!(r#"{{"messageId":"{first}"}}"#))
        .send()
        .await
        .expect("read receipt");
    disconnect(&server, &chat).await;
    receiver.wait_for_count(ENDED, 1).await;

    let accepted = receiver.accepted();
    let kinds: Vec<&str> = accepted.iter().map(|r| r.content_type()).collect();
    assert_eq!(
        kinds,
        [
            JOINED,
            "text/plain",
            "text/plain",
            TYPING,
            METADATA,
            LEFT,
            ENDED
        ]
    );
    assert_eq!(accepted[1].item["Content"], "Jane says hello");
    assert_eq!(accepted[2].id(), first);
    assert_eq!(accepted[4].item["MessageMetadata"]["MessageId"], first);
    let ids: HashSet<&str> = accepted.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), accepted.len(), "every item has its own Id");
    assert_eq!(receiver.bad_signatures(), 0);
    let streams: HashSet<&str> = accepted.iter().map(|r| r.streaming_id.as_str()).collect();
    assert_eq!(streams.len(), 1, "one stream");
    for r in &accepted {
        assert_eq!(r.message_id, r.id(), "MessageId is the item's Id");
        assert_eq!(r.item["InitialContactId"], chat.contact_id.as_str());
        assert_eq!(r.item["ContactId"], chat.contact_id.as_str());
        let a = &r.attributes;
        let names: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "AccountId",
                "ContactId",
                "ContentType",
                "InitialContactId",
                "InstanceId",
                "MessageVisibility",
                "ParticipantRole",
                "Type"
            ]
        );
        assert_eq!(a["InitialContactId"], chat.contact_id);
        assert_eq!(a["ContactId"], chat.contact_id);
        assert_eq!(a["InstanceId"], INSTANCE);
        assert_eq!(a["AccountId"], ACCOUNT);
        assert_eq!(a["ContentType"], r.content_type());
        assert_eq!(a["Type"], r.item["Type"].as_str().unwrap());
        assert_eq!(a["MessageVisibility"], "ALL");
        let role = r.item["ParticipantRole"].as_str().unwrap_or("SYSTEM");
        assert_eq!(a["ParticipantRole"], role);
    }
    assert_eq!(accepted[0].attributes["ParticipantRole"], "CUSTOMER");
    assert_eq!(accepted[6].attributes["ParticipantRole"], "SYSTEM");
    assert_eq!(accepted[3].attributes["Type"], "EVENT");
    assert_eq!(accepted[4].attributes["Type"], "MESSAGEMETADATA");

    // The stream ended with the chat: its outbox is empty and its worker is gone.
    wait_for_empty_outboxes(&server).await;
    tokio::time::timeout(PATIENCE, async {
        while metric(&server, "switchboard_streams_active", "").await > 0.0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the stream's worker did not finish after chat.ended");
    assert_eq!(
        metric(
            &server,
            "switchboard_stream_published_total",
            "endpoint=\"webhook\""
        )
        .await,
        7.0
    );
}

#[tokio::test]
async fn start_contact_streaming_is_validated_limited_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Receiver::start(SECRET).await, Receiver::start(SECRET).await);
    let server = streaming_server(dir.path(), &[("a", &a), ("b", &b)]).await;
    let connect = server.connect();
    let chat = start_chat(&server, "Sam").await;
    let start = |arn: String, token: &str| {
        connect
            .start_contact_streaming()
            .instance_id(INSTANCE)
            .contact_id(&chat.contact_id)
            .chat_streaming_configuration(streaming_to(&arn))
            .client_token(token)
            .send()
    };
    let code = |e: &aws_sdk_connect::error::SdkError<_>| {
        use aws_sdk_connect::error::ProvideErrorMetadata;
        let e: &aws_sdk_connect::operation::start_contact_streaming::StartContactStreamingError =
            e.as_service_error().expect("a service error");
        (
            e.code().unwrap().to_string(),
            e.message().unwrap().to_string(),
        )
    };

    let fifo = start(format!("arn:aws:sns:{REGION}:{ACCOUNT}:chat.fifo"), "t0")
        .await
        .unwrap_err();
    assert_eq!(code(&fifo).0, "InvalidRequestException");
    assert!(code(&fifo).1.contains("FIFO"), "{:?}", code(&fifo));
    let region = start(format!("arn:aws:sns:eu-west-1:{ACCOUNT}:chat"), "t0")
        .await
        .unwrap_err();
    assert_eq!(code(&region).0, "InvalidRequestException");
    let unknown_hook = start(webhook_arn("nobody"), "t0").await.unwrap_err();
    assert_eq!(code(&unknown_hook).0, "InvalidRequestException");
    let no_contact = connect
        .start_contact_streaming()
        .instance_id(INSTANCE)
        .contact_id("no-such-contact")
        .chat_streaming_configuration(streaming_to(&webhook_arn("a")))
        .client_token("t0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_contact).0, "ResourceNotFoundException");

    let first = start(webhook_arn("a"), "t1").await.unwrap();
    let again = start(webhook_arn("a"), "t1").await.unwrap();
    assert_eq!(first.streaming_id(), again.streaming_id(), "ClientToken");
    let reused = start(webhook_arn("b"), "t1").await.unwrap_err();
    assert_eq!(code(&reused).0, "InvalidRequestException");
    let twice = start(webhook_arn("a"), "t2").await.unwrap_err();
    assert_eq!(code(&twice).0, "InvalidRequestException");
    let sns = start(format!("arn:aws:sns:{REGION}:{ACCOUNT}:chat"), "t3")
        .await
        .unwrap();
    let third = start(webhook_arn("b"), "t4").await.unwrap_err();
    assert_eq!(code(&third).0, "LimitExceededException");

    // The first stream of a chat also carries what the chat said before it started.
    a.wait_for_count(JOINED, 1).await;

    let stop = |id: &str| {
        connect
            .stop_contact_streaming()
            .instance_id(INSTANCE)
            .contact_id(&chat.contact_id)
            .streaming_id(id)
            .send()
    };
    let unknown = stop("no-such-stream").await.unwrap_err();
    assert!(matches!(
        unknown.as_service_error(),
        Some(e) if e.is_resource_not_found_exception()
    ));
    stop(sns.streaming_id())
        .await
        .expect("StopContactStreaming");
    stop(sns.streaming_id()).await.expect("stopping again");
    let replaced = start(webhook_arn("b"), "t5").await.expect("room again");

    // An endpoint new to the chat starts with what the chat said before.
    let said = send(&server, &chat, "anyone there?").await;
    b.wait_until("b gets the message", |r| {
        r.accepted().iter().any(|x| x.id() == said)
    })
    .await;
    let kinds: Vec<String> = b
        .accepted()
        .iter()
        .map(|x| x.content_type().to_string())
        .collect();
    assert_eq!(kinds, [JOINED, "text/plain"]);
    assert!(b
        .accepted()
        .iter()
        .all(|x| x.streaming_id == replaced.streaming_id()));

    disconnect(&server, &chat).await;
    let ended = start(webhook_arn("b"), "t6").await.unwrap_err();
    assert_eq!(code(&ended).0, "InvalidRequestException");
}

#[tokio::test]
async fn a_stopped_stream_gets_nothing_more_while_the_other_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Receiver::start(SECRET).await, Receiver::start(SECRET).await);
    let server = streaming_server(dir.path(), &[("a", &a), ("b", &b)]).await;
    let chat = start_chat(&server, "Kim").await;
    let stream_a = start_streaming(&server, &chat.contact_id, &webhook_arn("a")).await;
    start_streaming(&server, &chat.contact_id, &webhook_arn("b")).await;
    let before = send(&server, &chat, "before").await;
    for r in [&a, &b] {
        r.wait_until("the first message", |r| {
            r.accepted().iter().any(|x| x.id() == before)
        })
        .await;
    }
    server
        .connect()
        .stop_contact_streaming()
        .instance_id(INSTANCE)
        .contact_id(&chat.contact_id)
        .streaming_id(&stream_a)
        .send()
        .await
        .expect("StopContactStreaming");
    let after = send(&server, &chat, "after").await;
    b.wait_until("the second message on b", |r| {
        r.accepted().iter().any(|x| x.id() == after)
    })
    .await;
    wait_for_empty_outboxes(&server).await;
    let a_so_far: Vec<String> = a.accepted().iter().map(|x| x.id().to_string()).collect();
    assert_eq!(
        a_so_far.last(),
        Some(&before),
        "nothing after the stop reaches a"
    );

    // Started again, a carries on from there: no history again, and not what it missed.
    let restarted = start_streaming(&server, &chat.contact_id, &webhook_arn("a")).await;
    let again = send(&server, &chat, "again").await;
    disconnect(&server, &chat).await;
    a.wait_for_count(ENDED, 1).await;
    let resumed: Vec<String> = a.accepted()[a_so_far.len()..]
        .iter()
        .map(|x| {
            assert_eq!(x.streaming_id, restarted);
            x.content_type().to_string()
        })
        .collect();
    assert_eq!(resumed, ["text/plain", LEFT, ENDED]);
    assert_eq!(a.accepted()[a_so_far.len()].id(), again);
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_refused_items_become_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(SECRET).await;
    receiver.behave(|item, earlier| match item["Content"].as_str() {
        Some("flaky") if earlier < 2 => Answer::Status(503),
        Some("slow") if earlier == 0 => Answer::Hang,
        Some("poison") => Answer::Status(422),
        _ => Answer::Accept,
    });
    let server = streaming_server(dir.path(), &[("crm", &receiver)]).await;
    let chat = start_streamed_chat(&server, "Lee", &webhook_arn("crm")).await;
    let flaky = send(&server, &chat, "flaky").await;
    let slow = send(&server, &chat, "slow").await;
    let poison = send(&server, &chat, "poison").await;
    let last = send(&server, &chat, "last").await;
    receiver
        .wait_until("the last message", |r| {
            r.accepted().iter().any(|x| x.id() == last)
        })
        .await;

    let order: Vec<String> = receiver
        .accepted()
        .iter()
        .filter(|r| r.content_type() == "text/plain")
        .map(|r| r.id().to_string())
        .collect();
    assert_eq!(order[1..], [flaky.clone(), slow.clone(), last]);
    assert_eq!(receiver.attempts(&flaky), 3, "two 503s, then accepted");
    assert_eq!(receiver.attempts(&slow), 2, "a timeout, then accepted");
    assert_eq!(receiver.attempts(&poison), 1, "a 4xx is not retried");
    wait_for_empty_outboxes(&server).await;
    assert_eq!(
        metric(&server, "switchboard_stream_dead_letters", "").await,
        1.0
    );
    assert!(
        metric(
            &server,
            "switchboard_stream_retries_total",
            "endpoint=\"webhook\""
        )
        .await
            >= 3.0
    );
}

#[tokio::test]
async fn a_failing_endpoint_holds_up_only_its_own_streams() {
    let dir = tempfile::tempdir().unwrap();
    let (down, up) = (Receiver::start(SECRET).await, Receiver::start(SECRET).await);
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    down.behave({
        let broken = broken.clone();
        move |_, _| {
            if broken.load(std::sync::atomic::Ordering::SeqCst) {
                Answer::Status(500)
            } else {
                Answer::Accept
            }
        }
    });
    let server = streaming_server(dir.path(), &[("down", &down), ("up", &up)]).await;
    let stuck = start_streamed_chat(&server, "Stuck", &webhook_arn("down")).await;
    let flowing = start_streamed_chat(&server, "Flowing", &webhook_arn("up")).await;
    let mut stuck_said = Vec::new();
    for n in 0..3 {
        stuck_said.push(send(&server, &stuck, &format!("stuck {n}")).await);
        send(&server, &flowing, &format!("flowing {n}")).await;
    }
    down.wait_until("retries of the failing endpoint", |r| {
        r.total_attempts() >= 3
    })
    .await;
    up.wait_until("all of the healthy chat", |r| {
        r.accepted()
            .iter()
            .filter(|x| x.content_type() == "text/plain")
            .count()
            == 4
    })
    .await;
    assert!(down.accepted().is_empty());
    assert_eq!(
        metric(&server, "switchboard_streams_failing", "").await,
        1.0
    );

    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    down.wait_until("the failing chat, once its endpoint is back", |r| {
        r.accepted()
            .iter()
            .any(|x| Some(x.id()) == stuck_said.last().map(String::as_str))
    })
    .await;
    let texts: Vec<String> = down
        .accepted()
        .iter()
        .filter(|x| x.content_type() == "text/plain")
        .map(|x| x.id().to_string())
        .collect();
    assert_eq!(texts[1..], stuck_said[..], "in order, each once");
}

/// Every fifth item's first offer fails, so retries are under way when the server dies.
fn flaky(item: &Value, earlier: u32) -> Answer {
    let id = item["Id"].as_str().unwrap_or_default();
    if earlier == 0 && id.bytes().map(u32::from).sum::<u32>() % 5 == 0 {
        Answer::Status(503)
    } else {
        Answer::Accept
    }
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed_while_streaming() {
    const CHATS: usize = 8;
    const GET_GOING: usize = 150;
    const WHILE_DOWN: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(SECRET).await;
    receiver.behave(flaky);
    let mut server = streaming_server(dir.path(), &[("crm", &receiver)]).await;
    let mut chats = Vec::new();
    for n in 0..CHATS {
        chats.push(start_streamed_chat(&server, &format!("Load {n}"), &webhook_arn("crm")).await);
    }

    // Each chat's customer sends messages and typing events as fast as it can; acknowledged Ids
    // are recorded in order.
    let acknowledged: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let count = Arc::new(count);
    let mut senders = Vec::new();
    for chat in &chats {
        let (participant, token, contact) = (
            server.participant(),
            chat.connection_token.clone(),
            chat.contact_id.clone(),
        );
        let (acknowledged, count) = (acknowledged.clone(), count.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let id = if n % 4 == 3 {
                    match participant
                        .send_event()
                        .connection_token(&token)
                        .content_type(TYPING)
                        .send()
                        .await
                    {
                        Ok(sent) => sent.id().unwrap().to_string(),
                        Err(_) => return,
                    }
                } else {
                    match participant
                        .send_message()
                        .connection_token(&token)
                        .content_type("text/plain")
                        .content(format!("message {n}"))
                        .send()
                        .await
                    {
                        Ok(sent) => sent.id().unwrap().to_string(),
                        Err(_) => return,
                    }
                };
                acknowledged
                    .lock()
                    .unwrap()
                    .entry(contact.clone())
                    .or_default()
                    .push(id);
                count.send_modify(|c| *c += 1);
            }
        }));
    }
    tokio::time::timeout(PATIENCE * 4, counted.wait_for(|c| *c >= GET_GOING))
        .await
        .expect("the senders never got going")
        .unwrap();
    // The endpoint goes down: whatever is acknowledged from now on is still in the outbox when
    // the server dies.
    receiver.behave(|_, _| Answer::Status(503));
    let at_outage = *counted.borrow();
    tokio::time::timeout(
        PATIENCE * 4,
        counted.wait_for(|c| *c >= at_outage + WHILE_DOWN),
    )
    .await
    .expect("the senders stopped")
    .unwrap();
    server.signal("KILL").await;
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let left: i64 = rusqlite::Connection::open(dir.path().join("switchboard.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM stream_outbox", [], |r| r.get(0))
        .unwrap();
    assert!(
        left >= WHILE_DOWN as i64,
        "the killed server left {left} items to publish"
    );

    receiver.behave(flaky);
    let _server = streaming_server(dir.path(), &[("crm", &receiver)]).await;
    receiver
        .wait_until("every acknowledged message and event", |r| {
            let got: HashSet<String> = r.accepted().iter().map(|x| x.id().to_string()).collect();
            acknowledged.values().flatten().all(|id| got.contains(id))
        })
        .await;

    // Per chat, first arrivals come in the order the chat said them.
    let accepted = receiver.accepted();
    for (contact, said) in &acknowledged {
        let said: HashSet<&str> = said.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let arrived: Vec<&str> = accepted
            .iter()
            .filter(|r| r.item["ContactId"] == contact.as_str())
            .map(|r| r.id())
            .filter(|id| said.contains(id) && seen.insert(*id))
            .collect();
        let in_order: Vec<&str> = acknowledged[contact].iter().map(String::as_str).collect();
        assert_eq!(arrived, in_order, "order of contact {contact}");
    }
}

#[tokio::test]
async fn a_widget_can_stream_every_chat_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(SECRET).await;
    let widget = format!(
        r#"
[[instances.widgets]]
id = "shop"
contact_flow = "{FLOW}"
allowed_origins = ["*"]
streaming_endpoint = "{}"
"#,
        webhook_arn("crm")
    );
    let server = TestServer::builder()
        .dir(dir.path())
        .config(&streaming_config(&[("crm", &receiver)]))
        .instance_config(&widget)
        .start()
        .await;
    let started: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/widget/shop/chat", server.url))
        .json(&serde_json::json!({"DisplayName": "Widget customer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contact_id = started["ContactId"].as_str().unwrap().to_string();
    receiver.wait_for_count(JOINED, 1).await;
    let joined = &receiver.accepted()[0];
    assert_eq!(joined.item["ContactId"], contact_id.as_str());
    assert_eq!(joined.item["DisplayName"], "Widget customer");
}

#[tokio::test]
async fn a_widget_streaming_to_an_unknown_endpoint_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        config_text_with(
            "unused.db",
            "",
            &format!(
                "[[instances.widgets]]\nid = \"w\"\ncontact_flow = \"{FLOW}\"\nallowed_origins = [\"*\"]\nstreaming_endpoint = \"{}\"\n",
                webhook_arn("missing")
            ),
        ),
    )
    .unwrap();
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!checked.status.success());
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(
        said.contains("instances[0].widgets[0].streaming_endpoint") && said.contains("missing"),
        "{said}"
    );
}
