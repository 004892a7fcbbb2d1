//! Malformed requests on every route outside the two AWS APIs (whose own cases live in
//! `errors.rs` and the boto3 suite): each gets the AWS error shape, or a page for the pages,
//! never axum's plain text or an empty body. Requests go over a raw TCP connection, so nothing
//! between the test and the server tidies them up.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::agents::{agents_config, AgentClient};
use crate::common::*;

/// An answer as it came off the wire.
struct Answer {
    status: u16,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The AWS error shape: the status, `x-amzn-ErrorType`, a request id, and a JSON body with
    /// `__type` and a message.
    fn assert_aws_error(&self, status: u16, code: &str, what: &str) -> Value {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{what}: {text}");
        assert_eq!(self.header("x-amzn-errortype"), Some(code), "{what}");
        assert!(self.header("x-amzn-requestid").is_some(), "{what}");
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}: {:?}",
            self.headers
        );
        let body: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        assert_eq!(body["__type"], code, "{what}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        body
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body`, and reads the
/// whole answer (the request asks the server to close the connection after it).
async fn raw(server: &TestServer, head: &str, body: &[u8]) -> Answer {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // A server may answer before it read a body it refuses; a failed write is not the test's
    // business, the answer is.
    let _ = stream.write_all(body).await;
    let mut bytes = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut bytes))
        .await
        .expect("the server answered")
        .ok();
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Answer {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&bytes[..end]).trim(), 16)
            .expect("a chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[end + 2 + size + 2..];
    }
}

const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

/// Headers of WebSocket upgrades that must fail: none at all, no key, and an old version.
fn failed_upgrades() -> [(String, &'static str); 3] {
    [
        ("Accept: */*".to_string(), "no upgrade headers"),
        (
            UPGRADE.replace("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", ""),
            "no key",
        ),
        (UPGRADE.replace("Version: 13", "Version: 12"), "version 12"),
    ]
}

#[tokio::test]
async fn a_wrong_method_gets_a_page_on_pages_and_the_error_shape_elsewhere() {
    let server = TestServer::start().await;
    for path in ["/agent", "/agent/agent.js", "/widget.js"] {
        let answer = raw(&server, &format!("DELETE {path} HTTP/1.1"), b"").await;
        assert_eq!(answer.status, 405, "{path}");
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{path}: {:?}",
            answer.headers
        );
        assert!(answer.header("allow").is_some_and(|a| a.contains("GET")));
        let page = String::from_utf8_lossy(&answer.body);
        assert!(page.contains("Method Not Allowed"), "{path}: {page}");
    }
    for (method, path) in [
        ("POST", "/metrics"),
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("POST", "/ws/v1/chat"),
        ("POST", "/agent/api/socket"),
        ("DELETE", "/agent/api/me"),
        ("GET", "/agent/api/sign-in"),
        ("GET", "/agent/api/contacts/c-1/accept"),
        ("GET", "/widget/shop/chat"),
    ] {
        let answer = raw(&server, &format!("{method} {path} HTTP/1.1"), b"").await;
        let what = format!("{method} {path}");
        answer.assert_aws_error(405, "MethodNotAllowedException", &what);
        assert!(answer.header("allow").is_some(), "{what}");
    }
    // Without the demo, `/` is no page at all.
    let answer = raw(&server, "POST / HTTP/1.1", b"").await;
    answer.assert_aws_error(404, "UnknownOperationException", "POST /");
    // A wrong method on an AWS route is an operation the models do not have.
    let answer = raw(&server, "DELETE /contact/chat HTTP/1.1", b"").await;
    answer.assert_aws_error(404, "UnknownOperationException", "DELETE /contact/chat");
}

#[tokio::test]
async fn the_agent_api_refuses_bad_paths_queries_bodies_and_upgrades_in_the_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (top, instance) = agents_config(None);
    let server = TestServer::builder()
        .dir(dir.path())
        .config(&top)
        .instance_config(&instance)
        .start()
        .await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let auth = format!("Authorization: Bearer {}", ana.token);

    for path in [
        "/agent/api/contacts/%FF/accept",
        "/agent/api/contacts/c-1/%C0%AF",
    ] {
        let answer = raw(&server, &format!("POST {path} HTTP/1.1\r\n{auth}"), b"{}").await;
        let body = answer.assert_aws_error(400, "InvalidRequestException", path);
        assert!(body["message"].as_str().unwrap().contains("path"), "{body}");
    }

    let twice = format!("/agent/api/socket?token={0}&token={0}", ana.token);
    let answer = raw(&server, &format!("GET {twice} HTTP/1.1\r\n{UPGRADE}"), b"").await;
    answer.assert_aws_error(400, "InvalidRequestException", "a repeated token");

    let socket = format!("GET /agent/api/socket?token={} HTTP/1.1", ana.token);
    for (headers, what) in failed_upgrades() {
        let answer = raw(&server, &format!("{socket}\r\n{headers}"), b"").await;
        answer.assert_aws_error(400, "BadRequestException", what);
    }

    let big = vec![b' '; 300 * 1024];
    let answer = raw(
        &server,
        "POST /agent/api/sign-in HTTP/1.1\r\nContent-Type: application/json",
        &big,
    )
    .await;
    answer.assert_aws_error(413, "RequestEntityTooLargeException", "a huge sign-in");
    let answer = raw(
        &server,
        &format!("PUT /agent/api/status HTTP/1.1\r\n{auth}"),
        b"{\"status\": ",
    )
    .await;
    answer.assert_aws_error(400, "InvalidRequestException", "a broken JSON body");
}

#[tokio::test]
async fn the_participant_socket_refuses_bad_queries_and_upgrades_in_the_error_shape() {
    let server = TestServer::start().await;
    let chat = start_chat(&server, "Raw").await;
    let url = &chat.websocket_url;
    let path_and_query = &url[url.find("/ws/").expect("a socket path")..];

    let twice = format!(
        "{path_and_query}&{}",
        &path_and_query[path_and_query.find('?').unwrap() + 1..]
    );
    let answer = raw(&server, &format!("GET {twice} HTTP/1.1\r\n{UPGRADE}"), b"").await;
    answer.assert_aws_error(400, "InvalidRequestException", "a repeated token");

    for (headers, what) in failed_upgrades() {
        let answer = raw(
            &server,
            &format!("GET {path_and_query} HTTP/1.1\r\n{headers}"),
            b"",
        )
        .await;
        answer.assert_aws_error(400, "BadRequestException", what);
    }
}

#[tokio::test]
async fn a_widget_body_over_the_limit_is_refused_with_cors_for_its_site() {
    let dir = tempfile::tempdir().unwrap();
    let widget = format!(
        r#"
[[instances.widgets]]
id = "shop"
contact_flow = "{FLOW}"
allowed_origins = ["http://shop.test"]
"#
    );
    let server = TestServer::builder()
        .dir(dir.path())
        .instance_config(&widget)
        .start()
        .await;
    let body = json!({"DisplayName": "x".repeat(300 * 1024)}).to_string();
    let answer = raw(
        &server,
        "POST /widget/shop/chat HTTP/1.1\r\nOrigin: http://shop.test\r\nContent-Type: application/json",
        body.as_bytes(),
    )
    .await;
    answer.assert_aws_error(413, "RequestEntityTooLargeException", "a huge widget body");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://shop.test")
    );
    let answer = raw(&server, "POST /widget/%FF/chat HTTP/1.1", b"{}").await;
    answer.assert_aws_error(400, "InvalidRequestException", "an undecodable widget id");
}
