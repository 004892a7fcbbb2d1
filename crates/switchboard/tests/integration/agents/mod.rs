//! Agents and routing against the real server: sign-in, status, offers on the agent socket,
//! accept and reject, the agent joining the chat as a real participant (driven by the AWS SDK
//! like any participant), end and After Contact Work, transfers, queue limits and restarts.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::common::*;
use crate::receiver::Receiver;
use crate::streaming;

pub(crate) mod ccp;
mod desk;
mod queues;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// The password's hash, made once by the real `switchboard user hash` command.
pub(crate) fn password_hash() -> &'static str {
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
    pub(crate) user_id: String,
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
