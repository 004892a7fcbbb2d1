//! The rules a chat's input must keep, as pure functions: what a message may carry, what
//! attributes may be set, what a receipt names. The operations call these before they write.

use std::collections::BTreeMap;

use serde_json::Value;
use time::Duration;

use super::ChatError;
use crate::model::SENDABLE_MESSAGE_TYPES;

/// A WebSocket URL must be opened within this time (Amazon: 100 seconds). Connection tokens
/// live `limits.connection_token_seconds`.
pub const WEBSOCKET_URL_LIFETIME: Duration = Duration::seconds(100);
/// Largest message content, in UTF-8 bytes.
pub const MAX_CONTENT_BYTES: usize = 16_384;
/// Largest total size of a contact's attributes, in UTF-8 bytes (the flows' limit too).
pub use crate::flows::engine::MAX_ATTRIBUTE_BYTES;
pub const DEFAULT_CHAT_DURATION_MINUTES: i64 = 1500;

pub(super) fn check_message(
    content_type: &str,
    content: &str,
    supported: &[String],
) -> Result<(), ChatError> {
    let allowed = SENDABLE_MESSAGE_TYPES.contains(&content_type)
        && supported.iter().any(|t| t == content_type);
    if !allowed {
        return Err(ChatError::Invalid(format!(
            "ContentType '{content_type}' is not supported for this chat; supported: {}",
            supported
                .iter()
                .filter(|t| SENDABLE_MESSAGE_TYPES.contains(&t.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ChatError::Invalid(format!(
            "Content is {} bytes; the limit is {MAX_CONTENT_BYTES} bytes",
            content.len()
        )));
    }
    if content_type == "application/json" || content_type.ends_with("interactive.response") {
        serde_json::from_str::<Value>(content).map_err(|_| {
            ChatError::Invalid(format!(
                "Content must be valid JSON for ContentType {content_type}"
            ))
        })?;
    }
    Ok(())
}

pub(super) fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), ChatError> {
    let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ATTRIBUTE_BYTES {
        return Err(ChatError::Invalid(format!(
            "Attributes total {size} bytes; the limit is {MAX_ATTRIBUTE_BYTES} bytes"
        )));
    }
    if let Some(bad) = attributes.keys().find(|k| {
        !k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(ChatError::Invalid(format!(
            "Attribute name '{bad}' may contain only letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

pub(super) fn receipt_message_id(content: Option<&str>) -> Result<String, ChatError> {
    let invalid = || {
        ChatError::Invalid(
            r#"Content must be JSON of the form {"messageId": "<Id of a message>"}"#.into(),
        )
    };
    let value: Value = serde_json::from_str(content.ok_or_else(invalid)?).map_err(|_| invalid())?;
    match value.get("messageId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 256 => Ok(id.to_string()),
        _ => Err(invalid()),
    }
}
