//! Why a desk operation did not happen: routing's refusals, the chat's, a failed sign-in, or the
//! desk's own (what the agent names is not configured, a view only supervisors may see). Each
//! edge maps these to its own protocol's errors.

use crate::agent::auth::SignInError;
use crate::chat::ChatError;
use crate::routing::engine::RoutingError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// The instance, user or status named is not configured.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but names nothing the agent can choose.
    #[error("{0}")]
    Invalid(String),
    #[error("only supervisors may see this")]
    NotSupervisor,
    /// The user is configured not to take chats (`takes_chats = false`).
    #[error("this user does not take chats")]
    TakesNoChats,
}
