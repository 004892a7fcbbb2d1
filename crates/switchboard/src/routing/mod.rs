//! Routing chats to agents.
//!
//! - [`engine`] makes the decisions: pure, with the time passed in, so tests drive it with
//!   chosen instants instead of sleeping.
//! - [`router`] gives each instance's engine one owner task, and is the [`RoutingHook`] the chat
//!   service calls.
//! - [`effects`] carries the decisions out: offers to agents' sockets, agents added to chats,
//!   abandoned chats ended.
//!
//! [`RoutingHook`]: crate::chat::RoutingHook

pub mod effects;
pub mod engine;
pub mod router;

pub use router::Router;

use crate::config::RoutingProfile;

/// A configured routing profile as the engine sees it.
pub fn engine_profile(profile: &RoutingProfile) -> engine::Profile {
    engine::Profile {
        concurrency: profile.chat_concurrency as usize,
        auto_accept: profile.auto_accept,
        queues: profile
            .queues
            .iter()
            .map(|q| {
                let delay = i64::from(q.delay_seconds) * 1000;
                (q.queue.clone(), q.priority, delay)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
