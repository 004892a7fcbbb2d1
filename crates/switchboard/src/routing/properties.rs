//! The routing promises, checked over random sequences of everything that can happen to an
//! engine: contacts arriving, held and released, agents changing status and connections,
//! accepting, rejecting, transferring, ending and clearing chats, customers' sockets coming and
//! going, and time passing. After every step:
//! - a contact is offered to, or connected with, at most one agent, and an offer is only made
//!   for a contact nobody has;
//! - no agent holds more offers, chats and After Contact Work together than their profile's
//!   concurrency;
//! - what the engine reports of each agent is exactly what its effects said;
//! - a chat an agent has is never ended as abandoned.

use std::collections::HashMap;

use proptest::prelude::*;

use super::engine::{Effect, Engine, Millis, Presence, Profile, QueueKey, Timers};

const AGENTS: [&str; 3] = ["a0", "a1", "a2"];
const QUEUES: [&str; 2] = ["q1", "q2"];

#[derive(Debug, Clone)]
enum Command {
    Enqueue {
        queue: usize,
    },
    Hold {
        queue: usize,
    },
    Release {
        contact: usize,
    },
    Presence {
        agent: usize,
        presence: usize,
    },
    Connections {
        agent: usize,
        open: usize,
    },
    Accept {
        agent: usize,
        contact: usize,
    },
    Reject {
        agent: usize,
        contact: usize,
    },
    End {
        contact: usize,
    },
    ClearAfterWork {
        agent: usize,
        contact: usize,
    },
    Transfer {
        agent: usize,
        contact: usize,
        to: usize,
    },
    CustomerSockets {
        contact: usize,
        open: usize,
    },
    NeverJoined {
        agent: usize,
        contact: usize,
    },
    Advance {
        millis: Millis,
    },
}

fn command() -> impl Strategy<Value = Command> {
    let agent = 0..AGENTS.len();
    // An index into the contacts made so far (taken modulo their number).
    let contact = 0usize..64;
    prop_oneof![
        3 => (0..QUEUES.len()).prop_map(|queue| Command::Enqueue { queue }),
        1 => (0..QUEUES.len()).prop_map(|queue| Command::Hold { queue }),
        1 => contact.clone().prop_map(|contact| Command::Release { contact }),
        2 => (agent.clone(), 0usize..4).prop_map(|(agent, presence)| Command::Presence { agent, presence }),
        1 => (agent.clone(), 0usize..3).prop_map(|(agent, open)| Command::Connections { agent, open }),
        3 => (agent.clone(), contact.clone()).prop_map(|(agent, contact)| Command::Accept { agent, contact }),
        1 => (agent.clone(), contact.clone()).prop_map(|(agent, contact)| Command::Reject { agent, contact }),
        2 => contact.clone().prop_map(|contact| Command::End { contact }),
        2 => (agent.clone(), contact.clone()).prop_map(|(agent, contact)| Command::ClearAfterWork { agent, contact }),
        1 => (agent.clone(), contact.clone(), 0..QUEUES.len() + AGENTS.len())
            .prop_map(|(agent, contact, to)| Command::Transfer { agent, contact, to }),
        1 => (contact.clone(), 0usize..2).prop_map(|(contact, open)| Command::CustomerSockets { contact, open }),
        1 => (agent, contact).prop_map(|(agent, contact)| Command::NeverJoined { agent, contact }),
        2 => (0 as Millis..90_000).prop_map(|millis| Command::Advance { millis }),
    ]
}

/// Each agent's profile: concurrency 1 to 3, auto-accept or not, and the queues they serve with
/// a delay of 0 or 5 seconds.
fn profiles() -> impl Strategy<Value = Vec<Profile>> {
    let profile = (
        1usize..=3,
        any::<bool>(),
        proptest::collection::vec((any::<bool>(), prop_oneof![Just(0), Just(5_000)]), 2),
    )
        .prop_map(|(concurrency, auto_accept, served)| Profile {
            concurrency,
            auto_accept,
            queues: served
                .into_iter()
                .zip(QUEUES)
                .filter(|((serves, _), _)| *serves)
                .map(|((_, delay), queue)| (queue.to_string(), 1, delay))
                .collect(),
        });
    proptest::collection::vec(profile, AGENTS.len())
}

/// Who has each contact, as the effects told it.
#[derive(Default)]
struct Model {
    offered: HashMap<String, String>,
    connected: HashMap<String, String>,
}

impl Model {
    fn apply(&mut self, effects: &[Effect]) -> Result<(), TestCaseError> {
        for effect in effects {
            match effect {
                Effect::Offer { agent, contact, .. } => {
                    prop_assert!(
                        !self.offered.contains_key(contact)
                            && !self.connected.contains_key(contact),
                        "{contact} offered to {agent} while another agent has it: {effects:?}"
                    );
                    self.offered.insert(contact.clone(), agent.clone());
                }
                Effect::Connect { agent, contact } => {
                    if let Some(offered_to) = self.offered.remove(contact) {
                        prop_assert_eq!(
                            &offered_to,
                            agent,
                            "{} connected to another agent",
                            contact
                        );
                    }
                    prop_assert!(
                        !self.connected.contains_key(contact),
                        "{contact} connected twice: {effects:?}"
                    );
                    self.connected.insert(contact.clone(), agent.clone());
                }
                Effect::OfferWithdrawn { agent, contact, .. } => {
                    let offered_to = self.offered.remove(contact);
                    prop_assert_eq!(
                        offered_to.as_ref(),
                        Some(agent),
                        "withdrawn offer of {} was not made",
                        contact
                    );
                }
                Effect::EndAbandoned { contact } => {
                    // Only a customer still waiting can have abandoned the chat.
                    prop_assert!(
                        !self.connected.contains_key(contact),
                        "{contact} ended as abandoned while an agent has it: {effects:?}"
                    );
                }
                Effect::PresenceChanged { .. } => {}
            }
        }
        Ok(())
    }

    fn of(map: &HashMap<String, String>, agent: &str) -> Vec<String> {
        let mut contacts: Vec<String> = map
            .iter()
            .filter(|(_, a)| a.as_str() == agent)
            .map(|(c, _)| c.clone())
            .collect();
        contacts.sort();
        contacts
    }

    /// The engine's account of every agent against the effects, and every agent within their
    /// slots.
    fn check(&self, engine: &Engine) -> Result<(), TestCaseError> {
        for agent in AGENTS {
            let figures = engine.agent(agent).expect("a configured agent");
            prop_assert_eq!(
                &figures.offers,
                &Self::of(&self.offered, agent),
                "offers of {}",
                agent
            );
            prop_assert_eq!(
                &figures.active,
                &Self::of(&self.connected, agent),
                "chats of {}",
                agent
            );
            let used = figures.offers.len() + figures.active.len() + figures.after_work.len();
            prop_assert!(
                used <= figures.slots,
                "{agent} holds {used} contacts with {} slots: {figures:?}",
                figures.slots
            );
        }
        Ok(())
    }
}

fn run(profiles: Vec<Profile>, commands: Vec<Command>) -> Result<(), TestCaseError> {
    let mut engine = Engine::new(
        Timers {
            offer_timeout: 30_000,
            customer_gone: 60_000,
        },
        [("q1".to_string(), Some(3)), ("q2".to_string(), None)],
        AGENTS.iter().map(|a| a.to_string()).zip(profiles),
    );
    let mut model = Model::default();
    let mut contacts: Vec<String> = Vec::new();
    let mut now: Millis = 1_000;
    // What happened, for the failure message.
    let mut history: Vec<String> = Vec::new();
    for command in commands {
        let described = format!("{command:?}");
        let pick = |i: usize| contacts.get(i % contacts.len().max(1)).cloned();
        let effects: Vec<Effect> = match command {
            Command::Enqueue { queue } => {
                let contact = format!("c{}", contacts.len());
                contacts.push(contact.clone());
                engine
                    .enqueue(now, &contact, QUEUES[queue])
                    .unwrap_or_default()
            }
            Command::Hold { queue } => {
                let contact = format!("c{}", contacts.len());
                contacts.push(contact.clone());
                let _ = engine.hold(now, &contact, QUEUES[queue]);
                Vec::new()
            }
            Command::Release { contact } => match pick(contact) {
                Some(c) => engine.release(now, &c),
                None => Vec::new(),
            },
            Command::Presence { agent, presence } => {
                let presence = match presence {
                    0 => Presence::Available,
                    1 => Presence::Offline,
                    2 => Presence::Custom("break".into()),
                    _ => Presence::Available,
                };
                engine
                    .set_presence(now, AGENTS[agent], presence)
                    .expect("a known agent")
            }
            Command::Connections { agent, open } => engine
                .agent_connections(now, AGENTS[agent], open)
                .expect("a known agent"),
            Command::Accept { agent, contact } => match pick(contact) {
                Some(c) => engine.accept(now, AGENTS[agent], &c).unwrap_or_default(),
                None => Vec::new(),
            },
            Command::Reject { agent, contact } => match pick(contact) {
                Some(c) => match engine.reject(now, AGENTS[agent], &c) {
                    Ok(effects) => {
                        let offered_to = model.offered.remove(&c);
                        prop_assert_eq!(offered_to.as_deref(), Some(AGENTS[agent]));
                        effects
                    }
                    Err(_) => Vec::new(),
                },
                None => Vec::new(),
            },
            Command::End { contact } => match pick(contact) {
                Some(c) => {
                    // A connected chat goes into the agent's After Contact Work.
                    model.connected.remove(&c);
                    engine.contact_ended(now, &c)
                }
                None => Vec::new(),
            },
            Command::ClearAfterWork { agent, contact } => match pick(contact) {
                Some(c) => engine
                    .clear_after_work(now, AGENTS[agent], &c)
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            Command::Transfer { agent, contact, to } => match pick(contact) {
                Some(c) => {
                    let to = match QUEUES.get(to) {
                        Some(queue) => QueueKey::Queue(queue.to_string()),
                        None => QueueKey::Agent(AGENTS[to - QUEUES.len()].to_string()),
                    };
                    let had = model.connected.get(&c).cloned();
                    // The contact itself waits (a requeue): the model follows one id per chat.
                    match engine.transfer(now, AGENTS[agent], &c, &c, to) {
                        Ok(effects) => {
                            prop_assert_eq!(had.as_deref(), Some(AGENTS[agent]));
                            model.connected.remove(&c);
                            effects
                        }
                        Err(_) => Vec::new(),
                    }
                }
                None => Vec::new(),
            },
            Command::CustomerSockets { contact, open } => {
                if let Some(c) = pick(contact) {
                    engine.customer_sockets(now, &c, open);
                }
                Vec::new()
            }
            Command::NeverJoined { agent, contact } => match pick(contact) {
                Some(c) => {
                    if model.connected.get(&c).map(String::as_str) == Some(AGENTS[agent]) {
                        model.connected.remove(&c);
                    }
                    engine.never_joined(now, AGENTS[agent], &c)
                }
                None => Vec::new(),
            },
            Command::Advance { millis } => {
                now += millis;
                engine.tick(now)
            }
        };
        history.push(format!("{described} -> {effects:?}"));
        let checked = model.apply(&effects).and_then(|()| model.check(&engine));
        if let Err(e) = checked {
            let recent = history[history.len().saturating_sub(12)..].join("\n  ");
            return Err(TestCaseError::fail(format!("{e}\nafter:\n  {recent}")));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_contact_is_offered_to_two_agents_and_no_agent_beyond_their_slots(
        profiles in profiles(),
        commands in proptest::collection::vec(command(), 1..120),
    ) {
        run(profiles, commands)?;
    }
}
