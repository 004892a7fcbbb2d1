//! The router: one task per instance owns that instance's [`Engine`], so each queue has exactly
//! one owner and decisions are made in the order requests arrive, without locks or reads. Callers
//! talk to it through [`Router`]; the decisions come out, in order, as [`Routed`] effects on one
//! channel, for [`super::effects`] to carry out.
//!
//! On one node, every instance's task runs here from the start. In a cluster, a node runs the
//! task of an instance only while it holds the instance's lease ([`super::ownership`]); requests
//! for the others go to their owners over NATS ([`super::remote`]).
//!
//! Time comes from the server's clock. The task wakes for the engine's next deadline, and at
//! least once a second, so a test that moves a manual clock sees the deadline acted on without
//! waiting for real time to pass.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc::error::SendError;
use tokio::sync::{mpsc, oneshot};

use super::engine::{AgentFigures, Effect, Engine, Presence, QueueFigures, QueueKey, RoutingError};
use super::remote::Remote;
pub use super::request::AgentAction;
use super::request::{Answer, Command, Request, SocketReport};
use super::sockets::{NodeSockets, SocketTable};
use super::tenure::Tenure;
use crate::chat::{ChatError, QueueMetrics, RoutingHook};
use crate::clock::{to_millis, SharedClock};
use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::model::Contact;
use crate::store::Store;

/// An effect and the instance it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub instance_id: String,
    pub effect: Effect,
}

/// An instance this node routes.
struct Owned {
    commands: mpsc::UnboundedSender<Command>,
    tenure: Arc<Tenure>,
}

/// The handle every part of the server uses to reach the router tasks.
pub struct Router {
    config: Arc<Config>,
    /// Where agents' statuses are kept, so a restart does not sign everyone off; in a cluster,
    /// also where the routing leases are.
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: SharedClock,
    effects: mpsc::UnboundedSender<Routed>,
    /// The instances this node routes now, their tasks' queues and how long it may act for them.
    owned: RwLock<HashMap<String, Owned>>,
    /// The other nodes, in a cluster.
    remote: Option<Arc<Remote>>,
    /// This node's open agent and customer sockets.
    sockets: NodeSockets,
    /// The instances' tasks run in its background, which outlives every request.
    life: Lifecycle,
}

impl Router {
    /// Prepares routing for the instances of `config`, their effects going to `effects`. Without
    /// `remote` (one node) every instance's task starts now; in a cluster,
    /// [`super::ownership::keep`] starts the tasks of the instances this node comes to own.
    pub async fn start(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        effects: mpsc::UnboundedSender<Routed>,
        remote: Option<Arc<Remote>>,
        life: Lifecycle,
    ) -> anyhow::Result<Arc<Self>> {
        let clustered = remote.is_some();
        let router = Arc::new(Self {
            config,
            store,
            clock,
            effects,
            owned: RwLock::new(HashMap::new()),
            remote,
            sockets: NodeSockets::default(),
            life,
        });
        if !clustered {
            let forever = Arc::new(Tenure::forever());
            for instance_id in router.instance_ids() {
                router.take(&instance_id, forever.clone()).await?;
            }
        }
        Ok(router)
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.config.instances.iter().map(|i| i.id.clone()).collect()
    }

    /// The server's life, which the router's tasks run under.
    pub fn life(&self) -> &Lifecycle {
        &self.life
    }

    /// This node's id in the cluster (`local` on its own).
    pub fn node(&self) -> &str {
        self.remote.as_ref().map_or("local", |r| r.node())
    }

    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }

    /// In a cluster, how long a routing lease lasts without renewal.
    pub fn lease(&self) -> Duration {
        self.config.routing.lease()
    }

    /// Whether this node routes the instance now.
    pub fn owns(&self, instance_id: &str) -> bool {
        self.owned
            .read()
            .expect("owned lock")
            .contains_key(instance_id)
    }

    /// Starts routing the instance here: its engine is built from the store (agents' statuses,
    /// queued and connected contacts) and this node's open sockets. The node acts for it while
    /// `tenure` is valid. Returns the task's queue.
    pub async fn take(
        &self,
        instance_id: &str,
        tenure: Arc<Tenure>,
    ) -> anyhow::Result<mpsc::UnboundedSender<Command>> {
        let instance = self
            .config
            .instance(instance_id)
            .ok_or_else(|| anyhow::anyhow!("no instance {instance_id}"))?;
        let engine = build_engine(&self.config, instance, &*self.store, &self.clock).await?;
        // Unbounded: callers that cannot wait (a socket closing, an ended chat) hand commands
        // over synchronously; the engine handles each in microseconds without I/O, and each
        // answers a request or an event that is itself bounded (requests in flight, sockets).
        let (sender, commands) = mpsc::unbounded_channel();
        let report = self.sockets.report(instance_id, self.node());
        let _ = sender.send((Request::Sockets(report), None));
        // In a cluster, a node that stops reporting its sockets is taken to have died with them.
        let silence = self.remote.as_ref().map(|_| self.config.routing.lease());
        self.life.spawn_background(run(
            instance_id.to_string(),
            engine,
            commands,
            self.clock.clone(),
            self.effects.clone(),
            silence,
            tenure.clone(),
        ));
        let owned = Owned {
            commands: sender.clone(),
            tenure,
        };
        self.owned
            .write()
            .expect("owned lock")
            .insert(instance_id.to_string(), owned);
        metrics::gauge!("switchboard_routing_owned", "instance" => instance_id.to_string())
            .set(1.0);
        Ok(sender)
    }

    /// Stops routing the instance here (another node may own it now): its task ends once the
    /// last queue to it is dropped.
    pub fn give_up(&self, instance_id: &str) {
        self.owned.write().expect("owned lock").remove(instance_id);
        metrics::gauge!("switchboard_routing_owned", "instance" => instance_id.to_string())
            .set(0.0);
    }

    /// Everything this node has open for the instance, to its owner.
    pub fn report_sockets(&self, instance_id: &str) {
        let report = self.sockets.report(instance_id, self.node());
        self.tell(instance_id, Request::Sockets(report));
    }

    /// The queue of the instance's task, when this node routes it and its tenure holds.
    fn local_task(&self, instance_id: &str) -> Option<mpsc::UnboundedSender<Command>> {
        self.owned
            .read()
            .expect("owned lock")
            .get(instance_id)
            .filter(|owned| owned.tenure.valid())
            .map(|owned| owned.commands.clone())
    }

    /// Counts of this node's sockets that just changed, to the instance's owner.
    fn report_change(
        &self,
        instance_id: &str,
        agents: Vec<(String, usize)>,
        customers: Vec<(String, usize)>,
    ) {
        let report = SocketReport {
            node: self.node().to_string(),
            full: false,
            agents,
            customers,
        };
        self.tell(instance_id, Request::Sockets(report));
    }

    /// Asks the instance's task (here or on its owner) and waits for the answer.
    async fn call(&self, instance_id: &str, request: Request) -> Option<Answer> {
        let local = self.local_task(instance_id);
        let mut request = request;
        if let Some(sender) = local {
            let (reply, answer) = oneshot::channel();
            match sender.send((request, Some(reply))) {
                Ok(()) => return answer.await.ok(),
                // The task ended as this node gave the instance up: ask the new owner.
                Err(SendError((back, _))) => request = back,
            }
        }
        self.remote.as_ref()?.ask(instance_id, &request).await
    }

    /// Sends a request no one waits for an answer to.
    fn tell(&self, instance_id: &str, request: Request) {
        let local = self.local_task(instance_id);
        let request = match local {
            Some(sender) => match sender.send((request, None)) {
                Ok(()) => return,
                Err(SendError((back, _))) => back,
            },
            None => request,
        };
        if let Some(remote) = &self.remote {
            remote.tell(instance_id, request);
        }
    }

    async fn decide(&self, instance_id: &str, request: Request) -> Result<(), RoutingError> {
        match self.call(instance_id, request).await {
            Some(Answer::Done(result)) => result,
            _ if self.config.instance(instance_id).is_none() => {
                Err(RoutingError::UnknownQueue(instance_id.to_string()))
            }
            _ => Err(RoutingError::Unavailable),
        }
    }

    /// The agent accepted a contact but could not be added to its chat (it ended in between).
    pub fn never_joined(&self, instance_id: &str, agent: &str, contact: &str) {
        self.tell(
            instance_id,
            Request::NeverJoined {
                agent: agent.to_string(),
                contact: contact.to_string(),
            },
        );
    }

    /// Sets the agent's status, and keeps it for after a restart.
    pub async fn set_presence(
        &self,
        instance_id: &str,
        agent: &str,
        presence: Presence,
    ) -> Result<(), RoutingError> {
        let encoded = presence.encode();
        let request = Request::Presence {
            agent: agent.to_string(),
            presence,
        };
        self.decide(instance_id, request).await?;
        self.keep_presence(agent, &encoded).await;
        Ok(())
    }

    /// Records a status routing set by itself (Missed) or an agent chose.
    pub async fn keep_presence(&self, agent: &str, encoded: &str) {
        if let Err(e) = self
            .store
            .record_presence(agent, encoded, self.clock.now())
            .await
        {
            tracing::warn!(%agent, error = %e, "could not keep the agent's status");
        }
    }

    /// One of the agent's workspace sockets on this node opened or closed.
    pub fn agent_connection(&self, instance_id: &str, agent: &str, opened: bool) {
        let open = self.sockets.agent(instance_id, agent, opened);
        let agents = vec![(agent.to_string(), open)];
        self.report_change(instance_id, agents, Vec::new());
    }

    /// An agent's answer about one contact: accept or reject an offer, or end After Contact
    /// Work.
    pub async fn act(
        &self,
        instance_id: &str,
        agent: &str,
        contact: &str,
        action: AgentAction,
    ) -> Result<(), RoutingError> {
        let request = Request::Act {
            action,
            agent: agent.to_string(),
            contact: contact.to_string(),
        };
        self.decide(instance_id, request).await
    }

    /// Hands the agent's `contact` on to the new contact `into`, held in `to` until released
    /// (see [`crate::routing::engine::Engine::transfer`]).
    pub async fn transfer(
        &self,
        instance_id: &str,
        agent: &str,
        contact: &str,
        into: &str,
        to: QueueKey,
    ) -> Result<(), RoutingError> {
        let request = Request::Transfer {
            agent: agent.to_string(),
            contact: contact.to_string(),
            into: into.to_string(),
            to,
        };
        self.decide(instance_id, request).await
    }

    /// The contact's place in its queue (1 for the head) and the queue's length.
    pub async fn position(&self, instance_id: &str, contact: &str) -> Option<(usize, usize)> {
        let request = Request::Position {
            contact: contact.to_string(),
        };
        match self.call(instance_id, request).await {
            Some(Answer::Position(position)) => position,
            _ => None,
        }
    }

    pub async fn agent(&self, instance_id: &str, agent: &str) -> Option<AgentFigures> {
        let request = Request::Agent {
            agent: agent.to_string(),
        };
        match self.call(instance_id, request).await {
            Some(Answer::Agent(figures)) => figures,
            _ => None,
        }
    }

    /// Figures for each group of queues (each group taken together).
    pub async fn figures(&self, instance_id: &str, groups: Vec<Vec<String>>) -> Vec<QueueFigures> {
        match self.call(instance_id, Request::Figures { groups }).await {
            Some(Answer::Figures(figures)) => figures,
            _ => Vec::new(),
        }
    }
}

#[async_trait]
impl RoutingHook for Router {
    async fn queue_position(&self, instance_id: &str, contact_id: &str) -> Option<(usize, usize)> {
        self.position(instance_id, contact_id).await
    }

    async fn queue_metrics(&self, instance_id: &str, queues: &[String]) -> Vec<QueueMetrics> {
        let groups = queues.iter().map(|q| vec![q.clone()]).collect();
        self.figures(instance_id, groups)
            .await
            .into_iter()
            .map(|f| QueueMetrics {
                contacts_in_queue: f.contacts_in_queue,
                oldest_contact_age_seconds: f.oldest_contact_age.unwrap_or(0) as f64 / 1000.0,
                agents_online: f.agents_online,
                agents_available: f.agents_available,
            })
            .collect()
    }

    async fn admit(&self, contact: &Contact) -> Result<(), ChatError> {
        let Some(queue) = &contact.queue_id else {
            return Ok(());
        };
        let request = Request::Hold {
            contact: contact.id.clone(),
            queue: queue.clone(),
        };
        match self.decide(&contact.instance_id, request).await {
            // Already held: a hold asked again after its answer was lost between nodes.
            Ok(()) | Err(RoutingError::AlreadyQueued) => Ok(()),
            Err(RoutingError::QueueFull(queue)) => Err(ChatError::LimitExceeded(format!(
                "Queue {queue} is at its maximum number of contacts"
            ))),
            Err(e) => Err(ChatError::Internal(e.to_string())),
        }
    }

    fn admitted(&self, contact: &Contact, created: bool) {
        let request = match &contact.queue_id {
            Some(queue) if created => Request::Release {
                contact: contact.id.clone(),
                queue: queue.clone(),
                enqueued_at: to_millis(contact.enqueued_at.unwrap_or(contact.initiated_at)),
            },
            _ => Request::Ended {
                contact: contact.id.clone(),
            },
        };
        self.tell(&contact.instance_id, request);
    }

    fn contact_ended(&self, instance_id: &str, contact_id: &str) {
        let request = Request::Ended {
            contact: contact_id.to_string(),
        };
        self.tell(instance_id, request);
    }

    fn agent_left(&self, instance_id: &str, contact_id: &str, agent: &str, queue: &str) {
        let request = Request::AgentLeft {
            agent: agent.to_string(),
            contact: contact_id.to_string(),
            queue: queue.to_string(),
        };
        self.tell(instance_id, request);
    }

    fn customer_sockets(&self, instance_id: &str, contact_id: &str, open: usize) {
        self.sockets.customer(instance_id, contact_id, open);
        let customers = vec![(contact_id.to_string(), open)];
        self.report_change(instance_id, Vec::new(), customers);
    }
}

/// An instance's engine as the store leaves it: agents' statuses, and its open routed chats
/// waiting where they were or with the agent who had them.
async fn build_engine(
    config: &Config,
    instance: &crate::config::Instance,
    store: &dyn Store,
    clock: &SharedClock,
) -> anyhow::Result<Engine> {
    let timers = super::engine::Timers {
        offer_timeout: i64::from(config.routing.offer_timeout_seconds) * 1000,
        customer_gone: i64::from(config.routing.customer_gone_seconds) * 1000,
    };
    let queues = instance.queues.iter().map(|q| {
        let max = q.max_contacts.map(|m| m as usize);
        (q.id.clone(), max)
    });
    let agents = instance.users.iter().map(|user| {
        let profile = instance
            .routing_profile(&user.routing_profile)
            .expect("validated: users name a profile of their instance");
        let mut profile = super::engine_profile(profile);
        if !user.takes_chats {
            // No slot, so never an offer, whatever the status.
            profile.concurrency = 0;
        }
        (user.id.clone(), profile)
    });
    let mut engine = Engine::new(timers, queues, agents);
    let now = to_millis(clock.now());
    for (user, presence, since) in &store.presences().await? {
        if let Some(presence) = Presence::decode(presence) {
            engine.restore_presence(user, presence, to_millis(*since));
        }
    }
    for contact in store.routed_contacts(&instance.id).await? {
        let Some(queue) = &contact.queue_id else {
            continue;
        };
        let enqueued_at = contact.enqueued_at.unwrap_or(contact.initiated_at);
        let agent = contact.agent.as_ref().map(|(id, _)| id.as_str());
        engine.restore(now, &contact.id, queue, to_millis(enqueued_at), agent);
    }
    Ok(engine)
}

/// How long the task sleeps at most between two looks at the clock.
const LOOK_AT_CLOCK_EVERY: Duration = Duration::from_secs(1);

/// An instance's task: applies requests in order, acts on deadlines, and, in a cluster (with
/// `silence`), counts the sockets of a node that stopped reporting as closed.
async fn run(
    instance_id: String,
    mut engine: Engine,
    mut commands: mpsc::UnboundedReceiver<Command>,
    clock: SharedClock,
    effects: mpsc::UnboundedSender<Routed>,
    silence: Option<Duration>,
    tenure: Arc<Tenure>,
) {
    let emit = |list: Vec<Effect>| {
        for effect in list {
            let _ = effects.send(Routed {
                instance_id: instance_id.clone(),
                effect,
            });
        }
    };
    let mut sockets = SocketTable::default();
    // Contacts restored at start may be offered at once.
    emit(engine.tick(to_millis(clock.now())));
    loop {
        let now = to_millis(clock.now());
        let wait = engine
            .next_deadline(now)
            .map(|at| Duration::from_millis((at - now).max(0) as u64))
            .unwrap_or(LOOK_AT_CLOCK_EVERY)
            .min(LOOK_AT_CLOCK_EVERY);
        let command = tokio::select! {
            command = commands.recv() => match command {
                Some(command) => Some(command),
                None => return,
            },
            _ = tokio::time::sleep(wait) => None,
        };
        let now = to_millis(clock.now());
        match command {
            // A stalled owner whose lease may have passed to another node does not act on its
            // own: what is due waits for its renewal, or goes with the instance.
            None if !tenure.valid() => {}
            None => {
                if let Some(silence) = silence {
                    let touched = sockets.expire(Instant::now(), silence);
                    emit(apply_totals(&mut engine, &sockets, now, touched));
                }
                emit(engine.tick(now));
            }
            Some((request, reply)) => {
                let (answer, list) = handle(&mut engine, &mut sockets, now, request);
                if let Some(reply) = reply {
                    let _ = reply.send(answer);
                }
                emit(list);
            }
        }
    }
}

/// Gives the engine the new socket totals of the agents and customers a report touched.
fn apply_totals(
    engine: &mut Engine,
    sockets: &SocketTable,
    now: i64,
    touched: super::sockets::Touched,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    for agent in touched.agents {
        let open = sockets.agent_total(&agent);
        effects.extend(
            engine
                .agent_connections(now, &agent, open)
                .unwrap_or_default(),
        );
    }
    for contact in touched.customers {
        engine.customer_sockets(now, &contact, sockets.customer_total(&contact));
    }
    effects
}

/// Applies one request; returns its answer and the effects.
fn handle(
    engine: &mut Engine,
    sockets: &mut SocketTable,
    now: i64,
    request: Request,
) -> (Answer, Vec<Effect>) {
    let done = |result: Result<Vec<Effect>, RoutingError>| match result {
        Ok(effects) => (Answer::Done(Ok(())), effects),
        Err(e) => (Answer::Done(Err(e)), Vec::new()),
    };
    match request {
        Request::Hold { contact, queue } => {
            (Answer::Done(engine.hold(now, &contact, &queue)), Vec::new())
        }
        Request::Release {
            contact,
            queue,
            enqueued_at,
        } => {
            if !engine.knows(&contact) {
                // Held by a node that has since given the instance up.
                engine.restore(now, &contact, &queue, enqueued_at, None);
            }
            done(Ok(engine.release(now, &contact)))
        }
        Request::Ended { contact } => done(Ok(engine.contact_ended(now, &contact))),
        Request::NeverJoined { agent, contact } => {
            done(Ok(engine.never_joined(now, &agent, &contact)))
        }
        Request::AgentLeft {
            agent,
            contact,
            queue,
        } => done(Ok(engine
            .transfer(now, &agent, &contact, &contact, QueueKey::Queue(queue))
            .unwrap_or_default())),
        Request::Sockets(report) => {
            let touched = sockets.apply(report, Instant::now());
            done(Ok(apply_totals(engine, sockets, now, touched)))
        }
        Request::Presence { agent, presence } => done(engine.set_presence(now, &agent, presence)),
        Request::Act {
            action,
            agent,
            contact,
        } => done(match action {
            AgentAction::Accept => engine.accept(now, &agent, &contact),
            AgentAction::Reject => engine.reject(now, &agent, &contact),
            AgentAction::ClearAfterWork => engine.clear_after_work(now, &agent, &contact),
        }),
        Request::Transfer {
            agent,
            contact,
            into,
            to,
        } => {
            let into = if into.is_empty() { &contact } else { &into };
            done(engine.transfer(now, &agent, &contact, into, to))
        }
        Request::Position { contact } => (Answer::Position(engine.position(&contact)), Vec::new()),
        Request::Agent { agent } => (Answer::Agent(engine.agent(&agent)), Vec::new()),
        Request::Figures { groups } => {
            let figures = groups.iter().map(|g| engine.figures(now, g)).collect();
            (Answer::Figures(figures), Vec::new())
        }
    }
}
