//! The routing decisions of one instance, as a state machine with no I/O and no clock of its
//! own: every call passes the time, and every decision comes back as an [`Effect`] for its owner
//! (the router task) to carry out. Exactly one owner holds an instance's engine, so every queue has
//! one owner and two decisions never race each other.
//!
//! The rules:
//! - Contacts wait first in, first out within a queue. A queue holds at most `max_contacts`
//!   contacts waiting or being offered.
//! - An agent can be offered a contact when their status is Available, at least one of their
//!   workspace connections is open, and they have a free slot: offers, connected chats and chats
//!   in After Contact Work each take one of the profile's `chat_concurrency` slots.
//! - Among those agents, the one idle longest goes first: agents with no chat at all before
//!   agents with some, the former by how long they have had nothing to do, the latter by fewest
//!   chats, then by how long since their last one.
//! - An agent is offered the oldest ready contact of the best-priority queue they serve (their
//!   own agent queue, which holds transfers to them, comes before all); a contact is ready for a
//!   profile once it has waited that profile's delay for the queue. Contacts an agent rejected are
//!   not offered to that agent again.
//! - An offer not answered within the offer timeout is missed: the agent goes to `Missed` (no
//!   further offers until they choose a status) and the contact goes back to the head of its
//!   queue. A rejected offer, or one withdrawn because the agent went away, also puts the contact
//!   back at the head.
//! - A waiting customer who leaves is removed at once; one with no open socket for
//!   `customer_gone` is removed and the chat is ended, so no one waits for a closed tab.
//! - A transfer hands the chat on to a new contact (as Amazon Connect does): the agent keeps
//!   the old one in After Contact Work, the new one waits where it was sent, held until its
//!   chat has recorded it, and is never offered to the agent who passed it on. What is still
//!   said about the old contact (the customer's sockets, the chat ending, its place) applies to
//!   the new one. A transfer through a quick connect's flow stays held while the flow runs, and
//!   is held again wherever the flow then queues it.
//! - A waiting contact a flow sends to another queue (a customer queue flow's transfer) moves
//!   there as a new arrival.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Milliseconds since the epoch.
pub type Millis = i64;

/// A contact's or agent's id inside the engine: one allocation shared by every place that
/// names it (the contact table, its queue, agents' sets), since an engine may hold tens of
/// thousands of waiting chats and every byte per chat counts.
type Id = Arc<str>;

/// Where a contact waits: a configured queue, or an agent's own queue (transfers to that agent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QueueKey {
    Queue(String),
    Agent(String),
}

impl QueueKey {
    /// The form the store keeps: a queue id, or `agent/USER_ID`.
    pub fn encode(&self) -> String {
        match self {
            QueueKey::Queue(id) => id.clone(),
            QueueKey::Agent(id) => format!("agent/{id}"),
        }
    }

    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("agent/") {
            Some(agent) => QueueKey::Agent(agent.to_string()),
            None => QueueKey::Queue(text.to_string()),
        }
    }
}

/// An agent's status as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    Offline,
    Available,
    /// A configured custom status (by id), such as Break: not offered contacts.
    Custom(String),
    /// Set by routing after a missed offer; the agent leaves it by choosing a status.
    Missed,
}

impl Presence {
    /// The form kept in the store.
    pub fn encode(&self) -> String {
        match self {
            Presence::Offline => "Offline".into(),
            Presence::Available => "Available".into(),
            Presence::Missed => "Missed".into(),
            Presence::Custom(id) => format!("custom:{id}"),
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        match text {
            "Offline" => Some(Presence::Offline),
            "Available" => Some(Presence::Available),
            "Missed" => Some(Presence::Missed),
            other => other
                .strip_prefix("custom:")
                .map(|id| Presence::Custom(id.to_string())),
        }
    }
}

/// The routing timers, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub offer_timeout: Millis,
    pub customer_gone: Millis,
}

/// A routing profile as the engine needs it.
#[derive(Debug, Clone)]
pub struct Profile {
    pub concurrency: usize,
    pub auto_accept: bool,
    /// (queue id, priority 1..99, delay in milliseconds).
    pub queues: Vec<(String, u32, Millis)>,
}

/// What the owner must now carry out or tell someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell the agent about the offer; it lapses at `expires_at`.
    Offer {
        agent: String,
        contact: String,
        expires_at: Millis,
    },
    /// The agent has the contact (they accepted, or their profile accepts for them): add them to
    /// the chat.
    Connect { agent: String, contact: String },
    /// The agent's offer is gone without being accepted.
    OfferWithdrawn {
        agent: String,
        contact: String,
        why: Withdrawn,
    },
    /// Routing changed the agent's status (to `Missed`).
    PresenceChanged { agent: String, presence: Presence },
    /// End the chat: its customer has had no open socket for too long.
    EndAbandoned { contact: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawn {
    Missed,
    CustomerLeft,
    /// The agent changed status or closed their last workspace connection.
    AgentUnavailable,
}

/// Why a request to the engine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RoutingError {
    #[error("queue {0} is full")]
    QueueFull(String),
    #[error("no queue {0}")]
    UnknownQueue(String),
    #[error("no agent {0}")]
    UnknownAgent(String),
    #[error("the contact is not offered to this agent")]
    NoSuchOffer,
    #[error("the agent does not have this contact")]
    NotAgentsContact,
    #[error("the contact is already waiting or offered")]
    AlreadyQueued,
    #[error("an agent cannot transfer a contact to themselves")]
    TransferToSelf,
    /// No node routes the instance right now (in a cluster, while one takes over from another
    /// that died).
    #[error("routing is not available right now; try again")]
    Unavailable,
}

#[derive(Debug)]
struct Agent {
    profile: Profile,
    presence: Presence,
    presence_since: Millis,
    connections: usize,
    offers: HashSet<Id>,
    active: HashSet<Id>,
    after_work: HashSet<Id>,
    /// When the agent last had nothing to do: became Available, or saw their last chat go.
    idle_since: Millis,
    /// When the agent was last given a contact.
    last_connected: Millis,
}

impl Agent {
    fn used_slots(&self) -> usize {
        self.offers.len() + self.active.len() + self.after_work.len()
    }

    fn can_take_offer(&self) -> bool {
        self.presence == Presence::Available
            && self.connections > 0
            && self.used_slots() < self.profile.concurrency
    }
}

#[derive(Debug)]
enum Stage {
    /// Counted in its queue but not offered yet: its chat is still being written.
    Held,
    Waiting,
    Offered {
        agent: Id,
        expires_at: Millis,
    },
    Connected {
        agent: Id,
    },
}

#[derive(Debug)]
struct Contact {
    /// Shared with every other contact of the same queue.
    queue: Arc<QueueKey>,
    enqueued_at: Millis,
    stage: Stage,
    /// Since when the customer has had no open socket (from the start, until one opens).
    gone_since: Option<Millis>,
    /// Agents not to offer the contact to; almost always empty, so kept out of line: one
    /// pointer in every contact instead of a whole `Vec`.
    #[allow(clippy::box_collection)]
    rejected_by: Option<Box<Vec<Id>>>,
}

impl Contact {
    fn rejected(&self, agent: &str) -> bool {
        self.rejected_by
            .as_ref()
            .is_some_and(|list| list.iter().any(|a| &**a == agent))
    }

    fn reject(&mut self, agent: Id) {
        self.rejected_by
            .get_or_insert_with(Box::default)
            .push(agent);
    }
}

/// Figures for a set of queues, for the metric operations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFigures {
    pub contacts_in_queue: usize,
    pub oldest_contact_age: Option<Millis>,
    /// Agents not Offline.
    pub agents_online: usize,
    pub agents_available: usize,
    /// Agents with a chat, connected or in After Contact Work.
    pub agents_on_contact: usize,
    pub agents_after_contact_work: usize,
    /// Agents in a custom status such as Break.
    pub agents_non_productive: usize,
    /// Agents in Missed.
    pub agents_error: usize,
    pub slots_active: usize,
    pub slots_available: usize,
}

/// What an agent is doing, for the agent API and GetCurrentUserData.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFigures {
    pub presence: Presence,
    pub presence_since: Millis,
    pub connected: bool,
    pub offers: Vec<String>,
    /// When each offer lapses, in the order of `offers` (an agent desktop shows the offer's
    /// age and time left).
    #[serde(default)]
    pub offer_deadlines: Vec<Millis>,
    pub active: Vec<String>,
    pub after_work: Vec<String>,
    pub slots: usize,
}

/// The routing state of one instance.
#[derive(Debug)]
pub struct Engine {
    timers: Timers,
    max_contacts: HashMap<String, Option<usize>>,
    /// The distinct non-zero delays profiles set on each queue: when a waiting contact becomes
    /// ready for one of them is a deadline.
    delays: HashMap<String, Vec<Millis>>,
    queues: HashMap<QueueKey, VecDeque<Id>>,
    /// One shared key per queue, for contacts to point at.
    queue_keys: HashMap<QueueKey, Arc<QueueKey>>,
    agents: HashMap<Id, Agent>,
    contacts: HashMap<Id, Contact>,
    /// Contacts handed on by a transfer, to the contact that carries their chat on. Empty
    /// unless chats are transferred; entries go when the chat's last contact does.
    successors: HashMap<Id, Id>,
}

impl Engine {
    /// `queues`: (queue id, max contacts); `agents`: (agent id, their profile).
    pub fn new(
        timers: Timers,
        queues: impl IntoIterator<Item = (String, Option<usize>)>,
        agents: impl IntoIterator<Item = (String, Profile)>,
    ) -> Self {
        let max_contacts: HashMap<_, _> = queues.into_iter().collect();
        let agents = agents
            .into_iter()
            .map(|(id, profile)| {
                let agent = Agent {
                    profile,
                    presence: Presence::Offline,
                    presence_since: 0,
                    connections: 0,
                    offers: HashSet::new(),
                    active: HashSet::new(),
                    after_work: HashSet::new(),
                    idle_since: 0,
                    last_connected: 0,
                };
                (Id::from(id), agent)
            })
            .collect::<HashMap<Id, Agent>>();
        let mut delays: HashMap<String, Vec<Millis>> = HashMap::new();
        for agent in agents.values() {
            for (queue, _, delay) in &agent.profile.queues {
                let known = delays.entry(queue.clone()).or_default();
                if *delay > 0 && !known.contains(delay) {
                    known.push(*delay);
                }
            }
        }
        Self {
            timers,
            max_contacts,
            delays,
            queues: HashMap::new(),
            queue_keys: HashMap::new(),
            agents,
            contacts: HashMap::new(),
            successors: HashMap::new(),
        }
    }

    /// A new contact waits in `queue`.
    pub fn enqueue(
        &mut self,
        now: Millis,
        contact: &str,
        queue: &str,
    ) -> Result<Vec<Effect>, RoutingError> {
        self.hold(now, contact, queue)?;
        Ok(self.release(now, contact))
    }

    /// Takes a place in `queue` for a contact whose chat is still being written (so a full
    /// queue refuses it before it exists); it is offered once [`Engine::release`]d.
    ///
    /// A contact already held or waiting is held again where a flow now sends it (a transfer's
    /// new contact queued by its transfer flow; a chat a customer queue flow moves to another
    /// queue), as a new arrival there, keeping what routing knows of it: it is still never
    /// offered to the agent who passed it on. Held again in the queue it is in, it stays as it
    /// is. A contact being offered stays where it is.
    pub fn hold(&mut self, now: Millis, contact: &str, queue: &str) -> Result<(), RoutingError> {
        let key = QueueKey::parse(queue);
        let held_in = self
            .contacts
            .get(contact)
            .filter(|c| matches!(c.stage, Stage::Held | Stage::Waiting))
            .map(|c| c.queue.clone());
        if held_in.as_deref() == Some(&key) {
            return Ok(());
        }
        match &key {
            QueueKey::Queue(id) => {
                let max = self
                    .max_contacts
                    .get(id)
                    .ok_or_else(|| RoutingError::UnknownQueue(id.clone()))?;
                if let Some(max) = max {
                    if self.queues.get(&key).map_or(0, VecDeque::len) >= *max {
                        return Err(RoutingError::QueueFull(id.clone()));
                    }
                }
            }
            // An agent's own queue (a flow's target set by agent) has no limit.
            QueueKey::Agent(agent) if !self.agents.contains_key(agent.as_str()) => {
                return Err(RoutingError::UnknownAgent(agent.clone()))
            }
            QueueKey::Agent(_) => {}
        }
        if let Some(from) = held_in {
            let earlier = self.contacts.remove(contact).expect("held above");
            self.remove_from_queue(&from, contact);
            self.wait(now, contact, key, earlier.gone_since)?;
            let moved = self.contacts.get_mut(contact).expect("waits now");
            moved.rejected_by = earlier.rejected_by;
            moved.stage = Stage::Held;
            return Ok(());
        }
        self.wait(now, contact, key, Some(now))?;
        if let Some(c) = self.contacts.get_mut(contact) {
            c.stage = Stage::Held;
        }
        Ok(())
    }

    /// The held contact's chat exists: it may now be offered.
    pub fn release(&mut self, now: Millis, contact: &str) -> Vec<Effect> {
        if let Some(c) = self.contacts.get_mut(contact) {
            if matches!(c.stage, Stage::Held) {
                c.stage = Stage::Waiting;
            }
        }
        self.dispatch(now)
    }

    /// Puts a contact back where it was after a restart: waiting in its queue since
    /// `enqueued_at` (whatever the queue's limit; `agent/USER_ID` names an agent's own queue), or
    /// with the agent who had it.
    pub fn restore(
        &mut self,
        now: Millis,
        contact: &str,
        queue: &str,
        enqueued_at: Millis,
        agent: Option<&str>,
    ) {
        let key = self.queue_key(QueueKey::parse(queue));
        match agent.and_then(|a| self.agent_id(a)) {
            Some(agent_id) => {
                let contact: Id = contact.into();
                let agent = self.agents.get_mut(&agent_id).expect("known agent");
                agent.active.insert(contact.clone());
                agent.last_connected = agent.last_connected.max(enqueued_at);
                self.contacts.insert(
                    contact,
                    Contact {
                        queue: key,
                        enqueued_at,
                        stage: Stage::Connected { agent: agent_id },
                        gone_since: None,
                        rejected_by: None,
                    },
                );
            }
            None => {
                // Sockets do not survive a restart: the customer counts as gone until one opens.
                let _ = self.wait(enqueued_at, contact, (*key).clone(), Some(now));
            }
        }
    }

    fn wait(
        &mut self,
        now: Millis,
        contact: &str,
        queue: QueueKey,
        gone_since: Option<Millis>,
    ) -> Result<(), RoutingError> {
        if let Some(existing) = self.contacts.get(contact) {
            if !matches!(existing.stage, Stage::Connected { .. }) {
                return Err(RoutingError::AlreadyQueued);
            }
        }
        let id: Id = contact.into();
        let queue = self.queue_key(queue);
        self.queues
            .entry((*queue).clone())
            .or_default()
            .push_back(id.clone());
        self.contacts.insert(
            id,
            Contact {
                queue,
                enqueued_at: now,
                stage: Stage::Waiting,
                gone_since,
                rejected_by: None,
            },
        );
        Ok(())
    }

    /// The shared key of a queue.
    fn queue_key(&mut self, queue: QueueKey) -> Arc<QueueKey> {
        self.queue_keys
            .entry(queue.clone())
            .or_insert_with(|| Arc::new(queue))
            .clone()
    }

    /// The engine's own id of a known contact.
    fn contact_id(&self, contact: &str) -> Option<Id> {
        self.contacts
            .get_key_value(contact)
            .map(|(id, _)| id.clone())
    }

    /// The engine's own id of a known agent.
    fn agent_id(&self, agent: &str) -> Option<Id> {
        self.agents.get_key_value(agent).map(|(id, _)| id.clone())
    }

    /// The agent chose a status (which also takes them out of `Missed`).
    pub fn set_presence(
        &mut self,
        now: Millis,
        agent: &str,
        presence: Presence,
    ) -> Result<Vec<Effect>, RoutingError> {
        let a = self.agent_mut(agent)?;
        if presence == Presence::Available && a.presence != Presence::Available {
            a.idle_since = now;
        }
        if presence != a.presence {
            a.presence_since = now;
        }
        a.presence = presence;
        let mut effects = Vec::new();
        if a.presence != Presence::Available {
            self.withdraw_offers(agent, Withdrawn::AgentUnavailable, &mut effects);
        }
        effects.extend(self.dispatch(now));
        Ok(effects)
    }

    /// Puts an agent's status back as it was before a restart (no connection is open yet, so no
    /// offer follows until one is).
    pub fn restore_presence(&mut self, agent: &str, presence: Presence, since: Millis) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.presence = presence;
            a.presence_since = since;
            a.idle_since = since;
        }
    }

    /// The agent now has `open` workspace connections (on all nodes together).
    pub fn agent_connections(
        &mut self,
        now: Millis,
        agent: &str,
        open: usize,
    ) -> Result<Vec<Effect>, RoutingError> {
        let a = self.agent_mut(agent)?;
        a.connections = open;
        let mut effects = Vec::new();
        if a.connections == 0 {
            self.withdraw_offers(agent, Withdrawn::AgentUnavailable, &mut effects);
        }
        effects.extend(self.dispatch(now));
        Ok(effects)
    }

    pub fn accept(
        &mut self,
        now: Millis,
        agent: &str,
        contact: &str,
    ) -> Result<Vec<Effect>, RoutingError> {
        self.offered_to(agent, contact)?;
        let mut effects = Vec::new();
        self.connect(now, agent, contact, &mut effects);
        Ok(effects)
    }

    pub fn reject(
        &mut self,
        now: Millis,
        agent: &str,
        contact: &str,
    ) -> Result<Vec<Effect>, RoutingError> {
        self.offered_to(agent, contact)?;
        self.return_to_head(agent, contact);
        let agent = self.agent_id(agent).ok_or(RoutingError::NoSuchOffer)?;
        if let Some(c) = self.contacts.get_mut(contact) {
            c.reject(agent);
        }
        Ok(self.dispatch(now))
    }

    /// The customer's open sockets changed to `open`.
    pub fn customer_sockets(&mut self, now: Millis, contact: &str, open: usize) {
        // Only a transfer makes another contact current: no copy of the id otherwise.
        let followed;
        let contact = if self.successors.is_empty() {
            contact
        } else {
            followed = self.current(contact).to_string();
            followed.as_str()
        };
        if let Some(c) = self.contacts.get_mut(contact) {
            c.gone_since = match (open, c.gone_since) {
                (0, Some(since)) => Some(since),
                (0, None) => Some(now),
                _ => None,
            };
        }
    }

    /// An accepted contact the agent could not be added to (its chat ended in between): it is
    /// dropped without After Contact Work, since the agent never worked on it.
    pub fn never_joined(&mut self, now: Millis, agent: &str, contact: &str) -> Vec<Effect> {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active.remove(contact);
            a.after_work.remove(contact);
            if a.used_slots() == 0 {
                a.idle_since = now;
            }
        }
        if matches!(
            self.contacts.get(contact).map(|c| &c.stage),
            Some(Stage::Connected { agent: a }) if &**a == agent
        ) {
            self.contacts.remove(contact);
        }
        self.dispatch(now)
    }

    /// The chat ended (the customer left, the agent ended it, or it expired). A waiting contact
    /// is removed; an agent who had it goes into After Contact Work for it.
    pub fn contact_ended(&mut self, now: Millis, contact: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.successors.is_empty() {
            self.forget(contact, &mut effects);
        } else {
            let contact = self.current(contact).to_string();
            self.forget(&contact, &mut effects);
            self.successors.retain(|_, to| **to != *contact);
        }
        effects.extend(self.dispatch(now));
        effects
    }

    /// Takes an ended contact out of its queue, or from the agent who had it (into their After
    /// Contact Work), without making new offers.
    fn forget(&mut self, contact: &str, effects: &mut Vec<Effect>) {
        let Some(c) = self.contacts.remove(contact) else {
            return;
        };
        match c.stage {
            Stage::Held | Stage::Waiting => self.remove_from_queue(&c.queue, contact),
            Stage::Offered { agent, .. } => {
                self.remove_from_queue(&c.queue, contact);
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.offers.remove(contact);
                }
                effects.push(Effect::OfferWithdrawn {
                    agent: agent.to_string(),
                    contact: contact.to_string(),
                    why: Withdrawn::CustomerLeft,
                });
            }
            Stage::Connected { agent } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    if let Some(id) = a.active.take(contact) {
                        a.after_work.insert(id);
                    }
                }
            }
        }
    }

    /// The agent finished After Contact Work for `contact`, freeing its slot.
    pub fn clear_after_work(
        &mut self,
        now: Millis,
        agent: &str,
        contact: &str,
    ) -> Result<Vec<Effect>, RoutingError> {
        let a = self.agent_mut(agent)?;
        if !a.after_work.remove(contact) {
            return Err(RoutingError::NotAgentsContact);
        }
        if a.used_slots() == 0 {
            a.idle_since = now;
        }
        Ok(self.dispatch(now))
    }

    /// The agent hands a connected contact on to a queue or another agent's queue; the agent
    /// goes into After Contact Work for it. The chat waits as a new arrival there, as the new
    /// contact `into` (held until [`Engine::release`]d: its chat records it first), and is not
    /// offered back to the agent who passed it on. With `into` the contact itself (its agent
    /// left and its flow requeues it), it waits at once.
    pub fn transfer(
        &mut self,
        now: Millis,
        agent: &str,
        contact: &str,
        into: &str,
        to: QueueKey,
    ) -> Result<Vec<Effect>, RoutingError> {
        match &to {
            QueueKey::Queue(q) if !self.max_contacts.contains_key(q) => {
                return Err(RoutingError::UnknownQueue(q.clone()))
            }
            QueueKey::Agent(a) if !self.agents.contains_key(a.as_str()) => {
                return Err(RoutingError::UnknownAgent(a.clone()))
            }
            QueueKey::Agent(a) if a == agent => return Err(RoutingError::TransferToSelf),
            _ => {}
        }
        let a = self.agent_mut(agent)?;
        let Some(id) = a.active.take(contact) else {
            return Err(RoutingError::NotAgentsContact);
        };
        a.after_work.insert(id);
        let gone_since = self.contacts.get(contact).and_then(|c| c.gone_since);
        self.contacts.remove(contact);
        self.wait(now, into, to, gone_since)?;
        let agent = self.agent_id(agent).expect("checked above");
        let handed_on = into != contact;
        if let Some(c) = self.contacts.get_mut(into) {
            c.reject(agent);
            if handed_on {
                c.stage = Stage::Held;
            }
        }
        if handed_on {
            self.successors.insert(contact.into(), into.into());
        }
        Ok(self.dispatch(now))
    }

    /// Offer timeouts and abandoned customers due by `now`, then any offers that became possible
    /// (a queue delay passing).
    pub fn tick(&mut self, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        let missed: Vec<(Id, Id)> = self
            .contacts
            .iter()
            .filter_map(|(id, c)| match &c.stage {
                Stage::Offered { agent, expires_at } if *expires_at <= now => {
                    Some((agent.clone(), id.clone()))
                }
                _ => None,
            })
            .collect();
        for (agent, contact) in missed {
            // An earlier miss of this agent's in the same tick already took this offer back
            // (with all their others): it is withdrawn once, and the agent told once.
            if !self
                .agents
                .get(&agent)
                .is_some_and(|a| a.offers.contains(&contact))
            {
                continue;
            }
            self.return_to_head(&agent, &contact);
            if let Some(a) = self.agents.get_mut(&agent) {
                a.presence = Presence::Missed;
                a.presence_since = now;
            }
            effects.push(Effect::OfferWithdrawn {
                agent: agent.to_string(),
                contact: contact.to_string(),
                why: Withdrawn::Missed,
            });
            effects.push(Effect::PresenceChanged {
                agent: agent.to_string(),
                presence: Presence::Missed,
            });
            // A Missed agent takes no offers: any others they still have go back too.
            self.withdraw_offers(&agent, Withdrawn::AgentUnavailable, &mut effects);
        }
        let gone_for = self.timers.customer_gone;
        let abandoned: Vec<Id> = self
            .contacts
            .iter()
            .filter(|(_, c)| !matches!(c.stage, Stage::Connected { .. }))
            .filter(|(_, c)| c.gone_since.is_some_and(|since| since + gone_for <= now))
            .map(|(id, _)| id.clone())
            .collect();
        // Every abandoned contact goes before any new offer: ending them one by one with offers
        // in between could hand an agent a chat that is ended as abandoned a moment later.
        for contact in abandoned {
            self.forget(&contact, &mut effects);
            effects.push(Effect::EndAbandoned {
                contact: contact.to_string(),
            });
        }
        effects.extend(self.dispatch(now));
        effects
    }

    /// When [`Engine::tick`] next has something to do after `now`: an offer lapsing, a customer
    /// counting as gone, or a contact becoming ready for a profile whose delay it is waiting out.
    /// (A delay already served is no deadline: the contact simply waits for an agent.)
    pub fn next_deadline(&self, now: Millis) -> Option<Millis> {
        let mut next: Option<Millis> = None;
        let mut consider = |t: Millis| next = Some(next.map_or(t, |n| n.min(t)));
        for c in self.contacts.values() {
            match &c.stage {
                Stage::Offered { expires_at, .. } => consider(*expires_at),
                Stage::Waiting => {
                    if let QueueKey::Queue(q) = &*c.queue {
                        for delay in self.delays.get(q).into_iter().flatten() {
                            if c.enqueued_at + delay > now {
                                consider(c.enqueued_at + delay);
                            }
                        }
                    }
                }
                Stage::Held => {}
                Stage::Connected { .. } => continue,
            }
            if let Some(since) = c.gone_since {
                consider(since + self.timers.customer_gone);
            }
        }
        next
    }

    /// The contact's place in its queue (1 for the head) and the queue's length, while it waits
    /// or is being offered.
    pub fn position(&self, contact: &str) -> Option<(usize, usize)> {
        let contact = self.current(contact);
        let c = self.contacts.get(contact)?;
        let queue = self.queues.get(&*c.queue)?;
        let at = queue.iter().position(|id| &**id == contact)?;
        Some((at + 1, queue.len()))
    }

    /// The contact that carries on the chat of `contact`: itself, unless it was transferred.
    fn current<'a>(&'a self, contact: &'a str) -> &'a str {
        let mut at = contact;
        // A chain is at most as long as the map; the bound only guards against a cycle.
        for _ in 0..=self.successors.len() {
            match self.successors.get(at) {
                Some(next) => at = next,
                None => break,
            }
        }
        at
    }

    /// Whether the engine has the contact (held, waiting, offered or with an agent).
    pub fn knows(&self, contact: &str) -> bool {
        self.contacts.contains_key(contact)
    }

    /// The agent who has the contact, if one does.
    pub fn agent_of(&self, contact: &str) -> Option<&str> {
        match &self.contacts.get(contact)?.stage {
            Stage::Connected { agent } => Some(agent),
            _ => None,
        }
    }

    pub fn agent(&self, agent: &str) -> Option<AgentFigures> {
        let a = self.agents.get(agent)?;
        let sorted = |set: &HashSet<Id>| {
            let mut v: Vec<String> = set.iter().map(|id| id.to_string()).collect();
            v.sort();
            v
        };
        let offers = sorted(&a.offers);
        let offer_deadlines = offers
            .iter()
            .map(
                |id| match self.contacts.get(id.as_str()).map(|c| &c.stage) {
                    Some(Stage::Offered { expires_at, .. }) => *expires_at,
                    _ => 0,
                },
            )
            .collect();
        Some(AgentFigures {
            presence: a.presence.clone(),
            presence_since: a.presence_since,
            connected: a.connections > 0,
            offers,
            offer_deadlines,
            active: sorted(&a.active),
            after_work: sorted(&a.after_work),
            slots: a.profile.concurrency,
        })
    }

    /// Figures for `queues` taken together; an agent counts (once) when their profile serves
    /// any of them.
    pub fn figures(&self, now: Millis, queues: &[String]) -> QueueFigures {
        let waiting: Vec<&Id> = queues
            .iter()
            .filter_map(|q| self.queues.get(&QueueKey::Queue(q.clone())))
            .flatten()
            .collect();
        let mut f = QueueFigures {
            contacts_in_queue: waiting.len(),
            oldest_contact_age: waiting
                .iter()
                .filter_map(|id| self.contacts.get(*id))
                .map(|c| now - c.enqueued_at)
                .max(),
            ..QueueFigures::default()
        };
        for a in self.agents.values() {
            if !a.profile.queues.iter().any(|(q, _, _)| queues.contains(q)) {
                continue;
            }
            if a.presence == Presence::Offline {
                continue;
            }
            f.agents_online += 1;
            match a.presence {
                Presence::Available => {
                    f.agents_available += 1;
                    f.slots_available += a.profile.concurrency.saturating_sub(a.used_slots());
                }
                Presence::Custom(_) => f.agents_non_productive += 1,
                Presence::Missed => f.agents_error += 1,
                Presence::Offline => {}
            }
            if !a.active.is_empty() || !a.after_work.is_empty() {
                f.agents_on_contact += 1;
            }
            if !a.after_work.is_empty() {
                f.agents_after_contact_work += 1;
            }
            f.slots_active += a.used_slots();
        }
        f
    }

    fn agent_mut(&mut self, agent: &str) -> Result<&mut Agent, RoutingError> {
        self.agents
            .get_mut(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.to_string()))
    }

    fn offered_to(&self, agent: &str, contact: &str) -> Result<(), RoutingError> {
        match self.contacts.get(contact).map(|c| &c.stage) {
            Some(Stage::Offered { agent: to, .. }) if &**to == agent => Ok(()),
            _ => Err(RoutingError::NoSuchOffer),
        }
    }

    fn remove_from_queue(&mut self, queue: &QueueKey, contact: &str) {
        if let Some(q) = self.queues.get_mut(queue) {
            q.retain(|id| &**id != contact);
            if q.is_empty() {
                self.queues.remove(queue);
            }
        }
    }

    /// Takes the offer back from the agent and puts the contact back in its queue.
    fn return_to_head(&mut self, agent: &str, contact: &str) {
        // An unanswered offer is not work: the agent's idle time is left as it was.
        if let Some(a) = self.agents.get_mut(agent) {
            a.offers.remove(contact);
        }
        let Some(id) = self.contact_id(contact) else {
            return;
        };
        let Some(c) = self.contacts.get_mut(contact) else {
            return;
        };
        c.stage = Stage::Waiting;
        let (queue, enqueued_at) = (c.queue.clone(), c.enqueued_at);
        let contacts = &self.contacts;
        if let Some(q) = self.queues.get_mut(&*queue) {
            // Back in first-come order: ahead of everyone who came later. It kept its place
            // while offered, so that is the head unless older contacts are on offer too; and
            // several contacts coming back at once keep their order among themselves.
            q.retain(|queued| &**queued != contact);
            let at = q
                .iter()
                .position(|other| {
                    contacts
                        .get(other)
                        .is_some_and(|o| o.enqueued_at > enqueued_at)
                })
                .unwrap_or(q.len());
            q.insert(at, id);
        }
    }

    fn withdraw_offers(&mut self, agent: &str, why: Withdrawn, effects: &mut Vec<Effect>) {
        let offers: Vec<Id> = self
            .agents
            .get(agent)
            .map(|a| a.offers.iter().cloned().collect())
            .unwrap_or_default();
        for contact in offers {
            self.return_to_head(agent, &contact);
            effects.push(Effect::OfferWithdrawn {
                agent: agent.to_string(),
                contact: contact.to_string(),
                why,
            });
        }
    }

    fn connect(&mut self, now: Millis, agent: &str, contact: &str, effects: &mut Vec<Effect>) {
        let Some(agent_id) = self.agent_id(agent) else {
            return;
        };
        let Some(id) = self.contact_id(contact) else {
            return;
        };
        let c = self.contacts.get_mut(contact).expect("just found");
        c.stage = Stage::Connected { agent: agent_id };
        let queue = c.queue.clone();
        self.remove_from_queue(&queue, contact);
        if let Some(a) = self.agents.get_mut(agent) {
            a.offers.remove(contact);
            a.active.insert(id);
            a.last_connected = now;
        }
        effects.push(Effect::Connect {
            agent: agent.to_string(),
            contact: contact.to_string(),
        });
    }

    /// Makes every offer that can be made now, the idlest agent first.
    fn dispatch(&mut self, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        loop {
            let mut ready: Vec<(&Id, &Agent)> = self
                .agents
                .iter()
                .filter(|(_, a)| a.can_take_offer())
                .collect();
            ready.sort_by_key(|(id, a)| {
                let busy = a.used_slots();
                let since = if busy == 0 {
                    a.idle_since
                } else {
                    a.last_connected
                };
                (busy, since, (*id).clone())
            });
            let choice = ready.iter().find_map(|(id, a)| {
                self.best_contact_for(now, id, a)
                    .map(|c| ((*id).clone(), c))
            });
            let Some((agent, contact)) = choice else {
                return effects;
            };
            let expires_at = now + self.timers.offer_timeout;
            let auto_accept = {
                let a = self.agents.get_mut(&agent).expect("chosen agent exists");
                a.offers.insert(contact.clone());
                a.profile.auto_accept
            };
            if let Some(c) = self.contacts.get_mut(&contact) {
                c.stage = Stage::Offered {
                    agent: agent.clone(),
                    expires_at,
                };
            }
            if auto_accept {
                self.connect(now, &agent, &contact, &mut effects);
            } else {
                effects.push(Effect::Offer {
                    agent: agent.to_string(),
                    contact: contact.to_string(),
                    expires_at,
                });
            }
        }
    }

    /// The contact this agent should be offered next, if any is ready.
    fn best_contact_for(&self, now: Millis, agent_id: &str, agent: &Agent) -> Option<Id> {
        let own = (QueueKey::Agent(agent_id.to_string()), 0, 0);
        let served = agent
            .profile
            .queues
            .iter()
            .map(|(q, priority, delay)| (QueueKey::Queue(q.clone()), *priority, *delay));
        let mut best: Option<(u32, Millis, &Id)> = None;
        for (key, priority, delay) in std::iter::once(own).chain(served) {
            let Some(queue) = self.queues.get(&key) else {
                continue;
            };
            let candidate = queue.iter().find_map(|id| {
                let c = self.contacts.get(id)?;
                let eligible = matches!(c.stage, Stage::Waiting)
                    && !c.rejected(agent_id)
                    && c.enqueued_at + delay <= now;
                eligible.then_some((priority, c.enqueued_at, id))
            });
            if let Some(candidate) = candidate {
                if best.is_none_or(|b| (candidate.0, candidate.1) < (b.0, b.1)) {
                    best = Some(candidate);
                }
            }
        }
        best.map(|(_, _, id)| id.clone())
    }
}
