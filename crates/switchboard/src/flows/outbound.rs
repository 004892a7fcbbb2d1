//! The calls a flow makes to code outside Switchboard, as functions (InvokeLambdaFunction) and
//! bots (ConnectParticipantWithLexBot) both make them: a signed JSON POST to an HTTP endpoint of
//! the configuration, or an AWS SDK client for the ARN's region. Each call is bounded by the
//! action's time limit, and whatever goes wrong is a [`CallError`], which sends the flow down
//! the action's error branch.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::config::AwsService;
use crate::streaming::webhook::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Why a call brought no answer the flow can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("nothing is configured for {0}")]
    NotFound(String),
    #[error("no answer in time")]
    TimedOut,
    #[error("the call failed: {0}")]
    Failed(String),
    #[error("the answer is not what the contract says: {0}")]
    BadAnswer(String),
}

/// The HTTP client of the calls: no redirects (a redirect would send the contact's data somewhere
/// the operator did not configure).
pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// POSTs `body` to `url`, signed as webhooks are (`X-Switchboard-Timestamp`,
/// `X-Switchboard-Signature`: `v1=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`);
/// the JSON answer of a 2xx, within `limit`.
pub(super) async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
    limit: Duration,
) -> Result<Value, CallError> {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let call = client
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .body(body)
        .send();
    let response = match tokio::time::timeout(limit, call).await {
        Err(_) => return Err(CallError::TimedOut),
        Ok(Err(e)) if e.is_timeout() => return Err(CallError::TimedOut),
        Ok(Err(e)) => return Err(CallError::Failed(e.to_string())),
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return Err(CallError::Failed(format!("HTTP {}", response.status())));
    }
    match tokio::time::timeout(limit, response.json()).await {
        Err(_) => Err(CallError::TimedOut),
        Ok(Err(e)) => Err(CallError::BadAnswer(e.to_string())),
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// AWS SDK clients of one service, one per region, made on first use.
pub(super) struct Regional<C> {
    access: AwsService,
    clients: tokio::sync::Mutex<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    pub(super) fn new(access: AwsService) -> Self {
        Self {
            access,
            clients: Default::default(),
        }
    }

    /// The client for `region` (each call bounded by `limit` when it is made).
    pub(super) async fn client(
        &self,
        region: &str,
        limit: Duration,
        make: impl FnOnce(&aws_config::SdkConfig) -> C,
    ) -> C {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(region) {
            return client.clone();
        }
        let shared = crate::aws::sdk_config(self.access.access(), region, limit).await;
        let client = make(&shared);
        clients.insert(region.to_string(), client.clone());
        client
    }
}

/// Waits at most `limit` for an AWS SDK call; its output, or why there is none.
pub(super) async fn aws_call<T, E: std::error::Error + 'static>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, call).await {
        Err(_) => Err(CallError::TimedOut),
        // The SDK's own rendering of an error with its causes (SNS's publisher uses it too).
        Ok(Err(e)) => Err(CallError::Failed(
            aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
        )),
        Ok(Ok(output)) => Ok(output),
    }
}
