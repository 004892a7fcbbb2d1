//! The integration-test harness: the real `switchboard` binary on a loopback port 0 with its own
//! data directory, driven by the unmodified AWS SDK for Rust and a WebSocket client.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[path = "../support/config.rs"]
mod config;
pub use config::*;

pub const TYPING: &str = "application/vnd.amazonaws.connect.event.typing";
pub const JOINED: &str = "application/vnd.amazonaws.connect.event.participant.joined";
pub const LEFT: &str = "application/vnd.amazonaws.connect.event.participant.left";
pub const ENDED: &str = "application/vnd.amazonaws.connect.event.chat.ended";
pub const DELIVERED: &str = "application/vnd.amazonaws.connect.event.message.delivered";
pub const READ: &str = "application/vnd.amazonaws.connect.event.message.read";
pub const METADATA: &str = "application/vnd.amazonaws.connect.event.message.metadata";

/// How long a test waits for something the server should send. Not a timing assertion: a bound
/// that turns "never arrived" into a failure instead of a hang.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub fn config_text(storage: &str, extra: &str) -> String {
    config_text_with(storage, extra, "")
}

/// The test configuration, with `extra` top-level keys and `instance_extra` tables of the
/// instance (routing profiles, users, statuses).
pub fn config_text_with(storage: &str, extra: &str, instance_extra: &str) -> String {
    config_text_for(&format!("sqlite://{storage}"), extra, instance_extra)
}

pub struct TestServer {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub _temp: Option<tempfile::TempDir>,
}

/// How a test server starts; every setting has a default, so a test names only what it needs:
///
/// ```ignore
/// TestServer::start().await                                  // fresh dir, SQLite, base config
/// TestServer::builder().dir(dir).config("...").start().await // data kept in `dir` (restarts)
/// TestServer::builder().dir(dir).storage(&url).start().await // on PostgreSQL
/// ```
pub struct Launch<'a> {
    dir: Option<&'a std::path::Path>,
    storage: Option<String>,
    config: String,
    instance_config: String,
    /// Start with `dir/switchboard.toml` as the test wrote it, instead of writing one.
    existing_config: bool,
    env: Vec<(&'a str, &'a str)>,
    stderr: Option<Stdio>,
}

impl<'a> Launch<'a> {
    /// The data directory, which outlives the server (for restart tests); a fresh temporary
    /// one when not given.
    pub fn dir(mut self, dir: &'a std::path::Path) -> Self {
        self.dir = Some(dir);
        self
    }

    /// The store's URL (`postgres://...`); SQLite in the data directory when not given.
    pub fn storage(mut self, url: &str) -> Self {
        self.storage = Some(url.to_string());
        self
    }

    /// Extra top-level configuration.
    pub fn config(mut self, extra: &str) -> Self {
        self.config = extra.to_string();
        self
    }

    /// Extra configuration of the test instance.
    pub fn instance_config(mut self, extra: &str) -> Self {
        self.instance_config = extra.to_string();
        self
    }

    /// Starts with the `switchboard.toml` the test wrote into the data directory.
    pub fn existing_config(mut self) -> Self {
        self.existing_config = true;
        self
    }

    /// Extra environment variables of the server process.
    pub fn env(mut self, vars: &[(&'a str, &'a str)]) -> Self {
        self.env.extend_from_slice(vars);
        self
    }

    /// Where the server's log goes (piped when a test reads it from `child.stderr`).
    pub fn stderr(mut self, stderr: Stdio) -> Self {
        self.stderr = Some(stderr);
        self
    }

    /// Starts `switchboard serve` on loopback port 0 and waits until it listens.
    pub async fn start(self) -> TestServer {
        let temp = match self.dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("temp dir")),
        };
        let dir = self
            .dir
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| temp.as_ref().unwrap().path().to_path_buf());
        let config = dir.join("switchboard.toml");
        if !self.existing_config {
            let storage = match &self.storage {
                Some(url) => url.clone(),
                None => format!("sqlite://{}", dir.join("switchboard.db").to_str().unwrap()),
            };
            std::fs::write(
                &config,
                config_text_for(&storage, &self.config, &self.instance_config),
            )
            .unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(self.env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(self.stderr.unwrap_or_else(Stdio::inherit))
            .kill_on_drop(true)
            .spawn()
            .expect("start switchboard");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("switchboard listening on ") {
                    return url.to_string();
                }
            }
            panic!("switchboard exited before it was ready");
        })
        .await
        .expect("switchboard did not become ready");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TestServer {
            child,
            url,
            dir,
            _temp: temp,
        }
    }
}

impl TestServer {
    /// How a server starts, settings to name before `start`.
    pub fn builder<'a>() -> Launch<'a> {
        Launch {
            dir: None,
            storage: None,
            config: String::new(),
            instance_config: String::new(),
            existing_config: false,
            env: Vec::new(),
            stderr: None,
        }
    }

    /// A server with the base configuration on SQLite in a fresh temporary directory.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    pub fn connect(&self) -> aws_sdk_connect::Client {
        self.connect_with_keys(ACCESS_KEY, SECRET_KEY)
    }

    pub fn connect_with_keys(&self, id: &str, secret: &str) -> aws_sdk_connect::Client {
        let config = aws_sdk_connect::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(id, secret, None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_connect::Client::from_conf(config)
    }

    pub fn participant(&self) -> aws_sdk_connectparticipant::Client {
        let config = aws_sdk_connectparticipant::Config::builder()
            .behavior_version(aws_sdk_connectparticipant::config::BehaviorVersion::latest())
            .region(aws_sdk_connectparticipant::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_connectparticipant::config::Credentials::new(
                "",
                "",
                None,
                None,
                "chatjs-style-empty",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_connectparticipant::Client::from_conf(config)
    }

    /// Sends a signal and waits for the process to exit.
    pub async fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("switchboard did not exit")
            .expect("wait")
    }
}

/// A started chat with its customer connected over the participant API.
pub struct Chat {
    pub contact_id: String,
    pub participant_id: String,
    pub participant_token: String,
    pub connection_token: String,
    pub websocket_url: String,
}

/// StartChatContact on the test flow for a customer called `name`, to be completed and sent.
pub fn start_chat_request(
    server: &TestServer,
    name: &str,
) -> aws_sdk_connect::operation::start_chat_contact::builders::StartChatContactFluentBuilder {
    server
        .connect()
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(
            aws_sdk_connect::types::ParticipantDetails::builder()
                .display_name(name)
                .build()
                .unwrap(),
        )
}

pub async fn start_chat(server: &TestServer, name: &str) -> Chat {
    let started = start_chat_request(server, name)
        .send()
        .await
        .expect("StartChatContact");
    customer_of(server, &started).await
}

/// The customer of a chat StartChatContact started, connected over the participant API.
pub async fn customer_of(
    server: &TestServer,
    started: &aws_sdk_connect::operation::start_chat_contact::StartChatContactOutput,
) -> Chat {
    let token = started.participant_token().unwrap().to_string();
    let (connection_token, websocket_url) = connect_participant(server, &token).await;
    Chat {
        contact_id: started.contact_id().unwrap().to_string(),
        participant_id: started.participant_id().unwrap().to_string(),
        participant_token: token,
        connection_token,
        websocket_url,
    }
}

/// CreateParticipant: a CUSTOM_BOT called `name` joins the contact; returns its participant id
/// and token.
pub async fn add_bot(server: &TestServer, contact_id: &str, name: &str) -> (String, String) {
    use aws_sdk_connect::types::{ParticipantDetailsToAdd, ParticipantRole};
    let bot = server
        .connect()
        .create_participant()
        .instance_id(INSTANCE)
        .contact_id(contact_id)
        .participant_details(
            ParticipantDetailsToAdd::builder()
                .participant_role(ParticipantRole::CustomBot)
                .display_name(name)
                .build(),
        )
        .send()
        .await
        .expect("CreateParticipant");
    let token = bot
        .participant_credentials()
        .unwrap()
        .participant_token()
        .unwrap();
    (bot.participant_id().unwrap().to_string(), token.to_string())
}

/// CreateParticipantConnection for both types; returns the connection token and socket URL.
pub async fn connect_participant(server: &TestServer, participant_token: &str) -> (String, String) {
    use aws_sdk_connectparticipant::types::ConnectionType;
    let connection = server
        .participant()
        .create_participant_connection()
        .participant_token(participant_token)
        .r#type(ConnectionType::Websocket)
        .r#type(ConnectionType::ConnectionCredentials)
        .send()
        .await
        .expect("CreateParticipantConnection");
    (
        connection
            .connection_credentials()
            .unwrap()
            .connection_token()
            .unwrap()
            .to_string(),
        connection.websocket().unwrap().url().unwrap().to_string(),
    )
}

/// A participant's WebSocket.
pub struct ChatSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl ChatSocket {
    pub async fn open(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("open websocket");
        Self { ws }
    }

    /// Opens and subscribes to `aws/chat`, checking the reply.
    pub async fn subscribe(url: &str) -> Self {
        let mut socket = Self::open(url).await;
        socket
            .send(json!({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
            .await;
        let reply = socket.next_frame().await.expect("subscribe reply");
        assert_eq!(
            reply,
            json!({"topic": "aws/subscribe", "content": {"status": "success", "topics": ["aws/chat"]}})
        );
        socket
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send frame");
    }

    /// The next JSON frame, or `None` once the server closed the socket.
    pub async fn next_frame(&mut self) -> Option<Value> {
        // One deadline for the frame, however many pings come before it.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("no frame from the server in time")?;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next pushed chat item (decoded from the `aws/chat` frame's string content).
    pub async fn next_item(&mut self) -> Option<Value> {
        loop {
            let frame = self.next_frame().await?;
            if frame["topic"] == "aws/chat" {
                assert_eq!(frame["contentType"], "application/json");
                let content = frame["content"].as_str().expect("content is a string");
                return Some(serde_json::from_str(content).expect("item JSON"));
            }
        }
    }

    /// Skips items until one matches.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let item = self
                .next_item()
                .await
                .unwrap_or_else(|| panic!("socket closed while waiting for {what}"));
            if matches(&item) {
                return item;
            }
        }
    }

    /// The next pushed item, or the close code once the server closes the socket.
    pub async fn next_item_or_close(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("nothing from the server in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON frame");
                    if frame["topic"] == "aws/chat" {
                        return Ok(
                            serde_json::from_str(frame["content"].as_str().unwrap()).unwrap()
                        );
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                _ => return Err(None),
            }
        }
    }

    /// Waits for the server's close frame and returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("socket was not closed in time");
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    }
}

pub fn content_type(item: &Value) -> &str {
    item["ContentType"].as_str().unwrap_or_default()
}

/// A fresh PostgreSQL database for one test, dropped when the test is done. The server is
/// `SWITCHBOARD_TEST_POSTGRES` or this machine's (127.0.0.1:5432, user postgres, trust).
pub struct PostgresDatabase {
    server: String,
    pub name: String,
}

impl PostgresDatabase {
    /// A fresh database, or `None` (the test is skipped, and says so) when no PostgreSQL server
    /// answers and `SWITCHBOARD_REQUIRE_POSTGRES` is not set: plain `cargo test` on a machine
    /// without PostgreSQL runs everything else. The project's test command sets it, so there a
    /// missing server fails the run.
    pub async fn fresh() -> Option<Self> {
        let server = std::env::var("SWITCHBOARD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("switchboard_test_{}", uuid::Uuid::new_v4().simple());
        let connected =
            <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{server}/postgres")).await;
        let mut admin = match connected {
            Ok(admin) => admin,
            Err(e) if std::env::var_os("SWITCHBOARD_REQUIRE_POSTGRES").is_none() => {
                // Once per run, and past the test harness's capture (which would hide it for a
                // test that passes), so that whoever runs `cargo test` sees what was skipped.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipping the PostgreSQL tests: no PostgreSQL at {server} ({e}); set \
                         SWITCHBOARD_TEST_POSTGRES to use another, or \
                         SWITCHBOARD_REQUIRE_POSTGRES=1 to fail instead"
                    );
                });
                return None;
            }
            Err(e) => panic!("PostgreSQL at SWITCHBOARD_TEST_POSTGRES or 127.0.0.1:5432: {e}"),
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Some(Self { server, name })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin, name) = (format!("{}/postgres", self.server), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// The value of an unlabelled series, or of the series whose labels contain `labels`.
pub async fn metric(server: &TestServer, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(name)
                && l[name.len()..].starts_with([' ', '{'])
                && (labels.is_empty() || l.contains(labels))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}
