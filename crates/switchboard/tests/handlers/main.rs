//! The in-process tier: the application's router driven request by request, with no socket and
//! no child process (as axum's own testing example does). `App::build` makes the same node the
//! server runs, on a fresh SQLite file; these tests check what a handler answers, and run in
//! milliseconds. What needs a real connection (WebSockets, graceful shutdown, clients we did not
//! write) stays in `tests/integration`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use switchboard::app::App;
use switchboard::config::Config;
use tower::ServiceExt;

#[path = "../support/config.rs"]
#[allow(dead_code)]
mod config;

use config::*;

/// A node built in this process on a fresh data directory.
struct Node {
    app: App,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

/// One answer: status, the AWS error type header (if any), and the JSON body (Null if none).
struct Answer {
    status: StatusCode,
    error_type: Option<String>,
    body: Value,
}

impl Node {
    async fn start(instance_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("switchboard.db");
        let storage = format!("sqlite://{}", storage.display());
        let config = Config::parse(&config_text_for(&storage, "", instance_extra)).unwrap();
        let app = App::build(config, "ws://127.0.0.1:1".into()).await.unwrap();
        let router = app.router();
        Self {
            app,
            router,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = if body.is_null() {
            Body::empty()
        } else {
            Body::from(body.to_string())
        };
        let mut request = request.body(body).unwrap();
        // What the server's listener adds to every request.
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            error_type,
            body,
        }
    }

    async fn stop(self) {
        drop(self.router);
        self.app.shut_down().await;
    }
}

const WIDGET: &str = r#"
[[instances.widgets]]
id = "shop"
contact_flow = "flow-1"
allowed_origins = ["*"]
"#;

#[tokio::test]
async fn a_widget_chat_is_started_written_to_and_read_back_without_a_socket() {
    let node = Node::start(WIDGET).await;
    let started = node
        .call(
            Method::POST,
            "/widget/shop/chat",
            &[("content-type", "application/json")],
            json!({"DisplayName": "Kim"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let token = started.body["ParticipantToken"]
        .as_str()
        .unwrap()
        .to_string();

    let connection = node
        .call(
            Method::POST,
            "/participant/connection",
            &[("x-amz-bearer", &token)],
            json!({"Type": ["CONNECTION_CREDENTIALS"]}),
        )
        .await;
    assert_eq!(connection.status, StatusCode::OK, "{}", connection.body);
    let credentials = connection.body["ConnectionCredentials"]["ConnectionToken"]
        .as_str()
        .unwrap()
        .to_string();

    let sent = node
        .call(
            Method::POST,
            "/participant/message",
            &[("x-amz-bearer", &credentials)],
            json!({"ContentType": "text/plain", "Content": "hello from no socket"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let message_id = sent.body["Id"].as_str().unwrap().to_string();

    let transcript = node
        .call(
            Method::POST,
            "/participant/transcript",
            &[("x-amz-bearer", &credentials)],
            json!({}),
        )
        .await;
    assert_eq!(transcript.status, StatusCode::OK, "{}", transcript.body);
    let items = transcript.body["Transcript"].as_array().unwrap();
    let message = items
        .iter()
        .find(|i| i["Id"] == message_id.as_str())
        .expect("the message is in the transcript");
    assert_eq!(message["Content"], "hello from no socket");
    assert_eq!(message["ParticipantRole"], "CUSTOMER");
    node.stop().await;
}

#[tokio::test]
async fn a_participant_call_without_a_valid_token_is_denied_in_the_aws_shape() {
    let node = Node::start("").await;
    let missing = node
        .call(Method::POST, "/participant/message", &[], json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(missing.error_type.as_deref(), Some("AccessDeniedException"));
    let forged = node
        .call(
            Method::POST,
            "/participant/message",
            &[("x-amz-bearer", "not-a-token")],
            json!({"ContentType": "text/plain", "Content": "x"}),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.body["__type"], "AccessDeniedException");
    node.stop().await;
}

#[tokio::test]
async fn an_unsigned_connect_call_is_refused_before_its_handler_runs() {
    let node = Node::start("").await;
    let answer = node
        .call(
            Method::PUT,
            "/contact/chat",
            &[("content-type", "application/json")],
            json!({"InstanceId": INSTANCE, "ContactFlowId": FLOW,
                   "ParticipantDetails": {"DisplayName": "A"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.error_type.is_some(),
        "an AWS error type names the refusal"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_operation_of_the_models_not_served_here_is_named_in_its_501() {
    let node = Node::start("").await;
    let answer = node
        .call(Method::POST, "/participant/attachment", &[], json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("GetAttachment"),
        "{}",
        answer.body
    );
    node.stop().await;
}

#[tokio::test]
async fn agent_sign_in_with_a_wrong_password_is_unauthorized() {
    let node = Node::start("").await;
    let answer = node
        .call(
            Method::POST,
            "/agent/api/sign-in",
            &[("content-type", "application/json")],
            json!({"username": "nobody", "password": "wrong"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    node.stop().await;
}

#[tokio::test]
async fn health_and_readiness_answer_while_the_store_does() {
    let node = Node::start("").await;
    let health = node.call(Method::GET, "/healthz", &[], Value::Null).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = node.call(Method::GET, "/readyz", &[], Value::Null).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["store"], "ok");
    node.stop().await;
}

#[tokio::test]
async fn only_approved_origins_may_frame_the_ccp() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let extra = "[ccp]\napproved_origins = [\"https://crm.example.com\"]";
    let config = Config::parse(&config_text_for(&storage, extra, "")).unwrap();
    let app = App::build(config, "ws://127.0.0.1:1".into()).await.unwrap();
    let response = app
        .router()
        .oneshot(Request::get("/ccp-v2/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.ends_with("frame-ancestors 'self' https://crm.example.com"),
        "{policy}"
    );
    // Without approved origins only the server's own pages may frame it.
    let node = Node::start("").await;
    let answer = node
        .router
        .clone()
        .oneshot(Request::get("/ccp-v2/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let policy = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.ends_with("frame-ancestors 'self'"), "{policy}");
    node.stop().await;
    app.shut_down().await;
}
