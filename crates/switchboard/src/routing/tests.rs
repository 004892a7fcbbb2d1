//! The routing rules, driven through the engine with chosen instants (no clock, no sleeps).

use super::engine::{
    Effect, Engine, Millis, Presence, Profile, QueueKey, RoutingError, Timers, Withdrawn,
};

const SECOND: Millis = 1_000;
const OFFER_TIMEOUT: Millis = 30 * SECOND;
const CUSTOMER_GONE: Millis = 120 * SECOND;

fn profile(concurrency: usize, queues: &[(&str, u32, Millis)]) -> Profile {
    Profile {
        concurrency,
        auto_accept: false,
        queues: queues
            .iter()
            .map(|(q, priority, delay)| (q.to_string(), *priority, *delay))
            .collect(),
    }
}

/// Queues `q1` (at most 3 contacts) and `q2` (no limit), and the given agents.
fn engine(agents: Vec<(&str, Profile)>) -> Engine {
    Engine::new(
        Timers {
            offer_timeout: OFFER_TIMEOUT,
            customer_gone: CUSTOMER_GONE,
        },
        [("q1".to_string(), Some(3)), ("q2".to_string(), None)],
        agents.into_iter().map(|(id, p)| (id.to_string(), p)),
    )
}

/// Signs the agent in: one open connection and status Available.
fn available(e: &mut Engine, now: Millis, agent: &str) -> Vec<Effect> {
    let mut effects = e.agent_connections(now, agent, 1).unwrap();
    effects.extend(e.set_presence(now, agent, Presence::Available).unwrap());
    effects
}

fn offer(agent: &str, contact: &str, now: Millis) -> Effect {
    Effect::Offer {
        agent: agent.into(),
        contact: contact.into(),
        expires_at: now + OFFER_TIMEOUT,
    }
}

fn connect(agent: &str, contact: &str) -> Effect {
    Effect::Connect {
        agent: agent.into(),
        contact: contact.into(),
    }
}

#[test]
fn contacts_are_offered_first_in_first_out() {
    let mut e = engine(vec![("a", profile(1, &[("q1", 1, 0)]))]);
    assert_eq!(e.enqueue(0, "c1", "q1").unwrap(), vec![]);
    assert_eq!(e.enqueue(SECOND, "c2", "q1").unwrap(), vec![]);
    assert_eq!(
        available(&mut e, 5 * SECOND, "a"),
        vec![offer("a", "c1", 5 * SECOND)]
    );
    assert_eq!(
        e.accept(6 * SECOND, "a", "c1").unwrap(),
        vec![connect("a", "c1")]
    );
    // One slot, now taken: c2 waits, through the chat and its After Contact Work.
    assert_eq!(e.contact_ended(7 * SECOND, "c1"), vec![]);
    assert_eq!(e.agent("a").unwrap().after_work, vec!["c1".to_string()]);
    assert_eq!(
        e.clear_after_work(8 * SECOND, "a", "c1").unwrap(),
        vec![offer("a", "c2", 8 * SECOND)]
    );
}

#[test]
fn the_best_priority_queue_goes_first_then_the_oldest_contact() {
    let mut e = engine(vec![("a", profile(3, &[("q1", 2, 0), ("q2", 1, 0)]))]);
    e.enqueue(0, "old-in-q1", "q1").unwrap();
    e.enqueue(SECOND, "new-in-q2", "q2").unwrap();
    e.enqueue(2 * SECOND, "newer-in-q2", "q2").unwrap();
    let effects = available(&mut e, 3 * SECOND, "a");
    assert_eq!(
        effects,
        vec![
            offer("a", "new-in-q2", 3 * SECOND),
            offer("a", "newer-in-q2", 3 * SECOND),
            offer("a", "old-in-q1", 3 * SECOND),
        ]
    );
}

#[test]
fn a_queue_delay_holds_a_contact_back_from_that_profile_only() {
    let mut e = engine(vec![
        ("slow", profile(1, &[("q1", 1, 10 * SECOND)])),
        ("fast", profile(1, &[("q2", 1, 0)])),
    ]);
    available(&mut e, 0, "slow");
    assert_eq!(e.enqueue(0, "c1", "q1").unwrap(), vec![]);
    assert_eq!(e.next_deadline(0), Some(10 * SECOND));
    assert_eq!(e.tick(10 * SECOND - 1), vec![]);
    assert_eq!(e.tick(10 * SECOND), vec![offer("slow", "c1", 10 * SECOND)]);
}

#[test]
fn a_delay_already_served_is_no_deadline() {
    // Nobody free: the contact waits past its delay, and the router must not wake for it again.
    let mut e = engine(vec![("slow", profile(1, &[("q1", 1, 10 * SECOND)]))]);
    e.enqueue(0, "c1", "q1").unwrap();
    e.customer_sockets(0, "c1", 1);
    assert_eq!(e.next_deadline(0), Some(10 * SECOND));
    assert_eq!(e.tick(10 * SECOND), vec![]);
    assert_eq!(e.next_deadline(10 * SECOND), None);
}

#[test]
fn an_agents_figures_give_each_offer_its_deadline() {
    let mut e = engine(vec![("a", profile(2, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.enqueue(1_000, "c1", "q2").unwrap();
    e.enqueue(4_000, "c2", "q2").unwrap();
    let figures = e.agent("a").unwrap();
    assert_eq!(figures.offers, vec!["c1".to_string(), "c2".to_string()]);
    assert_eq!(
        figures.offer_deadlines,
        vec![1_000 + OFFER_TIMEOUT, 4_000 + OFFER_TIMEOUT]
    );
    e.accept(5_000, "a", "c1").unwrap();
    assert_eq!(
        e.agent("a").unwrap().offer_deadlines,
        vec![4_000 + OFFER_TIMEOUT]
    );
}

#[test]
fn an_agent_is_never_offered_more_than_their_concurrency() {
    let mut e = engine(vec![("a", profile(2, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    for (i, c) in ["c1", "c2", "c3"].iter().enumerate() {
        e.enqueue(i as Millis, c, "q2").unwrap();
    }
    let figures = e.agent("a").unwrap();
    assert_eq!(figures.offers, vec!["c1".to_string(), "c2".to_string()]);
    assert_eq!(e.position("c3"), Some((3, 3)));
    e.accept(5, "a", "c1").unwrap();
    e.accept(5, "a", "c2").unwrap();
    assert_eq!(e.position("c3"), Some((1, 1)));
    assert_eq!(e.agent("a").unwrap().active.len(), 2);
}

#[test]
fn the_agent_idle_longest_is_offered_first() {
    let p = profile(2, &[("q2", 1, 0)]);
    let mut e = engine(vec![("b", p.clone()), ("a", p.clone()), ("c", p)]);
    available(&mut e, 0, "a");
    available(&mut e, 5 * SECOND, "b");
    available(&mut e, 7 * SECOND, "c");
    assert_eq!(
        e.enqueue(10 * SECOND, "c1", "q2").unwrap(),
        vec![offer("a", "c1", 10 * SECOND)]
    );
    e.accept(11 * SECOND, "a", "c1").unwrap();
    // Agents with nothing to do come before an agent with a chat, however long idle.
    assert_eq!(
        e.enqueue(12 * SECOND, "c2", "q2").unwrap(),
        vec![offer("b", "c2", 12 * SECOND)]
    );
    e.accept(13 * SECOND, "b", "c2").unwrap();
    assert_eq!(
        e.enqueue(14 * SECOND, "c3", "q2").unwrap(),
        vec![offer("c", "c3", 14 * SECOND)]
    );
    e.accept(15 * SECOND, "c", "c3").unwrap();
    // All busy with one chat each: the one whose last chat is oldest.
    assert_eq!(
        e.enqueue(16 * SECOND, "c4", "q2").unwrap(),
        vec![offer("a", "c4", 16 * SECOND)]
    );
}

#[test]
fn a_missed_offer_sets_the_agent_missed_and_returns_the_contact_to_the_head() {
    let mut e = engine(vec![
        ("a", profile(1, &[("q2", 1, 0)])),
        ("b", profile(1, &[("q2", 1, 0)])),
    ]);
    available(&mut e, 0, "a");
    e.enqueue(SECOND, "c1", "q2").unwrap();
    e.enqueue(2 * SECOND, "c2", "q2").unwrap();
    assert_eq!(e.next_deadline(0), Some(SECOND + OFFER_TIMEOUT));
    assert_eq!(e.tick(SECOND + OFFER_TIMEOUT - 1), vec![]);
    let at = SECOND + OFFER_TIMEOUT;
    assert_eq!(
        e.tick(at),
        vec![
            Effect::OfferWithdrawn {
                agent: "a".into(),
                contact: "c1".into(),
                why: Withdrawn::Missed
            },
            Effect::PresenceChanged {
                agent: "a".into(),
                presence: Presence::Missed
            },
        ]
    );
    assert_eq!(e.position("c1"), Some((1, 2)));
    assert_eq!(e.accept(at, "a", "c1"), Err(RoutingError::NoSuchOffer));
    // Agent b arrives: the missed contact comes first. a gets nothing until they choose a status.
    assert_eq!(
        available(&mut e, at + 1, "b"),
        vec![offer("b", "c1", at + 1)]
    );
    assert_eq!(
        e.set_presence(at + 2, "a", Presence::Available).unwrap(),
        vec![offer("a", "c2", at + 2)]
    );
}

#[test]
fn offers_that_lapse_together_are_each_withdrawn_once() {
    // Found by the routing property test: the first miss took the agent's other offer back, and
    // the second miss withdrew it again, telling the agent twice.
    let mut e = engine(vec![("a", profile(2, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.enqueue(0, "c1", "q2").unwrap();
    e.enqueue(SECOND, "c2", "q2").unwrap();
    let effects = e.tick(SECOND + OFFER_TIMEOUT);
    let withdrawn: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::OfferWithdrawn { .. }))
        .collect();
    assert_eq!(withdrawn.len(), 2, "{effects:?}");
    let missed = effects
        .iter()
        .filter(|e| matches!(e, Effect::PresenceChanged { .. }))
        .count();
    assert_eq!(missed, 1, "{effects:?}");
    assert_eq!(e.position("c1"), Some((1, 2)));
    assert_eq!(e.position("c2"), Some((2, 2)));
}

#[test]
fn abandoned_contacts_are_ended_before_anyone_is_offered_a_chat() {
    // Found by the routing property test: ending the first abandoned contact made offers, so an
    // auto-accepting agent was connected to the second and then saw it ended as abandoned.
    let mut e = engine(vec![(
        "a",
        Profile {
            auto_accept: true,
            ..profile(2, &[("q2", 1, 5 * SECOND)])
        },
    )]);
    available(&mut e, 0, "a");
    e.enqueue(0, "c1", "q1").unwrap();
    e.enqueue(0, "c2", "q2").unwrap();
    let effects = e.tick(CUSTOMER_GONE);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Connect { .. })),
        "{effects:?}"
    );
    let ended = effects
        .iter()
        .filter(|e| matches!(e, Effect::EndAbandoned { .. }))
        .count();
    assert_eq!(ended, 2, "{effects:?}");
    assert!(e.agent("a").unwrap().after_work.is_empty());
}

#[test]
fn a_rejected_contact_goes_to_someone_else_and_not_back_to_the_rejecter() {
    let mut e = engine(vec![
        ("a", profile(1, &[("q2", 1, 0)])),
        ("b", profile(1, &[("q2", 1, 0)])),
    ]);
    available(&mut e, 0, "a");
    e.enqueue(SECOND, "c1", "q2").unwrap();
    assert_eq!(e.reject(2 * SECOND, "a", "c1").unwrap(), vec![]);
    assert_eq!(e.agent("a").unwrap().presence, Presence::Available);
    assert_eq!(e.position("c1"), Some((1, 1)));
    assert_eq!(
        available(&mut e, 3 * SECOND, "b"),
        vec![offer("b", "c1", 3 * SECOND)]
    );
    // The rejecter is still offered other contacts.
    assert_eq!(
        e.enqueue(4 * SECOND, "c2", "q2").unwrap(),
        vec![offer("a", "c2", 4 * SECOND)]
    );
}

#[test]
fn offline_or_disconnected_agents_are_never_offered() {
    let mut e = engine(vec![("a", profile(1, &[("q2", 1, 0)]))]);
    e.enqueue(0, "c1", "q2").unwrap();
    // Available but no workspace connection open.
    assert_eq!(
        e.set_presence(SECOND, "a", Presence::Available).unwrap(),
        vec![]
    );
    assert_eq!(
        e.agent_connections(2 * SECOND, "a", 1).unwrap(),
        vec![offer("a", "c1", 2 * SECOND)]
    );
    // The last connection closes while the offer is out: it is withdrawn, not missed.
    assert_eq!(
        e.agent_connections(3 * SECOND, "a", 0).unwrap(),
        vec![Effect::OfferWithdrawn {
            agent: "a".into(),
            contact: "c1".into(),
            why: Withdrawn::AgentUnavailable
        }]
    );
    assert_eq!(e.agent("a").unwrap().presence, Presence::Available);
    // Connected again but in a custom status, then Offline: still nothing.
    e.agent_connections(4 * SECOND, "a", 1).unwrap();
    e.set_presence(4 * SECOND, "a", Presence::Offline).unwrap();
    e.set_presence(4 * SECOND, "a", Presence::Custom("break".into()))
        .unwrap();
    assert_eq!(e.tick(5 * SECOND), vec![]);
    assert_eq!(e.position("c1"), Some((1, 1)));
}

#[test]
fn a_customer_who_leaves_the_queue_is_removed_at_once() {
    let mut e = engine(vec![("a", profile(1, &[("q2", 1, 0)]))]);
    e.enqueue(0, "waiting", "q2").unwrap();
    assert_eq!(e.contact_ended(SECOND, "waiting"), vec![]);
    assert_eq!(e.position("waiting"), None);
    assert_eq!(e.figures(SECOND, &["q2".to_string()]).contacts_in_queue, 0);
    available(&mut e, 2 * SECOND, "a");
    e.enqueue(3 * SECOND, "offered", "q2").unwrap();
    assert_eq!(
        e.contact_ended(4 * SECOND, "offered"),
        vec![Effect::OfferWithdrawn {
            agent: "a".into(),
            contact: "offered".into(),
            why: Withdrawn::CustomerLeft
        }]
    );
    assert!(e.agent("a").unwrap().offers.is_empty());
}

#[test]
fn a_queued_customer_without_a_socket_for_too_long_is_ended() {
    let mut e = engine(vec![("a", profile(1, &[("q2", 1, 0)]))]);
    e.enqueue(0, "never-connected", "q2").unwrap();
    e.enqueue(0, "left-later", "q2").unwrap();
    e.customer_sockets(5 * SECOND, "left-later", 1);
    e.customer_sockets(50 * SECOND, "left-later", 0);
    assert_eq!(e.next_deadline(0), Some(CUSTOMER_GONE));
    assert_eq!(e.tick(CUSTOMER_GONE - 1), vec![]);
    assert_eq!(
        e.tick(CUSTOMER_GONE),
        vec![Effect::EndAbandoned {
            contact: "never-connected".into()
        }]
    );
    // A socket that comes back in time keeps the customer in the queue.
    e.customer_sockets(100 * SECOND, "left-later", 1);
    assert_eq!(e.tick(50 * SECOND + CUSTOMER_GONE), vec![]);
    assert_eq!(e.position("left-later"), Some((1, 1)));
    e.customer_sockets(200 * SECOND, "left-later", 0);
    assert_eq!(
        e.tick(200 * SECOND + CUSTOMER_GONE),
        vec![Effect::EndAbandoned {
            contact: "left-later".into()
        }]
    );
    assert_eq!(e.next_deadline(0), None);
}

#[test]
fn a_connected_customer_is_not_ended_for_having_no_socket() {
    let mut e = engine(vec![("a", profile(1, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.enqueue(0, "c1", "q2").unwrap();
    e.accept(SECOND, "a", "c1").unwrap();
    assert_eq!(e.tick(10 * CUSTOMER_GONE), vec![]);
    assert_eq!(e.agent_of("c1"), Some("a"));
}

#[test]
fn a_full_queue_refuses_new_contacts() {
    let mut e = engine(vec![]);
    for c in ["c1", "c2", "c3"] {
        e.enqueue(0, c, "q1").unwrap();
    }
    assert_eq!(
        e.enqueue(0, "c4", "q1"),
        Err(RoutingError::QueueFull("q1".into()))
    );
    assert_eq!(
        e.enqueue(0, "c4", "nope"),
        Err(RoutingError::UnknownQueue("nope".into()))
    );
    e.contact_ended(1, "c2");
    e.enqueue(2, "c4", "q1").unwrap();
    assert_eq!(e.position("c4"), Some((3, 3)));
}

#[test]
fn a_flow_may_queue_a_contact_for_one_agent_in_their_own_queue() {
    let p = profile(1, &[("q2", 1, 0)]);
    let mut e = engine(vec![("a", p.clone()), ("b", p)]);
    available(&mut e, 0, "a");
    // A flow whose target was set by agent (UpdateContactTargetQueue AgentId) sends the chat to
    // b's own queue, which has no limit: a is not offered it.
    assert_eq!(e.enqueue(SECOND, "c1", "agent/b").unwrap(), vec![]);
    assert_eq!(
        available(&mut e, 2 * SECOND, "b"),
        vec![offer("b", "c1", 2 * SECOND)]
    );
    assert_eq!(
        e.enqueue(3 * SECOND, "c2", "agent/nobody"),
        Err(RoutingError::UnknownAgent("nobody".into()))
    );
}

#[test]
fn a_transfer_held_for_its_flow_waits_where_the_flow_sends_it_and_not_for_its_passer() {
    let p = profile(2, &[("q1", 1, 0), ("q2", 1, 0)]);
    let mut e = engine(vec![("a", p.clone()), ("b", p)]);
    available(&mut e, 0, "a");
    e.enqueue(SECOND, "c1", "q1").unwrap();
    e.accept(2 * SECOND, "a", "c1").unwrap();
    e.transfer(3 * SECOND, "a", "c1", "n1", QueueKey::Queue("q1".into()))
        .unwrap();
    // The transfer flow runs: the new contact is held; the flow queues it in q2, which a
    // serves too, but a passed it on.
    assert_eq!(
        e.hold(4 * SECOND, "n1", "q1"),
        Ok(()),
        "held again where it is"
    );
    e.hold(4 * SECOND, "n1", "q2").unwrap();
    assert_eq!(e.position("n1"), Some((1, 1)));
    assert_eq!(e.release(5 * SECOND, "n1"), vec![]);
    assert_eq!(
        available(&mut e, 6 * SECOND, "b"),
        vec![offer("b", "n1", 6 * SECOND)]
    );
}

#[test]
fn a_waiting_contact_a_flow_sends_elsewhere_moves_there_as_a_new_arrival() {
    let mut e = engine(vec![("b", profile(1, &[("q2", 1, 0)]))]);
    e.enqueue(0, "c1", "q1").unwrap();
    e.enqueue(SECOND, "c2", "q1").unwrap();
    e.enqueue(2 * SECOND, "c3", "q2").unwrap();
    // c1's customer queue flow transfers it to q2: it leaves q1 and waits behind c3.
    e.hold(3 * SECOND, "c1", "q2").unwrap();
    assert_eq!(e.position("c2"), Some((1, 1)));
    assert_eq!(e.release(3 * SECOND, "c1"), vec![]);
    assert_eq!(e.position("c1"), Some((2, 2)));
    // A full queue refuses the move, and the contact stays where it was.
    e.enqueue(4 * SECOND, "c4", "q1").unwrap();
    e.enqueue(4 * SECOND, "c5", "q1").unwrap();
    assert_eq!(
        e.hold(5 * SECOND, "c3", "q1"),
        Err(RoutingError::QueueFull("q1".into()))
    );
    assert_eq!(e.position("c3"), Some((1, 2)));
    let effects = available(&mut e, 6 * SECOND, "b");
    assert_eq!(effects, vec![offer("b", "c3", 6 * SECOND)]);
}

#[test]
fn auto_accept_connects_without_an_offer() {
    let mut p = profile(1, &[("q2", 1, 0)]);
    p.auto_accept = true;
    let mut e = engine(vec![("a", p)]);
    available(&mut e, 0, "a");
    assert_eq!(
        e.enqueue(SECOND, "c1", "q2").unwrap(),
        vec![connect("a", "c1")]
    );
    assert_eq!(e.next_deadline(0), None);
}

#[test]
fn a_transfer_to_an_agent_goes_before_older_queued_contacts() {
    let p = profile(2, &[("q2", 1, 0)]);
    let mut e = engine(vec![("a", p.clone()), ("b", p)]);
    available(&mut e, 0, "a");
    e.enqueue(SECOND, "c1", "q2").unwrap();
    e.accept(2 * SECOND, "a", "c1").unwrap();
    e.set_presence(3 * SECOND, "b", Presence::Offline).unwrap();
    e.agent_connections(3 * SECOND, "b", 1).unwrap();
    e.enqueue(4 * SECOND, "older", "q1").unwrap();
    e.enqueue(5 * SECOND, "waiting", "q2").unwrap();
    assert_eq!(
        e.agent("a").unwrap().offers,
        vec!["waiting".to_string()],
        "a's second slot"
    );
    e.reject(5 * SECOND, "a", "waiting").unwrap();
    e.transfer(6 * SECOND, "a", "c1", "c1", QueueKey::Agent("b".into()))
        .unwrap();
    assert_eq!(e.agent("a").unwrap().after_work, vec!["c1".to_string()]);
    // b comes on: their own queue comes first, though "waiting" has waited longer.
    let effects = e
        .set_presence(7 * SECOND, "b", Presence::Available)
        .unwrap();
    assert_eq!(effects[0], offer("b", "c1", 7 * SECOND));
    assert_eq!(effects[1], offer("b", "waiting", 7 * SECOND));
    e.accept(8 * SECOND, "b", "c1").unwrap();
    assert_eq!(e.agent_of("c1"), Some("b"));
    // A transfer to a queue: the contact waits there as a new arrival, behind "waiting" (which
    // is still being offered to b).
    e.transfer(9 * SECOND, "b", "c1", "c1", QueueKey::Queue("q2".into()))
        .unwrap();
    assert_eq!(e.position("c1"), Some((2, 2)));
    assert_eq!(
        e.transfer(9 * SECOND, "b", "c1", "c1", QueueKey::Queue("q2".into())),
        Err(RoutingError::NotAgentsContact)
    );
    assert_eq!(
        e.transfer(9 * SECOND, "a", "x", "x", QueueKey::Queue("nope".into())),
        Err(RoutingError::UnknownQueue("nope".into()))
    );
    assert_eq!(
        e.transfer(9 * SECOND, "a", "x", "x", QueueKey::Agent("a".into())),
        Err(RoutingError::TransferToSelf)
    );
}

#[test]
fn a_transferred_contact_is_not_offered_back_to_the_agent_who_passed_it_on() {
    let p = profile(3, &[("q2", 1, 0)]);
    let mut e = engine(vec![("a", p.clone()), ("b", p)]);
    available(&mut e, 0, "a");
    e.enqueue(SECOND, "c1", "q2").unwrap();
    e.accept(2 * SECOND, "a", "c1").unwrap();
    assert_eq!(
        e.transfer(3 * SECOND, "a", "c1", "c1", QueueKey::Queue("q2".into()))
            .unwrap(),
        vec![],
        "a has free slots but passed c1 on"
    );
    assert_eq!(
        available(&mut e, 4 * SECOND, "b"),
        vec![offer("b", "c1", 4 * SECOND)]
    );
}

#[test]
fn queue_figures_count_contacts_agents_and_slots() {
    let mut e = engine(vec![
        ("a", profile(3, &[("q2", 1, 0)])),
        ("b", profile(2, &[("q2", 1, 0)])),
        ("other", profile(1, &[("q1", 1, 0)])),
    ]);
    available(&mut e, 0, "a");
    e.agent_connections(0, "b", 1).unwrap();
    e.set_presence(0, "b", Presence::Custom("break".into()))
        .unwrap();
    e.enqueue(SECOND, "c1", "q2").unwrap();
    e.accept(2 * SECOND, "a", "c1").unwrap();
    e.enqueue(3 * SECOND, "c2", "q2").unwrap();
    e.reject(4 * SECOND, "a", "c2").unwrap();
    let f = e.figures(10 * SECOND, &["q2".to_string()]);
    assert_eq!(f.contacts_in_queue, 1);
    assert_eq!(f.oldest_contact_age, Some(7 * SECOND));
    assert_eq!(f.agents_online, 2);
    assert_eq!(f.agents_available, 1);
    assert_eq!(f.agents_on_contact, 1);
    assert_eq!(f.slots_active, 1);
    assert_eq!(f.slots_available, 2);
    assert_eq!(f.agents_non_productive, 1);
    // Together with q1, "other" counts too, and each agent only once.
    let both = e.figures(10 * SECOND, &["q1".to_string(), "q2".to_string()]);
    assert_eq!(both.agents_online, 2, "other is Offline");
    assert_eq!(both.contacts_in_queue, 1);
    assert_eq!(e.agent("b").unwrap().presence_since, 0);
}

#[test]
fn a_held_contact_counts_in_its_queue_but_is_offered_only_once_released() {
    let mut e = engine(vec![("a", profile(1, &[("q1", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.hold(SECOND, "c1", "q1").unwrap();
    e.hold(SECOND, "c2", "q1").unwrap();
    e.hold(SECOND, "c3", "q1").unwrap();
    assert_eq!(
        e.hold(SECOND, "c4", "q1"),
        Err(RoutingError::QueueFull("q1".into()))
    );
    assert_eq!(e.tick(2 * SECOND), vec![]);
    assert_eq!(
        e.release(3 * SECOND, "c2"),
        vec![offer("a", "c2", 3 * SECOND)]
    );
    // A hold whose chat was never written is given back.
    e.contact_ended(4 * SECOND, "c3");
    e.hold(5 * SECOND, "c4", "q1").unwrap();
}

#[test]
fn restored_contacts_wait_in_their_old_order_or_stay_with_their_agent() {
    let mut e = engine(vec![
        ("a", profile(2, &[("q1", 1, 0)])),
        ("b", profile(1, &[("q1", 1, 0)])),
    ]);
    let now = 100 * SECOND;
    e.restore(now, "with-a", "q1", SECOND, Some("a"));
    e.restore(now, "older", "q1", 2 * SECOND, None);
    e.restore(now, "newer", "q1", 3 * SECOND, None);
    assert_eq!(e.agent_of("with-a"), Some("a"));
    assert_eq!(e.position("older"), Some((1, 2)));
    assert_eq!(available(&mut e, now, "b"), vec![offer("b", "older", now)]);
    // a has one of two slots taken by the restored chat.
    assert_eq!(available(&mut e, now, "a"), vec![offer("a", "newer", now)]);
}

#[test]
fn a_restored_waiting_chat_whose_customer_never_returns_is_ended() {
    let mut e = engine(vec![("a", profile(1, &[("q1", 1, 0)]))]);
    let now = 100 * SECOND;
    e.restore(now, "gone", "q1", SECOND, None);
    e.restore(now, "back", "q1", 2 * SECOND, None);
    e.restore(now, "with-a", "q1", 3 * SECOND, Some("a"));
    e.customer_sockets(now + SECOND, "back", 1);
    assert_eq!(e.tick(now + CUSTOMER_GONE - 1), vec![]);
    assert_eq!(
        e.tick(now + CUSTOMER_GONE),
        vec![Effect::EndAbandoned {
            contact: "gone".into()
        }]
    );
    assert_eq!(e.position("back"), Some((1, 1)));
    assert_eq!(
        e.agent_of("with-a"),
        Some("a"),
        "a connected chat is not abandoned"
    );
}

#[test]
fn an_accepted_chat_that_ended_before_the_agent_joined_leaves_no_after_contact_work() {
    let mut e = engine(vec![("a", profile(1, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.enqueue(0, "c1", "q2").unwrap();
    e.enqueue(0, "c2", "q2").unwrap();
    e.accept(SECOND, "a", "c1").unwrap();
    // Joining the chat failed: the slot is free again at once, and c2 is offered.
    assert_eq!(
        e.never_joined(2 * SECOND, "a", "c1"),
        vec![offer("a", "c2", 2 * SECOND)]
    );
    assert!(e.agent("a").unwrap().after_work.is_empty());
    assert_eq!(e.agent_of("c1"), None);
}

#[test]
fn missing_one_offer_withdraws_the_agents_other_offers() {
    let mut e = engine(vec![("a", profile(2, &[("q2", 1, 0)]))]);
    available(&mut e, 0, "a");
    e.enqueue(0, "c1", "q2").unwrap();
    e.enqueue(SECOND, "c2", "q2").unwrap();
    let effects = e.tick(OFFER_TIMEOUT);
    assert!(
        effects.contains(&Effect::OfferWithdrawn {
            agent: "a".into(),
            contact: "c2".into(),
            why: Withdrawn::AgentUnavailable
        }),
        "{effects:?}"
    );
    assert!(e.agent("a").unwrap().offers.is_empty());
    assert_eq!(e.position("c1"), Some((1, 2)));
    assert_eq!(
        e.position("c2"),
        Some((2, 2)),
        "c2 keeps its place behind c1"
    );
}

#[test]
fn a_transfer_hands_the_chat_on_to_a_new_contact_held_until_released() {
    let p = profile(2, &[("q2", 1, 0)]);
    let mut e = engine(vec![("a", p.clone()), ("b", p)]);
    available(&mut e, 0, "a");
    available(&mut e, 0, "b");
    e.enqueue(SECOND, "c1", "q2").unwrap();
    let first = e.agent("a").unwrap().offers.contains(&"c1".to_string());
    let (holder, other) = if first { ("a", "b") } else { ("b", "a") };
    e.accept(2 * SECOND, holder, "c1").unwrap();
    e.customer_sockets(2 * SECOND, "c1", 1);

    // Held: not offered (to anyone) until its chat has recorded it.
    let effects = e
        .transfer(3 * SECOND, holder, "c1", "c2", QueueKey::Queue("q2".into()))
        .unwrap();
    assert_eq!(effects, vec![]);
    assert_eq!(e.agent(holder).unwrap().after_work, vec!["c1".to_string()]);
    assert_eq!(e.position("c2"), Some((1, 1)));
    // The old contact's news is the new one's: its place, and the customer's sockets.
    assert_eq!(e.position("c1"), Some((1, 1)));
    e.customer_sockets(3 * SECOND, "c1", 0);
    assert_eq!(
        e.next_deadline(3 * SECOND),
        Some(3 * SECOND + CUSTOMER_GONE)
    );
    e.customer_sockets(3 * SECOND, "c1", 1);

    // Released: offered to the other agent, never back to the one who passed it on.
    let effects = e.release(4 * SECOND, "c2");
    assert_eq!(effects, vec![offer(other, "c2", 4 * SECOND)]);
    e.accept(5 * SECOND, other, "c2").unwrap();
    assert_eq!(e.agent_of("c2"), Some(other));

    // The chat ending, told as the old contact: the new one's agent goes to After Contact Work.
    e.contact_ended(6 * SECOND, "c1");
    assert_eq!(e.agent(other).unwrap().after_work, vec!["c2".to_string()]);
    assert!(!e.knows("c2"));
}
