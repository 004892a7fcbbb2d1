//! Real-time streaming of chat items to Amazon SNS topics and webhooks
//! (StartContactStreaming, and ChatStreamingConfiguration on StartChatContact).
//!
//! Nothing is lost between the chat and the endpoint:
//! - the store writes an item's outbox rows (one per active stream of the contact) in the same
//!   transaction as the item, so a committed item always owes its streams a publication;
//! - [`Dispatcher`] runs one worker per stream that publishes the stream's outbox in order and
//!   deletes rows only after the endpoint accepted them: at least once, each message carrying
//!   the item's stable `Id` for de-duplication;
//! - a failed delivery is retried with exponential backoff and jitter for as long as it fails
//!   in a way that can pass (network, 5xx, throttling, refused credentials); a refusal that
//!   cannot pass (a webhook's 4xx, a missing topic) moves the item to the dead letters;
//! - after a crash, every stream with rows left is picked up again at start.
//!
//! One stream's failing endpoint holds up only that stream: other streams, other contacts and
//! the chat itself go on.

mod dispatcher;
pub mod message;
mod sns;
pub mod webhook;

pub use dispatcher::Dispatcher;

/// Why an endpoint did not take an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again later.
    Transient(String),
    /// Trying again cannot help: the item goes to the dead letters.
    Permanent(String),
}
