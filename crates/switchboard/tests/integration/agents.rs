//! Agents and routing against the real server: sign-in, status, offers on the agent socket,
//! accept and reject, the agent joining the chat as a real participant (driven by the AWS SDK
//! like any participant), end and After Contact Work, transfers, queue limits and restarts.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::common::*;
use crate::receiver::Receiver;
use crate::streaming;

const PASSWORD: &str = "correct horse battery staple";

/// The password's hash, made once by the real `switchboard user hash` command.
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["user", "hash"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run switchboard user hash");
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        hash
    })
}

/// Two agents, Ana and Ben, serving the test queue; the queue holds at most `max_contacts`.
pub(crate) fn agents_config(max_contacts: Option<u32>) -> (String, String) {
    let hash = password_hash();
    let limit = max_contacts
        .map(|m| format!("max_contacts = {m}"))
        .unwrap_or_default();
    let instance = format!(
        r#"
[[instances.queues]]
id = "overflow"
name = "Overflow"
{limit}

[[instances.routing_profiles]]
id = "front"
name = "Front line"
chat_concurrency = 2
queues = [{{ queue = "{QUEUE}" }}, {{ queue = "overflow", priority = 2 }}]

[[instances.users]]
username = "ana"
display_name = "Ana"
password_hash = "{hash}"
routing_profile = "front"

[[instances.users]]
username = "ben"
display_name = "Ben"
password_hash = "{hash}"
routing_profile = "front"

[[instances.agent_statuses]]
name = "Break"

[[instances.contact_flows]]
id = "overflow-flow"
name = "Overflow chat"
queue = "overflow"

[[instances.contact_flows]]
id = "requeue-flow"
name = "Back to the queue when the agent leaves"
queue = "{QUEUE}"
after_agent_leaves = "back_to_queue"
"#
    );
    (String::new(), instance)
}

async fn start_with_agents(dir: &std::path::Path, max_contacts: Option<u32>) -> TestServer {
    let (top, instance) = agents_config(max_contacts);
    TestServer::builder()
        .dir(dir)
        .config(&top)
        .instance_config(&instance)
        .start()
        .await
}

/// An agent signed in over the agent API.
pub(crate) struct AgentClient {
    http: reqwest::Client,
    base: String,
    pub(crate) token: String,
    user_id: String,
}

impl AgentClient {
    pub(crate) async fn sign_in(server: &TestServer, username: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/agent/api/sign-in", server.url))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        Self {
            http,
            base: format!("{}/agent/api", server.url),
            token: body["token"].as_str().unwrap().to_string(),
            user_id: body["userId"].as_str().unwrap().to_string(),
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn me(&self) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, "/me", json!({})).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub(crate) async fn set_status(&self, status: &str) {
        let (code, body) = self
            .call(reqwest::Method::PUT, "/status", json!({ "status": status }))
            .await;
        assert_eq!(code, 200, "{body}");
    }

    pub(crate) async fn act(&self, contact_id: &str, action: &str, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/contacts/{contact_id}/{action}"),
            body,
        )
        .await
    }

    /// Opens the agent socket (the agent is now connected and may be offered contacts).
    pub(crate) async fn socket(&self) -> AgentSocket {
        let url = format!(
            "{}/socket?token={}",
            self.base.replacen("http://", "ws://", 1),
            self.token
        );
        let mut socket = AgentSocket {
            socket: ChatSocket::open(&url).await,
            pending: Vec::new(),
        };
        // Once the greeting is in, the server has the socket: nothing sent later is missed.
        let hello = next_event(&mut socket, "hello").await;
        assert!(hello["status"].is_string(), "{hello}");
        socket
    }

    /// Connected, Available, and listening.
    pub(crate) async fn ready(&self) -> AgentSocket {
        let mut socket = self.socket().await;
        self.set_status("Available").await;
        let status = next_event(&mut socket, "status").await;
        assert_eq!(status["status"], "Available");
        socket
    }
}

/// An agent socket. Events may arrive in any order relative to each other (an offer made by a
/// status change can come before the status event), so events waited for are taken out in the
/// order asked, and the others kept for later.
pub(crate) struct AgentSocket {
    socket: ChatSocket,
    pending: Vec<Value>,
}

/// The next agent event of `kind`; events of other kinds are kept for later calls.
pub(crate) async fn next_event(socket: &mut AgentSocket, kind: &str) -> Value {
    if let Some(at) = socket.pending.iter().position(|e| e["type"] == kind) {
        return socket.pending.remove(at);
    }
    loop {
        let frame = socket
            .socket
            .next_frame()
            .await
            .unwrap_or_else(|| panic!("agent socket closed while waiting for {kind}"));
        if frame["type"] == kind {
            return frame;
        }
        socket.pending.push(frame);
    }
}

/// Accepts the contact offered on `socket`; returns the contact id and the agent's participant
/// token.
pub(crate) async fn accept_offer(
    agent: &AgentClient,
    socket: &mut AgentSocket,
) -> (String, String) {
    let offer = next_event(socket, "offer").await;
    let contact_id = offer["contactId"].as_str().unwrap().to_string();
    let (status, body) = agent.act(&contact_id, "accept", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let connected = next_event(socket, "contact.connected").await;
    assert_eq!(connected["contactId"], contact_id.as_str());
    (
        contact_id,
        connected["participantToken"].as_str().unwrap().to_string(),
    )
}

/// DescribeContact, through the SDK.
async fn describe(server: &TestServer, contact_id: &str) -> aws_sdk_connect::types::Contact {
    server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(contact_id)
        .send()
        .await
        .expect("DescribeContact")
        .contact
        .expect("a contact")
}

fn is_event(item: &Value, suffix: &str) -> bool {
    item["ContentType"]
        .as_str()
        .is_some_and(|t| t.ends_with(suffix))
}

#[tokio::test]
async fn an_agent_accepts_a_chat_talks_ends_it_and_clears_after_contact_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;

    let chat = start_chat(&server, "Carla").await;
    let mut customer = ChatSocket::subscribe(&chat.websocket_url).await;
    let offer = next_event(&mut ana_socket, "offer").await;
    assert_eq!(offer["contactId"], chat.contact_id.as_str());
    assert_eq!(offer["customerName"], "Carla");
    assert_eq!(offer["queueId"], QUEUE);
    assert!(offer["expiresAt"].as_str().unwrap().ends_with('Z'));

    let (status, _) = ana.act(&chat.contact_id, "accept", json!({})).await;
    assert_eq!(status, 200);
    let connected = next_event(&mut ana_socket, "contact.connected").await;
    let agent_token = connected["participantToken"].as_str().unwrap();

    // The customer sees the agent join, by name and role.
    let joined = customer
        .wait_for("the agent joining", |i| {
            is_event(i, "participant.joined") && i["ParticipantRole"] == "AGENT"
        })
        .await;
    assert_eq!(joined["DisplayName"], "Ana");

    // The agent's side of the chat is an ordinary participant: the SDK connects and sends.
    let (agent_connection, agent_ws) = connect_participant(&server, agent_token).await;
    let mut agent_chat = ChatSocket::subscribe(&agent_ws).await;
    server
        .participant()
        .send_message()
        .connection_token(&agent_connection)
        .content_type("text/plain")
        .content("Hello Carla, how can I help?")
        .send()
        .await
        .expect("agent SendMessage");
    let message = customer
        .wait_for("the agent's message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(message["Content"], "Hello Carla, how can I help?");
    assert_eq!(message["ParticipantRole"], "AGENT");
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content("My order is late")
        .send()
        .await
        .expect("customer SendMessage");
    let reply = agent_chat
        .wait_for("the customer's message", |i| {
            i["Type"] == "MESSAGE" && i["ParticipantRole"] == "CUSTOMER"
        })
        .await;
    assert_eq!(reply["Content"], "My order is late");

    // DescribeContact names the agent; the workspace lists the chat with its token.
    let contact = describe(&server, &chat.contact_id).await;
    assert_eq!(
        contact.agent_info().unwrap().id(),
        Some(ana.user_id.as_str())
    );
    assert!(contact
        .agent_info()
        .unwrap()
        .connected_to_agent_timestamp()
        .is_some());
    assert_eq!(contact.queue_info().unwrap().id(), Some(QUEUE));
    let me = ana.me().await;
    assert_eq!(me["status"], "Available");
    assert_eq!(me["contacts"][0]["contactId"], chat.contact_id.as_str());
    assert_eq!(me["contacts"][0]["state"], "CONNECTED");
    assert!(me["contacts"][0]["participantToken"].is_string());

    // Ending: the customer sees the agent leave, then the end; the agent is in After Contact
    // Work until they clear it.
    let (status, body) = ana.act(&chat.contact_id, "end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let left = customer
        .wait_for("the agent leaving", |i| is_event(i, "participant.left"))
        .await;
    assert_eq!(left["ParticipantRole"], "AGENT");
    customer
        .wait_for("the chat ending", |i| is_event(i, "chat.ended"))
        .await;
    let me = ana.me().await;
    assert_eq!(me["contacts"][0]["state"], "AFTER_CONTACT_WORK");
    assert_eq!(me["contacts"][0]["ended"], true);
    let (status, _) = ana.act(&chat.contact_id, "clear", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(ana.me().await["contacts"], json!([]));
    let (status, body) = ana.act(&chat.contact_id, "clear", json!({})).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn sign_in_refuses_bad_passwords_and_sign_out_ends_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let http = reqwest::Client::new();
    for (username, password) in [("ana", "wrong"), ("nobody", PASSWORD)] {
        let response = http
            .post(format!("{}/agent/api/sign-in", server.url))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["__type"], "UnauthorizedException", "{body}");
    }
    let response = http
        .post(format!("{}/agent/api/sign-in", server.url))
        .json(&json!({"username": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.socket().await;
    assert_eq!(ana.me().await["username"], "ana");
    let (status, body) = ana
        .call(reqwest::Method::PUT, "/status", json!({"status": "Lunch"}))
        .await;
    assert_eq!(status, 400, "{body}");
    ana.set_status("Break").await;
    assert_eq!(ana.me().await["status"], "Break");
    let (status, _) = ana
        .call(reqwest::Method::POST, "/sign-out", json!({}))
        .await;
    assert_eq!(status, 200);
    next_event(&mut socket, "signed-out").await;
    let (status, body) = ana.call(reqwest::Method::GET, "/me", json!({})).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn a_rejected_chat_goes_to_the_other_agent_and_a_transfer_carries_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    // The chat is also streamed, so the stream's view of agents and transfers is checked too.
    let receiver = Receiver::start(streaming::SECRET).await;
    let (_, instance) = agents_config(None);
    let server = TestServer::builder()
        .dir(dir.path())
        .config(&streaming::streaming_config(&[("crm", &receiver)]))
        .instance_config(&instance)
        .start()
        .await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ana_socket = ana.ready().await;

    let chat = start_chat(&server, "Dev").await;
    streaming::start_streaming(&server, &chat.contact_id, &streaming::webhook_arn("crm")).await;
    let mut customer = ChatSocket::subscribe(&chat.websocket_url).await;
    let offer = next_event(&mut ana_socket, "offer").await;
    let (status, _) = ana
        .act(offer["contactId"].as_str().unwrap(), "reject", json!({}))
        .await;
    assert_eq!(status, 200);
    // Ben comes on and gets it.
    let mut ben_socket = ben.ready().await;
    let (contact_id, ben_token) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(contact_id, chat.contact_id);
    let (ben_connection, _) = connect_participant(&server, &ben_token).await;
    server
        .participant()
        .send_message()
        .connection_token(&ben_connection)
        .content_type("text/plain")
        .content("Ben here")
        .send()
        .await
        .unwrap();

    // Ben transfers to Ana (who rejected it before, but a transfer to her is meant for her).
    let (status, body) = ben
        .act(
            &chat.contact_id,
            "transfer",
            json!({"agentId": ana.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    customer
        .wait_for("transfer.succeeded", |i| is_event(i, "transfer.succeeded"))
        .await;
    let left = customer
        .wait_for("Ben leaving", |i| is_event(i, "participant.left"))
        .await;
    assert_eq!(left["DisplayName"], "Ben");
    assert_eq!(ben.me().await["contacts"][0]["state"], "AFTER_CONTACT_WORK");
    let (contact_id, ana_token) = accept_offer(&ana, &mut ana_socket).await;
    assert_eq!(contact_id, chat.contact_id);
    let joined = customer
        .wait_for("Ana joining", |i| {
            is_event(i, "participant.joined") && i["ParticipantRole"] == "AGENT"
        })
        .await;
    assert_eq!(joined["DisplayName"], "Ana");

    // Ana sees the whole transcript, Ben's message included; InitialContactId is unchanged.
    let (ana_connection, _) = connect_participant(&server, &ana_token).await;
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&ana_connection)
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert!(transcript
        .transcript()
        .iter()
        .any(|i| i.content() == Some("Ben here")));
    assert_eq!(
        transcript.initial_contact_id(),
        Some(chat.contact_id.as_str())
    );

    // A transfer to a queue that does not exist fails, and says so in the chat.
    let (status, body) = ana
        .act(&chat.contact_id, "transfer", json!({"queueId": "nope"}))
        .await;
    assert_eq!(status, 404, "{body}");
    customer
        .wait_for("transfer.failed", |i| is_event(i, "transfer.failed"))
        .await;

    // The stream saw the same story, in the same order.
    receiver
        .wait_for_count("application/vnd.amazonaws.connect.event.transfer.failed", 1)
        .await;
    let streamed: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| {
            let kind = r.content_type().rsplit('.').next().unwrap_or_default();
            let who = r.item["DisplayName"].as_str().unwrap_or("-");
            format!("{kind} {who} {}", r.attributes["ParticipantRole"])
        })
        .collect();
    assert_eq!(
        streamed,
        [
            "joined Dev CUSTOMER",
            "joined Ben AGENT",
            "text/plain Ben AGENT",
            "succeeded - SYSTEM",
            "left Ben AGENT",
            "joined Ana AGENT",
            "failed - SYSTEM",
        ]
    );
}

#[tokio::test]
async fn a_full_queue_refuses_start_chat_contact_with_limit_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), Some(1)).await;
    let start = || {
        server
            .connect()
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id("overflow-flow")
            .participant_details(
                aws_sdk_connect::types::ParticipantDetails::builder()
                    .display_name("Eve")
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let first = start().await.expect("the first chat fits");
    let err = start().await.expect_err("the queue is full");
    let service = err.into_service_error();
    assert!(service.is_limit_exceeded_exception(), "{service:?}");
    // Once the first leaves, there is room again: the chat's end reaches routing before
    // DisconnectParticipant answers, and routing takes requests in the order they come.
    let token = first.participant_token().unwrap();
    let (connection, _) = connect_participant(&server, token).await;
    server
        .participant()
        .disconnect_participant()
        .connection_token(&connection)
        .send()
        .await
        .unwrap();
    start().await.expect("room again");
}

#[tokio::test]
async fn a_queued_chat_a_sign_in_and_a_status_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_agents(dir.path(), None).await;
    let mut ana = AgentClient::sign_in(&server, "ana").await;
    // Available, but with no workspace socket open nothing is offered yet.
    ana.set_status("Available").await;
    let chat = start_chat(&server, "Fay").await;
    assert!(server.signal("TERM").await.success());
    let server = start_with_agents(dir.path(), None).await;
    // The same token, the same status: opening the workspace is all it takes.
    ana.base = format!("{}/agent/api", server.url);
    let mut socket = ana.socket().await;
    let (contact_id, _) = accept_offer(&ana, &mut socket).await;
    assert_eq!(contact_id, chat.contact_id);
    assert_eq!(ana.me().await["status"], "Available");
}

#[tokio::test]
async fn operators_list_queues_users_and_statuses_set_a_status_and_read_live_metrics() {
    use aws_sdk_connect::types::{
        AgentStatusType, Channel, ContactState, CurrentMetric, CurrentMetricName, Filters,
        Grouping, QueueType, Unit, UserDataFilters,
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let connect = server.connect();

    let queues = connect
        .list_queues()
        .instance_id(INSTANCE)
        .queue_types(QueueType::Standard)
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = queues
        .queue_summary_list()
        .iter()
        .filter_map(|q| q.name())
        .collect();
    names.sort();
    assert_eq!(names, ["Overflow", "Support"]);
    let all = connect
        .list_queues()
        .instance_id(INSTANCE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        all.queue_summary_list().len(),
        4,
        "two standard, two agent queues"
    );

    let first = connect
        .list_users()
        .instance_id(INSTANCE)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.user_summary_list()[0].username(), Some("ana"));
    let second = connect
        .list_users()
        .instance_id(INSTANCE)
        .max_results(1)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.user_summary_list()[0].username(), Some("ben"));
    assert!(second.next_token().is_none());
    let ana_id = first.user_summary_list()[0].id().unwrap().to_string();

    let statuses = connect
        .list_agent_statuses()
        .instance_id(INSTANCE)
        .send()
        .await
        .unwrap();
    let kinds: Vec<(&str, AgentStatusType)> = statuses
        .agent_status_summary_list()
        .iter()
        .map(|s| (s.name().unwrap(), s.r#type().unwrap().clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Available", AgentStatusType::Routable),
            ("Break", AgentStatusType::Custom),
            ("Offline", AgentStatusType::Offline)
        ]
    );
    let available_id = statuses.agent_status_summary_list()[0].id().unwrap();

    // Ana's workspace is open; an operator makes her Available, and a chat is offered to her.
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.socket().await;
    connect
        .put_user_status()
        .instance_id(INSTANCE)
        .user_id(&ana_id)
        .agent_status_id(available_id)
        .send()
        .await
        .expect("PutUserStatus");
    assert_eq!(
        next_event(&mut socket, "status").await["status"],
        "Available"
    );
    let err = connect
        .put_user_status()
        .instance_id(INSTANCE)
        .user_id(&ana_id)
        .agent_status_id("no-such-status")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let chat = start_chat(&server, "Gus").await;
    next_event(&mut socket, "offer").await;

    let metrics = |names: &[CurrentMetricName]| {
        let mut request = connect
            .get_current_metric_data()
            .instance_id(INSTANCE)
            .filters(
                Filters::builder()
                    .queues(QUEUE)
                    .channels(Channel::Chat)
                    .build(),
            )
            .groupings(Grouping::Queue)
            .groupings(Grouping::Channel);
        for name in names {
            let unit = if *name == CurrentMetricName::OldestContactAge {
                Unit::Seconds
            } else {
                Unit::Count
            };
            request = request.current_metrics(
                CurrentMetric::builder()
                    .name(name.clone())
                    .unit(unit)
                    .build(),
            );
        }
        request.send()
    };
    let wanted = [
        CurrentMetricName::ContactsInQueue,
        CurrentMetricName::AgentsOnline,
        CurrentMetricName::AgentsAvailable,
        CurrentMetricName::AgentsOnContact,
        CurrentMetricName::SlotsActive,
        CurrentMetricName::SlotsAvailable,
        CurrentMetricName::OldestContactAge,
    ];
    let values =
        |out: &aws_sdk_connect::operation::get_current_metric_data::GetCurrentMetricDataOutput| {
            let result = &out.metric_results()[0];
            let dimensions = result.dimensions().unwrap();
            assert_eq!(dimensions.queue().unwrap().id(), Some(QUEUE));
            assert_eq!(dimensions.channel(), Some(&Channel::Chat));
            result
                .collections()
                .iter()
                .map(|c| {
                    let name = c.metric().unwrap().name().unwrap().as_str().to_string();
                    (name, c.value().unwrap())
                })
                .collect::<std::collections::HashMap<String, f64>>()
        };
    let offered = values(&metrics(&wanted).await.expect("GetCurrentMetricData"));
    assert_eq!(
        offered["CONTACTS_IN_QUEUE"], 1.0,
        "offered, not yet accepted"
    );
    assert_eq!(offered["AGENTS_ONLINE"], 1.0);
    assert_eq!(offered["AGENTS_AVAILABLE"], 1.0);
    assert_eq!(offered["SLOTS_ACTIVE"], 1.0);
    assert_eq!(offered["SLOTS_AVAILABLE"], 1.0);
    assert!(offered["OLDEST_CONTACT_AGE"] >= 0.0);

    let (status, _) = ana.act(&chat.contact_id, "accept", json!({})).await;
    assert_eq!(status, 200);
    next_event(&mut socket, "contact.connected").await;
    let connected = values(&metrics(&wanted).await.unwrap());
    assert_eq!(connected["CONTACTS_IN_QUEUE"], 0.0);
    assert_eq!(connected["AGENTS_ON_CONTACT"], 1.0);

    let users = connect
        .get_current_user_data()
        .instance_id(INSTANCE)
        .filters(UserDataFilters::builder().agents(&ana_id).build())
        .send()
        .await
        .expect("GetCurrentUserData");
    let data = &users.user_data_list()[0];
    assert_eq!(data.user().unwrap().id(), Some(ana_id.as_str()));
    assert_eq!(data.status().unwrap().status_name(), Some("Available"));
    assert_eq!(data.max_slots_by_channel().unwrap()[&Channel::Chat], 2);
    assert_eq!(data.active_slots_by_channel().unwrap()[&Channel::Chat], 1);
    let contact = &data.contacts()[0];
    assert_eq!(contact.contact_id(), Some(chat.contact_id.as_str()));
    assert_eq!(
        contact.agent_contact_state(),
        Some(&ContactState::Connected)
    );
    assert!(contact.connected_to_agent_timestamp().is_some());

    // A unit that is not the metric's is refused, as Amazon does.
    let err = connect
        .get_current_metric_data()
        .instance_id(INSTANCE)
        .filters(Filters::builder().queues(QUEUE).build())
        .current_metrics(
            CurrentMetric::builder()
                .name(CurrentMetricName::OldestContactAge)
                .unit(Unit::Count)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
}

/// Switchboard's queue-position call, as a waiting customer's widget makes it.
async fn queue_position(server: &TestServer, connection_token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", connection_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_waiting_customer_learns_their_place_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let first = start_chat(&server, "First").await;
    let second = start_chat(&server, "Second").await;
    assert_eq!(
        queue_position(&server, &second.connection_token).await,
        json!({"QueueId": QUEUE, "Position": 2, "QueueLength": 2})
    );
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.ready().await;
    let (contact_id, _) = accept_offer(&ana, &mut socket).await;
    assert_eq!(contact_id, first.contact_id, "first come, first served");
    assert_eq!(
        queue_position(&server, &first.connection_token).await,
        json!({})
    );
    // Ana has a second slot: the second chat is offered now, and still counts as in the queue.
    assert_eq!(
        queue_position(&server, &second.connection_token).await,
        json!({"QueueId": QUEUE, "Position": 1, "QueueLength": 1})
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_workspace_page_is_served_with_a_policy_that_keeps_it_on_this_server() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (path, content_type) in [
        ("/agent", "text/html"),
        ("/agent/agent.js", "text/javascript"),
        ("/agent/agent.css", "text/css"),
    ] {
        let response = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
        let body = response.text().await.unwrap();
        assert!(!body.contains("https://"), "{path} refers to another site");
    }
}

#[tokio::test]
async fn a_waiting_customer_whose_sockets_all_closed_is_ended_after_the_grace_time() {
    use aws_sdk_connect::types::{ParticipantDetailsToAdd, ParticipantRole};
    let dir = tempfile::tempdir().unwrap();
    let (_, instance) = agents_config(None);
    // The shortest grace time the configuration allows; the test waits for the event, not a clock.
    let server = TestServer::builder()
        .dir(dir.path())
        .config("[routing]\ncustomer_gone_seconds = 5")
        .instance_config(&instance)
        .start()
        .await;
    let chat = start_chat(&server, "Hal").await;
    let customer = ChatSocket::subscribe(&chat.websocket_url).await;
    // A bot on the chat watches what happens to it.
    let bot = server
        .connect()
        .create_participant()
        .instance_id(INSTANCE)
        .contact_id(&chat.contact_id)
        .participant_details(
            ParticipantDetailsToAdd::builder()
                .participant_role(ParticipantRole::CustomBot)
                .display_name("Watcher")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (_, bot_ws) = connect_participant(
        &server,
        bot.participant_credentials()
            .unwrap()
            .participant_token()
            .unwrap(),
    )
    .await;
    let mut watcher = ChatSocket::subscribe(&bot_ws).await;
    // The customer closes the tab.
    drop(customer);
    let ended = watcher
        .wait_for("the abandoned chat to end", |i| is_event(i, "chat.ended"))
        .await;
    assert_eq!(ended["Type"], "EVENT");
    let contact = describe(&server, &chat.contact_id).await;
    assert_eq!(contact.disconnect_reason(), Some("CUSTOMER_DISCONNECT"));
    // The ended chat is gone for its customer, as every participant call says.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", &chat.connection_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_flow_can_send_the_customer_back_to_the_queue_when_the_agent_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let started = server
        .connect()
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id("requeue-flow")
        .participant_details(
            aws_sdk_connect::types::ParticipantDetails::builder()
                .display_name("Ivy")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let contact_id = started.contact_id().unwrap().to_string();
    let (_, customer_ws) = connect_participant(&server, started.participant_token().unwrap()).await;
    let mut customer = ChatSocket::subscribe(&customer_ws).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    accept_offer(&ana, &mut ana_socket).await;
    let (status, body) = ana.act(&contact_id, "end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    customer
        .wait_for("Ana leaving", |i| is_event(i, "participant.left"))
        .await;
    // The chat goes on: Ben is offered it, and the customer's next message reaches him.
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, contact_id);
    let joined = customer
        .wait_for("Ben joining", |i| {
            is_event(i, "participant.joined") && i["DisplayName"] == "Ben"
        })
        .await;
    assert_eq!(joined["ParticipantRole"], "AGENT");
    assert!(describe(&server, &contact_id)
        .await
        .disconnect_timestamp()
        .is_none());
    assert_eq!(ana.me().await["contacts"][0]["state"], "AFTER_CONTACT_WORK");
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_for_that_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let http = reqwest::Client::new();
    let attempt = |username: &'static str, password: &'static str| {
        http.post(format!("{}/agent/api/sign-in", server.url))
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("ana", "guess").await.unwrap().status(), 401);
    }
    // Now even the right password waits out the window: the guesser learns nothing.
    let refused = attempt("ana", PASSWORD).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["__type"], "ThrottlingException");
    assert_eq!(attempt("ben", PASSWORD).await.unwrap().status(), 200);

    // Guesses in parallel are counted as they arrive, not once each is checked.
    let parallel = futures::future::join_all((0..8).map(|_| attempt("ben", "guess"))).await;
    let statuses: Vec<u16> = parallel
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_transferred_chat_still_waits_for_its_next_agent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_agents(dir.path(), None).await;
    let chat = start_chat(&server, "Uma").await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    accept_offer(&ana, &mut ana_socket).await;
    let (status, body) = ana
        .act(&chat.contact_id, "transfer", json!({"queueId": QUEUE}))
        .await;
    assert_eq!(status, 200, "{body}");
    let contact = describe(&server, &chat.contact_id).await;
    assert!(
        contact.agent_info().is_none(),
        "nobody has it while it waits"
    );
    assert!(server.signal("TERM").await.success());

    let server = start_with_agents(dir.path(), None).await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, chat.contact_id);
}
