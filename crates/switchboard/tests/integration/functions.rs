//! HTTP functions a flow calls (InvokeLambdaFunction with `arn:switchboard:function:...`): the
//! event Connect sends a Lambda, signed as webhooks are, against a real HTTP server on a loopback
//! port; the answer read flat; a slow function cut off at the action's time limit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{json, Value};
use switchboard::config::Config;
use switchboard::flows::functions::{FunctionError, Functions};
use switchboard::streaming::webhook::signature;

use crate::common::*;

const SECRET: &str = "function-secret-0123456789";

/// What the function server heard: headers and body of each call.
type Heard = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A function server: `/lookup` answers a balance, `/nested` a nested object, `/slow` never.
async fn function_server() -> (String, Heard) {
    let heard: Heard = Arc::default();
    let keep = heard.clone();
    let app = axum::Router::new()
        .route(
            "/lookup",
            post(move |headers: HeaderMap, body: String| {
                let keep = keep.clone();
                async move {
                    keep.lock().unwrap().push((headers, body));
                    axum::Json(json!({"balance": "42", "visits": 3}))
                }
            }),
        )
        .route(
            "/nested",
            post(|| async { axum::Json(json!({"a": {"b": 1}})) }),
        )
        .route("/slow", post(std::future::pending::<String>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, heard)
}

fn functions(url: &str) -> Functions {
    let config = Config::parse(&format!(
        r#"
        [[functions]]
        name = "lookup"
        url = "{url}/lookup"
        secret = "{SECRET}"
        [[functions]]
        name = "nested"
        url = "{url}/nested"
        secret = "{SECRET}"
        [[functions]]
        name = "slow"
        url = "{url}/slow"
        secret = "{SECRET}"
        "#
    ))
    .unwrap();
    Functions::new(&config).unwrap()
}

fn arn(name: &str) -> String {
    format!("arn:switchboard:function:{REGION}:123456789012:{name}")
}

#[tokio::test]
async fn a_function_gets_connects_event_signed_and_its_answer_is_read_flat() {
    let (url, heard) = function_server().await;
    let calls = functions(&url);
    let parameters = BTreeMap::from([("who".to_string(), "Kim".to_string())]);
    let sent = json!({"Name": "ContactFlowEvent", "Details": {"Parameters": parameters}});
    let answer = calls
        .invoke(&arn("lookup"), &sent, Duration::from_secs(8))
        .await
        .unwrap();
    assert_eq!(answer["balance"], "42");
    assert_eq!(answer["visits"], "3");

    let (headers, body) = heard.lock().unwrap().pop().unwrap();
    let timestamp: i64 = headers["x-switchboard-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-switchboard-signature"].to_str().unwrap(),
        signature(SECRET, timestamp, &body)
    );
    let received: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn a_function_that_fails_the_contract_or_the_clock_is_an_error() {
    let (url, _) = function_server().await;
    let calls = functions(&url);
    let event = json!({});
    assert!(matches!(
        calls
            .invoke(&arn("nested"), &event, Duration::from_secs(8))
            .await,
        Err(FunctionError::BadAnswer(_))
    ));
    assert_eq!(
        calls
            .invoke(&arn("slow"), &event, Duration::from_secs(1))
            .await,
        Err(FunctionError::TimedOut)
    );
    assert!(matches!(
        calls
            .invoke(&arn("nobody"), &event, Duration::from_secs(1))
            .await,
        Err(FunctionError::NotFound(_))
    ));
    assert!(matches!(
        calls
            // AWS Lambda is called through the SDK (flow_chats.rs); an ARN without a region
            // names nothing.
            .invoke(
                "arn:aws:lambda::123456789012:function:f",
                &event,
                Duration::from_secs(1)
            )
            .await,
        Err(FunctionError::NotFound(_))
    ));
}
