//! The chat domain: contacts, participants, their items and the rules between them.
//!
//! [`ChatService`] is what the API layers call. It depends only on ports: the [`Store`] for
//! persistence, the [`Bus`] for fan-out to sockets, the [`Clock`] for time and the
//! [`RoutingHook`] that decides what happens to a chat waiting in a queue. It knows nothing of HTTP.
//!
//! [`Store`]: crate::store::Store
//! [`Bus`]: crate::bus::Bus
//! [`Clock`]: crate::clock::Clock

pub mod arns;
mod caches;
pub mod catalog;
mod connect;
pub mod fanout;
mod flow;
pub mod hours;
mod participant;
pub mod quick_connects;
mod rules;

pub mod service;
pub mod tokens;
pub mod transcript;

pub use flow::{FlowEvent, SYSTEM_DISPLAY_NAME};
pub use service::ChatService;

use crate::model;

use crate::store::StoreError;

/// Why a chat operation did not happen, in domain terms; the API layers map these to each
/// service's modeled errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    NotFound(String),
    #[error("contact not found")]
    ContactNotFound,
    /// Bad or expired credentials, a participant who left, a chat that ended.
    #[error("access denied")]
    AccessDenied,
    /// The caller may not act on what the request names (another account's instance), and is
    /// told why.
    #[error("{0}")]
    Denied(String),
    /// The request is well-formed but not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// Another resource has that name.
    #[error("{0}")]
    Duplicate(String),
    /// A contact flow that cannot be published, with every problem found.
    #[error("the flow is not valid: {}", .0.join("; "))]
    InvalidFlow(Vec<String>),
    /// A limit was reached, such as a queue's maximum number of contacts.
    #[error("{0}")]
    LimitExceeded(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ContactNotFound => ChatError::ContactNotFound,
            StoreError::ParticipantNotFound
            | StoreError::ContactEnded
            | StoreError::ParticipantLeft => ChatError::AccessDenied,
            StoreError::MessageNotFound => {
                ChatError::Invalid("messageId does not name a message of this chat".into())
            }
            StoreError::AttributesTooLarge(max) => {
                ChatError::Invalid(format!("Contact attributes may total at most {max} bytes"))
            }
            StoreError::StreamLimit(active) => ChatError::LimitExceeded(format!(
                "A contact may stream to at most {active} endpoints at once; stop one first"
            )),
            StoreError::StreamConflict(why) => ChatError::Invalid(why),
            StoreError::StreamNotFound => {
                ChatError::NotFound("StreamingId not found for this contact".into())
            }
            StoreError::FlowNameTaken(name) => {
                ChatError::Duplicate(format!("A contact flow named '{name}' already exists"))
            }
            StoreError::HoursNameTaken(name) => {
                ChatError::Duplicate(format!("Hours of operation named '{name}' already exist"))
            }
            StoreError::QuickConnectNameTaken(name) => {
                ChatError::Duplicate(format!("A quick connect named '{name}' already exists"))
            }
            StoreError::RunMoved => {
                ChatError::Conflict("the chat's flow moved on at the same time".into())
            }
            StoreError::Backend(why) => ChatError::Internal(why),
        }
    }
}

/// Where committed items meet streaming ([`crate::streaming`] plugs in here; [`NoStreaming`]
/// for tests of the chat alone).
pub trait StreamHook: Send + Sync + 'static {
    /// A stream was started: it gets a worker that publishes its outbox.
    fn started(&self, stream: &model::Stream);
    /// Items of the contact were committed: its streams may have rows to publish.
    fn written(&self, contact_id: &str);
    /// Whether the contact may have active streams: then events the transcript does not keep
    /// (typing) are put into the outbox too.
    fn streams(&self, contact_id: &str) -> bool;
}

pub struct NoStreaming;

impl StreamHook for NoStreaming {
    fn started(&self, _stream: &model::Stream) {}
    fn written(&self, _contact_id: &str) {}
    fn streams(&self, _contact_id: &str) -> bool {
        false
    }
}

/// What happens to a chat once it waits in a queue: the router ([`crate::routing`]) plugs in
/// here; [`WaitInQueue`] leaves chats waiting (for tests of the chat alone).
#[async_trait::async_trait]
pub trait RoutingHook: Send + Sync + 'static {
    /// Before a new contact is written: takes its place in its queue, or refuses it (a full
    /// queue). Every admitted contact is followed by [`RoutingHook::admitted`].
    async fn admit(&self, contact: &model::Contact) -> Result<(), ChatError>;
    /// After the write: `created` is false when nothing new was written (a retried request, or a
    /// failed write), and the place is given back.
    fn admitted(&self, contact: &model::Contact, created: bool);
    fn contact_ended(&self, instance_id: &str, contact_id: &str);
    /// The agent (user id) left a chat that goes on: it waits in `queue` for the next agent.
    fn agent_left(&self, instance_id: &str, contact_id: &str, agent: &str, queue: &str);
    /// The customer of a contact now has `open` sockets.
    fn customer_sockets(&self, instance_id: &str, contact_id: &str, open: usize);
    /// The contact's place in its queue (1 for the head) and the queue's length, while it waits.
    async fn queue_position(&self, instance_id: &str, contact_id: &str) -> Option<(usize, usize)>;
    /// Each queue's figures now, in the order asked (CheckMetricData in flows).
    async fn queue_metrics(&self, instance_id: &str, queues: &[String]) -> Vec<QueueMetrics>;
}

/// What a flow may ask of a queue (CheckMetricData).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueMetrics {
    pub contacts_in_queue: usize,
    pub oldest_contact_age_seconds: f64,
    /// Agents not offline (on Amazon, staffed and online are both these).
    pub agents_online: usize,
    pub agents_available: usize,
}

/// Leaves queued chats waiting.
pub struct WaitInQueue;

#[async_trait::async_trait]
impl RoutingHook for WaitInQueue {
    async fn admit(&self, _contact: &model::Contact) -> Result<(), ChatError> {
        Ok(())
    }

    fn admitted(&self, contact: &model::Contact, _created: bool) {
        tracing::debug!(contact_id = %contact.id, queue_id = ?contact.queue_id, "chat waits in queue");
    }

    fn contact_ended(&self, _instance_id: &str, _contact_id: &str) {}

    fn agent_left(&self, _instance_id: &str, _contact_id: &str, _agent: &str, _queue: &str) {}

    fn customer_sockets(&self, _instance_id: &str, _contact_id: &str, _open: usize) {}

    async fn queue_position(
        &self,
        _instance_id: &str,
        _contact_id: &str,
    ) -> Option<(usize, usize)> {
        None
    }

    async fn queue_metrics(&self, _instance_id: &str, _queues: &[String]) -> Vec<QueueMetrics> {
        Vec::new()
    }
}
