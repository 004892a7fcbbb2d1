//! The public start-chat endpoint of a widget: starting a chat without AWS credentials, CORS for
//! the allowed origins only, the per-address rate limit and signed customer identities.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::*;

const SHOP: &str = "http://shop.test:8000";
const SECRET: &str = "the shop's widget secret";

fn widgets() -> String {
    format!(
        r#"
[[instances.widgets]]
id = "shop"
contact_flow = "{FLOW}"
allowed_origins = ["{SHOP}"]
chats_per_minute = 3

[[instances.widgets]]
id = "members"
contact_flow = "{FLOW}"
allowed_origins = ["*"]
identity_secret = "{SECRET}"
"#
    )
}

async fn start_widget_chat(
    server: &TestServer,
    widget: &str,
    origin: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/widget/{widget}/chat", server.url))
        .json(&body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_page_of_an_allowed_site_starts_a_chat_without_aws_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .instance_config(&widgets())
        .start()
        .await;
    let response =
        start_widget_chat(&server, "shop", Some(SHOP), json!({"DisplayName": "Kim"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
    let started: Value = response.json().await.unwrap();
    // What StartChatContact answers: enough for any participant client to join.
    let token = started["ParticipantToken"].as_str().unwrap();
    let (connection, websocket) = connect_participant(&server, token).await;
    let mut socket = ChatSocket::subscribe(&websocket).await;
    server
        .participant()
        .send_message()
        .connection_token(&connection)
        .content_type("text/plain")
        .content("Is this in stock?")
        .send()
        .await
        .unwrap();
    let message = socket
        .wait_for("the message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(message["DisplayName"], "Kim");
    assert_eq!(message["ParticipantRole"], "CUSTOMER");

    // A preflight from the shop is answered; one from another site is not.
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/widget/shop/chat", server.url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
    };
    let ok = preflight(SHOP).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-origin"], SHOP);
    let refused = preflight("https://elsewhere.test").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let other_site = start_widget_chat(
        &server,
        "shop",
        Some("https://elsewhere.test"),
        json!({"DisplayName": "Eve"}),
    )
    .await;
    assert_eq!(other_site.status(), 403);
    assert!(other_site
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let unknown =
        start_widget_chat(&server, "nope", Some(SHOP), json!({"DisplayName": "Kim"})).await;
    assert_eq!(unknown.status(), 404);
    let nameless = start_widget_chat(&server, "shop", Some(SHOP), json!({})).await;
    assert_eq!(nameless.status(), 400);
    let body: Value = nameless.json().await.unwrap();
    assert_eq!(body["__type"], "InvalidRequestException");
}

#[tokio::test]
async fn each_address_may_start_only_so_many_chats_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .instance_config(&widgets())
        .start()
        .await;
    for _ in 0..3 {
        let ok =
            start_widget_chat(&server, "shop", Some(SHOP), json!({"DisplayName": "Lee"})).await;
        assert_eq!(ok.status(), 200);
    }
    let limited =
        start_widget_chat(&server, "shop", Some(SHOP), json!({"DisplayName": "Lee"})).await;
    assert_eq!(limited.status(), 429);
    // The page can read why.
    assert_eq!(limited.headers()["access-control-allow-origin"], SHOP);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["__type"], "ThrottlingException");
}

#[tokio::test]
async fn a_verifying_widget_needs_the_sites_signature_and_passes_the_customer_id_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .instance_config(&widgets())
        .start()
        .await;
    let unsigned = start_widget_chat(
        &server,
        "members",
        Some(SHOP),
        json!({"DisplayName": "Max", "CustomerId": "member-7"}),
    )
    .await;
    assert_eq!(unsigned.status(), 403);
    let forged = start_widget_chat(
        &server,
        "members",
        Some(SHOP),
        json!({"DisplayName": "Max", "CustomerId": "member-7", "CustomerIdSignature": "00ff"}),
    )
    .await;
    assert_eq!(forged.status(), 403);

    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"member-7");
    let signature = hex::encode(mac.finalize().into_bytes());
    let signed = start_widget_chat(
        &server,
        "members",
        Some(SHOP),
        json!({"DisplayName": "Max", "CustomerId": "member-7", "CustomerIdSignature": signature}),
    )
    .await;
    assert_eq!(signed.status(), 200);
    let started: Value = signed.json().await.unwrap();
    let contact = server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(started["ContactId"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(contact.contact().unwrap().customer_id(), Some("member-7"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_applies_per_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .config(r#"trusted_proxies = ["127.0.0.1"]"#)
        .instance_config(&widgets())
        .start()
        .await;
    let from = |client: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/widget/shop/chat", server.url))
            .header("origin", SHOP)
            .header("x-forwarded-for", client)
            .json(&json!({"DisplayName": "Proxied"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(from("203.0.113.1").await.unwrap().status(), 200);
    }
    assert_eq!(from("203.0.113.1").await.unwrap().status(), 429);
    assert_eq!(from("203.0.113.2").await.unwrap().status(), 200);
}
