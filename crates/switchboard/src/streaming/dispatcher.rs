//! The workers that drain stream outboxes: one per stream, started when the stream starts (or,
//! after a restart, for every stream with rows left), woken when its contact has new items, and
//! finished once the stream is stopped and its outbox is empty. A sweep every
//! `streaming.sweep_seconds` starts or wakes any worker that a missed wake-up left behind, so a
//! lost notification delays items but never strands them.
//!
//! Nodes sharing a store may each have a worker for a stream; only the one holding the stream's
//! lease (`Store::claim_lease`, named `stream/<id>`) publishes, renewing it while it works and giving it up when the
//! outbox is empty. A node that dies loses its leases when they run out
//! (`streaming.lease_seconds`), and another node's sweep takes the streams over.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::sync::{Notify, OnceCell};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::message;
use super::sns::SnsPublisher;
use super::webhook::{Notification, WebhookPublisher};
use super::Failure;
use crate::chat::StreamHook;
use crate::clock::SharedClock;
use crate::config::endpoint::{self, Endpoint};
use crate::config::Config;
use crate::model::{OutboxEntry, Stream};
use crate::store::Store;

/// How many outbox rows a worker reads at once.
const BATCH: usize = 64;

pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: SharedClock,
    sns: OnceCell<SnsPublisher>,
    webhooks: WebhookPublisher,
    /// Read on every committed item (to wake its streams), written when a stream starts or
    /// finishes.
    workers: RwLock<Workers>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// This node, as stream leases name it.
    node: String,
}

#[derive(Default)]
struct Workers {
    /// The wake-up of each stream's worker, by stream id.
    wakes: HashMap<String, Arc<Notify>>,
    /// Streams with a worker, by contact id.
    by_contact: HashMap<String, Vec<String>>,
}

impl Dispatcher {
    /// Starts a worker for every stream that is active or has items left to publish.
    pub async fn start(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        clock: SharedClock,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> anyhow::Result<Self> {
        let webhooks = WebhookPublisher::new(&config.streaming.webhooks)?;
        let dispatcher = Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                config,
                clock,
                sns: OnceCell::new(),
                webhooks,
                workers: RwLock::new(Workers::default()),
                shutdown,
                tasks,
                node: uuid::Uuid::new_v4().to_string(),
            }),
        };
        let pending = store.pending_streams().await?;
        if !pending.is_empty() {
            tracing::info!(streams = pending.len(), "resuming streams");
        }
        for stream in &pending {
            dispatcher.inner.watch(stream, true);
        }
        let inner = dispatcher.inner.clone();
        let every = Duration::from_secs(inner.config.streaming.sweep_seconds);
        dispatcher.inner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => inner.sweep().await,
                    _ = inner.shutdown.cancelled() => return,
                }
            }
        });
        Ok(dispatcher)
    }
}

impl StreamHook for Dispatcher {
    fn started(&self, stream: &Stream) {
        self.inner.watch(stream, true);
    }

    fn written(&self, contact_id: &str) {
        let workers = self.inner.workers.read().expect("streaming lock");
        for stream_id in workers.by_contact.get(contact_id).into_iter().flatten() {
            if let Some(wake) = workers.wakes.get(stream_id) {
                wake.notify_one();
            }
        }
    }

    fn streams(&self, contact_id: &str) -> bool {
        let workers = self.inner.workers.read().expect("streaming lock");
        workers.by_contact.contains_key(contact_id)
    }
}

impl Inner {
    /// Makes sure the stream has a worker; wakes it if `wake`.
    fn watch(self: &Arc<Self>, stream: &Stream, wake: bool) {
        let mut workers = self.workers.write().expect("streaming lock");
        if let Some(notify) = workers.wakes.get(&stream.id) {
            if wake {
                notify.notify_one();
            }
            return;
        }
        let notify = Arc::new(Notify::new());
        workers.wakes.insert(stream.id.clone(), notify.clone());
        workers
            .by_contact
            .entry(stream.contact_id.clone())
            .or_default()
            .push(stream.id.clone());
        metrics::gauge!("switchboard_streams_active").increment(1.0);
        let worker = Worker::new(self.clone(), stream.clone(), notify);
        let (inner, stream) = (self.clone(), stream.clone());
        self.tasks.spawn(async move {
            // A worker that panics (a row it cannot read, say) must not leave its stream marked
            // as served: the next sweep starts it again.
            if AssertUnwindSafe(worker.run()).catch_unwind().await.is_err() {
                tracing::error!(stream_id = %stream.id, "stream worker failed; restarting it at the next sweep");
                inner.finished(&stream);
            }
        });
    }

    /// Starts workers for streams that have none and wakes those with rows waiting.
    async fn sweep(self: &Arc<Self>) {
        let pending = match self.store.pending_streams().await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "checking the streams failed");
                return;
            }
        };
        let backlogged: HashSet<String> = match self.store.backlogged_streams().await {
            Ok(ids) => ids.into_iter().collect(),
            Err(_) => HashSet::new(),
        };
        for stream in &pending {
            self.watch(stream, backlogged.contains(&stream.id));
        }
    }

    fn finished(&self, stream: &Stream) {
        let mut workers = self.workers.write().expect("streaming lock");
        workers.wakes.remove(&stream.id);
        if let Some(ids) = workers.by_contact.get_mut(&stream.contact_id) {
            ids.retain(|id| id != &stream.id);
            if ids.is_empty() {
                workers.by_contact.remove(&stream.contact_id);
            }
        }
        metrics::gauge!("switchboard_streams_active").decrement(1.0);
    }

    async fn sns(&self) -> &SnsPublisher {
        self.sns
            .get_or_init(|| SnsPublisher::new(&self.config.streaming.sns, &self.config.region))
            .await
    }
}

/// Where a stream stands once its outbox read empty.
enum State {
    /// Taking items: wait for the next.
    Active,
    /// Stopped, with rows committed before the stop still to publish.
    RowsLeft,
    /// Stopped and drained: the worker's work is over.
    Done,
    /// The store did not answer.
    Unknown,
}

/// What became of one outbox row.
enum Outcome {
    Published,
    DeadLettered,
    /// Another node took the stream over (this one was too slow to renew its lease).
    LostLease,
    ShuttingDown,
}

/// Drains one stream's outbox, in order.
struct Worker {
    inner: Arc<Inner>,
    stream: Stream,
    /// The stream's endpoint, or why its ARN no longer fits the configuration (a webhook
    /// removed since the stream started): then deliveries fail and wait for it to come back.
    endpoint: Result<Endpoint, String>,
    wake: Arc<Notify>,
    /// Whether the endpoint is failing now (logged when it starts and when it ends).
    failing: bool,
    /// The last row published and not yet deleted from the outbox.
    unacknowledged: Option<i64>,
    /// When this node's lease on the stream is due for renewal; `None` while it holds none.
    renew_at: Option<tokio::time::Instant>,
}

impl Worker {
    fn new(inner: Arc<Inner>, stream: Stream, wake: Arc<Notify>) -> Self {
        let endpoint = endpoint::parse(&stream.endpoint_arn, &inner.config);
        Self {
            inner,
            stream,
            endpoint,
            wake,
            failing: false,
            unacknowledged: None,
            renew_at: None,
        }
    }

    fn kind(&self) -> &'static str {
        self.endpoint.as_ref().map_or("invalid", Endpoint::kind)
    }

    async fn run(mut self) {
        self.drain().await;
        if self.failing {
            metrics::gauge!("switchboard_streams_failing").decrement(1.0);
        }
    }

    /// Publishes the outbox until the stream is done or the server shuts down.
    async fn drain(&mut self) {
        let store = self.inner.store.clone();
        let mut store_failures = 0;
        loop {
            if self.inner.shutdown.is_cancelled() {
                return;
            }
            if !self.hold_lease().await {
                // Another node publishes this stream now; look again when its lease may have
                // run out, or when woken.
                tokio::select! {
                    _ = tokio::time::sleep(self.lease() / 2) => {}
                    _ = self.wake.notified() => {}
                    _ = self.inner.shutdown.cancelled() => return,
                }
                continue;
            }
            let batch = match store.outbox(&self.stream.id, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(stream_id = %self.stream.id, error = %e, "reading the stream outbox failed");
                    store_failures += 1;
                    if !self.pause(store_failures).await {
                        return;
                    }
                    continue;
                }
            };
            store_failures = 0;
            if batch.is_empty() {
                match self.state().await {
                    State::Done => {
                        tracing::info!(stream_id = %self.stream.id, contact_id = %self.stream.contact_id, "stream finished");
                        self.inner.finished(&self.stream);
                        return;
                    }
                    State::RowsLeft => continue,
                    State::Unknown => {
                        store_failures += 1;
                        if !self.pause(store_failures).await {
                            return;
                        }
                        continue;
                    }
                    State::Active => {}
                }
                // Idle: with other nodes about, let whichever gets the next item publish it.
                if self.inner.config.bus.is_some() {
                    self.release_lease().await;
                }
                tokio::select! {
                    _ = self.wake.notified() => continue,
                    _ = self.inner.shutdown.cancelled() => return,
                }
            }
            for entry in &batch {
                if self.inner.shutdown.is_cancelled() {
                    self.acknowledge().await;
                    return;
                }
                match self.deliver(entry).await {
                    Outcome::Published => self.unacknowledged = Some(entry.id),
                    Outcome::DeadLettered => {}
                    Outcome::LostLease => break,
                    Outcome::ShuttingDown => {
                        self.acknowledge().await;
                        return;
                    }
                }
            }
            if !self.acknowledge().await {
                return;
            }
        }
    }

    /// The stream's lease in the store: one node publishes the stream at a time.
    fn lease_name(&self) -> String {
        format!("stream/{}", self.stream.id)
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.inner.config.streaming.lease_seconds)
    }

    /// Whether this node may publish the stream: takes or renews the lease when it is due
    /// (a third of the way through it). A node without a bus is the only one on its store, and
    /// needs no lease (nor to wait out the lease its previous run left behind).
    async fn hold_lease(&mut self) -> bool {
        if self.inner.config.bus.is_none() {
            return true;
        }
        let now = tokio::time::Instant::now();
        if self.renew_at.is_some_and(|at| now < at) {
            return true;
        }
        let until = self.inner.clock.now() + self.lease();
        match self
            .inner
            .store
            .claim_lease(&self.lease_name(), &self.inner.node, until)
            .await
        {
            Ok(true) => {
                self.renew_at = Some(now + self.lease() / 3);
                true
            }
            Ok(false) => {
                self.renew_at = None;
                false
            }
            Err(e) => {
                tracing::warn!(stream_id = %self.stream.id, error = %e, "renewing the stream's lease failed");
                self.renew_at = None;
                false
            }
        }
    }

    async fn release_lease(&mut self) {
        if self.renew_at.take().is_some() {
            let _ = self
                .inner
                .store
                .release_lease(&self.lease_name(), &self.inner.node)
                .await;
        }
    }

    /// Where a stream with an empty outbox read stands.
    async fn state(&self) -> State {
        let store = &self.inner.store;
        match store.stream(&self.stream.id).await {
            Ok(Some(stream)) if stream.stopped_at.is_none() => State::Active,
            // Stopped: rows committed before the stop are visible now, so one more look
            // settles whether any are left.
            Ok(_) => match store.outbox(&self.stream.id, 1).await {
                Ok(rows) if rows.is_empty() => State::Done,
                Ok(_) => State::RowsLeft,
                Err(_) => State::Unknown,
            },
            Err(_) => State::Unknown,
        }
    }

    /// Publishes one row, retrying while that may help. Returns once it is published or dead
    /// lettered, or the server shuts down.
    async fn deliver(&mut self, entry: &OutboxEntry) -> Outcome {
        let kind = self.kind();
        let mut attempt: u32 = 0;
        loop {
            if !self.hold_lease().await {
                return Outcome::LostLease;
            }
            match self.publish(entry).await {
                Ok(()) => {
                    metrics::counter!("switchboard_stream_published_total", "endpoint" => kind)
                        .increment(1);
                    if self.failing {
                        self.failing = false;
                        metrics::gauge!("switchboard_streams_failing").decrement(1.0);
                        tracing::info!(stream_id = %self.stream.id, endpoint = %self.stream.endpoint_arn, attempts = attempt + 1, "stream endpoint recovered");
                    }
                    return Outcome::Published;
                }
                Err(Failure::Permanent(why)) => {
                    if self.failing {
                        // The endpoint answers again, if only to refuse this item.
                        self.failing = false;
                        metrics::gauge!("switchboard_streams_failing").decrement(1.0);
                    }
                    tracing::warn!(stream_id = %self.stream.id, endpoint = %self.stream.endpoint_arn, item_id = %entry.item_id, reason = %why, "endpoint refused an item for good; kept as a dead letter");
                    metrics::counter!("switchboard_stream_dead_letters_total", "endpoint" => kind)
                        .increment(1);
                    return self.dead_letter(entry, &why).await;
                }
                Err(Failure::Transient(why)) => {
                    if !self.failing {
                        self.failing = true;
                        metrics::gauge!("switchboard_streams_failing").increment(1.0);
                        tracing::warn!(stream_id = %self.stream.id, endpoint = %self.stream.endpoint_arn, reason = %why, "stream endpoint failing; retrying with backoff");
                        // What went through before this item need not be sent again.
                        self.acknowledge().await;
                    }
                    metrics::counter!("switchboard_stream_retries_total", "endpoint" => kind)
                        .increment(1);
                    attempt += 1;
                    if !self.pause(attempt).await {
                        return Outcome::ShuttingDown;
                    }
                }
            }
        }
    }

    async fn publish(&self, entry: &OutboxEntry) -> Result<(), Failure> {
        let endpoint = self.endpoint.as_ref().map_err(|why| {
            Failure::Transient(format!(
                "the endpoint no longer fits the configuration: {why}"
            ))
        })?;
        let attributes = message::attributes(
            &entry.message,
            &self.stream.instance_id,
            &self.inner.config.account_id,
        );
        match endpoint {
            Endpoint::SnsTopic { arn } => {
                self.inner
                    .sns()
                    .await
                    .publish(arn, &entry.message, &attributes)
                    .await
            }
            Endpoint::Webhook { name } => {
                let notification = Notification {
                    endpoint_arn: &self.stream.endpoint_arn,
                    streaming_id: &self.stream.id,
                    item_id: &entry.item_id,
                    message: &entry.message,
                    attributes: &attributes,
                };
                self.inner
                    .webhooks
                    .publish(name, &notification, self.inner.clock.now())
                    .await
            }
        }
    }

    async fn dead_letter(&mut self, entry: &OutboxEntry, why: &str) -> Outcome {
        // Rows before this one go first, so the outbox keeps no gap behind a dead letter.
        if !self.acknowledge().await {
            return Outcome::ShuttingDown;
        }
        let mut attempt = 0;
        while let Err(e) = self.inner.store.outbox_dead_letter(entry, why).await {
            tracing::warn!(stream_id = %self.stream.id, error = %e, "keeping a dead letter failed");
            attempt += 1;
            if !self.pause(attempt).await {
                return Outcome::ShuttingDown;
            }
        }
        Outcome::DeadLettered
    }

    /// Deletes the rows published so far from the outbox. False if the server shut down first
    /// (the rows stay, and are published again after the restart).
    async fn acknowledge(&mut self) -> bool {
        let Some(through) = self.unacknowledged else {
            return true;
        };
        let mut attempt = 0;
        while let Err(e) = self
            .inner
            .store
            .outbox_published(&self.stream.id, through)
            .await
        {
            tracing::warn!(stream_id = %self.stream.id, error = %e, "recording published items failed");
            attempt += 1;
            if !self.pause(attempt).await {
                return false;
            }
        }
        self.unacknowledged = None;
        true
    }

    /// Waits before attempt `attempt` (1, 2, ...): exponential backoff with jitter. False if
    /// the server shuts down meanwhile.
    async fn pause(&self, attempt: u32) -> bool {
        let streaming = &self.inner.config.streaming;
        let delay = backoff(
            attempt,
            Duration::from_millis(streaming.retry_initial_ms),
            Duration::from_secs(streaming.retry_max_seconds),
            rand::thread_rng().gen_range(0.0..=1.0),
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.inner.shutdown.cancelled() => false,
        }
    }
}

/// The wait before retry `attempt` (1, 2, ...): `initial` doubled each time up to `max`, of which
/// the upper half is random (`jitter` in 0..=1), so that many streams failing together do not
/// retry together.
fn backoff(attempt: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let doubled = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = doubled.min(max);
    ceiling.div_f64(2.0) + ceiling.div_f64(2.0).mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff(1, initial, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(1, initial, max, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(2, initial, max, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(4, initial, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(5, initial, max, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(60, initial, max, 0.0), Duration::from_millis(500));
    }
}
