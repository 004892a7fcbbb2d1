//! The flow engine's rules, one test each, with the time and the world chosen by the test.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::engine::{
    Effect, Event, Millis, Run, Target, World, MAX_ACTIONS_WITHOUT_WAITING, MAX_ATTRIBUTE_BYTES,
};
use super::language::Flow;

const NOW: Millis = 1_000_000;

#[derive(Default)]
struct Fake {
    open: Option<bool>,
    metric: Option<f64>,
    percent: u32,
    flows: BTreeMap<String, Arc<Flow>>,
}

impl World for Fake {
    fn now(&self) -> Millis {
        NOW
    }
    fn open(&self, _hours: Option<&str>, _target: Option<&Target>) -> Option<bool> {
        self.open
    }
    fn metric(&self, _metric: &str, _target: Option<&Target>) -> Option<f64> {
        self.metric
    }
    fn flow(&self, flow_id: &str) -> Option<Arc<Flow>> {
        self.flows.get(flow_id).cloned()
    }
    fn percent(&self) -> u32 {
        self.percent
    }
}

fn flow(start: &str, actions: Value) -> Arc<Flow> {
    let content = json!({"Version": "2019-10-30", "StartAction": start, "Actions": actions});
    Arc::new(super::validate(&content.to_string()).unwrap_or_else(|p| panic!("{p:?}")))
}

fn run(flow: Arc<Flow>) -> Run {
    Run::new("f", flow, BTreeMap::new())
}

/// The effects without the flow log.
fn acts(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .filter(|e| !matches!(e, Effect::Trace { .. }))
        .collect()
}

fn message(text: &str) -> Effect {
    Effect::Message(text.into())
}

fn ended() -> Effect {
    Effect::Ended { error: None }
}

fn end() -> Value {
    json!({"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}})
}

#[test]
fn a_flow_greets_with_attributes_and_queues_the_chat() {
    let f = flow(
        "hi",
        json!([
            {"Identifier": "hi", "Type": "MessageParticipant",
             "Parameters": {"Text": "Hello $.Attributes.name. How can we help?"},
             "Transitions": {"NextAction": "target"}},
            {"Identifier": "target", "Type": "UpdateContactTargetQueue",
             "Parameters": {"QueueId": "arn:aws:connect:us-east-1:1:instance/i/queue/support"},
             "Transitions": {"NextAction": "queue"}},
            {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {},
             "Transitions": {"Errors": [{"NextAction": "busy", "ErrorType": "QueueAtCapacity"}]}},
            {"Identifier": "busy", "Type": "MessageParticipant", "Parameters": {"Text": "Busy."},
             "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let mut r = Run::new(
        "f",
        f.clone(),
        BTreeMap::from([("name".into(), "Kim".into())]),
    );
    let world = Fake::default();
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![
            message("Hello Kim. How can we help?"),
            Effect::Enqueue(Target::Queue("support".into()))
        ]
    );
    assert_eq!(acts(r.advance(Event::Queued(true), &world)), vec![ended()]);
    assert!(r.is_over());

    // A full queue takes the QueueAtCapacity branch.
    let mut r = run(f);
    r.advance(Event::Start, &world);
    assert_eq!(
        acts(r.advance(Event::Queued(false), &world)),
        vec![message("Busy."), Effect::Disconnect, ended()]
    );
}

#[test]
fn input_picks_the_condition_that_holds_or_times_out() {
    let f = flow(
        "ask",
        json!([
            {"Identifier": "ask", "Type": "GetParticipantInput",
             "Parameters": {"Text": "1 or 2?", "InputTimeLimitSeconds": "30", "StoreInput": "True"},
             "Transitions": {
                 "Conditions": [
                     {"NextAction": "one", "Condition": {"Operator": "Equals", "Operands": ["1"]}},
                     {"NextAction": "two", "Condition": {"Operator": "Equals", "Operands": ["2"]}}],
                 "Errors": [
                     {"NextAction": "late", "ErrorType": "InputTimeLimitExceeded"},
                     {"NextAction": "ask", "ErrorType": "NoMatchingCondition"}]}},
            {"Identifier": "one", "Type": "MessageParticipant",
             "Parameters": {"Text": "You said $.StoredCustomerInput"}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "two", "Type": "MessageParticipant", "Parameters": {"Text": "Two"},
             "Transitions": {"NextAction": "end"}},
            {"Identifier": "late", "Type": "MessageParticipant", "Parameters": {"Text": "Too late"},
             "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let world = Fake::default();
    let mut r = run(f.clone());
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![message("1 or 2?"), Effect::WakeAt(NOW + 30_000)]
    );
    // No condition holds: asked again.
    assert_eq!(
        acts(r.advance(Event::CustomerMessage("3".into()), &world)),
        vec![message("1 or 2?"), Effect::WakeAt(NOW + 30_000)]
    );
    assert_eq!(
        acts(r.advance(Event::CustomerMessage("1".into()), &world)),
        vec![message("You said 1"), Effect::Disconnect, ended()]
    );

    let mut r = run(f);
    r.advance(Event::Start, &world);
    assert_eq!(
        acts(r.advance(Event::Deadline, &world)),
        vec![message("Too late"), Effect::Disconnect, ended()]
    );
}

#[test]
fn attributes_are_set_compared_and_read_back() {
    let f = flow(
        "set",
        json!([
            {"Identifier": "set", "Type": "UpdateContactAttributes",
             "Parameters": {"Attributes": {"tier": "gold", "copy": "$.Attributes.name"}},
             "Transitions": {"NextAction": "compare"}},
            {"Identifier": "compare", "Type": "Compare",
             "Parameters": {"ComparisonValue": "$.Attributes.tier"},
             "Transitions": {"Conditions": [
                 {"NextAction": "vip", "Condition": {"Operator": "TextStartsWith", "Operands": ["go"]}}],
                 "Errors": [{"NextAction": "end", "ErrorType": "NoMatchingCondition"}]}},
            {"Identifier": "vip", "Type": "MessageParticipant",
             "Parameters": {"Text": "Welcome back, $.Attributes.copy."}, "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let mut r = Run::new("f", f, BTreeMap::from([("name".into(), "Kim".into())]));
    assert_eq!(
        acts(r.advance(Event::Start, &Fake::default())),
        vec![
            Effect::SetAttributes(BTreeMap::from([
                ("copy".into(), "Kim".into()),
                ("tier".into(), "gold".into())
            ])),
            message("Welcome back, Kim."),
            Effect::Disconnect,
            ended()
        ]
    );
    assert_eq!(r.attributes["tier"], "gold");
}

#[test]
fn attributes_beyond_the_limit_take_the_error_branch_and_set_nothing() {
    let f = flow(
        "set",
        json!([
            {"Identifier": "set", "Type": "UpdateContactAttributes",
             "Parameters": {"Attributes": {"blob": "x".repeat(MAX_ATTRIBUTE_BYTES)}},
             "Transitions": {"NextAction": "end",
                             "Errors": [{"NextAction": "full", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "full", "Type": "MessageParticipant",
             "Parameters": {"Text": "Too much"}, "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let mut r = run(f);
    assert_eq!(
        acts(r.advance(Event::Start, &Fake::default())),
        vec![message("Too much"), Effect::Disconnect, ended()]
    );
    assert!(r.attributes.is_empty());
}

#[test]
fn every_operator_compares_as_documented() {
    use super::engine::holds;
    use super::language::Condition;
    let c = |operator: &str, operand: Value| Condition {
        operator: operator.into(),
        operands: vec![operand],
    };
    assert!(holds(&c("Equals", json!("a")), "a"));
    assert!(!holds(&c("Equals", json!("a")), "A"));
    assert!(holds(&c("NumberLessThan", json!("10")), "9.5"));
    assert!(holds(&c("NumberLessOrEqualTo", json!(10)), "10"));
    assert!(holds(&c("NumberGreaterThan", json!("2")), "3"));
    assert!(holds(&c("NumberGreaterOrEqualTo", json!("3")), "3"));
    assert!(!holds(&c("NumberGreaterThan", json!("2")), "many"));
    assert!(holds(&c("TextStartsWith", json!("ab")), "abc"));
    assert!(holds(&c("TextEndsWith", json!("bc")), "abc"));
    assert!(holds(&c("TextContains", json!("b")), "abc"));
    assert!(holds(&c("NumericLessThan", json!("50")), "49"));
}

#[test]
fn hours_metrics_and_percentages_come_from_the_world() {
    let f = flow(
        "hours",
        json!([
            {"Identifier": "hours", "Type": "CheckHoursOfOperation", "Parameters": {},
             "Transitions": {"Conditions": [
                 {"NextAction": "split", "Condition": {"Operator": "Equals", "Operands": ["True"]}},
                 {"NextAction": "closed", "Condition": {"Operator": "Equals", "Operands": ["False"]}}],
                 "Errors": [{"NextAction": "closed", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "split", "Type": "DistributeByPercentage", "Parameters": {},
             "Transitions": {"Conditions": [
                 {"NextAction": "a", "Condition": {"Operator": "NumericLessThan", "Operands": ["30"]}},
                 {"NextAction": "b", "Condition": {"Operator": "NumericLessThan", "Operands": ["101"]}}]}},
            {"Identifier": "a", "Type": "MessageParticipant", "Parameters": {"Text": "A"}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "b", "Type": "CheckMetricData",
             "Parameters": {"MetricType": "NumberOfAgentsAvailable"},
             "Transitions": {"Conditions": [
                 {"NextAction": "staffed", "Condition": {"Operator": "NumberGreaterThan", "Operands": ["0"]}}],
                 "Errors": [{"NextAction": "closed", "ErrorType": "NoMatchingCondition"}]}},
            {"Identifier": "staffed", "Type": "MessageParticipant", "Parameters": {"Text": "Staffed"}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "closed", "Type": "MessageParticipant", "Parameters": {"Text": "Closed"}, "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let said = |world: Fake| -> Vec<Effect> {
        let mut r = run(f.clone());
        acts(r.advance(Event::Start, &world))
            .into_iter()
            .filter(|e| matches!(e, Effect::Message(_)))
            .collect()
    };
    assert_eq!(
        said(Fake {
            open: Some(false),
            ..Fake::default()
        }),
        vec![message("Closed")]
    );
    assert_eq!(
        said(Fake {
            open: None,
            ..Fake::default()
        }),
        vec![message("Closed")]
    );
    assert_eq!(
        said(Fake {
            open: Some(true),
            percent: 12,
            ..Fake::default()
        }),
        vec![message("A")]
    );
    assert_eq!(
        said(Fake {
            open: Some(true),
            percent: 80,
            metric: Some(2.0),
            ..Fake::default()
        }),
        vec![message("Staffed")]
    );
    assert_eq!(
        said(Fake {
            open: Some(true),
            percent: 80,
            metric: Some(0.0),
            ..Fake::default()
        }),
        vec![message("Closed")]
    );
}

#[test]
fn a_function_answer_is_read_as_external_and_a_failure_takes_the_error_branch() {
    let f = flow(
        "call",
        json!([
            {"Identifier": "call", "Type": "InvokeLambdaFunction",
             "Parameters": {"LambdaFunctionARN": "arn:switchboard:function:us-east-1:1:lookup",
                            "InvocationTimeLimitSeconds": "3",
                            "LambdaInvocationAttributes": {"who": "$.Attributes.name"}},
             "Transitions": {"NextAction": "say",
                             "Errors": [{"NextAction": "sorry", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "say", "Type": "MessageParticipant",
             "Parameters": {"Text": "Your balance is $.External.balance"}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "sorry", "Type": "MessageParticipant", "Parameters": {"Text": "Sorry"},
             "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let world = Fake::default();
    let mut r = Run::new(
        "f",
        f.clone(),
        BTreeMap::from([("name".into(), "Kim".into())]),
    );
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![
            Effect::Invoke {
                arn: "arn:switchboard:function:us-east-1:1:lookup".into(),
                parameters: BTreeMap::from([("who".into(), "Kim".into())]),
                until: NOW + 3_000,
            },
            Effect::WakeAt(NOW + 3_000)
        ]
    );
    // A customer message meanwhile is not the answer: the flow keeps waiting.
    assert_eq!(
        acts(r.advance(Event::CustomerMessage("hello?".into()), &world)),
        vec![]
    );
    let answer = BTreeMap::from([("balance".into(), "42".into())]);
    assert_eq!(
        acts(r.advance(Event::FunctionAnswered(Some(answer)), &world)),
        vec![message("Your balance is 42"), Effect::Disconnect, ended()]
    );

    let mut r = run(f);
    r.advance(Event::Start, &world);
    assert_eq!(
        acts(r.advance(Event::Deadline, &world)),
        vec![message("Sorry"), Effect::Disconnect, ended()]
    );
}

#[test]
fn a_wait_ends_on_its_timeout_or_the_customer_returning() {
    let f = flow(
        "wait",
        json!([
            {"Identifier": "wait", "Type": "Wait",
             "Parameters": {"TimeoutSeconds": "60", "Events": ["CustomerReturned"]},
             "Transitions": {"Conditions": [
                 {"NextAction": "back", "Condition": {"Operator": "Equals", "Operands": ["CustomerReturned"]}},
                 {"NextAction": "gone", "Condition": {"Operator": "Equals", "Operands": ["WaitCompleted"]}}]}},
            {"Identifier": "back", "Type": "MessageParticipant", "Parameters": {"Text": "Welcome back"}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "gone", "Type": "EndFlowExecution", "Parameters": {}},
            end()
        ]),
    );
    let world = Fake::default();
    let mut r = run(f.clone());
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![Effect::WakeAt(NOW + 60_000)]
    );
    assert_eq!(
        acts(r.advance(Event::CustomerMessage("hi".into()), &world)),
        vec![message("Welcome back"), Effect::Disconnect, ended()]
    );
    let mut r = run(f);
    r.advance(Event::Start, &world);
    assert_eq!(acts(r.advance(Event::Deadline, &world)), vec![ended()]);
}

#[test]
fn a_flow_hands_on_to_another_flow_and_sets_event_hooks() {
    let other = flow(
        "bye",
        json!([{"Identifier": "bye", "Type": "MessageParticipant", "Parameters": {"Text": "Other flow"},
                "Transitions": {"NextAction": "end"}}, end()]),
    );
    let f = flow(
        "hook",
        json!([
            {"Identifier": "hook", "Type": "UpdateContactEventHooks",
             "Parameters": {"EventHooks": {"CustomerQueue": "arn:aws:connect:us-east-1:1:instance/i/contact-flow/waiting"}},
             "Transitions": {"NextAction": "jump"}},
            {"Identifier": "jump", "Type": "TransferToFlow", "Parameters": {"ContactFlowId": "other"},
             "Transitions": {"Errors": [{"NextAction": "end", "ErrorType": "NoMatchingError"}]}},
            end()
        ]),
    );
    let world = Fake {
        flows: BTreeMap::from([("other".into(), other)]),
        ..Fake::default()
    };
    let mut r = run(f.clone());
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![
            Effect::SetEventHook {
                hook: "CustomerQueue".into(),
                flow_id: "waiting".into()
            },
            message("Other flow"),
            Effect::Disconnect,
            ended()
        ]
    );
    // A flow that is not there: the error branch.
    let mut r = run(f);
    assert_eq!(
        acts(r.advance(Event::Start, &Fake::default()))[1..],
        [Effect::Disconnect, ended()]
    );
}

#[test]
fn a_loop_without_waiting_ends_the_flow_with_an_error() {
    let f = flow(
        "a",
        json!([
            {"Identifier": "a", "Type": "UpdateFlowLoggingBehavior",
             "Parameters": {"FlowLoggingBehavior": "Enabled"}, "Transitions": {"NextAction": "b"}},
            {"Identifier": "b", "Type": "UpdateFlowLoggingBehavior",
             "Parameters": {"FlowLoggingBehavior": "Enabled"}, "Transitions": {"NextAction": "a"}}
        ]),
    );
    let effects = run(f).advance(Event::Start, &Fake::default());
    let traced = effects
        .iter()
        .filter(|e| matches!(e, Effect::Trace { .. }))
        .count();
    assert_eq!(traced, MAX_ACTIONS_WITHOUT_WAITING);
    assert!(
        matches!(effects.last(), Some(Effect::Ended { error: Some(why) }) if why.contains("without waiting"))
    );
}

#[test]
fn an_error_without_a_branch_ends_the_flow_and_says_why() {
    let f = flow(
        "queue",
        json!([{"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {}}]),
    );
    let effects = acts(run(f).advance(Event::Start, &Fake::default()));
    assert!(
        matches!(&effects[..], [Effect::Ended { error: Some(why) }] if why.contains("NoMatchingError")),
        "{effects:?}"
    );
}

#[test]
fn every_action_run_is_traced_with_its_outcome() {
    let f = flow(
        "hi",
        json!([
            {"Identifier": "hi", "Type": "MessageParticipant", "Parameters": {"Text": "Hi"},
             "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let effects = run(f).advance(Event::Start, &Fake::default());
    assert_eq!(
        traces(&effects),
        vec![("hi".into(), "done".into()), ("end".into(), "done".into())]
    );
}

/// The (action, outcome) pairs of the flow log among `effects`.
fn traces(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Trace {
                action, outcome, ..
            } => Some((action.clone(), outcome.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_flow_that_turns_its_log_off_leaves_no_trace_of_what_follows_until_it_turns_it_on() {
    let logging = |id: &str, behavior: &str, next: &str| {
        json!({"Identifier": id, "Type": "UpdateFlowLoggingBehavior",
               "Parameters": {"FlowLoggingBehavior": behavior}, "Transitions": {"NextAction": next}})
    };
    let f = flow(
        "off",
        json!([
            logging("off", "Disabled", "card"),
            {"Identifier": "card", "Type": "GetParticipantInput",
             "Parameters": {"Text": "Your card number?", "InputTimeLimitSeconds": "60", "StoreInput": "True"},
             "Transitions": {"NextAction": "on"}},
            logging("on", "Enabled", "end"),
            end()
        ]),
    );
    let world = Fake::default();
    let mut r = run(f.clone());
    let started = r.advance(Event::Start, &world);
    assert_eq!(
        traces(&started),
        [("off".to_string(), "flow log off from here".to_string())]
    );
    // Kept across a restart; what the customer types is not logged.
    let mut r = Run::resume(f, r.saved());
    let answered = r.advance(Event::CustomerMessage("4111 1111".into()), &world);
    assert_eq!(
        traces(&answered),
        [
            ("on".to_string(), "done".to_string()),
            ("end".to_string(), "done".to_string())
        ]
    );
}

#[test]
fn a_saved_run_resumes_where_it_waited_and_repeats_nothing() {
    let f = flow(
        "ask",
        json!([
            {"Identifier": "ask", "Type": "GetParticipantInput",
             "Parameters": {"Text": "Your order number?", "InputTimeLimitSeconds": "60", "StoreInput": "True"},
             "Transitions": {"NextAction": "thanks"}},
            {"Identifier": "thanks", "Type": "MessageParticipant",
             "Parameters": {"Text": "Looking up $.StoredCustomerInput for $.Attributes.name"},
             "Transitions": {"NextAction": "end"}},
            end()
        ]),
    );
    let world = Fake::default();
    let mut before = Run::new(
        "inbound",
        f.clone(),
        BTreeMap::from([("name".into(), "Kim".into())]),
    );
    before.advance(Event::Start, &world);
    // Stored as text, as a store keeps it, and read back after a restart.
    let text = serde_json::to_string(&before.saved()).unwrap();
    let saved: super::engine::Saved = serde_json::from_str(&text).unwrap();
    assert_eq!(saved.flow_id, "inbound");
    let mut after = Run::resume(f, saved);
    assert_eq!(after.waiting_for(), before.waiting_for());
    // The question is not asked again; the answer carries the flow on.
    assert_eq!(
        acts(after.advance(Event::CustomerMessage("A-17".into()), &world)),
        vec![
            message("Looking up A-17 for Kim"),
            Effect::Disconnect,
            ended()
        ]
    );
}

#[test]
fn a_saved_run_names_the_flow_it_was_handed_on_to() {
    let other = flow(
        "wait",
        json!([{"Identifier": "wait", "Type": "Wait", "Parameters": {"TimeoutSeconds": "60"},
                "Transitions": {"NextAction": "end"}}, end()]),
    );
    let f = flow(
        "jump",
        json!([{"Identifier": "jump", "Type": "TransferToFlow", "Parameters": {"ContactFlowId": "queue-flow"},
                "Transitions": {"Errors": [{"NextAction": "end", "ErrorType": "NoMatchingError"}]}}, end()]),
    );
    let world = Fake {
        flows: BTreeMap::from([("queue-flow".into(), other)]),
        ..Fake::default()
    };
    let mut r = Run::new("inbound", f, BTreeMap::new());
    r.advance(Event::Start, &world);
    assert_eq!(r.flow_id(), "queue-flow");
    assert_eq!(r.saved().flow_id, "queue-flow");
}

fn pizza_bot_flow() -> Arc<Flow> {
    flow(
        "bot",
        json!([
            {"Identifier": "bot", "Type": "ConnectParticipantWithLexBot",
             "Parameters": {"Text": "What would you like?",
                            "LexV2Bot": {"AliasArn": "arn:switchboard:bot:us-east-1:1:pizza"},
                            "LexSessionAttributes": {"customer": "$.Attributes.name"},
                            "LexTimeoutSeconds": {"Text": "60"}},
             "Transitions": {"NextAction": "end",
                 "Conditions": [{"NextAction": "ordered",
                                 "Condition": {"Operator": "Equals", "Operands": ["OrderPizza"]}}],
                 "Errors": [{"NextAction": "late", "ErrorType": "InputTimeLimitExceeded"},
                            {"NextAction": "end", "ErrorType": "NoMatchingCondition"},
                            {"NextAction": "end", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "ordered", "Type": "MessageParticipant",
             "Parameters": {"Text": "A $.Lex.Slots.size pizza it is."}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "late", "Type": "MessageParticipant",
             "Parameters": {"Text": "Too slow."}, "Transitions": {"NextAction": "end"}},
            end()
        ]),
    )
}

#[test]
fn a_bot_conversation_goes_on_until_the_bot_closes_it_then_branches_on_the_intent() {
    use super::engine::{BotTurn, WaitingFor, BOT_CALL_MILLIS};
    let world = Fake::default();
    let mut r = Run::new(
        "f",
        pizza_bot_flow(),
        BTreeMap::from([("name".into(), "Kim".into())]),
    );
    assert_eq!(
        acts(r.advance(Event::Start, &world)),
        vec![
            message("What would you like?"),
            Effect::WakeAt(NOW + 60_000)
        ]
    );
    assert_eq!(r.waiting_for(), Some(WaitingFor::BotInput));
    let session = BTreeMap::from([("customer".to_string(), "Kim".to_string())]);
    assert_eq!(
        acts(r.advance(Event::CustomerMessage("a pizza".into()), &world)),
        vec![
            Effect::AskBot {
                bot: "arn:switchboard:bot:us-east-1:1:pizza".into(),
                text: "a pizza".into(),
                session_attributes: session.clone(),
                until: NOW + BOT_CALL_MILLIS,
            },
            Effect::WakeAt(NOW + BOT_CALL_MILLIS)
        ]
    );
    // A turn that does not close the dialog waits for the customer again.
    let asking = BotTurn {
        messages: vec!["Which size?".into()],
        intent: Some("OrderPizza".into()),
        session_attributes: BTreeMap::from([("step".into(), "size".into())]),
        ..Default::default()
    };
    assert_eq!(
        acts(r.advance(Event::BotAnswered(Some(asking)), &world)),
        vec![
            Effect::BotMessage("Which size?".into()),
            Effect::WakeAt(NOW + 60_000)
        ]
    );
    let effects = acts(r.advance(Event::CustomerMessage("large".into()), &world));
    let Effect::AskBot {
        session_attributes, ..
    } = &effects[0]
    else {
        panic!("{effects:?}");
    };
    assert_eq!(
        session_attributes["step"], "size",
        "the bot's session goes on"
    );
    let done = BotTurn {
        messages: vec!["Done.".into()],
        intent: Some("OrderPizza".into()),
        slots: BTreeMap::from([("size".into(), "large".into())]),
        done: true,
        ..Default::default()
    };
    assert_eq!(
        acts(r.advance(Event::BotAnswered(Some(done)), &world)),
        vec![
            Effect::BotMessage("Done.".into()),
            message("A large pizza it is."),
            Effect::Disconnect,
            ended()
        ]
    );
}

#[test]
fn a_bot_the_customer_does_not_answer_times_out_and_a_failing_bot_is_an_error() {
    let world = Fake::default();
    let mut r = run(pizza_bot_flow());
    r.advance(Event::Start, &world);
    assert_eq!(
        acts(r.advance(Event::Deadline, &world)),
        vec![message("Too slow."), Effect::Disconnect, ended()]
    );
    let mut r = run(pizza_bot_flow());
    r.advance(Event::Start, &world);
    r.advance(Event::CustomerMessage("hello".into()), &world);
    assert_eq!(
        acts(r.advance(Event::BotAnswered(None), &world)),
        vec![Effect::Disconnect, ended()]
    );
}
