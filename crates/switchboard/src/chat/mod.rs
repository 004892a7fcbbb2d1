//! The chat domain: contacts, participants, their items and the rules between them.
//!
//! [`ChatService`] is what the API layers call. It depends only on ports: the [`Store`] for
//! persistence, the [`Bus`] for fan-out to sockets, the [`Clock`] for time and the
//! [`RoutingHook`] that decides what happens to a chat waiting in a queue. It knows nothing of HTTP.
//!
//! [`Store`]: crate::store::Store
//! [`Bus`]: crate::bus::Bus
//! [`Clock`]: crate::clock::Clock

pub mod model;
pub mod service;
pub mod tokens;
pub mod transcript;

pub use service::ChatService;

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
    /// The request is well-formed but not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
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
            StoreError::Backend(why) => ChatError::Internal(why),
        }
    }
}

/// What happens to a chat once it waits in a queue. Agents and routing plug in here; until then
/// chats simply wait ([`WaitInQueue`]).
pub trait RoutingHook: Send + Sync + 'static {
    fn contact_queued(&self, contact: &model::Contact);
    fn contact_ended(&self, contact_id: &str);
}

/// Leaves queued chats waiting.
pub struct WaitInQueue;

impl RoutingHook for WaitInQueue {
    fn contact_queued(&self, contact: &model::Contact) {
        tracing::debug!(contact_id = %contact.id, queue_id = ?contact.queue_id, "chat waits in queue");
    }

    fn contact_ended(&self, _contact_id: &str) {}
}
