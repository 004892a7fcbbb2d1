//! Publishing to Amazon SNS (or an SNS-compatible service) with the AWS SDK for Rust.

use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use super::message::Attributes;
use super::Failure;
use crate::config::Sns;

pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
}

/// SNS error codes that retrying cannot fix: the item goes to the dead letters. Refused
/// credentials and topic policies are not among them: an operator can fix those, and the items
/// wait for it.
const PERMANENT_CODES: &[&str] = &[
    "NotFound",
    "InvalidParameter",
    "InvalidParameterValue",
    "ValidationException",
];

impl SnsPublisher {
    /// A client for `region`. Keys from the configuration win; otherwise the AWS default
    /// credential chain is asked when the first message is published.
    pub async fn new(config: &Sns, region: &str) -> Self {
        // The dispatcher retries with its own backoff and keeps the item meanwhile.
        let access = crate::aws::Access {
            endpoint_url: config.endpoint_url.as_deref(),
            keys: config
                .access_key_id
                .as_deref()
                .zip(config.secret_access_key.as_deref()),
        };
        let timeout = Duration::from_secs(config.timeout_seconds);
        let shared = crate::aws::sdk_config(access, region, timeout).await;
        Self {
            client: aws_sdk_sns::Client::new(&shared),
        }
    }

    pub async fn publish(
        &self,
        topic_arn: &str,
        message: &str,
        attributes: &Attributes,
    ) -> Result<(), Failure> {
        let mut request = self.client.publish().topic_arn(topic_arn).message(message);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| Failure::Permanent(e.to_string()))?;
            request = request.message_attributes(*name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => {
                let status = e.raw().status().as_u16();
                let code = e.err().code().unwrap_or("").to_string();
                let why = format!(
                    "SNS answered {status} {code}: {}",
                    e.err().message().unwrap_or("")
                );
                let other_client_error =
                    (400..500).contains(&status) && ![401, 403, 408, 429].contains(&status);
                // KMS refusals (a disabled or inaccessible key) are for an operator to fix.
                let retryable = code.starts_with("Throttl")
                    || code.ends_with("Throttling")
                    || code.starts_with("KMS");
                if PERMANENT_CODES.contains(&code.as_str()) || (other_client_error && !retryable) {
                    Err(Failure::Permanent(why))
                } else {
                    Err(Failure::Transient(why))
                }
            }
            Err(other) => Err(Failure::Transient(format!(
                "SNS could not be reached: {}",
                aws_sdk_sns::error::DisplayErrorContext(&other)
            ))),
        }
    }
}
