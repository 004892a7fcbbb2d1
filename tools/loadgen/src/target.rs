//! The servers a run can drive, through their public protocols only: Switchboard (the Connect
//! and participant APIs and the participant WebSocket, as real clients call them) and the relay
//! (the ceiling: plain HTTP POST in, WebSocket out).

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{bail, Context};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use serde_json::{json, Value};

use crate::tracker::Inbox;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Customer,
    Bot,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Customer => Side::Bot,
            Side::Bot => Side::Customer,
        }
    }
}

/// One participant of a simulated chat.
pub struct Participant {
    /// Switchboard: the ParticipantToken (mints connections); relay: unused.
    pub participant_token: String,
    pub connection_token: Mutex<String>,
    pub inbox: Mutex<Inbox>,
}

/// One simulated chat: two participants, each with its own socket.
pub struct Chat {
    pub index: usize,
    pub customer: Participant,
    pub bot: Participant,
    /// Set while a message of this chat is in flight, so each chat's messages are sequential.
    pub busy: AtomicBool,
    pub next_n: AtomicU32,
    pub acked: Mutex<Vec<u32>>,
}

impl Participant {
    /// The current ConnectionToken (a reconnect replaces it).
    pub fn connection_token(&self) -> String {
        self.connection_token.lock().expect("token").clone()
    }
}

impl Chat {
    pub fn participant(&self, side: Side) -> &Participant {
        match side {
            Side::Customer => &self.customer,
            Side::Bot => &self.bot,
        }
    }
}

fn participant(participant_token: String, connection_token: String) -> Participant {
    Participant {
        participant_token,
        connection_token: Mutex::new(connection_token),
        inbox: Mutex::default(),
    }
}

fn chat(index: usize, customer: Participant, bot: Participant) -> Chat {
    Chat {
        index,
        customer,
        bot,
        busy: AtomicBool::new(false),
        next_n: AtomicU32::new(0),
        acked: Mutex::default(),
    }
}

#[derive(Debug, Clone)]
pub struct SwitchboardTarget {
    /// The nodes' base URLs. With several, each chat's customer uses one node and its bot the
    /// next, so every message crosses from one node to another.
    pub nodes: Vec<String>,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub instance_id: String,
    pub contact_flow_id: String,
}

pub enum Target {
    Switchboard(SwitchboardTarget),
    Relay { url: String },
}

/// The wire format of what a socket receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Switchboard,
    Relay,
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Switchboard(_) => "switchboard",
            Target::Relay { .. } => "relay",
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Target::Switchboard(_) => Protocol::Switchboard,
            Target::Relay { .. } => Protocol::Relay,
        }
    }

    /// Creates a chat with both participants able to send; returns it with their socket URLs.
    pub async fn create_chat(
        &self,
        http: &reqwest::Client,
        index: usize,
    ) -> anyhow::Result<(Chat, String, String)> {
        match self {
            Target::Relay { url } => {
                let ws = url.replacen("http://", "ws://", 1);
                Ok((
                    chat(
                        index,
                        participant(String::new(), String::new()),
                        participant(String::new(), String::new()),
                    ),
                    format!("{ws}/ws/{index}/a"),
                    format!("{ws}/ws/{index}/b"),
                ))
            }
            Target::Switchboard(sb) => {
                let (customer_node, bot_node) =
                    (sb.node(index, Side::Customer), sb.node(index, Side::Bot));
                let started = sb
                    .signed(
                        http,
                        customer_node,
                        "PUT",
                        "/contact/chat",
                        json!({
                            "InstanceId": sb.instance_id,
                            "ContactFlowId": sb.contact_flow_id,
                            "ParticipantDetails": {"DisplayName": format!("Customer {index}")},
                        }),
                    )
                    .await
                    .context("StartChatContact")?;
                let contact_id = started["ContactId"]
                    .as_str()
                    .context("ContactId")?
                    .to_string();
                let customer_token = started["ParticipantToken"]
                    .as_str()
                    .context("ParticipantToken")?
                    .to_string();
                let bot = sb
                    .signed(
                        http,
                        bot_node,
                        "POST",
                        "/contact/create-participant",
                        json!({
                            "InstanceId": sb.instance_id,
                            "ContactId": contact_id,
                            "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
                        }),
                    )
                    .await
                    .context("CreateParticipant")?;
                let bot_token = bot["ParticipantCredentials"]["ParticipantToken"]
                    .as_str()
                    .context("bot ParticipantToken")?
                    .to_string();
                let (customer_conn, customer_url) =
                    sb.connection(http, customer_node, &customer_token).await?;
                let (bot_conn, bot_url) = sb.connection(http, bot_node, &bot_token).await?;
                Ok((
                    chat(
                        index,
                        participant(customer_token, customer_conn),
                        participant(bot_token, bot_conn),
                    ),
                    customer_url,
                    bot_url,
                ))
            }
        }
    }

    /// Sends one message from `side`; returns once the server acknowledged it.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        chat: &Chat,
        side: Side,
        content: String,
    ) -> Result<(), String> {
        let response = match self {
            Target::Relay { url } => {
                let letter = if side == Side::Customer { 'a' } else { 'b' };
                http.post(format!("{url}/send/{}/{letter}", chat.index))
                    .body(content)
                    .send()
                    .await
            }
            Target::Switchboard(sb) => {
                let token = chat.participant(side).connection_token();
                http.post(format!("{}/participant/message", sb.node(chat.index, side)))
                    .header("x-amz-bearer", token)
                    .header("content-type", "application/json")
                    .body(json!({"ContentType": "text/plain", "Content": content}).to_string())
                    .send()
                    .await
            }
        };
        match response {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Err("timeout".into()),
            Err(e) if e.is_connect() => Err("connect".into()),
            Err(_) => Err("transport".into()),
        }
    }

    /// A fresh socket URL for a participant that reconnects (Switchboard mints one per call).
    pub async fn reconnect(
        &self,
        http: &reqwest::Client,
        chat: &Chat,
        side: Side,
    ) -> anyhow::Result<String> {
        match self {
            Target::Relay { .. } => bail!("the relay keeps nothing to reconnect to"),
            Target::Switchboard(sb) => {
                let participant = chat.participant(side);
                let node = sb.node(chat.index, side);
                let (token, url) = sb
                    .connection(http, node, &participant.participant_token)
                    .await?;
                *participant.connection_token.lock().expect("token") = token;
                Ok(url)
            }
        }
    }

    /// Every MESSAGE after `after_id` (or all), oldest first, as (Id, Content), paging with NextToken.
    pub async fn transcript_after(
        &self,
        http: &reqwest::Client,
        chat: &Chat,
        side: Side,
        after_id: Option<String>,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let Target::Switchboard(sb) = self else {
            bail!("the relay keeps no transcript");
        };
        let token = chat.participant(side).connection_token();
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut body =
                json!({"MaxResults": 100, "ScanDirection": "FORWARD", "SortOrder": "ASCENDING"});
            match (&next, &after_id) {
                (Some(token), _) => body["NextToken"] = json!(token),
                (None, Some(id)) => body["StartPosition"] = json!({"Id": id}),
                (None, None) => body["StartPosition"] = json!({"MostRecent": 100}),
            }
            let page: Value = http
                .post(format!(
                    "{}/participant/transcript",
                    sb.node(chat.index, side)
                ))
                .header("x-amz-bearer", &token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            for item in page["Transcript"].as_array().context("Transcript")? {
                if item["Type"] == "MESSAGE" {
                    out.push((
                        item["Id"].as_str().unwrap_or_default().to_string(),
                        item["Content"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            match page["NextToken"].as_str() {
                Some(token) => next = Some(token.to_string()),
                None => return Ok(out),
            }
        }
    }
}

impl SwitchboardTarget {
    /// The node chat `index`'s `side` talks to.
    pub fn node(&self, index: usize, side: Side) -> &str {
        let offset = match side {
            Side::Customer => 0,
            Side::Bot => 1,
        };
        &self.nodes[(index + offset) % self.nodes.len()]
    }

    /// A SigV4-signed Connect API call to `node`, as the AWS SDKs make it.
    async fn signed(
        &self,
        http: &reqwest::Client,
        node: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{node}{path}");
        let body = body.to_string();
        let identity = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "loadgen",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("connect")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = [("content-type", "application/json")];
        let signable = SignableRequest::new(
            method,
            &url,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .body(body)?;
        instructions.apply_to_request_http1x(&mut request);
        let response = http.execute(reqwest::Request::try_from(request)?).await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("HTTP {status}: {value}");
        }
        Ok(value)
    }

    /// CreateParticipantConnection for both types: the connection token and the socket URL.
    async fn connection(
        &self,
        http: &reqwest::Client,
        node: &str,
        participant_token: &str,
    ) -> anyhow::Result<(String, String)> {
        let response: Value = http
            .post(format!("{node}/participant/connection"))
            .header("x-amz-bearer", participant_token)
            .header("content-type", "application/json")
            .body(r#"{"Type":["WEBSOCKET","CONNECTION_CREDENTIALS"]}"#)
            .send()
            .await?
            .error_for_status()
            .context("CreateParticipantConnection")?
            .json()
            .await?;
        Ok((
            response["ConnectionCredentials"]["ConnectionToken"]
                .as_str()
                .context("ConnectionToken")?
                .to_string(),
            response["Websocket"]["Url"]
                .as_str()
                .context("Websocket.Url")?
                .to_string(),
        ))
    }
}
