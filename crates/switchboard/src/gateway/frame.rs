//! What a participant sends on its WebSocket, read from the frame's text: one JSON object with a
//! `topic`, anything after the object ignored (the iOS SDK sends a stray character after its
//! subscribe frame). Pure, so the fuzz target feeds it arbitrary text.

use serde_json::Value;

/// A client frame, as the socket acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Only whitespace: nothing to answer.
    Blank,
    /// Not a JSON value at the start.
    Invalid,
    /// `aws/heartbeat`: answered in kind.
    Heartbeat,
    /// `aws/ping`: the deep heartbeat, answered with the store's health.
    Ping,
    /// `aws/subscribe` (or `aws/unsubscribe` when `subscribe` is false) with the topics named.
    Subscription {
        subscribe: bool,
        topics: Vec<String>,
    },
    /// Any other topic (empty when the frame has none).
    Unsupported(String),
}

pub fn parse(text: &str) -> ClientFrame {
    if text.trim().is_empty() {
        return ClientFrame::Blank;
    }
    let frame: Option<Value> = serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok);
    let Some(frame) = frame else {
        return ClientFrame::Invalid;
    };
    let topic = frame
        .get("topic")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match topic {
        "aws/heartbeat" => ClientFrame::Heartbeat,
        "aws/ping" => ClientFrame::Ping,
        "aws/subscribe" | "aws/unsubscribe" => ClientFrame::Subscription {
            subscribe: topic == "aws/subscribe",
            topics: frame
                .pointer("/content/topics")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        },
        other => ClientFrame::Unsupported(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_by_topic_and_trailing_text_is_ignored() {
        assert_eq!(parse("  "), ClientFrame::Blank);
        assert_eq!(parse("{"), ClientFrame::Invalid);
        assert_eq!(
            parse(r#"{"topic":"aws/heartbeat"}"#),
            ClientFrame::Heartbeat
        );
        assert_eq!(
            parse(r#"{"topic":"aws/subscribe","content":{"topics":["aws/chat",7]}}x"#),
            ClientFrame::Subscription {
                subscribe: true,
                topics: vec!["aws/chat".into()]
            }
        );
        assert_eq!(parse("[1]"), ClientFrame::Unsupported(String::new()));
    }
}
