//! Publishing to webhooks: each item is POSTed as JSON, signed with HMAC-SHA256, so that a
//! receiver can check it came from this server and refuse replays.
//!
//! The request body is an SNS-like notification:
//! `{"Type":"Notification","MessageId":ITEM_ID,"EndpointArn":ARN,"StreamingId":ID,
//! "Timestamp":ISO_8601,"Message":"<item JSON>","MessageAttributes":{NAME:{"Type":"String","Value":V}}}`.
//! Headers: `X-Switchboard-Timestamp` (Unix seconds) and `X-Switchboard-Signature`
//! (`v1=` and the hex HMAC-SHA256, under the webhook's secret, of `TIMESTAMP.BODY`).

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use time::OffsetDateTime;

use super::message::Attributes;
use super::Failure;
use crate::clock::format_instant;
use crate::config::Webhook;

pub const TIMESTAMP_HEADER: &str = "x-switchboard-timestamp";
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

pub struct WebhookPublisher {
    client: reqwest::Client,
    hooks: HashMap<String, Webhook>,
}

/// One POST.
pub struct Notification<'a> {
    pub endpoint_arn: &'a str,
    pub streaming_id: &'a str,
    pub item_id: &'a str,
    pub message: &'a str,
    pub attributes: &'a Attributes,
}

/// `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookPublisher {
    pub fn new(hooks: &[Webhook]) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // A redirect would re-send the item somewhere the operator did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            hooks: hooks.iter().map(|h| (h.name.clone(), h.clone())).collect(),
        })
    }

    pub async fn publish(
        &self,
        name: &str,
        n: &Notification<'_>,
        now: OffsetDateTime,
    ) -> Result<(), Failure> {
        let Some(hook) = self.hooks.get(name) else {
            return Err(Failure::Transient(format!(
                "webhook '{name}' is no longer configured"
            )));
        };
        let attributes: Map<String, Value> = n
            .attributes
            .iter()
            .map(|(k, v)| (k.to_string(), json!({"Type": "String", "Value": v})))
            .collect();
        let body = json!({
            "Type": "Notification",
            "MessageId": n.item_id,
            "EndpointArn": n.endpoint_arn,
            "StreamingId": n.streaming_id,
            "Timestamp": format_instant(now),
            "Message": n.message,
            "MessageAttributes": attributes,
        })
        .to_string();
        let timestamp = now.unix_timestamp();
        let answer = self
            .client
            .post(&hook.url)
            .timeout(Duration::from_secs(hook.timeout_seconds))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&hook.secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        let status = match answer {
            Ok(response) => response.status(),
            Err(e) if e.is_timeout() => {
                return Err(Failure::Transient(format!(
                    "no answer within {} s",
                    hook.timeout_seconds
                )))
            }
            Err(e) => return Err(Failure::Transient(format!("request failed: {e}"))),
        };
        match status.as_u16() {
            200..=299 => Ok(()),
            // Timeouts and rate limits are the receiver asking to be tried again.
            408 | 429 => Err(Failure::Transient(format!("answered {status}"))),
            400..=499 => Err(Failure::Permanent(format!("answered {status}"))),
            300..=399 => Err(Failure::Permanent(format!(
                "answered {status}; redirects are not followed"
            ))),
            _ => Err(Failure::Transient(format!("answered {status}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_and_body() {
        // The HMAC-SHA256 of "1700000000.{}" under "secret-0123456789", computed independently
        // with `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret-0123456789`.
        assert_eq!(
            signature("secret-0123456789", 1_700_000_000, "{}"),
            "v1=b7655868de19efd018ff7adc10c58afaa3b1647f9ba5875a5e89d7e846c59c68"
        );
    }
}
