//! A node's place in a cluster (`bus = "nats://..."`): its NATS connection, its id, and the
//! notices every other node must hear at once: frames for an agent's workspace sockets (which
//! may be open on any node), sign-outs (each node checks agent tokens against the sign-outs it
//! knows) and sign-in attempts (so that password guessing gets its handful of tries per window
//! in the whole cluster, not on each node).
//!
//! Notices are best effort, like everything on core NATS: a frame lost with a broken connection
//! is made good by the workspace, which asks for its state again when it reconnects; a lost
//! sign-out is still in the store, which every node reads when it starts.
//!
//! Every subject a cluster uses starts with `switchboard.<cluster>.`, where `<cluster>` is made
//! once, at random, and kept in the shared store: nodes on one database form one cluster, and
//! clusters (say, staging and production) can share one NATS server without hearing each other.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::lifecycle::Lifecycle;

/// How long a request to another node waits for its answer before it is tried again.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Notice {
    /// A frame for every workspace socket of the user; close them after it when `then_close`.
    AgentFrame {
        user: String,
        text: String,
        then_close: bool,
    },
    /// The user signed out at `at_ms`: tokens issued before are refused.
    SignedOut { user: String, at_ms: i64 },
    /// A sign-in attempt for the username, counted against its limit on every node.
    SignInAttempt { username: String, at_ms: i64 },
    /// A sign-in for the username succeeded: its count of attempts starts again.
    SignedIn { username: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    notice: Notice,
}

pub struct Cluster {
    pub client: async_nats::Client,
    /// This node's id, new at every start.
    pub node: String,
    /// The cluster's name in subjects.
    name: String,
    /// Notices to publish, by one task, so that they leave in the order given.
    outgoing: mpsc::UnboundedSender<Bytes>,
}

impl Cluster {
    /// Connects to NATS at `url` as a node of the cluster `name`. Waits for the first
    /// connection, so a node is ready only once it is on the bus; after that the client
    /// reconnects by itself.
    pub async fn connect(url: &str, name: &str, life: &Lifecycle) -> anyhow::Result<Arc<Self>> {
        let client = async_nats::ConnectOptions::new()
            .name("switchboard")
            .request_timeout(Some(REQUEST_TIMEOUT))
            .connect(url)
            .await?;
        // Unbounded: notices are few (an agent's sign-in, sign-out or frame: a handful per
        // agent action), and dropping one, say a sign-out, is not an option.
        let (outgoing, mut to_publish) = mpsc::unbounded_channel::<Bytes>();
        let publisher = client.clone();
        let notices = format!("switchboard.{name}.notices");
        life.spawn_background(async move {
            while let Some(payload) = to_publish.recv().await {
                if let Err(e) = publisher.publish(notices.clone(), payload).await {
                    tracing::warn!(error = %e, "publishing a notice to NATS failed");
                }
            }
        });
        Ok(Arc::new(Self {
            client,
            node: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            outgoing,
        }))
    }

    /// The cluster's subject `rest`.
    pub fn subject(&self, rest: &str) -> String {
        format!("switchboard.{}.{rest}", self.name)
    }

    /// Tells every other node.
    pub fn notify(&self, notice: Notice) {
        let envelope = Envelope {
            node: self.node.clone(),
            notice,
        };
        let payload = serde_json::to_vec(&envelope).expect("notices serialize");
        let _ = self.outgoing.send(payload.into());
    }

    /// The notices of the other nodes, from now on.
    pub async fn notices(&self) -> anyhow::Result<impl Stream<Item = Notice> + Send + 'static> {
        let subscription = self.client.subscribe(self.subject("notices")).await?;
        let me = self.node.clone();
        Ok(subscription.filter_map(move |message| {
            let envelope = serde_json::from_slice::<Envelope>(&message.payload).ok();
            let notice = envelope.filter(|e| e.node != me).map(|e| e.notice);
            async move { notice }
        }))
    }
}

/// An id as one token of a NATS subject: ids may hold dots and other characters subjects give a
/// meaning to, so they are written in hex.
pub fn subject_token(id: &str) -> String {
    hex::encode(id.as_bytes())
}
