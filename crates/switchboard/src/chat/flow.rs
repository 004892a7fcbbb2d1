//! Contact flows in chats: a chat whose flow is written in the flow language runs it with the
//! pure interpreter ([`crate::flows::engine`]), and this file carries out what it decides: the
//! flow's messages (from the SYSTEM participant, as on Amazon), its attributes, the queue it
//! sends the chat to, the functions it calls, the end of the chat.
//!
//! The rules:
//! - A flow moves in steps: an event (the chat started, the customer wrote, a time came, a
//!   function answered) runs it until it waits again or ends. Everything a step does is written
//!   in one store write ([`crate::store::FlowStep`]) together with the run's new state, and only
//!   from the version of the run it was computed from: two nodes, or a deadline racing a
//!   message, cannot both move a run on, and a step is never half done. A step that lost the
//!   race is computed again from what was written.
//! - Only after that write does anything leave the server: the messages are published, the
//!   function is called, routing is told of the queue. A node that dies before the write has
//!   done nothing visible; one that dies after it has done the step whole.
//! - A flow starts once the customer is connected (their WebSocket subscribed, or
//!   ConnectParticipant), as on Amazon Connect: the customer is there to read its first
//!   messages. The run is written with the chat, so any node can start it.
//! - The run waits in the store, not in memory: what it waits until is a column that every node
//!   looks at once a second ([`ChatService::wake_due_flows`]), so a restart, or another node,
//!   carries on with a run whose node died.
//! - A function's answer counts only while the run still waits for that call (its deadline is the
//!   call's name); an answer lost with its node is a timeout, and the flow takes its error
//!   branch instead of calling the function twice.
//! - A flow that ends without having queued the chat ends the chat, as on Amazon
//!   (`CONTACT_FLOW_DISCONNECT`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::catalog::FlowBook;
use super::quick_connects::TransferFlow;
use super::rules::MAX_ATTRIBUTE_BYTES;
use super::service::{event, new_id, ChatService};
use super::{ChatError, QueueMetrics};
use crate::clock::{from_millis, to_millis};
use crate::config::Instance;
use crate::flows::bots::BotRequest;
use crate::flows::engine::{BotTurn, Effect, Event, Millis, Run, Saved, Target, WaitingFor, World};
use crate::flows::{interactive, Flow};
use crate::model::*;
use crate::store::{FlowLogEntry, FlowStep, NewRun, StoreError};

/// How the SYSTEM participant is named in the chat (as in Amazon's transcripts).
pub const SYSTEM_DISPLAY_NAME: &str = "SYSTEM_MESSAGE";
/// How a bot's turns are named in the chat (SYSTEM messages, as Amazon shows Lex's).
pub const BOT_DISPLAY_NAME: &str = "BOT";
/// The disconnect reason of a chat its flow ended.
const FLOW_DISCONNECT: &str = "CONTACT_FLOW_DISCONNECT";
/// How often a step is computed again after losing the race to another.
const STEP_ATTEMPTS: usize = 5;

/// What the chat keeps of its flow between steps (stored as JSON in the run's row).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChatRun {
    run: Saved,
    /// Whether the flow has started (a run is written with its chat, before its first step).
    started: bool,
    /// The SYSTEM participant the flow's messages come from.
    system_id: String,
    /// Flows to run on events of the chat (UpdateContactEventHooks), by event.
    #[serde(default)]
    hooks: BTreeMap<String, String>,
    /// Which of the chat's flows the run is.
    #[serde(default)]
    phase: Phase,
}

/// Which of a chat's flows runs: a flow that puts the chat in a queue (the inbound flow, or the
/// transfer flow of a quick connect an agent transferred the chat through); the customer queue
/// flow while the chat waits for an agent (UpdateContactEventHooks `CustomerQueue`); the
/// disconnect flow once the agent has left and the customer remains (`CustomerRemaining`); or
/// none any more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    #[default]
    Inbound,
    Queue,
    Disconnect,
    Done,
}

/// The event hook naming the customer queue flow.
const CUSTOMER_QUEUE_HOOK: &str = "CustomerQueue";
/// The event hook naming the flow to run when the agent leaves and the customer remains (the
/// "Set disconnect flow" block).
const DISCONNECT_HOOK: &str = "CustomerRemaining";

/// What moves a chat's flow on.
#[derive(Debug, Clone)]
pub enum FlowEvent {
    /// A time came: the flow's start, or what it waits until.
    Due,
    /// The customer sent a message.
    CustomerMessage(String),
    /// The function the flow called with this deadline answered (`None`: it failed).
    FunctionAnswered {
        until: Millis,
        answer: Option<BTreeMap<String, String>>,
    },
    /// The bot the flow asked with this deadline took its turn (`None`: it failed).
    BotAnswered {
        until: Millis,
        turn: Option<BotTurn>,
    },
}

/// A call a step decided (a function, a bot's turn), made once the step is written; its answer
/// counts while the run waits for it, until `until`.
enum Call {
    Function {
        arn: String,
        parameters: BTreeMap<String, String>,
        until: Millis,
    },
    Bot {
        bot: String,
        text: String,
        session_attributes: BTreeMap<String, String>,
        until: Millis,
    },
}

impl ChatService {
    /// The run a new chat starts with, when its flow is in the flow language; it starts once
    /// the customer is connected ([`ChatService::participant_connected`]).
    pub(super) fn new_flow_run(&self, flow_id: &str, flow: Arc<Flow>, contact: &Contact) -> NewRun {
        let mut run = Run::new(flow_id, flow, contact.attributes.clone());
        run.contact = self.contact_data(contact, &contact.id, "API");
        let state = ChatRun {
            run: run.saved(),
            started: false,
            system_id: new_id(),
            hooks: BTreeMap::new(),
            phase: Phase::Inbound,
        };
        NewRun {
            state: serde_json::to_string(&state).expect("a run serialises"),
            wake_at: None,
        }
    }

    /// The run a chat transferred through a quick connect starts as its new contact `into`: the
    /// quick connect's flow from its start, with the chat's destination as its target queue (so
    /// that TransferContactToQueue sends it there, as on Amazon). The event hooks the chat's
    /// flows set stay (a disconnect flow still runs after the next agent leaves). It is due at
    /// once, so that any node starts it if this one dies before it does.
    pub(super) async fn transfer_run(
        &self,
        flow: &TransferFlow,
        from: &Contact,
        into: &str,
        queue: &str,
    ) -> Result<NewRun, ChatError> {
        let earlier = match self.store.flow_run(from.chat_id()).await? {
            Some(stored) => serde_json::from_str::<ChatRun>(&stored.state).ok(),
            None => None,
        };
        let mut run = Run::new(&flow.id, flow.flow.clone(), from.attributes.clone());
        run.contact = self.contact_data(from, into, "TRANSFER");
        run.contact
            .insert("PreviousContactId".to_string(), from.id.clone());
        run.target = Some(match queue.strip_prefix("agent/") {
            Some(user) => Target::Agent(user.to_string()),
            None => Target::Queue(queue.to_string()),
        });
        let state = ChatRun {
            run: run.saved(),
            started: false,
            system_id: earlier
                .as_ref()
                .map_or_else(new_id, |e| e.system_id.clone()),
            hooks: earlier.map(|e| e.hooks).unwrap_or_default(),
            phase: Phase::Inbound,
        };
        Ok(NewRun {
            state: serde_json::to_string(&state).expect("a run serialises"),
            wake_at: Some(self.now()),
        })
    }

    /// Starts the transfer flow [`ChatService::transferred`] wrote for the chat; routing holds
    /// the new contact, offered to nobody, until the flow queues it.
    pub async fn start_transfer_flow(&self, chat_id: &str) -> Result<(), ChatError> {
        self.flow_event(chat_id, FlowEvent::Due).await
    }

    /// The contact data a flow reads (`$.ContactId`, `$.Channel`, ...) when it runs as
    /// `contact_id`, a contact of the chat `contact` belongs to.
    fn contact_data(
        &self,
        contact: &Contact,
        contact_id: &str,
        initiation: &str,
    ) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("ContactId".to_string(), contact_id.to_string()),
            (
                "InitialContactId".to_string(),
                contact.initial_contact_id.clone(),
            ),
            ("Channel".to_string(), "CHAT".to_string()),
            ("InitiationMethod".to_string(), initiation.to_string()),
            (
                "InstanceARN".to_string(),
                self.instance_arn(&contact.instance_id),
            ),
        ])
    }

    /// Moves the chat's flow on with `event`, if it has a flow run waiting for it.
    pub async fn flow_event(&self, chat_id: &str, event: FlowEvent) -> Result<(), ChatError> {
        for _ in 0..STEP_ATTEMPTS {
            match self.flow_step(chat_id, &event).await {
                Err(ChatError::Conflict(_)) => continue,
                done => return done,
            }
        }
        Err(ChatError::Conflict(format!(
            "the flow of chat {chat_id} kept moving on under this step"
        )))
    }

    /// Wakes the flows whose time has come: once a second on every node.
    pub async fn wake_due_flows(&self) -> Result<usize, ChatError> {
        let due = self.store.due_flow_runs(self.now()).await?;
        for (chat_id, _) in &due {
            if let Err(e) = self.flow_event(chat_id, FlowEvent::Due).await {
                tracing::warn!(contact_id = %chat_id, error = %e, "a flow step failed");
            }
        }
        Ok(due.len())
    }

    /// One attempt at a step: `Conflict` when another step got there first.
    async fn flow_step(&self, chat_id: &str, event: &FlowEvent) -> Result<(), ChatError> {
        let Some(stored) = self.store.flow_run(chat_id).await? else {
            return Ok(());
        };
        let Some(contact) = self.store.current_contact(chat_id).await? else {
            return Ok(());
        };
        if contact.is_ended() {
            return Ok(());
        }
        let mut state: ChatRun = serde_json::from_str(&stored.state)
            .map_err(|e| ChatError::Internal(format!("flow run of {chat_id}: {e}")))?;
        let instance = self
            .config
            .instance(&contact.instance_id)
            .ok_or_else(|| ChatError::Internal(format!("no instance {}", contact.instance_id)))?;
        let now = to_millis(self.now());
        let book = self.flow_book(instance).await?;
        let metrics = self.metrics_for(instance, &book).await;
        let world = ChatWorld {
            now,
            instance,
            chat: self,
            book,
            metrics,
        };
        let Some(flow) = world.flow(&state.run.flow_id) else {
            return self
                .flow_gone(chat_id, &contact, stored.version, &state)
                .await;
        };
        let mut run = Run::resume(flow, state.run.clone());
        // The contact's attributes are the truth: the API may have changed them since.
        run.attributes = contact.attributes.clone();
        // The agent left and the customer remains: the departure switched the run to the
        // disconnect phase, and its first step hands it to the disconnect flow.
        let agent_left = state.phase == Phase::Disconnect && !state.started;
        if state.phase == Phase::Queue && contact.agent.is_some() && !agent_left {
            // An agent has the chat: the customer queue flow has nothing more to do.
            return self
                .flow_stopped(
                    chat_id,
                    &contact,
                    stored.version,
                    state,
                    "an agent has the chat",
                )
                .await;
        }
        let mut leaves_queue = false;
        let engine_event = if agent_left {
            // The disconnect flow the inbound flow named takes over, if it named one.
            let Some(flow_id) = state.hooks.get(DISCONNECT_HOOK).cloned() else {
                return Ok(());
            };
            let Some(flow) = world.flow(&flow_id) else {
                return self
                    .flow_gone(chat_id, &contact, stored.version, &state)
                    .await;
            };
            run = run.handed_to(&flow_id, flow);
            state.phase = Phase::Disconnect;
            leaves_queue = true;
            Event::Start
        } else {
            match engine_event(event, &state, &run, now) {
                Some(event) => event,
                None => return Ok(()),
            }
        };
        state.started = true;
        let (effects, queued) = self
            .run_until_waiting(&mut run, &mut state, &contact, engine_event, &world)
            .await;
        if effects.is_empty() {
            return Ok(());
        }

        let mut step = self.step_of(
            chat_id,
            &contact,
            &mut state,
            &run,
            &effects,
            &queued,
            stored.version,
        )?;
        step.leave_queue = leaves_queue;
        let calls = calls(&effects);
        let ends = step.end.is_some();
        let written = self.store.flow_step(step).await;
        if let Some(queued) = &queued {
            let now_stored = match &written {
                Ok(_) => None,
                Err(_) => self.store.current_contact(chat_id).await.ok().flatten(),
            };
            let keeps = keeps_place(written.is_ok(), now_stored.as_ref(), queued);
            self.routing.admitted(queued, keeps);
        }
        let items = match written {
            Ok(items) => items,
            Err(StoreError::ContactEnded) => return Ok(()),
            Err(StoreError::RunMoved) => {
                return Err(ChatError::Conflict("the flow moved on".into()))
            }
            Err(e) => return Err(e.into()),
        };
        self.publish_items(&contact, &items);
        if leaves_queue && !ends {
            // The agent is gone and the chat is back in a flow: routing lets go of it.
            self.routing
                .contact_ended(&contact.instance_id, &contact.id);
        }
        if queued.is_some() || ends || leaves_queue {
            // The sessions' copy of the contact predates its queue, or its end.
            self.sessions.forget_contact(chat_id);
        }
        if ends {
            self.routing
                .contact_ended(&contact.instance_id, &contact.id);
            tracing::info!(contact_id = %contact.id, "the flow ended the chat");
        }
        for call in calls {
            self.call_out(&contact, call);
        }
        Ok(())
    }

    /// Runs the flow from `event` until it waits or ends: a queue's verdict is asked at once and
    /// the flow goes on with it, and once the inbound flow has queued the chat, the customer
    /// queue flow it named starts. Every effect, and the contact as it now waits in a queue.
    async fn run_until_waiting(
        &self,
        run: &mut Run,
        state: &mut ChatRun,
        contact: &Contact,
        event: Event,
        world: &ChatWorld<'_>,
    ) -> (Vec<Effect>, Option<Contact>) {
        let mut effects = Vec::new();
        let mut queued: Option<Contact> = None;
        let mut pending = run.advance(event, world);
        loop {
            for effect in &pending {
                if let Effect::SetEventHook { hook, flow_id } = effect {
                    state.hooks.insert(hook.clone(), flow_id.clone());
                }
            }
            effects.extend(pending.iter().cloned());
            let target = pending.iter().find_map(|e| match e {
                Effect::Enqueue(target) => Some(target.clone()),
                _ => None,
            });
            if let Some(target) = target {
                let verdict = self.enqueue(contact, &target, world.now).await;
                let taken = verdict.is_some();
                queued = verdict.or(queued);
                pending = run.advance(Event::Queued(taken), world);
                continue;
            }
            let queue_flow = state.hooks.get(CUSTOMER_QUEUE_HOOK).cloned();
            if let (true, Phase::Inbound, true, Some(flow_id)) =
                (run.is_over(), state.phase, queued.is_some(), queue_flow)
            {
                state.phase = Phase::Queue;
                if let Some(flow) = world.flow(&flow_id) {
                    *run = run.handed_to(&flow_id, flow);
                    pending = run.advance(Event::Start, world);
                    continue;
                }
                tracing::warn!(contact_id = %contact.id, flow_id = %flow_id, "the customer queue flow is gone");
            }
            break;
        }
        if run.is_over() && state.phase == Phase::Queue {
            state.phase = Phase::Done;
        }
        (effects, queued)
    }

    /// Asks routing to take the chat into the target's queue: the contact as it waits there, or
    /// `None` when the queue is full.
    async fn enqueue(&self, contact: &Contact, target: &Target, now: Millis) -> Option<Contact> {
        let queue = match target {
            Target::Queue(queue) => queue.clone(),
            Target::Agent(user) => format!("agent/{user}"),
        };
        let mut waiting = contact.clone();
        waiting.queue_id = Some(queue);
        waiting.enqueued_at = Some(from_millis(now));
        match self.routing.admit(&waiting).await {
            Ok(()) => Some(waiting),
            Err(e) => {
                tracing::info!(contact_id = %contact.id, reason = %e, "the flow's queue refused the chat");
                None
            }
        }
    }

    /// The store write of a step: the run's new state and everything the effects did.
    #[allow(clippy::too_many_arguments)]
    fn step_of(
        &self,
        chat_id: &str,
        contact: &Contact,
        state: &mut ChatRun,
        run: &Run,
        effects: &[Effect],
        queued: &Option<Contact>,
        version: i64,
    ) -> Result<FlowStep, ChatError> {
        let at = self.now();
        let system = Sender {
            participant_id: state.system_id.clone(),
            display_name: SYSTEM_DISPLAY_NAME.into(),
            role: Role::System,
        };
        let mut items = Vec::new();
        let mut attributes = BTreeMap::new();
        let mut log = Vec::new();
        let mut disconnect = false;
        for effect in effects {
            match effect {
                Effect::Message(text) => items.push(NewItem {
                    id: new_id(),
                    item_type: ItemType::Message,
                    content_type: if interactive::is_template(text) {
                        interactive::CONTENT_TYPE.into()
                    } else {
                        "text/plain".into()
                    },
                    content: Some(text.clone()),
                    sender: Some(system.clone()),
                }),
                Effect::SetAttributes(set) => attributes.extend(set.clone()),
                Effect::BotMessage(text) => items.push(NewItem {
                    id: new_id(),
                    item_type: ItemType::Message,
                    content_type: if interactive::is_template(text) {
                        interactive::CONTENT_TYPE.into()
                    } else {
                        "text/plain".into()
                    },
                    content: Some(text.clone()),
                    sender: Some(Sender {
                        display_name: BOT_DISPLAY_NAME.into(),
                        ..system.clone()
                    }),
                }),
                Effect::Disconnect => disconnect = true,
                Effect::Ended { error } => {
                    if let Some(error) = error {
                        tracing::warn!(contact_id = %contact.id, flow_id = %run.flow_id(), %error, "the flow ended on an error");
                    }
                    // A flow that ends with the chat in no queue leaves nobody to answer it; a
                    // customer queue flow that ends (its phase now Done) leaves the chat waiting.
                    let waits = matches!(state.phase, Phase::Queue | Phase::Done);
                    disconnect |= queued.is_none() && !waits;
                }
                Effect::Trace {
                    action,
                    kind,
                    outcome,
                } => {
                    tracing::info!(contact_id = %contact.id, flow_id = %run.flow_id(), action = %action, action_type = %kind, outcome = %outcome, "flow action");
                    log.push(FlowLogEntry {
                        at,
                        flow_id: run.flow_id().to_string(),
                        action: action.clone(),
                        action_type: kind.clone(),
                        outcome: outcome.clone(),
                    });
                }
                // Carried out as the step ran (queues, hooks) or once it is written (calls,
                // wake-ups).
                Effect::Enqueue(_)
                | Effect::SetEventHook { .. }
                | Effect::Invoke { .. }
                | Effect::AskBot { .. }
                | Effect::WakeAt(_) => {}
            }
        }
        state.run = run.saved();
        Ok(FlowStep {
            chat_id: chat_id.to_string(),
            version,
            state: serde_json::to_string(&state).expect("a run serialises"),
            wake_at: run.wakes_at().map(from_millis),
            items,
            attributes,
            max_attribute_bytes: MAX_ATTRIBUTE_BYTES,
            enqueue: queued.as_ref().and_then(|c| c.queue_id.clone()),
            leave_queue: false,
            end: disconnect.then(|| (event(CHAT_ENDED, None), FLOW_DISCONNECT.to_string())),
            log,
        })
    }

    /// The run names a flow the instance no longer has: the chat ends, and the log says why.
    async fn flow_gone(
        &self,
        chat_id: &str,
        contact: &Contact,
        version: i64,
        state: &ChatRun,
    ) -> Result<(), ChatError> {
        let mut ended = state.clone();
        ended.started = true;
        let why = "the instance has no such flow";
        if let Some(items) = self
            .log_only_step(chat_id, version, &ended, why, true)
            .await?
        {
            tracing::warn!(contact_id = %contact.id, flow_id = %state.run.flow_id, "the chat's flow is gone; the chat ends");
            self.publish_items(contact, &items);
            self.sessions.forget_contact(chat_id);
            self.routing
                .contact_ended(&contact.instance_id, &contact.id);
        }
        Ok(())
    }

    /// The run has nothing more to do (`why`): it waits for nothing from now on.
    async fn flow_stopped(
        &self,
        chat_id: &str,
        contact: &Contact,
        version: i64,
        mut state: ChatRun,
        why: &str,
    ) -> Result<(), ChatError> {
        state.phase = Phase::Done;
        if self
            .log_only_step(chat_id, version, &state, why, false)
            .await?
            .is_some()
        {
            tracing::debug!(contact_id = %contact.id, why, "the chat's flow stopped");
        }
        Ok(())
    }

    /// A step that runs no action: the run becomes `state`, waiting for nothing, the log says
    /// `why`, and the chat ends if `ends`. The items written, or `None` if the chat had ended.
    async fn log_only_step(
        &self,
        chat_id: &str,
        version: i64,
        state: &ChatRun,
        why: &str,
        ends: bool,
    ) -> Result<Option<Vec<Item>>, ChatError> {
        let step = FlowStep {
            chat_id: chat_id.to_string(),
            version,
            state: serde_json::to_string(state).expect("a run serialises"),
            wake_at: None,
            items: Vec::new(),
            attributes: BTreeMap::new(),
            max_attribute_bytes: MAX_ATTRIBUTE_BYTES,
            enqueue: None,
            leave_queue: false,
            end: ends.then(|| (event(CHAT_ENDED, None), FLOW_DISCONNECT.to_string())),
            log: vec![FlowLogEntry {
                at: self.now(),
                flow_id: state.run.flow_id.clone(),
                action: String::new(),
                action_type: String::new(),
                outcome: why.to_string(),
            }],
        };
        match self.store.flow_step(step).await {
            Ok(items) => Ok(Some(items)),
            Err(StoreError::ContactEnded) => Ok(None),
            Err(StoreError::RunMoved) => Err(ChatError::Conflict("the flow moved on".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The figures of the instance's queues, when one of its flows checks them (only then is
    /// routing asked).
    async fn metrics_for(
        &self,
        instance: &Instance,
        book: &FlowBook,
    ) -> BTreeMap<String, QueueMetrics> {
        if !book.checks_metrics(instance) {
            return BTreeMap::new();
        }
        let queues: Vec<String> = instance.queues.iter().map(|q| q.id.clone()).collect();
        let figures = self.routing.queue_metrics(&instance.id, &queues).await;
        queues.into_iter().zip(figures).collect()
    }

    /// What the chat's run becomes when its agent leaves, if its flow named a disconnect flow
    /// (`CustomerRemaining`): the disconnect phase, not yet started, due at once. Written with
    /// the departure ([`crate::store::Departure::run`]), so that a node dying between the two
    /// cannot leave the customer with no agent and no flow.
    pub(super) async fn disconnect_run(&self, chat_id: &str) -> Result<Option<NewRun>, ChatError> {
        let Some(stored) = self.store.flow_run(chat_id).await? else {
            return Ok(None);
        };
        let mut state: ChatRun = serde_json::from_str(&stored.state)
            .map_err(|e| ChatError::Internal(format!("flow run of {chat_id}: {e}")))?;
        if !state.hooks.contains_key(DISCONNECT_HOOK) {
            return Ok(None);
        }
        state.phase = Phase::Disconnect;
        state.started = false;
        Ok(Some(NewRun {
            state: serde_json::to_string(&state).expect("a run serialises"),
            wake_at: Some(self.now()),
        }))
    }

    /// Makes a call in the background (a function, a bot's turn); its answer (or failure) moves
    /// the flow on.
    fn call_out(&self, contact: &Contact, call: Call) {
        let Some(chat) = self.me.upgrade() else {
            return;
        };
        let contact = contact.clone();
        let until = match &call {
            Call::Function { until, .. } | Call::Bot { until, .. } => *until,
        };
        let limit = Duration::from_millis((until - to_millis(self.now())).max(0) as u64);
        tokio::spawn(async move {
            let chat_id = contact.chat_id();
            let event = match call {
                Call::Function {
                    arn, parameters, ..
                } => {
                    let sent = chat.function_event(&contact, &parameters);
                    let answer = chat.functions.invoke(&arn, &sent, limit).await;
                    if let Err(e) = &answer {
                        tracing::info!(contact_id = %chat_id, arn = %arn, error = %e, "the flow's function brought no answer");
                    }
                    FlowEvent::FunctionAnswered {
                        until,
                        answer: answer.ok(),
                    }
                }
                Call::Bot {
                    bot,
                    text,
                    session_attributes,
                    ..
                } => {
                    let request = BotRequest {
                        bot: &bot,
                        session_id: chat_id,
                        text: &text,
                        session_attributes: &session_attributes,
                        attributes: &contact.attributes,
                    };
                    let turn = chat.bots.ask(request, limit).await;
                    if let Err(e) = &turn {
                        tracing::info!(contact_id = %chat_id, bot = %bot, error = %e, "the flow's bot took no turn");
                    }
                    FlowEvent::BotAnswered {
                        until,
                        turn: turn.ok(),
                    }
                }
            };
            if let Err(e) = chat.flow_event(chat_id, event).await {
                tracing::warn!(contact_id = %chat_id, error = %e, "a flow step failed");
            }
        });
    }

    /// The event Amazon Connect sends a function about this contact.
    fn function_event(
        &self,
        contact: &Contact,
        parameters: &BTreeMap<String, String>,
    ) -> serde_json::Value {
        let instance_arn = self.instance_arn(&contact.instance_id);
        let queue = contact.queue_id.as_ref().map(|q| {
            let name = self
                .config
                .instance(&contact.instance_id)
                .and_then(|i| i.queue(q))
                .map_or(q.clone(), |q| q.name.clone());
            (self.arns.resource(&contact.instance_id, "queue", q), name)
        });
        crate::flows::functions::event(
            contact,
            &instance_arn,
            queue
                .as_ref()
                .map(|(arn, name)| (arn.as_str(), name.as_str())),
            parameters,
        )
    }
}

/// What `event` means to the run, given where it is: the event the interpreter takes, or `None`
/// when the run is not waiting for it (a time not yet come, a message while the flow waits for
/// a function, an answer to a call it no longer waits for).
fn engine_event(event: &FlowEvent, state: &ChatRun, run: &Run, now: Millis) -> Option<Event> {
    if state.phase == Phase::Done {
        return None;
    }
    if !state.started {
        return Some(Event::Start);
    }
    let waits_for = run.waiting_for();
    match event {
        FlowEvent::Due if run.wakes_at().is_some_and(|at| at <= now) => Some(Event::Deadline),
        FlowEvent::CustomerMessage(text)
            if matches!(
                waits_for,
                Some(WaitingFor::Input | WaitingFor::Time | WaitingFor::BotInput)
            ) =>
        {
            Some(Event::CustomerMessage(text.clone()))
        }
        FlowEvent::FunctionAnswered { until, answer }
            if waits_for == Some(WaitingFor::Function) && run.wakes_at() == Some(*until) =>
        {
            Some(Event::FunctionAnswered(answer.clone()))
        }
        FlowEvent::BotAnswered { until, turn }
            if waits_for == Some(WaitingFor::BotReply) && run.wakes_at() == Some(*until) =>
        {
            Some(Event::BotAnswered(turn.clone()))
        }
        _ => None,
    }
}

/// Whether routing keeps the place a step took for the chat in its queue (the chat may now be
/// offered there) or gives it back, given whether the step was written and, if not, the chat's
/// contact as the store now has it.
///
/// A step written keeps its place. One that was not gives it back, unless the store shows the
/// chat waiting in that very place: then another step queued it there (two nodes woke the same
/// due run, and both asked routing for the place, the second hold answered as already taken),
/// and giving the place back would take the winner's chat out of routing, to wait unoffered until
/// a restart.
fn keeps_place(written: bool, now_stored: Option<&Contact>, queued: &Contact) -> bool {
    written
        || now_stored.is_some_and(|c| {
            c.id == queued.id && c.queue_id == queued.queue_id && c.agent.is_none() && !c.is_ended()
        })
}

/// The calls among a step's effects.
fn calls(effects: &[Effect]) -> Vec<Call> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Invoke {
                arn,
                parameters,
                until,
            } => Some(Call::Function {
                arn: arn.clone(),
                parameters: parameters.clone(),
                until: *until,
            }),
            Effect::AskBot {
                bot,
                text,
                session_attributes,
                until,
            } => Some(Call::Bot {
                bot: bot.clone(),
                text: text.clone(),
                session_attributes: session_attributes.clone(),
                until: *until,
            }),
            _ => None,
        })
        .collect()
}

/// What a chat's flow looks up: the instance's hours and flows, its queues' figures, the time
/// of the step.
struct ChatWorld<'a> {
    now: Millis,
    instance: &'a Instance,
    chat: &'a ChatService,
    book: FlowBook,
    /// Each queue's figures, asked of routing for a step whose flow checks them.
    metrics: BTreeMap<String, QueueMetrics>,
}

impl World for ChatWorld<'_> {
    fn now(&self) -> Millis {
        self.now
    }

    fn open(&self, hours: Option<&str>, target: Option<&Target>) -> Option<bool> {
        let hours = match (hours, target) {
            (Some(hours), _) => hours.to_string(),
            (None, Some(Target::Queue(queue))) => self.instance.queue(queue)?.hours.clone()?,
            (None, _) => return None,
        };
        Some(self.book.hours(self.instance, &hours)?.is_open(self.now))
    }

    fn metric(&self, metric: &str, target: Option<&Target>) -> Option<f64> {
        let Some(Target::Queue(queue)) = target else {
            return None;
        };
        let figures = self.metrics.get(queue)?;
        let count = |n: usize| Some(n as f64);
        match metric {
            "NumberOfAgentsAvailable" => count(figures.agents_available),
            "NumberOfAgentsStaffed" | "NumberOfAgentsOnline" => count(figures.agents_online),
            "NumberOfContactsInQueue" => count(figures.contacts_in_queue),
            "OldestContactInQueueAgeSeconds" => Some(figures.oldest_contact_age_seconds),
            _ => None,
        }
    }

    fn flow(&self, flow_id: &str) -> Option<Arc<Flow>> {
        self.book.flow(self.instance, &self.chat.arns, flow_id)
    }

    fn percent(&self) -> u32 {
        rand::Rng::gen_range(&mut rand::thread_rng(), 1..=100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(queue: &str) -> Contact {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        Contact {
            id: "c1".into(),
            instance_id: "i".into(),
            initial_contact_id: "c1".into(),
            contact_flow_id: "f".into(),
            queue_id: Some(queue.to_string()),
            customer_participant_id: "p".into(),
            attributes: BTreeMap::new(),
            details: Default::default(),
            duration_minutes: 60,
            initiated_at: now,
            enqueued_at: Some(now),
            expires_at: now,
            ended_at: None,
            disconnect_reason: None,
            updated_at: now,
            agent: None,
            previous_contact_id: None,
            transferred_to: None,
        }
    }

    #[test]
    fn a_written_step_keeps_its_place_and_a_failed_one_gives_it_back() {
        assert!(keeps_place(true, None, &waiting("support")));
        assert!(!keeps_place(false, None, &waiting("support")));
        // The store still has the chat where it waited before (this step's move was not written).
        assert!(!keeps_place(
            false,
            Some(&waiting("billing")),
            &waiting("support")
        ));
    }

    #[test]
    fn a_step_that_lost_to_one_that_queued_the_chat_there_keeps_the_place() {
        assert!(keeps_place(
            false,
            Some(&waiting("support")),
            &waiting("support")
        ));
        let mut taken = waiting("support");
        taken.agent = Some(("ana".into(), time::OffsetDateTime::UNIX_EPOCH));
        assert!(!keeps_place(false, Some(&taken), &waiting("support")));
    }
}
