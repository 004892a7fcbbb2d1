//! A webhook receiver for the streaming tests: an HTTP server on a loopback port that checks
//! each request's signature the way a real receiver would, answers as the test tells it to
//! (success, an error status, or no answer at all), and lets the test wait for what it accepted.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::common::PATIENCE;

/// How the receiver answers one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Status(u16),
    /// Never answers: the sender's timeout has to give up.
    Hang,
}

/// Decides the answer from the streamed item and how many times it was offered before.
pub type Behaviour = Box<dyn Fn(&Value, u32) -> Answer + Send + Sync>;

/// One accepted notification.
#[derive(Debug, Clone)]
pub struct Received {
    /// The item JSON that was the notification's Message.
    pub item: Value,
    pub attributes: BTreeMap<String, String>,
    pub streaming_id: String,
    pub message_id: String,
}

impl Received {
    pub fn content_type(&self) -> &str {
        self.item["ContentType"].as_str().unwrap_or_default()
    }
    pub fn id(&self) -> &str {
        self.item["Id"].as_str().unwrap_or_default()
    }
}

struct Shared {
    secret: String,
    behaviour: Mutex<Behaviour>,
    accepted: Mutex<Vec<Received>>,
    /// Offers per item id, accepted or not.
    attempts: Mutex<HashMap<String, u32>>,
    bad_signatures: AtomicUsize,
    changed: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver that accepts everything.
    pub async fn start(secret: &str) -> Self {
        let shared = Arc::new(Shared {
            secret: secret.to_string(),
            behaviour: Mutex::new(Box::new(|_, _| Answer::Accept)),
            accepted: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            bad_signatures: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    pub fn behave(&self, behaviour: impl Fn(&Value, u32) -> Answer + Send + Sync + 'static) {
        *self.shared.behaviour.lock().unwrap() = Box::new(behaviour);
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.shared.accepted.lock().unwrap().clone()
    }

    pub fn attempts(&self, item_id: &str) -> u32 {
        let attempts = self.shared.attempts.lock().unwrap();
        attempts.get(item_id).copied().unwrap_or(0)
    }

    pub fn total_attempts(&self) -> u32 {
        self.shared.attempts.lock().unwrap().values().sum()
    }

    pub fn bad_signatures(&self) -> usize {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for the receiver (checked after every request).
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let waiting = async {
            loop {
                let changed = self.shared.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if done(self) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(PATIENCE * 2, waiting).await.is_err() {
            let seen: Vec<String> = self
                .accepted()
                .iter()
                .map(|r| format!("{} {}", r.content_type(), r.item["Content"]))
                .collect();
            panic!("timed out waiting for {what}; accepted so far: {seen:#?}");
        }
    }

    /// Waits until the receiver accepted an item whose ContentType is `content_type`
    /// `count` times.
    pub async fn wait_for_count(&self, content_type: &str, count: usize) {
        self.wait_until(&format!("{count} × {content_type}"), |r| {
            r.accepted()
                .iter()
                .filter(|x| x.content_type() == content_type)
                .count()
                >= count
        })
        .await
    }
}

fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (
        header("x-switchboard-timestamp"),
        header("x-switchboard-signature"),
    ) else {
        return false;
    };
    let Some(hex_mac) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !signature_ok(&shared.secret, &headers, &body) {
        shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
        shared.changed.notify_waiters();
        return StatusCode::UNAUTHORIZED;
    }
    let notification: Value = serde_json::from_slice(&body).expect("a JSON body");
    let item: Value = serde_json::from_str(
        notification["Message"]
            .as_str()
            .expect("Message is a string"),
    )
    .expect("Message is item JSON");
    let attributes = notification["MessageAttributes"]
        .as_object()
        .expect("MessageAttributes")
        .iter()
        .map(|(name, value)| {
            assert_eq!(value["Type"], "String", "attribute {name}");
            (name.clone(), value["Value"].as_str().unwrap().to_string())
        })
        .collect();
    let id = item["Id"].as_str().unwrap_or_default().to_string();
    let earlier = {
        let mut attempts = shared.attempts.lock().unwrap();
        let n = attempts.entry(id.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let answer = (shared.behaviour.lock().unwrap())(&item, earlier);
    let status = match answer {
        Answer::Accept => {
            shared.accepted.lock().unwrap().push(Received {
                item,
                attributes,
                streaming_id: notification["StreamingId"].as_str().unwrap().to_string(),
                message_id: notification["MessageId"].as_str().unwrap().to_string(),
            });
            StatusCode::NO_CONTENT
        }
        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
        Answer::Hang => {
            shared.changed.notify_waiters();
            futures::future::pending::<()>().await;
            unreachable!()
        }
    };
    shared.changed.notify_waiters();
    status
}
