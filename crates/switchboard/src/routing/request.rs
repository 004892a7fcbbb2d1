//! What nodes ask of an instance's router, and what it answers: plain data, so a request goes to
//! a router task in this process or, in a cluster, to the node that owns the instance over NATS
//! (as JSON), and is handled the same way.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::engine::{AgentFigures, Millis, Presence, QueueFigures, QueueKey, RoutingError};

/// What an agent can do about one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentAction {
    Accept,
    Reject,
    ClearAfterWork,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Request {
    /// Take a place in `queue` for a contact about to be written (refused when full).
    Hold {
        contact: String,
        queue: String,
    },
    /// The held contact was written and may be offered. It carries its queue and time so that
    /// an owner that never held it (the place was taken before a handover) still routes it.
    Release {
        contact: String,
        queue: String,
        enqueued_at: Millis,
    },
    /// The chat ended, or its write failed and the held place is given back.
    Ended {
        contact: String,
    },
    NeverJoined {
        agent: String,
        contact: String,
    },
    AgentLeft {
        agent: String,
        contact: String,
        queue: String,
    },
    /// One node's open sockets.
    Sockets(SocketReport),
    Presence {
        agent: String,
        presence: Presence,
    },
    Act {
        action: AgentAction,
        agent: String,
        contact: String,
    },
    /// The agent hands `contact` on to a new contact `into` waiting in `to` (held until
    /// released). A node that predates `into` sends none: the contact itself then waits.
    Transfer {
        agent: String,
        contact: String,
        #[serde(default)]
        into: String,
        to: QueueKey,
    },
    Position {
        contact: String,
    },
    Agent {
        agent: String,
    },
    Figures {
        groups: Vec<Vec<String>>,
    },
}

/// How many sockets agents and customers of one instance have open on one node. Counts are
/// absolute, so a report repeated or arriving late does no harm; a `full` report replaces
/// everything known of the node (sent when a new owner takes over, and as the node's
/// heartbeat), a partial one only the counts it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketReport {
    pub node: String,
    pub full: bool,
    pub agents: Vec<(String, usize)>,
    pub customers: Vec<(String, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    Done(Result<(), RoutingError>),
    Position(Option<(usize, usize)>),
    Agent(Option<AgentFigures>),
    Figures(Vec<QueueFigures>),
}

/// A request for an instance's task, and where its answer goes (if anyone waits for it).
pub type Command = (Request, Option<oneshot::Sender<Answer>>);
