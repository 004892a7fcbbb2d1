//! What an operator relies on: health and readiness endpoints, Prometheus metrics, JSON logs
//! with request ids, and `switchboard migrate`.

use std::process::Stdio;

use aws_sdk_connect::operation::RequestId;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;

async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the first series of `name` whose labels contain every one of `labels`.
fn series(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l[..l.find([' ', '{']).unwrap_or(l.len())] == *name)
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn health_readiness_and_metrics_tell_an_operator_how_the_node_is_doing() {
    let server = TestServer::start().await;
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, 200);
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "ok");

    let chat = start_chat(&server, "Watched").await;
    let socket = ChatSocket::subscribe(&chat.websocket_url).await;
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content("hello")
        .send()
        .await
        .unwrap();
    let refused = server
        .participant()
        .send_message()
        .connection_token("not-a-token")
        .content_type("text/plain")
        .content("hello")
        .send()
        .await;
    assert!(refused.is_err());

    let (status, metrics) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    let requests = |operation: &str, status: &str| {
        series(
            &metrics,
            "switchboard_requests_total",
            &[
                &format!("operation=\"{operation}\""),
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(requests("StartChatContact", "200"), Some(1.0));
    assert_eq!(requests("CreateParticipantConnection", "200"), Some(1.0));
    assert_eq!(requests("SendMessage", "200"), Some(1.0));
    assert_eq!(requests("SendMessage", "403"), Some(1.0));
    assert_eq!(
        series(
            &metrics,
            "switchboard_request_duration_seconds_count",
            &["operation=\"SendMessage\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        series(
            &metrics,
            "switchboard_request_duration_seconds_bucket",
            &["operation=\"SendMessage\"", "le=\"+Inf\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        series(
            &metrics,
            "switchboard_open_sockets",
            &["kind=\"participant\""]
        ),
        Some(1.0)
    );
    // Nobody serves the queue in this configuration: the chat waits there.
    assert_eq!(
        series(
            &metrics,
            "switchboard_queue_contacts",
            &[&format!("queue=\"{QUEUE}\"")]
        ),
        Some(1.0)
    );
    assert_eq!(
        series(&metrics, "switchboard_stream_backlog", &[]),
        Some(0.0)
    );

    drop(socket);
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (_, metrics) = get(&server, "/metrics").await;
            if series(
                &metrics,
                "switchboard_open_sockets",
                &["kind=\"participant\""],
            ) == Some(0.0)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the closed socket is still counted");
}

#[tokio::test]
async fn json_logs_name_the_request_and_the_contact() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let storage = dir.path().join("switchboard.db");
    std::fs::write(&config, config_text(storage.to_str().unwrap(), "")).unwrap();
    let mut server = TestServer::builder()
        .dir(dir.path())
        .existing_config()
        .env(&[
            ("SWITCHBOARD_LOG_FORMAT", "json"),
            ("SWITCHBOARD_LOG", "info"),
        ])
        .stderr(Stdio::piped())
        .start()
        .await;
    let mut stderr = BufReader::new(server.child.stderr.take().unwrap()).lines();
    let started = start_chat_request(&server, "Logged").send().await.unwrap();
    let contact_id = started.contact_id().unwrap();
    let request_id = started.request_id().unwrap().to_string();

    let logged = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let entry: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if entry["fields"]["message"] == "chat started" {
                return entry;
            }
        }
        panic!("no chat started line");
    })
    .await
    .unwrap();
    assert_eq!(logged["level"], "INFO");
    assert_eq!(logged["fields"]["contact_id"], contact_id);
    assert_eq!(logged["span"]["request_id"], request_id.as_str());
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let storage = dir.path().join("data").join("switchboard.db");
    std::fs::write(&config, config_text(storage.to_str().unwrap(), "")).unwrap();
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["migrate", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("schema is up to date"));
    let tables: Vec<String> = rusqlite::Connection::open(&storage)
        .unwrap()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in ["contacts", "items", "streams", "stream_outbox"] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn on_sigterm_a_draining_node_says_it_is_not_ready_yet_still_serves_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::builder()
        .dir(dir.path())
        .config("[limits]\ndrain_seconds = 2\n")
        .start()
        .await;
    let chat = start_chat(&server, "Draining").await;
    let (status, _) = get(&server, "/readyz").await;
    assert_eq!(status, 200);

    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let body = tokio::time::timeout(PATIENCE, async {
        loop {
            let (status, body) = get(&server, "/readyz").await;
            if status == 503 {
                return body;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("readyz never said 503 while draining");
    let not_ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(not_ready["draining"], true);
    // Still serving the clients it has.
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content("while draining")
        .send()
        .await
        .expect("SendMessage while draining");
    let exited = tokio::time::timeout(PATIENCE, server.child.wait())
        .await
        .expect("the node did not exit after draining")
        .unwrap();
    assert!(exited.success());
}
