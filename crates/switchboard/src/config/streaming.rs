//! The `[streaming]` section: how Switchboard reaches the endpoints that chats stream to
//! (Amazon SNS topics and webhooks), and how it retries them.

use std::collections::HashSet;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Streaming {
    /// Wait before the first retry of a failed delivery, in milliseconds; each retry doubles
    /// it, with random jitter, up to `retry_max_seconds`.
    pub retry_initial_ms: u64,
    pub retry_max_seconds: u64,
    /// How long a node's right to publish a stream lasts without renewal: when a node dies,
    /// another takes its streams over after this.
    pub lease_seconds: u64,
    /// How often each node looks for streams with items that no worker of its own was woken for
    /// (streams started on another node, or left by a node that died).
    pub sweep_seconds: u64,
    pub sns: Sns,
    pub webhooks: Vec<Webhook>,
}

impl Default for Streaming {
    fn default() -> Self {
        Self {
            retry_initial_ms: 500,
            retry_max_seconds: 60,
            lease_seconds: 30,
            sweep_seconds: 15,
            sns: Sns::default(),
            webhooks: Vec::new(),
        }
    }
}

/// How Amazon SNS (or an SNS-compatible service) is reached. Without keys here, the AWS
/// default credential chain applies (environment, profile, container or instance role).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sns {
    /// Another endpoint than AWS's, such as `http://127.0.0.1:5000` for a local SNS.
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Longest wait for one Publish, in seconds.
    pub timeout_seconds: u64,
}

impl Default for Sns {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            timeout_seconds: 10,
        }
    }
}

/// An HTTP endpoint named by `arn:switchboard:webhook:REGION:ACCOUNT:NAME`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub name: String,
    /// Where each item is POSTed.
    pub url: String,
    /// Key of the HMAC-SHA256 signature sent with each request.
    pub secret: String,
    /// Longest wait for the receiver's answer, in seconds.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: u64,
}

fn default_webhook_timeout() -> u64 {
    10
}

impl Streaming {
    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |key: String, why: &str| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
        if !(1..=60_000).contains(&self.retry_initial_ms) {
            return bad("streaming.retry_initial_ms".into(), "must be 1 to 60000");
        }
        if !(1..=86_400).contains(&self.retry_max_seconds)
            || self.retry_max_seconds * 1000 < self.retry_initial_ms
        {
            return bad(
                "streaming.retry_max_seconds".into(),
                "must be 1 to 86400, and not below retry_initial_ms",
            );
        }
        if !(1..=3600).contains(&self.lease_seconds) {
            return bad("streaming.lease_seconds".into(), "must be 1 to 3600");
        }
        if !(1..=3600).contains(&self.sweep_seconds) {
            return bad("streaming.sweep_seconds".into(), "must be 1 to 3600");
        }
        if let Some(url) = &self.sns.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(
                    "streaming.sns.endpoint_url".into(),
                    "must start with http:// or https://",
                );
            }
        }
        if self.sns.access_key_id.is_some() != self.sns.secret_access_key.is_some() {
            return bad(
                "streaming.sns.access_key_id".into(),
                "access_key_id and secret_access_key go together",
            );
        }
        if !(1..=300).contains(&self.sns.timeout_seconds) {
            return bad("streaming.sns.timeout_seconds".into(), "must be 1 to 300");
        }
        let mut names = HashSet::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            let at = format!("streaming.webhooks[{i}]");
            let name_ok = (1..=256).contains(&hook.name.len())
                && hook
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !name_ok || !names.insert(&hook.name) {
                return bad(
                    format!("{at}.name"),
                    "must be 1 to 256 letters, digits, - or _, and unique",
                );
            }
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://"))
                || reqwest::Url::parse(&hook.url).is_err()
            {
                return bad(format!("{at}.url"), "must be an http:// or https:// URL");
            }
            if hook.secret.len() < 16 {
                return bad(format!("{at}.secret"), "must be at least 16 characters");
            }
            if !(1..=300).contains(&hook.timeout_seconds) {
                return bad(format!("{at}.timeout_seconds"), "must be 1 to 300");
            }
        }
        Ok(())
    }
}
