//! What an endpoint receives for one item: the message body (the item JSON the WebSocket
//! carries) and the eight String message attributes Amazon Connect puts on it.

use serde_json::Value;

/// The attributes of a streamed item, in Amazon Connect's names and order.
pub type Attributes = Vec<(&'static str, String)>;

/// Every item is visible to both sides of the chat: Switchboard has no items meant for the
/// agent or the customer only.
const VISIBILITY_ALL: &str = "ALL";

/// The attributes of `message` (an item JSON naming its contacts), streamed for `instance_id`
/// of `account_id`. Items without a sender (chat.ended, transfers) have the role SYSTEM.
pub fn attributes(message: &str, instance_id: &str, account_id: &str) -> Attributes {
    let item: Value = serde_json::from_str(message).unwrap_or(Value::Null);
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    let role = match field("ParticipantRole") {
        "" => "SYSTEM",
        role => role,
    };
    vec![
        ("InitialContactId", field("InitialContactId").to_string()),
        ("ContactId", field("ContactId").to_string()),
        ("ParticipantRole", role.to_string()),
        ("InstanceId", instance_id.to_string()),
        ("AccountId", account_id.to_string()),
        ("Type", field("Type").to_string()),
        ("ContentType", field("ContentType").to_string()),
        ("MessageVisibility", VISIBILITY_ALL.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_sender_role_or_system() {
        let message = r#"{"Id":"i","Type":"MESSAGE","ContentType":"text/plain","ParticipantRole":"CUSTOMER","InitialContactId":"a","ContactId":"b"}"#;
        let attrs = attributes(message, "inst", "123456789012");
        let get = |n: &str| attrs.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(attrs.len(), 8);
        assert_eq!(get("ParticipantRole"), "CUSTOMER");
        assert_eq!(get("InitialContactId"), "a");
        assert_eq!(get("ContactId"), "b");
        assert_eq!(get("Type"), "MESSAGE");
        assert_eq!(get("MessageVisibility"), "ALL");
        let ended = r#"{"Id":"e","Type":"EVENT","ContentType":"application/vnd.amazonaws.connect.event.chat.ended","InitialContactId":"a","ContactId":"a"}"#;
        let attrs = attributes(ended, "inst", "123456789012");
        assert_eq!(attrs[2], ("ParticipantRole", "SYSTEM".to_string()));
    }
}
