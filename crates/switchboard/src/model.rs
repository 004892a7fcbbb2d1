//! The chat domain's records: contacts, participants, transcript items and receipts.
//!
//! These are plain data, shared by the store (which persists them) and the API (which renders
//! them); nothing here knows about HTTP or SQL.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::format_instant;

pub const EVENT_PREFIX: &str = "application/vnd.amazonaws.connect.event.";
pub const TYPING: &str = "application/vnd.amazonaws.connect.event.typing";
pub const PARTICIPANT_JOINED: &str = "application/vnd.amazonaws.connect.event.participant.joined";
pub const PARTICIPANT_LEFT: &str = "application/vnd.amazonaws.connect.event.participant.left";
pub const CHAT_ENDED: &str = "application/vnd.amazonaws.connect.event.chat.ended";
pub const TRANSFER_SUCCEEDED: &str = "application/vnd.amazonaws.connect.event.transfer.succeeded";
pub const TRANSFER_FAILED: &str = "application/vnd.amazonaws.connect.event.transfer.failed";
pub const MESSAGE_DELIVERED: &str = "application/vnd.amazonaws.connect.event.message.delivered";
pub const MESSAGE_READ: &str = "application/vnd.amazonaws.connect.event.message.read";
pub const MESSAGE_METADATA: &str = "application/vnd.amazonaws.connect.event.message.metadata";
pub const CONNECTION_ACKNOWLEDGED: &str =
    "application/vnd.amazonaws.connect.event.connection.acknowledged";

/// Message content types a participant may send, when the contact allows them.
pub const SENDABLE_MESSAGE_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "application/json",
    "application/vnd.amazonaws.connect.message.interactive.response",
];

/// Values StartChatContact accepts in SupportedMessagingContentTypes.
pub const SUPPORTED_MESSAGING_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "application/json",
    "application/vnd.amazonaws.connect.message.interactive",
    "application/vnd.amazonaws.connect.message.interactive.response",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
    System,
    CustomBot,
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CUSTOMER",
            Role::Agent => "AGENT",
            Role::System => "SYSTEM",
            Role::CustomBot => "CUSTOM_BOT",
            Role::Supervisor => "SUPERVISOR",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "CUSTOMER" => Role::Customer,
            "AGENT" => Role::Agent,
            "SYSTEM" => Role::System,
            "CUSTOM_BOT" => Role::CustomBot,
            "SUPERVISOR" => Role::Supervisor,
            _ => return None,
        })
    }
}

/// What StartChatContact was asked for beyond the core fields, kept for DescribeContact and for
/// the rules that apply later (allowed content types).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactDetails {
    pub supported_messaging_content_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_attributes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_on_customer_exit: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_configuration: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: String,
    pub instance_id: String,
    pub initial_contact_id: String,
    pub contact_flow_id: String,
    pub queue_id: Option<String>,
    pub customer_participant_id: String,
    pub attributes: BTreeMap<String, String>,
    pub details: ContactDetails,
    pub duration_minutes: i64,
    pub initiated_at: OffsetDateTime,
    pub enqueued_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub disconnect_reason: Option<String>,
    pub updated_at: OffsetDateTime,
    /// The agent (user id) who has the chat, and since when.
    pub agent: Option<(String, OffsetDateTime)>,
    /// The contact this one was transferred from.
    pub previous_contact_id: Option<String>,
    /// The contact this one was transferred to, and when: the chat goes on under that one.
    pub transferred_to: Option<(String, OffsetDateTime)>,
}

impl Contact {
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// The chat this contact is part of: its first contact, whose id stays the key of the
    /// chat's items, participants and streams through every transfer.
    pub fn chat_id(&self) -> &str {
        &self.initial_contact_id
    }

    /// When this contact stopped being the chat's current one: handed on by a transfer, or the
    /// chat's end.
    pub fn disconnected_at(&self) -> Option<OffsetDateTime> {
        self.transferred_to
            .as_ref()
            .map(|(_, at)| *at)
            .or(self.ended_at)
    }

    pub fn allows_message_type(&self, content_type: &str) -> bool {
        SENDABLE_MESSAGE_TYPES.contains(&content_type)
            && self
                .details
                .supported_messaging_content_types
                .iter()
                .any(|t| t == content_type)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub id: String,
    pub contact_id: String,
    pub role: Role,
    pub display_name: String,
    pub joined_at: OffsetDateTime,
    pub left_at: Option<OffsetDateTime>,
}

impl Participant {
    pub fn has_left(&self) -> bool {
        self.left_at.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    Message,
    Event,
}

impl ItemType {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Message => "MESSAGE",
            ItemType::Event => "EVENT",
        }
    }

    pub fn parse(s: &str) -> Option<ItemType> {
        match s {
            "MESSAGE" => Some(ItemType::Message),
            "EVENT" => Some(ItemType::Event),
            _ => None,
        }
    }
}

/// Who sent an item; absent on chat.ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    pub participant_id: String,
    pub display_name: String,
    pub role: Role,
}

impl Sender {
    pub fn of(p: &Participant) -> Self {
        Self {
            participant_id: p.id.clone(),
            display_name: p.display_name.clone(),
            role: p.role,
        }
    }
}

/// A transcript item before the store gave it its place (sequence number and time).
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub id: String,
    pub item_type: ItemType,
    pub content_type: String,
    pub content: Option<String>,
    pub sender: Option<Sender>,
}

/// A persisted transcript item. `seq` orders the items of one contact, gap-free from 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub contact_id: String,
    pub seq: i64,
    pub id: String,
    pub item_type: ItemType,
    pub content_type: String,
    pub content: Option<String>,
    pub sender: Option<Sender>,
    pub absolute_time: OffsetDateTime,
}

impl Item {
    /// The item's wire fields shared by the WebSocket and GetTranscript.
    pub fn wire_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "AbsoluteTime".into(),
            json!(format_instant(self.absolute_time)),
        );
        if let Some(content) = &self.content {
            m.insert("Content".into(), json!(content));
        }
        m.insert("ContentType".into(), json!(self.content_type));
        m.insert("Id".into(), json!(self.id));
        m.insert("Type".into(), json!(self.item_type.as_str()));
        if let Some(sender) = &self.sender {
            m.insert("ParticipantId".into(), json!(sender.participant_id));
            m.insert("DisplayName".into(), json!(sender.display_name));
            m.insert("ParticipantRole".into(), json!(sender.role.as_str()));
        }
        m
    }
}

/// Delivery and read state of one message for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub message_id: String,
    pub recipient_participant_id: String,
    pub delivered_at: Option<OffsetDateTime>,
    pub read_at: Option<OffsetDateTime>,
}

impl Receipt {
    pub fn to_wire(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.delivered_at {
            m.insert("DeliveredTimestamp".into(), json!(format_instant(t)));
        }
        if let Some(t) = self.read_at {
            m.insert("ReadTimestamp".into(), json!(format_instant(t)));
        }
        m.insert(
            "RecipientParticipantId".into(),
            json!(self.recipient_participant_id),
        );
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// The MESSAGEMETADATA event that tells a chat about a new receipt.
pub fn receipt_event_fields(
    event_id: &str,
    at: OffsetDateTime,
    message_id: &str,
    receipt: &Receipt,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("AbsoluteTime".into(), json!(format_instant(at)));
    m.insert("ContentType".into(), json!(MESSAGE_METADATA));
    m.insert("Id".into(), json!(event_id));
    m.insert("Type".into(), json!("MESSAGEMETADATA"));
    m.insert(
        "MessageMetadata".into(),
        json!({"MessageId": message_id, "Receipts": [receipt.to_wire()]}),
    );
    m
}

/// An item's fields as they leave the server (socket frames and streamed messages), naming the
/// chat's contacts: ChatJS routes items to sessions by them, stream consumers to conversations.
pub fn with_contact_ids(
    mut fields: Map<String, Value>,
    initial_contact_id: &str,
    contact_id: &str,
) -> Map<String, Value> {
    fields.insert("InitialContactId".into(), json!(initial_contact_id));
    fields.insert("ContactId".into(), json!(contact_id));
    fields
}

/// A streaming endpoint of a contact (StartContactStreaming, or ChatStreamingConfiguration on
/// StartChatContact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The StreamingId.
    pub id: String,
    pub contact_id: String,
    pub instance_id: String,
    pub endpoint_arn: String,
    pub started_at: OffsetDateTime,
    /// Set when StopContactStreaming stopped it or the chat ended: nothing more is added to its
    /// outbox, and it finishes once the outbox is drained.
    pub stopped_at: Option<OffsetDateTime>,
}

/// One streamed item waiting for its endpoint, in the stream's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Position in the stream's order.
    pub id: i64,
    pub stream_id: String,
    pub item_id: String,
    /// The item JSON, published as the message body.
    pub message: String,
}

/// A contact flow made through the Connect API (CreateContactFlow), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlow {
    pub instance_id: String,
    pub id: String,
    pub name: String,
    /// `CONTACT_FLOW`, `CUSTOMER_QUEUE`, ... (the model's ContactFlowType).
    pub flow_type: String,
    pub description: Option<String>,
    /// The flow-language JSON, as given.
    pub content: String,
    /// `PUBLISHED` (validated; it runs) or `SAVED` (kept as given; it does not run).
    pub status: String,
    /// `ACTIVE` or `ARCHIVED`.
    pub state: String,
    pub tags: std::collections::BTreeMap<String, String>,
    pub updated_at: OffsetDateTime,
}

/// Hours of operation made through the Connect API (CreateHoursOfOperation), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHours {
    pub instance_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// An IANA time zone.
    pub time_zone: String,
    /// The open ranges.
    pub config: Vec<crate::config::OpenRange>,
    pub tags: std::collections::BTreeMap<String, String>,
    pub updated_at: OffsetDateTime,
}

/// Where a quick connect sends a chat, and the flow the chat runs on the way (a QUEUE_TRANSFER
/// or AGENT_TRANSFER flow; none: straight to the queue). Stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuickConnectTarget {
    Queue {
        queue_id: String,
        flow_id: Option<String>,
    },
    User {
        user_id: String,
        flow_id: Option<String>,
    },
    /// Kept and listed as Amazon keeps it; chats cannot be transferred to a phone number.
    PhoneNumber { phone_number: String },
    /// Kept and listed; chats are not transferred to a flow alone (yet).
    Flow { flow_id: String },
}

impl QuickConnectTarget {
    /// The model's QuickConnectType.
    pub fn kind(&self) -> &'static str {
        match self {
            QuickConnectTarget::Queue { .. } => "QUEUE",
            QuickConnectTarget::User { .. } => "USER",
            QuickConnectTarget::PhoneNumber { .. } => "PHONE_NUMBER",
            QuickConnectTarget::Flow { .. } => "FLOW",
        }
    }
}

/// A quick connect made through the Connect API (CreateQuickConnect), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQuickConnect {
    pub instance_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub target: QuickConnectTarget,
    pub tags: std::collections::BTreeMap<String, String>,
    pub updated_at: OffsetDateTime,
}
