//! Routing requests between nodes over NATS. The node that owns an instance (see
//! [`super::ownership`]) serves the subject `routing.<instance>` of the cluster; any other node sends its
//! requests there and waits for the answer. While no node serves an instance (its owner died
//! and the lease has not run out yet), requests are tried again until one does or the node's
//! patience runs out.
//!
//! Requests that need no answer (a chat ended, a socket report) still wait for the owner's
//! acknowledgement, one after another in the order they were made, so that none is lost in a
//! handover.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::request::Command;
use super::request::{Answer, Request};
use super::tenure::Tenure;
use crate::cluster::{subject_token, Cluster};
use crate::lifecycle::Lifecycle;

/// Where a new owner says it has taken an instance over.
const OWNERS: &str = "routing.owners";
/// Pause before a request that found no owner is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Where the instance's owner takes requests.
fn subject(cluster: &Cluster, instance_id: &str) -> String {
    cluster.subject(&format!("routing.{}", subject_token(instance_id)))
}

pub struct Remote {
    cluster: Arc<Cluster>,
    /// How long a request waits for an owner before it gives up.
    patience: Duration,
    /// Unbounded: a tell is what a sync caller (a socket closing, an agent leaving) hands
    /// over without waiting; each answers one such event, and the sender forwards them as fast
    /// as NATS takes requests.
    tells: mpsc::UnboundedSender<(String, Request)>,
    life: Lifecycle,
}

impl Remote {
    pub fn start(cluster: Arc<Cluster>, patience: Duration, life: Lifecycle) -> Arc<Self> {
        let (tells, mut to_send) = mpsc::unbounded_channel::<(String, Request)>();
        let remote = Arc::new(Self {
            cluster,
            patience,
            tells,
            life,
        });
        let sender = remote.clone();
        remote.life.spawn_background(async move {
            while let Some((instance_id, request)) = to_send.recv().await {
                if sender.ask(&instance_id, &request).await.is_none() {
                    tracing::warn!(instance = %instance_id, ?request, "no routing owner took the request");
                }
            }
        });
        remote
    }

    pub fn node(&self) -> &str {
        &self.cluster.node
    }

    /// Sends the request to the instance's owner and waits for its answer; `None` when no owner
    /// answered within the node's patience.
    pub async fn ask(&self, instance_id: &str, request: &Request) -> Option<Answer> {
        let subject = subject(&self.cluster, instance_id);
        let payload = Bytes::from(serde_json::to_vec(request).expect("requests serialize"));
        let deadline = Instant::now() + self.patience;
        loop {
            match self
                .cluster
                .client
                .request(subject.clone(), payload.clone())
                .await
            {
                Ok(message) => return serde_json::from_slice(&message.payload).ok(),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(instance = %instance_id, error = %e, "routing owner not reached yet");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(instance = %instance_id, error = %e, "routing owner not reached");
                    return None;
                }
            }
        }
    }

    /// Sends a request that needs no answer, after those sent before it.
    pub fn tell(&self, instance_id: &str, request: Request) {
        let _ = self.tells.send((instance_id.to_string(), request));
    }

    /// Serves the instance's requests into `commands` (its router task) until aborted, while
    /// `tenure` holds: a request that comes while it does not is left unanswered, for the
    /// sender to try again (and reach the node that owns the instance now).
    pub async fn serve(
        &self,
        instance_id: &str,
        commands: mpsc::UnboundedSender<Command>,
        tenure: Arc<Tenure>,
    ) -> anyhow::Result<JoinHandle<()>> {
        let mut requests = self
            .cluster
            .client
            .subscribe(subject(&self.cluster, instance_id))
            .await?;
        let client = self.cluster.client.clone();
        let life = self.life.clone();
        Ok(self.life.spawn_background(async move {
            while let Some(message) = requests.next().await {
                if !tenure.valid() {
                    continue;
                }
                let Ok(request) = serde_json::from_slice::<Request>(&message.payload) else {
                    tracing::warn!("unreadable routing request");
                    continue;
                };
                let (reply, answer) = oneshot::channel();
                if commands.send((request, Some(reply))).is_err() {
                    return;
                }
                let (Some(to), client) = (message.reply, client.clone()) else {
                    continue;
                };
                // Answers go out as they come, while the next requests are already queued.
                life.spawn_background(async move {
                    if let Ok(answer) = answer.await {
                        let payload = serde_json::to_vec(&answer).expect("answers serialize");
                        let _ = client.publish(to, payload.into()).await;
                    }
                });
            }
        }))
    }

    /// Tells every node that this one now routes the instance.
    pub async fn announce_owner(&self, instance_id: &str) {
        let payload = serde_json::to_vec(&(instance_id, self.node())).expect("serializes");
        if let Err(e) = self
            .cluster
            .client
            .publish(self.cluster.subject(OWNERS), payload.into())
            .await
        {
            tracing::warn!(error = %e, "announcing a routing owner failed");
        }
    }

    /// Instances another node has just taken over.
    pub async fn new_owners(&self) -> anyhow::Result<impl Stream<Item = String> + Send + 'static> {
        let announcements = self
            .cluster
            .client
            .subscribe(self.cluster.subject(OWNERS))
            .await?;
        let me = self.node().to_string();
        Ok(announcements.filter_map(move |message| {
            let announced = serde_json::from_slice::<(String, String)>(&message.payload).ok();
            let instance = announced
                .filter(|(_, node)| *node != me)
                .map(|(instance, _)| instance);
            async move { instance }
        }))
    }
}
