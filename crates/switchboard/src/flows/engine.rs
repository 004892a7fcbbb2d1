//! Runs one chat's flow, as a state machine with no I/O and no clock of its own: every call
//! passes what happened ([`Event`]) and a [`World`] to look things up in (the time, hours of
//! operation, queue figures, other flows, a random percentage), and every decision comes back as
//! an [`Effect`] for the server to carry out, in order. Tests drive it with chosen instants and
//! worlds; the server keeps the [`Run`] between events (it is plain data, so it can be stored).
//!
//! The rules:
//! - A flow starts at `StartAction` and runs action after action until one waits (for the
//!   customer's input, a time, a function's answer, the queue's verdict) or the flow ends.
//! - An action's outcome picks its transition: a condition that holds (in the order written),
//!   else `NextAction`; an error picks the error branch of that type. An error with no branch,
//!   or an action with nowhere to go, ends the flow.
//! - Values may be references: `$.Attributes.name`, `$.External.name` (the last function's
//!   answer), `$.StoredCustomerInput`, and the contact's own (`$.ContactId`, `$.Channel`, ...).
//!   Inside text, each reference is replaced by its value (an unknown one by nothing).
//! - More than [`MAX_ACTIONS_WITHOUT_WAITING`] actions in a row without waiting end the flow with
//!   an error: a loop in a flow never spins the server.
//! - Every action run is traced ([`Effect::Trace`]) with its outcome, for the contact's flow log.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::language::{Action, Condition, Flow};

/// Milliseconds since the epoch.
pub type Millis = i64;

/// How many actions may run in a row without the flow waiting for something.
pub const MAX_ACTIONS_WITHOUT_WAITING: usize = 100;

/// How long a bot may take to answer one turn.
pub const BOT_CALL_MILLIS: Millis = 10_000;

/// Largest total size of a contact's attributes (names and values, UTF-8 bytes), as on Amazon
/// Connect: UpdateContactAttributes beyond it takes its error branch and sets nothing.
pub const MAX_ATTRIBUTE_BYTES: usize = 32_768;

/// A flow being run for one chat.
#[derive(Debug, Clone)]
pub struct Run {
    /// The id of the flow running now (TransferToFlow changes it).
    flow_id: String,
    flow: Arc<Flow>,
    /// The action waiting for something, while the flow waits.
    waiting: Option<Waiting>,
    ended: bool,
    pub attributes: BTreeMap<String, String>,
    /// The last function's answer.
    pub external: BTreeMap<String, String>,
    /// The contact's own values (`ContactId`, `Channel`, ...), by name without `$.`.
    pub contact: BTreeMap<String, String>,
    /// Where TransferContactToQueue sends the chat.
    pub target: Option<Target>,
    pub stored_input: Option<String>,
    /// What the last bot conversation left (`$.Lex.IntentName`, `$.Lex.Slots.x`,
    /// `$.Lex.SessionAttributes.x`), by name without `Lex.`.
    pub lex: BTreeMap<String, String>,
    /// Whether the flow log records the actions run (UpdateFlowLoggingBehavior turns it off and
    /// on; the contact keeps it through the flows it runs).
    logging: bool,
}

/// Where a chat is sent: a queue, or an agent's own queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Queue(String),
    Agent(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Waiting {
    action: String,
    why: WaitingFor,
    /// When the wait times out, if it does.
    until: Option<Millis>,
}

/// What a waiting flow waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitingFor {
    Input,
    Time,
    Queue,
    Function,
    /// A bot conversation waits for the customer's next message.
    BotInput,
    /// A bot conversation waits for the bot's turn.
    BotReply,
}

/// What happened, that the flow may be waiting for.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The chat started: the flow runs from its start.
    Start,
    /// The customer sent a message.
    CustomerMessage(String),
    /// The time the flow waits until has come.
    Deadline,
    /// The queue took the chat (true), or was full (false).
    Queued(bool),
    /// The function answered (flat string values), or failed or timed out (`None`).
    FunctionAnswered(Option<BTreeMap<String, String>>),
    /// The bot took its turn, or failed (`None`).
    BotAnswered(Option<BotTurn>),
}

/// One turn of a bot (Lex V2's RecognizeText, or an HTTP bot's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTurn {
    /// What the bot says, in order.
    pub messages: Vec<String>,
    /// The intent it recognised, if any.
    pub intent: Option<String>,
    pub slots: BTreeMap<String, String>,
    pub session_attributes: BTreeMap<String, String>,
    /// The conversation is over (the intent was fulfilled, failed, or the bot closed it): the
    /// flow goes on.
    pub done: bool,
}

/// What the flow decided, for the server to carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A message to the chat from the SYSTEM participant.
    Message(String),
    /// Attributes to merge into the contact's.
    SetAttributes(BTreeMap<String, String>),
    /// Put the chat in a queue; answer with [`Event::Queued`].
    Enqueue(Target),
    /// Call a function; answer with [`Event::FunctionAnswered`] before `until`.
    Invoke {
        arn: String,
        parameters: BTreeMap<String, String>,
        until: Millis,
    },
    /// Give the bot the customer's text; answer with [`Event::BotAnswered`] before `until`.
    AskBot {
        /// The bot's alias ARN (LexV2Bot.AliasArn).
        bot: String,
        text: String,
        session_attributes: BTreeMap<String, String>,
        until: Millis,
    },
    /// A message to the chat from the bot.
    BotMessage(String),
    /// Wake the flow with [`Event::Deadline`] at this time (input and waits time out).
    WakeAt(Millis),
    /// Run `flow_id` when this event happens to the chat (`CustomerQueue`, ...).
    SetEventHook { hook: String, flow_id: String },
    /// End the chat for the customer.
    Disconnect,
    /// The flow is over (`error` says why, when it ended on an error).
    Ended { error: Option<String> },
    /// One action run, and how it came out, for the flow log.
    Trace {
        action: String,
        kind: String,
        outcome: String,
    },
}

/// What the flow looks up while it runs, answered by the server from a snapshot (and by tests
/// from chosen values).
pub trait World {
    fn now(&self) -> Millis;
    /// Whether the hours of operation (`None`: those of the target queue) are open now; `None`
    /// if there are no such hours.
    fn open(&self, hours: Option<&str>, target: Option<&Target>) -> Option<bool>;
    /// A queue figure (`MetricType` of CheckMetricData) for the target queue.
    fn metric(&self, metric: &str, target: Option<&Target>) -> Option<f64>;
    /// Another flow of the instance, by id (TransferToFlow).
    fn flow(&self, flow_id: &str) -> Option<Arc<Flow>>;
    /// A random whole percentage, 1 to 100 (DistributeByPercentage).
    fn percent(&self) -> u32;
}

/// How one action came out.
enum Outcome {
    /// Go on: to the condition that holds on `value`, else the default transition.
    Next { value: Option<String> },
    /// Take the error branch of this type.
    Error(&'static str),
    /// Wait; the next event answers the action.
    Wait(WaitingFor, Option<Millis>),
    /// Go on at this action (of the flow now running: TransferToFlow changes it).
    Goto(String),
    /// The flow is over.
    End,
}

/// What a run keeps between events, to be stored (as JSON, say): with the flow it names,
/// [`Run::resume`] carries on exactly where the run was, so a restart loses no step and repeats
/// none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub flow_id: String,
    waiting: Option<Waiting>,
    ended: bool,
    attributes: BTreeMap<String, String>,
    external: BTreeMap<String, String>,
    contact: BTreeMap<String, String>,
    target: Option<Target>,
    stored_input: Option<String>,
    #[serde(default)]
    lex: BTreeMap<String, String>,
    #[serde(default = "logging_on")]
    logging: bool,
}

/// A run saved before flows could turn their log off logged.
fn logging_on() -> bool {
    true
}

impl Run {
    /// A run of the flow `flow_id` (`flow`), not started yet.
    pub fn new(flow_id: &str, flow: Arc<Flow>, attributes: BTreeMap<String, String>) -> Self {
        Self {
            flow_id: flow_id.to_string(),
            flow,
            waiting: None,
            ended: false,
            attributes,
            external: BTreeMap::new(),
            contact: BTreeMap::new(),
            target: None,
            stored_input: None,
            lex: BTreeMap::new(),
            logging: true,
        }
    }

    /// A run of another flow (a customer queue or disconnect flow), not started yet, with this
    /// run's attributes and contact values.
    pub fn handed_to(&self, flow_id: &str, flow: Arc<Flow>) -> Self {
        let mut next = Self::new(flow_id, flow, self.attributes.clone());
        next.contact = self.contact.clone();
        next.logging = self.logging;
        next
    }

    /// The id of the flow running now.
    pub fn flow_id(&self) -> &str {
        &self.flow_id
    }

    /// What to store of the run.
    pub fn saved(&self) -> Saved {
        Saved {
            flow_id: self.flow_id.clone(),
            waiting: self.waiting.clone(),
            ended: self.ended,
            attributes: self.attributes.clone(),
            external: self.external.clone(),
            contact: self.contact.clone(),
            target: self.target.clone(),
            stored_input: self.stored_input.clone(),
            lex: self.lex.clone(),
            logging: self.logging,
        }
    }

    /// The run a [`Saved`] describes, with its flow (the one `saved.flow_id` names).
    pub fn resume(flow: Arc<Flow>, saved: Saved) -> Self {
        Self {
            flow_id: saved.flow_id,
            flow,
            waiting: saved.waiting,
            ended: saved.ended,
            attributes: saved.attributes,
            external: saved.external,
            contact: saved.contact,
            target: saved.target,
            stored_input: saved.stored_input,
            lex: saved.lex,
            logging: saved.logging,
        }
    }

    /// What the flow waits for, if it waits.
    pub fn waiting_for(&self) -> Option<WaitingFor> {
        self.waiting.as_ref().map(|w| w.why)
    }

    /// When the waiting action times out, if it waits for a time.
    pub fn wakes_at(&self) -> Option<Millis> {
        self.waiting.as_ref().and_then(|w| w.until)
    }

    pub fn is_over(&self) -> bool {
        self.ended
    }

    /// Takes an event and runs the flow on until it waits or ends.
    pub fn advance(&mut self, event: Event, world: &dyn World) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.ended {
            return effects;
        }
        let next = match (event, self.waiting.take()) {
            (Event::Start, None) => Some(self.flow.start_action.clone()),
            (event, Some(waiting)) => match self.answer(&waiting, event, world, &mut effects) {
                Answered::Go(next) => next,
                Answered::StillWaiting => {
                    self.waiting = Some(waiting);
                    return effects;
                }
                Answered::WaitAgain(why, until) => {
                    self.wait(&waiting.action, why, Some(until), &mut effects);
                    return effects;
                }
            },
            // Nothing waits for it (a message while the flow runs on its own, say).
            (_, None) => return effects,
        };
        self.run_from(next, world, &mut effects);
        effects
    }

    /// Resolves what a waiting action was waiting for.
    fn answer(
        &mut self,
        waiting: &Waiting,
        event: Event,
        world: &dyn World,
        effects: &mut Vec<Effect>,
    ) -> Answered {
        let Some(action) = self.flow.action(&waiting.action).cloned() else {
            return Answered::Go(None);
        };
        let outcome = match (waiting.why, event) {
            (WaitingFor::BotInput, Event::CustomerMessage(text)) => {
                let Some(bot) = self.bot_of(&action) else {
                    return Answered::Go(self.follow(
                        &action,
                        Outcome::Error("NoMatchingError"),
                        effects,
                    ));
                };
                let until = world.now() + BOT_CALL_MILLIS;
                effects.push(Effect::AskBot {
                    bot,
                    text,
                    session_attributes: self.bot_session(&action),
                    until,
                });
                return Answered::WaitAgain(WaitingFor::BotReply, until);
            }
            (WaitingFor::BotInput, Event::Deadline) => Outcome::Error("InputTimeLimitExceeded"),
            (WaitingFor::BotReply, Event::BotAnswered(Some(turn))) => {
                for message in &turn.messages {
                    effects.push(Effect::BotMessage(self.interpolate(message)));
                }
                self.remember_turn(&turn);
                if !turn.done {
                    let until = world.now() + self.bot_timeout(&action);
                    return Answered::WaitAgain(WaitingFor::BotInput, until);
                }
                Outcome::Next {
                    value: Some(turn.intent.clone().unwrap_or_default()),
                }
            }
            (WaitingFor::BotReply, Event::BotAnswered(None) | Event::Deadline) => {
                Outcome::Error("NoMatchingError")
            }
            (WaitingFor::Input, Event::CustomerMessage(text)) => {
                if flag(&action, "StoreInput") {
                    self.stored_input = Some(text.clone());
                }
                Outcome::Next { value: Some(text) }
            }
            (WaitingFor::Input, Event::Deadline) => Outcome::Error("InputTimeLimitExceeded"),
            (WaitingFor::Time, Event::Deadline) => Outcome::Next {
                value: Some("WaitCompleted".into()),
            },
            (WaitingFor::Time, Event::CustomerMessage(_)) if wait_for_return(&action) => {
                Outcome::Next {
                    value: Some("CustomerReturned".into()),
                }
            }
            (WaitingFor::Queue, Event::Queued(true)) => Outcome::End,
            (WaitingFor::Queue, Event::Queued(false)) => Outcome::Error("QueueAtCapacity"),
            (WaitingFor::Function, Event::FunctionAnswered(Some(answer))) => {
                self.external = answer;
                Outcome::Next { value: None }
            }
            (WaitingFor::Function, Event::FunctionAnswered(None) | Event::Deadline) => {
                Outcome::Error("NoMatchingError")
            }
            _ => return Answered::StillWaiting,
        };
        Answered::Go(self.follow(&action, outcome, effects))
    }

    /// Runs actions from `next` until one waits or the flow ends.
    fn run_from(&mut self, mut next: Option<String>, world: &dyn World, effects: &mut Vec<Effect>) {
        for _ in 0..MAX_ACTIONS_WITHOUT_WAITING {
            let Some(id) = next else {
                self.end(None, effects);
                return;
            };
            let Some(action) = self.flow.action(&id).cloned() else {
                self.end(Some(format!("no action '{id}'")), effects);
                return;
            };
            let outcome = self.run_action(&action, world, effects);
            if let Outcome::Wait(why, until) = outcome {
                self.wait(&id, why, until, effects);
                return;
            }
            if self.ended {
                return;
            }
            next = self.follow(&action, outcome, effects);
            if self.ended {
                return;
            }
        }
        self.end(
            Some(format!(
                "more than {MAX_ACTIONS_WITHOUT_WAITING} actions without waiting"
            )),
            effects,
        );
    }

    /// The action `id` waits for `why`, until `until` if that comes first.
    fn wait(
        &mut self,
        id: &str,
        why: WaitingFor,
        until: Option<Millis>,
        effects: &mut Vec<Effect>,
    ) {
        if let Some(action) = self.flow.action(id) {
            self.trace(action, &format!("waiting for {why:?}"), effects);
        }
        if let Some(at) = until {
            effects.push(Effect::WakeAt(at));
        }
        self.waiting = Some(Waiting {
            action: id.to_string(),
            why,
            until,
        });
    }

    /// Records the action's outcome in the flow log, unless the flow turned its log off.
    fn trace(&self, action: &Action, outcome: &str, effects: &mut Vec<Effect>) {
        if self.logging {
            effects.push(Effect::Trace {
                action: action.identifier.clone(),
                kind: action.kind.clone(),
                outcome: outcome.to_string(),
            });
        }
    }

    /// The bot a ConnectParticipantWithLexBot talks to: its Lex V2 alias ARN (Lex V1 bots are
    /// not supported).
    fn bot_of(&self, action: &Action) -> Option<String> {
        let arn = action
            .parameters
            .get("LexV2Bot")?
            .get("AliasArn")?
            .as_str()?;
        Some(self.resolve(arn)).filter(|arn| !arn.is_empty())
    }

    /// The session attributes a bot turn carries: the action's, then what the bot kept.
    fn bot_session(&self, action: &Action) -> BTreeMap<String, String> {
        let mut session = self.resolved_map(action.parameters.get("LexSessionAttributes"));
        for (name, value) in &self.lex {
            if let Some(name) = name.strip_prefix("SessionAttributes.") {
                session.insert(name.to_string(), value.clone());
            }
        }
        session
    }

    /// How long the bot waits for the customer (LexTimeoutSeconds.Text; 5 minutes if not given).
    fn bot_timeout(&self, action: &Action) -> Millis {
        let seconds = action
            .parameters
            .get("LexTimeoutSeconds")
            .and_then(|t| t.get("Text"))
            .and_then(|t| self.number(Some(t)))
            .unwrap_or(300.0);
        (seconds * 1000.0) as Millis
    }

    /// Keeps what a bot's turn says for `$.Lex` references.
    fn remember_turn(&mut self, turn: &BotTurn) {
        self.lex.retain(|name, _| !name.starts_with("Slots."));
        if let Some(intent) = &turn.intent {
            self.lex.insert("IntentName".into(), intent.clone());
        }
        for (name, value) in &turn.slots {
            self.lex.insert(format!("Slots.{name}"), value.clone());
        }
        for (name, value) in &turn.session_attributes {
            self.lex
                .insert(format!("SessionAttributes.{name}"), value.clone());
        }
    }

    /// Where an outcome leads; traces it.
    fn follow(
        &mut self,
        action: &Action,
        outcome: Outcome,
        effects: &mut Vec<Effect>,
    ) -> Option<String> {
        let t = &action.transitions;
        match outcome {
            Outcome::Next { value } => {
                let chosen = value.as_deref().and_then(|v| {
                    t.conditions
                        .iter()
                        .find(|c| holds(&c.condition, v))
                        .map(|c| c.next_action.clone())
                });
                let said = value.clone().unwrap_or_else(|| "done".into());
                match chosen.or_else(|| t.next_action.clone()) {
                    Some(next) => {
                        self.trace(action, &said, effects);
                        Some(next)
                    }
                    None if !t.conditions.is_empty() => {
                        self.error(action, "NoMatchingCondition", effects)
                    }
                    None => {
                        self.trace(action, &said, effects);
                        self.end(None, effects);
                        None
                    }
                }
            }
            Outcome::Error(kind) => self.error(action, kind, effects),
            Outcome::Goto(next) => {
                self.trace(action, "done", effects);
                Some(next)
            }
            Outcome::End => {
                self.trace(action, "done", effects);
                self.end(None, effects);
                None
            }
            Outcome::Wait(..) => None,
        }
    }

    fn error(&mut self, action: &Action, kind: &str, effects: &mut Vec<Effect>) -> Option<String> {
        self.trace(action, kind, effects);
        match action.transitions.on_error(kind) {
            Some(next) => Some(next.to_string()),
            None => {
                self.end(
                    Some(format!(
                        "{kind} in '{}' with no branch for it",
                        action.identifier
                    )),
                    effects,
                );
                None
            }
        }
    }

    fn end(&mut self, error: Option<String>, effects: &mut Vec<Effect>) {
        if !self.ended {
            self.ended = true;
            effects.push(Effect::Ended { error });
        }
    }

    /// Runs one action: its effects, and how it came out.
    fn run_action(
        &mut self,
        action: &Action,
        world: &dyn World,
        effects: &mut Vec<Effect>,
    ) -> Outcome {
        let p = &action.parameters;
        match action.kind.as_str() {
            "MessageParticipant" => match p.get("Text").and_then(Value::as_str) {
                Some(text) => {
                    effects.push(Effect::Message(self.interpolate(text)));
                    Outcome::Next { value: None }
                }
                None => Outcome::Error("NoMatchingError"),
            },
            "GetParticipantInput" => {
                if let Some(text) = p.get("Text").and_then(Value::as_str) {
                    effects.push(Effect::Message(self.interpolate(text)));
                }
                let limit = self
                    .number(p.get("InputTimeLimitSeconds"))
                    .unwrap_or(5.0 * 60.0);
                let until = world.now() + (limit * 1000.0) as Millis;
                Outcome::Wait(WaitingFor::Input, Some(until))
            }
            "UpdateContactAttributes" => {
                let Some(Value::Object(given)) = p.get("Attributes") else {
                    return Outcome::Error("NoMatchingError");
                };
                let mut set = BTreeMap::new();
                for (name, value) in given {
                    let Some(value) = value.as_str() else {
                        return Outcome::Error("NoMatchingError");
                    };
                    set.insert(name.clone(), self.resolve(value));
                }
                let mut merged = self.attributes.clone();
                merged.extend(set.clone());
                let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
                if size > MAX_ATTRIBUTE_BYTES {
                    return Outcome::Error("NoMatchingError");
                }
                self.attributes = merged;
                effects.push(Effect::SetAttributes(set));
                Outcome::Next { value: None }
            }
            "Compare" => match p.get("ComparisonValue").and_then(Value::as_str) {
                Some(reference) => Outcome::Next {
                    value: Some(self.resolve(reference)),
                },
                None => Outcome::Error("NoMatchingError"),
            },
            "UpdateContactTargetQueue" => {
                let queue = p.get("QueueId").and_then(Value::as_str);
                let agent = p.get("AgentId").and_then(Value::as_str);
                self.target = match (queue, agent) {
                    (Some(q), None) => Some(Target::Queue(last_segment(&self.resolve(q)))),
                    (None, Some(a)) => Some(Target::Agent(last_segment(&self.resolve(a)))),
                    _ => return Outcome::Error("NoMatchingError"),
                };
                Outcome::Next { value: None }
            }
            "TransferContactToQueue" => match self.target.clone() {
                Some(target) => {
                    effects.push(Effect::Enqueue(target));
                    Outcome::Wait(WaitingFor::Queue, None)
                }
                None => Outcome::Error("NoMatchingError"),
            },
            "CheckHoursOfOperation" => {
                let hours = p.get("HoursOfOperationId").and_then(Value::as_str);
                let hours = hours.map(|h| last_segment(&self.resolve(h)));
                match world.open(hours.as_deref(), self.target.as_ref()) {
                    Some(open) => Outcome::Next {
                        value: Some(if open { "True" } else { "False" }.into()),
                    },
                    None => Outcome::Error("NoMatchingError"),
                }
            }
            "CheckMetricData" => {
                let metric = p
                    .get("MetricType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // The queue named here, else the contact's target queue.
                let queue = p.get("QueueId").and_then(Value::as_str);
                let target = match queue {
                    Some(queue) => Some(Target::Queue(last_segment(&self.resolve(queue)))),
                    None => self.target.clone(),
                };
                match world.metric(metric, target.as_ref()) {
                    Some(figure) => Outcome::Next {
                        value: Some(figure.to_string()),
                    },
                    None => Outcome::Error("NoMatchingError"),
                }
            }
            "DistributeByPercentage" => Outcome::Next {
                value: Some(world.percent().to_string()),
            },
            "Wait" => match self.number(p.get("TimeoutSeconds")) {
                Some(seconds) => Outcome::Wait(
                    WaitingFor::Time,
                    Some(world.now() + (seconds * 1000.0) as Millis),
                ),
                None => Outcome::Error("NoMatchingError"),
            },
            "InvokeLambdaFunction" => {
                let Some(arn) = p.get("LambdaFunctionARN").and_then(Value::as_str) else {
                    return Outcome::Error("NoMatchingError");
                };
                let parameters = self.resolved_map(p.get("LambdaInvocationAttributes"));
                let limit = self
                    .number(p.get("InvocationTimeLimitSeconds"))
                    .unwrap_or(8.0);
                let until = world.now() + (limit * 1000.0) as Millis;
                effects.push(Effect::Invoke {
                    arn: self.resolve(arn),
                    parameters,
                    until,
                });
                Outcome::Wait(WaitingFor::Function, Some(until))
            }
            "TransferToFlow" => {
                let id = p
                    .get("ContactFlowId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let id = last_segment(&self.resolve(id));
                match world.flow(&id) {
                    Some(flow) => {
                        let start = flow.start_action.clone();
                        self.flow = flow;
                        self.flow_id = id;
                        Outcome::Goto(start)
                    }
                    None => Outcome::Error("NoMatchingError"),
                }
            }
            "UpdateContactEventHooks" => {
                let hook = p
                    .get("EventHooks")
                    .and_then(Value::as_object)
                    .and_then(|hooks| hooks.iter().next());
                match hook {
                    Some((hook, Value::String(flow))) => {
                        effects.push(Effect::SetEventHook {
                            hook: hook.clone(),
                            flow_id: last_segment(&self.resolve(flow)),
                        });
                        Outcome::Next { value: None }
                    }
                    _ => Outcome::Error("NoMatchingError"),
                }
            }
            "UpdateFlowLoggingBehavior" => {
                let on = p
                    .get("FlowLoggingBehavior")
                    .and_then(Value::as_str)
                    .is_none_or(|b| !b.eq_ignore_ascii_case("Disabled"));
                if !on {
                    self.trace(action, "flow log off from here", effects);
                }
                self.logging = on;
                Outcome::Next { value: None }
            }
            "UpdateContactRecordingBehavior" => Outcome::Next { value: None },
            "ConnectParticipantWithLexBot" => {
                let Some(bot) = self.bot_of(action) else {
                    return Outcome::Error("NoMatchingError");
                };
                if let Some(text) = p.get("Text").and_then(Value::as_str) {
                    effects.push(Effect::Message(self.interpolate(text)));
                }
                let initial = p
                    .get("LexInitilizationData")
                    .and_then(|d| d.get("InitialMessage"))
                    .and_then(Value::as_str)
                    .map(|m| self.resolve(m))
                    .filter(|m| !m.is_empty());
                match initial {
                    Some(text) => {
                        let until = world.now() + BOT_CALL_MILLIS;
                        effects.push(Effect::AskBot {
                            bot,
                            text,
                            session_attributes: self.bot_session(action),
                            until,
                        });
                        Outcome::Wait(WaitingFor::BotReply, Some(until))
                    }
                    None => Outcome::Wait(
                        WaitingFor::BotInput,
                        Some(world.now() + self.bot_timeout(action)),
                    ),
                }
            }
            "DisconnectParticipant" => {
                effects.push(Effect::Disconnect);
                Outcome::End
            }
            "EndFlowExecution" => Outcome::End,
            // Validation refuses other types; a flow saved unvalidated ends here.
            _ => Outcome::Error("NoMatchingError"),
        }
    }

    /// A parameter that maps names to values, each value resolved (values that are not text are
    /// left out).
    fn resolved_map(&self, given: Option<&Value>) -> BTreeMap<String, String> {
        given
            .and_then(Value::as_object)
            .map(|given| {
                given
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v.as_str()?))))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A value, or the value a `$.` reference names ("" when it names nothing).
    fn resolve(&self, value: &str) -> String {
        match value.strip_prefix("$.") {
            Some(path) => self.lookup(path).unwrap_or_default(),
            None => value.to_string(),
        }
    }

    fn lookup(&self, path: &str) -> Option<String> {
        if let Some(name) = path.strip_prefix("Attributes.") {
            return self.attributes.get(name).cloned();
        }
        if let Some(name) = path.strip_prefix("External.") {
            return self.external.get(name).cloned();
        }
        if path == "StoredCustomerInput" {
            return self.stored_input.clone();
        }
        if let Some(name) = path.strip_prefix("Lex.") {
            return self.lex.get(name).cloned();
        }
        self.contact.get(path).cloned()
    }

    /// Text with each `$.` reference in it replaced by its value.
    fn interpolate(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("$.") {
            out.push_str(&rest[..at]);
            let path_len = rest[at + 2..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .unwrap_or(rest.len() - at - 2);
            // A sentence's full stop is not part of the reference.
            let path = rest[at + 2..at + 2 + path_len].trim_end_matches('.');
            out.push_str(&self.lookup(path).unwrap_or_default());
            rest = &rest[at + 2 + path.len()..];
        }
        out.push_str(rest);
        out
    }

    fn number(&self, value: Option<&Value>) -> Option<f64> {
        match value? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => self.resolve(s).trim().parse().ok(),
            _ => None,
        }
    }
}

enum Answered {
    Go(Option<String>),
    StillWaiting,
    /// The action goes on waiting, now for this, until then.
    WaitAgain(WaitingFor, Millis),
}

fn flag(action: &Action, name: &str) -> bool {
    action
        .parameters
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn wait_for_return(action: &Action) -> bool {
    action
        .parameters
        .get("Events")
        .and_then(Value::as_array)
        .is_some_and(|events| events.iter().any(|e| e == "CustomerReturned"))
}

/// An id from an id or an ARN (`.../queue/ID`).
fn last_segment(reference: &str) -> String {
    reference
        .rsplit('/')
        .next()
        .unwrap_or(reference)
        .to_string()
}

/// Whether a condition holds for `value`.
pub fn holds(condition: &Condition, value: &str) -> bool {
    let Some(operand) = condition.operands.first() else {
        return false;
    };
    let operand = match operand {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let numbers = || {
        Some((
            value.trim().parse::<f64>().ok()?,
            operand.trim().parse::<f64>().ok()?,
        ))
    };
    match condition.operator.as_str() {
        "Equals" => value == operand,
        "TextStartsWith" => value.starts_with(&operand),
        "TextEndsWith" => value.ends_with(&operand),
        "TextContains" => value.contains(&operand),
        "NumberLessThan" | "NumericLessThan" => numbers().is_some_and(|(v, o)| v < o),
        "NumberLessOrEqualTo" => numbers().is_some_and(|(v, o)| v <= o),
        "NumberGreaterThan" => numbers().is_some_and(|(v, o)| v > o),
        "NumberGreaterOrEqualTo" => numbers().is_some_and(|(v, o)| v >= o),
        _ => false,
    }
}
