//! The router: one task per instance owns that instance's [`Engine`], so each queue has exactly
//! one owner and decisions are made in the order requests arrive, without locks or reads. Callers
//! talk to it through [`Router`]; the decisions come out, in order, as [`Routed`] effects on one
//! channel, for [`super::effects`] to carry out.
//!
//! Time comes from the server's clock. The task wakes for the engine's next deadline, and at
//! least once a second, so a test that moves a manual clock sees the deadline acted on without
//! waiting for real time to pass.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::engine::{AgentFigures, Effect, Engine, Presence, QueueFigures, QueueKey, RoutingError};
use crate::chat::model::Contact;
use crate::chat::{ChatError, RoutingHook};
use crate::clock::{to_millis, SharedClock};
use crate::config::Config;
use crate::store::Store;

/// An effect and the instance it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub instance_id: String,
    pub effect: Effect,
}

type Reply<T> = oneshot::Sender<Result<T, RoutingError>>;

/// What an agent can do about one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAction {
    Accept,
    Reject,
    ClearAfterWork,
}

enum Command {
    Hold(String, String, Reply<()>),
    Release(String),
    Ended(String),
    NeverJoined(String, String),
    AgentLeft(String, String, String),
    CustomerSockets(String, usize),
    Presence(String, Presence, Reply<()>),
    AgentConnection(String, bool),
    Act(AgentAction, String, String, Reply<()>),
    Transfer(String, String, QueueKey, Reply<()>),
    Position(String, oneshot::Sender<Option<(usize, usize)>>),
    Agent(String, oneshot::Sender<Option<AgentFigures>>),
    Figures(Vec<Vec<String>>, oneshot::Sender<Vec<QueueFigures>>),
}

/// The handle every part of the server uses to reach the router tasks.
pub struct Router {
    instances: HashMap<String, mpsc::UnboundedSender<Command>>,
    /// Where agents' statuses are kept, so a restart does not sign everyone off.
    store: Arc<dyn Store>,
    clock: SharedClock,
}

impl Router {
    /// Starts one router task per instance, with its queues and agents from `config` and the open
    /// chats of `store` put back where they were. Effects go to `effects`.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        clock: SharedClock,
        effects: mpsc::UnboundedSender<Routed>,
    ) -> anyhow::Result<Self> {
        let presences = store.presences().await?;
        let timers = super::engine::Timers {
            offer_timeout: i64::from(config.routing.offer_timeout_seconds) * 1000,
            customer_gone: i64::from(config.routing.customer_gone_seconds) * 1000,
        };
        let mut instances = HashMap::new();
        for instance in &config.instances {
            let queues = instance.queues.iter().map(|q| {
                let max = q.max_contacts.map(|m| m as usize);
                (q.id.clone(), max)
            });
            let agents = instance.users.iter().map(|user| {
                let profile = instance
                    .routing_profile(&user.routing_profile)
                    .expect("validated: users name a profile of their instance");
                (user.id.clone(), super::engine_profile(profile))
            });
            let mut engine = Engine::new(timers, queues, agents);
            let now = to_millis(clock.now());
            for (user, presence, since) in &presences {
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
            let (sender, commands) = mpsc::unbounded_channel();
            tokio::spawn(run(
                instance.id.clone(),
                engine,
                commands,
                clock.clone(),
                effects.clone(),
            ));
            instances.insert(instance.id.clone(), sender);
        }
        Ok(Self {
            instances,
            store,
            clock,
        })
    }

    fn send(&self, instance_id: &str, command: Command) {
        if let Some(router) = self.instances.get(instance_id) {
            let _ = router.send(command);
        }
    }

    async fn ask<T>(
        &self,
        instance_id: &str,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.send(instance_id, command(reply));
        answer.await.ok()
    }

    async fn decide(
        &self,
        instance_id: &str,
        command: impl FnOnce(Reply<()>) -> Command,
    ) -> Result<(), RoutingError> {
        self.ask(instance_id, command)
            .await
            .unwrap_or_else(|| Err(RoutingError::UnknownQueue(instance_id.to_string())))
    }

    /// The agent accepted a contact but could not be added to its chat (it ended in between).
    pub fn never_joined(&self, instance_id: &str, agent: &str, contact: &str) {
        self.send(
            instance_id,
            Command::NeverJoined(agent.to_string(), contact.to_string()),
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
        self.decide(instance_id, |r| {
            Command::Presence(agent.to_string(), presence, r)
        })
        .await?;
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

    /// One of the agent's workspace sockets opened or closed.
    pub fn agent_connection(&self, instance_id: &str, agent: &str, opened: bool) {
        self.send(
            instance_id,
            Command::AgentConnection(agent.to_string(), opened),
        );
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
        self.decide(instance_id, |r| {
            Command::Act(action, agent.to_string(), contact.to_string(), r)
        })
        .await
    }

    pub async fn transfer(
        &self,
        instance_id: &str,
        agent: &str,
        contact: &str,
        to: QueueKey,
    ) -> Result<(), RoutingError> {
        self.decide(instance_id, |r| {
            Command::Transfer(agent.to_string(), contact.to_string(), to, r)
        })
        .await
    }

    /// The contact's place in its queue (1 for the head) and the queue's length.
    pub async fn position(&self, instance_id: &str, contact: &str) -> Option<(usize, usize)> {
        self.ask(instance_id, |r| Command::Position(contact.to_string(), r))
            .await
            .flatten()
    }

    pub async fn agent(&self, instance_id: &str, agent: &str) -> Option<AgentFigures> {
        self.ask(instance_id, |r| Command::Agent(agent.to_string(), r))
            .await
            .flatten()
    }

    /// Figures for each group of queues (each group taken together).
    pub async fn figures(&self, instance_id: &str, groups: Vec<Vec<String>>) -> Vec<QueueFigures> {
        self.ask(instance_id, |r| Command::Figures(groups, r))
            .await
            .unwrap_or_default()
    }
}

#[async_trait]
impl RoutingHook for Router {
    async fn admit(&self, contact: &Contact) -> Result<(), ChatError> {
        let Some(queue) = &contact.queue_id else {
            return Ok(());
        };
        let (instance, id) = (contact.instance_id.as_str(), contact.id.as_str());
        match self
            .decide(instance, |r| {
                Command::Hold(id.to_string(), queue.clone(), r)
            })
            .await
        {
            Ok(()) => Ok(()),
            Err(RoutingError::QueueFull(queue)) => Err(ChatError::LimitExceeded(format!(
                "Queue {queue} is at its maximum number of contacts"
            ))),
            Err(e) => Err(ChatError::Internal(e.to_string())),
        }
    }

    fn admitted(&self, contact: &Contact, created: bool) {
        let command = if created {
            Command::Release(contact.id.clone())
        } else {
            Command::Ended(contact.id.clone())
        };
        self.send(&contact.instance_id, command);
    }

    fn contact_ended(&self, instance_id: &str, contact_id: &str) {
        self.send(instance_id, Command::Ended(contact_id.to_string()));
    }

    fn agent_left(&self, instance_id: &str, contact_id: &str, agent: &str, queue: &str) {
        self.send(
            instance_id,
            Command::AgentLeft(agent.to_string(), contact_id.to_string(), queue.to_string()),
        );
    }

    fn customer_sockets(&self, instance_id: &str, contact_id: &str, open: usize) {
        self.send(
            instance_id,
            Command::CustomerSockets(contact_id.to_string(), open),
        );
    }
}

/// How long the task sleeps at most between two looks at the clock.
const LOOK_AT_CLOCK_EVERY: Duration = Duration::from_secs(1);

async fn run(
    instance_id: String,
    mut engine: Engine,
    mut commands: mpsc::UnboundedReceiver<Command>,
    clock: SharedClock,
    effects: mpsc::UnboundedSender<Routed>,
) {
    let emit = |list: Vec<Effect>| {
        for effect in list {
            let _ = effects.send(Routed {
                instance_id: instance_id.clone(),
                effect,
            });
        }
    };
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
            None => emit(engine.tick(now)),
            Some(command) => emit(handle(&mut engine, now, command)),
        }
    }
}

/// Applies one command; answers its caller and returns the effects.
fn handle(engine: &mut Engine, now: i64, command: Command) -> Vec<Effect> {
    fn answer(reply: Reply<()>, result: Result<Vec<Effect>, RoutingError>) -> Vec<Effect> {
        match result {
            Ok(effects) => {
                let _ = reply.send(Ok(()));
                effects
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                Vec::new()
            }
        }
    }
    match command {
        Command::Hold(contact, queue, reply) => {
            let _ = reply.send(engine.hold(now, &contact, &queue));
            Vec::new()
        }
        Command::Release(contact) => engine.release(now, &contact),
        Command::Ended(contact) => engine.contact_ended(now, &contact),
        Command::NeverJoined(agent, contact) => engine.never_joined(now, &agent, &contact),
        Command::AgentLeft(agent, contact, queue) => engine
            .transfer(now, &agent, &contact, QueueKey::Queue(queue))
            .unwrap_or_default(),
        Command::CustomerSockets(contact, open) => {
            engine.customer_sockets(now, &contact, open);
            Vec::new()
        }
        Command::Presence(agent, presence, reply) => {
            answer(reply, engine.set_presence(now, &agent, presence))
        }
        Command::AgentConnection(agent, opened) => engine
            .agent_connection(now, &agent, opened)
            .unwrap_or_default(),
        Command::Act(action, agent, contact, reply) => {
            let result = match action {
                AgentAction::Accept => engine.accept(now, &agent, &contact),
                AgentAction::Reject => engine.reject(now, &agent, &contact),
                AgentAction::ClearAfterWork => engine.clear_after_work(now, &agent, &contact),
            };
            answer(reply, result)
        }
        Command::Transfer(agent, contact, to, reply) => {
            answer(reply, engine.transfer(now, &agent, &contact, to))
        }
        Command::Position(contact, reply) => {
            let _ = reply.send(engine.position(&contact));
            Vec::new()
        }
        Command::Agent(agent, reply) => {
            let _ = reply.send(engine.agent(&agent));
            Vec::new()
        }
        Command::Figures(groups, reply) => {
            let figures = groups.iter().map(|g| engine.figures(now, g)).collect();
            let _ = reply.send(figures);
            Vec::new()
        }
    }
}
