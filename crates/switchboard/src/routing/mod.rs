//! Routing chats to agents.
//!
//! - [`engine`] makes the decisions: pure, with the time passed in, so tests drive it with
//!   chosen instants instead of sleeping.
//! - [`router`] gives each instance's engine one owner task, and is the [`RoutingHook`] the chat
//!   service calls.
//! - [`effects`] carries the decisions out: offers to agents' sockets, agents added to chats,
//!   abandoned chats ended.
//! - [`request`] is what callers ask of a router task, in a form that can cross nodes.
//! - [`sockets`] counts who has sockets open, per node and over all nodes.
//! - In a cluster, [`ownership`] decides which node routes each instance (a lease in the store)
//!   and [`remote`] carries the other nodes' requests to it over NATS; [`tenure`] keeps a
//!   stalled owner from acting after its lease ran out.
//!
//! [`RoutingHook`]: crate::chat::RoutingHook

pub mod effects;
pub mod engine;
pub mod ownership;
pub mod remote;
pub mod request;
pub mod router;
pub mod sockets;
pub mod tenure;

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
mod properties;
#[cfg(test)]
mod tests;
