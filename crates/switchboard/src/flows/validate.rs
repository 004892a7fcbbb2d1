//! What a flow must be to be published (`CreateContactFlow` with Status PUBLISHED, `switchboard
//! flow check`): every problem found, each a sentence naming the action and the member, as
//! Amazon's `InvalidContactFlowException.problems` lists them. A flow with none can run.
//!
//! The rules:
//! - The content is flow-language JSON of at most 256,000 characters, `Version` 2019-10-30, with
//!   1 to 250 actions, and `StartAction` names one of them.
//! - Identifiers are unique, 1 to 50 characters, none of `% : ( \ / ) = $ , ; [ ] { }`, and not
//!   a name JavaScript objects already have (`__proto__`, `constructor`, ...).
//! - Every transition names an action of the flow; error branches name error types the action
//!   can raise; conditions use the language's operators and have operands.
//! - Every action's type is one a chat flow runs ([`super::language::CHAT_ACTIONS`]): voice-only
//!   and unknown types are refused by name.
//! - Each type's parameters are present and in range (a `$.` reference stands for any value,
//!   checked when the flow runs).

use serde_json::Value;

use super::language::{self, Action, Flow, OPERATORS};

/// The longest content the Connect API accepts.
pub const MAX_CONTENT_CHARS: usize = 256_000;
const MAX_ACTIONS: usize = 250;
const MAX_IDENTIFIER_CHARS: usize = 50;
const FORBIDDEN_IN_IDENTIFIERS: &[char] = &[
    '%', ':', '(', '\\', '/', ')', '=', '$', ',', ';', '[', ']', '{', '}',
];
const RESERVED_IDENTIFIERS: [&str; 7] = [
    "__proto__",
    "constructor",
    "toString",
    "valueOf",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
];

/// Reads and checks a flow's content: the flow, or every problem found.
pub fn validate(content: &str) -> Result<Flow, Vec<String>> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(vec![format!(
            "Content is longer than {MAX_CONTENT_CHARS} characters"
        )]);
    }
    let flow: Flow = serde_json::from_str(content)
        .map_err(|e| vec![format!("Content is not flow-language JSON: {e}")])?;
    let problems = problems(&flow);
    if problems.is_empty() {
        Ok(flow)
    } else {
        Err(problems)
    }
}

/// Every problem of a flow that was read.
pub fn problems(flow: &Flow) -> Vec<String> {
    let mut out = Vec::new();
    if flow.version != language::VERSION {
        out.push(format!(
            "Version '{}' is not supported: use {}",
            flow.version,
            language::VERSION
        ));
    }
    if flow.actions.is_empty() || flow.actions.len() > MAX_ACTIONS {
        out.push(format!(
            "A flow has 1 to {MAX_ACTIONS} actions, not {}",
            flow.actions.len()
        ));
    }
    if flow.action(&flow.start_action).is_none() {
        out.push(format!(
            "StartAction '{}' names no action of the flow",
            flow.start_action
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for action in &flow.actions {
        if !seen.insert(action.identifier.as_str()) {
            out.push(format!(
                "Identifier '{}' is used by more than one action",
                action.identifier
            ));
        }
        identifier_problems(&action.identifier, &mut out);
        transition_problems(flow, action, &mut out);
        parameter_problems(action, &mut out);
    }
    out
}

fn identifier_problems(id: &str, out: &mut Vec<String>) {
    let length = id.chars().count();
    if length == 0 || length > MAX_IDENTIFIER_CHARS {
        out.push(format!(
            "Identifier '{id}' must be 1 to {MAX_IDENTIFIER_CHARS} characters"
        ));
    }
    if let Some(c) = id.chars().find(|c| FORBIDDEN_IN_IDENTIFIERS.contains(c)) {
        out.push(format!("Identifier '{id}' may not contain '{c}'"));
    }
    if RESERVED_IDENTIFIERS.contains(&id) {
        out.push(format!("Identifier '{id}' is a reserved name"));
    }
}

fn transition_problems(flow: &Flow, action: &Action, out: &mut Vec<String>) {
    let id = &action.identifier;
    for target in action.transitions.targets() {
        if flow.action(target).is_none() {
            out.push(format!(
                "Action '{id}': NextAction '{target}' names no action of the flow"
            ));
        }
    }
    if let Some(raised) = language::error_types(&action.kind) {
        for error in &action.transitions.errors {
            if !raised.contains(&error.error_type.as_str()) {
                out.push(format!(
                    "Action '{id}': a {} raises no error '{}' (it raises: {})",
                    action.kind,
                    error.error_type,
                    if raised.is_empty() {
                        "none".to_string()
                    } else {
                        raised.join(", ")
                    }
                ));
            }
        }
    }
    for transition in &action.transitions.conditions {
        let condition = &transition.condition;
        if !OPERATORS.contains(&condition.operator.as_str()) {
            out.push(format!(
                "Action '{id}': condition operator '{}' is not one of {}",
                condition.operator,
                OPERATORS.join(", ")
            ));
        }
        if condition.operands.is_empty() {
            out.push(format!("Action '{id}': a condition needs an operand"));
        }
    }
}

fn parameter_problems(action: &Action, out: &mut Vec<String>) {
    let id = &action.identifier;
    let p = &action.parameters;
    let mut need = |member: &str| {
        if !p.contains_key(member) {
            out.push(format!(
                "Action '{id}': a {} needs Parameters.{member}",
                action.kind
            ));
        }
    };
    match action.kind.as_str() {
        "MessageParticipant" => need("Text"),
        "Compare" => need("ComparisonValue"),
        "InvokeLambdaFunction" => need("LambdaFunctionARN"),
        "TransferToFlow" => need("ContactFlowId"),
        "UpdateContactAttributes" => need("Attributes"),
        "UpdateContactEventHooks" => need("EventHooks"),
        "CheckMetricData" => need("MetricType"),
        "Wait" => need("TimeoutSeconds"),
        "UpdateFlowLoggingBehavior" => need("FlowLoggingBehavior"),
        _ => {}
    }
    match action.kind.as_str() {
        "MessageParticipant" | "GetParticipantInput" => {
            if let Some(text) = p.get("Text").and_then(Value::as_str) {
                if super::interactive::is_template(text) {
                    for problem in super::interactive::problems(text) {
                        out.push(format!("Action '{id}': Parameters.Text: {problem}"));
                    }
                }
            }
            for voice in ["PromptId", "SSML", "Media"] {
                if p.contains_key(voice) && !p.contains_key("Text") {
                    out.push(format!(
                        "Action '{id}': Parameters.{voice} plays to voice calls; a chat needs Text"
                    ));
                }
            }
            if let Some(limit) = p.get("InputTimeLimitSeconds") {
                number_in(id, "InputTimeLimitSeconds", limit, 1, 604_800, out);
            }
        }
        "InvokeLambdaFunction" => {
            if let Some(limit) = p.get("InvocationTimeLimitSeconds") {
                number_in(id, "InvocationTimeLimitSeconds", limit, 1, 8, out);
            }
            if let Some(kind) = p.get("InvocationType").and_then(Value::as_str) {
                one_of(
                    id,
                    "InvocationType",
                    kind,
                    &["SYNCHRONOUS", "ASYNCHRONOUS"],
                    out,
                );
            }
        }
        "Wait" => {
            if let Some(limit) = p.get("TimeoutSeconds") {
                number_in(id, "TimeoutSeconds", limit, 1, 604_800, out);
            }
        }
        "UpdateContactTargetQueue" => {
            if p.contains_key("QueueId") == p.contains_key("AgentId") {
                out.push(format!(
                    "Action '{id}': an UpdateContactTargetQueue names exactly one of Parameters.QueueId and Parameters.AgentId"
                ));
            }
        }
        "UpdateContactAttributes" => match p.get("Attributes") {
            Some(Value::Object(attributes)) => {
                if let Some((k, _)) = attributes.iter().find(|(_, v)| !v.is_string()) {
                    out.push(format!(
                        "Action '{id}': attribute '{k}' must be a string (or a $. reference)"
                    ));
                }
            }
            Some(_) => out.push(format!(
                "Action '{id}': Parameters.Attributes must be an object of names to values"
            )),
            None => {}
        },
        "UpdateContactEventHooks" => {
            if p.get("EventHooks")
                .and_then(Value::as_object)
                .is_none_or(|hooks| hooks.len() != 1)
            {
                out.push(format!(
                    "Action '{id}': Parameters.EventHooks sets exactly one hook, such as {{\"CustomerQueue\": \"<flow id>\"}}"
                ));
            }
        }
        "UpdateFlowLoggingBehavior" => {
            if let Some(kind) = p.get("FlowLoggingBehavior").and_then(Value::as_str) {
                one_of(
                    id,
                    "FlowLoggingBehavior",
                    kind,
                    &["Enabled", "Disabled"],
                    out,
                );
            }
        }
        "CheckMetricData" => {
            if let Some(kind) = p.get("MetricType").and_then(Value::as_str) {
                one_of(
                    id,
                    "MetricType",
                    kind,
                    &[
                        "NumberOfAgentsAvailable",
                        "NumberOfAgentsStaffed",
                        "NumberOfAgentsOnline",
                        "OldestContactInQueueAgeSeconds",
                        "NumberOfContactsInQueue",
                    ],
                    out,
                );
            }
        }
        "CheckHoursOfOperation" => {
            let conditions = &action.transitions.conditions;
            let answers: Vec<&Value> = conditions
                .iter()
                .filter(|c| c.condition.operator == "Equals")
                .filter_map(|c| c.condition.operands.first())
                .collect();
            let is = |word: &str| answers.iter().any(|v| v.as_str() == Some(word));
            if conditions.len() != 2 || !is("True") || !is("False") {
                out.push(format!(
                    "Action '{id}': a CheckHoursOfOperation has two conditions, Equals True and Equals False"
                ));
            }
        }
        "ConnectParticipantWithLexBot" => {
            if !p.contains_key("LexV2Bot") && !p.contains_key("LexBot") {
                out.push(format!(
                    "Action '{id}': a ConnectParticipantWithLexBot needs Parameters.LexV2Bot or Parameters.LexBot"
                ));
            }
        }
        known if language::error_types(known).is_some() => {}
        other => out.push(format!(
            "Action '{id}': type '{other}' does not run in chat flows here (voice-only, or unknown); see docs/flows.md"
        )),
    }
}

/// A number from `min` to `max`, given as a number or a numeric string; a `$.` reference is
/// taken on trust until the flow runs.
fn number_in(id: &str, member: &str, value: &Value, min: i64, max: i64, out: &mut Vec<String>) {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.starts_with("$.") => return,
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(n) if n >= min as f64 && n <= max as f64 => {}
        _ => out.push(format!(
            "Action '{id}': Parameters.{member} must be a number from {min} to {max}, not {value}"
        )),
    }
}

fn one_of(id: &str, member: &str, value: &str, allowed: &[&str], out: &mut Vec<String>) {
    if !allowed.contains(&value) {
        out.push(format!(
            "Action '{id}': Parameters.{member} '{value}' is not one of {}",
            allowed.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(actions: Value) -> String {
        json!({"Version": "2019-10-30", "StartAction": "greet", "Actions": actions}).to_string()
    }

    fn greet_then_queue() -> Value {
        json!([
            {"Identifier": "greet", "Type": "MessageParticipant",
             "Parameters": {"Text": "Hello $.Attributes.name"},
             "Transitions": {"NextAction": "queue",
                             "Errors": [{"NextAction": "end", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {},
             "Transitions": {"Errors": [{"NextAction": "end", "ErrorType": "QueueAtCapacity"}]}},
            {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}}
        ])
    }

    fn problems_of(content: &str) -> Vec<String> {
        validate(content).err().unwrap_or_default()
    }

    #[test]
    fn the_flow_a_queue_only_flow_stands_for_is_valid() {
        let flow = language::queue_flow("arn:aws:connect:us-east-1:1:instance/i/queue/q");
        assert_eq!(problems(&flow), Vec::<String>::new());
    }

    #[test]
    fn a_flow_that_greets_and_queues_is_valid() {
        let flow = validate(&flow(greet_then_queue())).unwrap();
        assert_eq!(flow.actions.len(), 3);
        assert_eq!(flow.action("queue").unwrap().kind, "TransferContactToQueue");
    }

    #[test]
    fn content_that_is_not_the_flow_language_is_one_problem() {
        let problems = problems_of("{\"Version\": \"2019-10-30\"}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("Content is not flow-language JSON"));
        let long = "x".repeat(MAX_CONTENT_CHARS + 1);
        assert!(problems_of(&long)[0].contains("256000"));
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let content = json!({"Version": "2017-01-01", "StartAction": "nowhere", "Actions": [
            {"Identifier": "a", "Type": "MessageParticipant", "Parameters": {},
             "Transitions": {"NextAction": "missing"}},
            {"Identifier": "a", "Type": "PlayPrompt", "Parameters": {}}
        ]})
        .to_string();
        let problems = problems_of(&content);
        let said = |part: &str| problems.iter().any(|p| p.contains(part));
        assert!(said("Version '2017-01-01'"), "{problems:?}");
        assert!(said("StartAction 'nowhere'"), "{problems:?}");
        assert!(said("'a' is used by more than one action"), "{problems:?}");
        assert!(said("NextAction 'missing'"), "{problems:?}");
        assert!(said("needs Parameters.Text"), "{problems:?}");
        assert!(
            said("type 'PlayPrompt' does not run in chat flows"),
            "{problems:?}"
        );
    }

    #[test]
    fn identifiers_are_short_plain_and_not_reserved() {
        for (id, why) in [
            ("a:b", "may not contain ':'"),
            ("__proto__", "reserved"),
            (&"x".repeat(51) as &str, "1 to 50"),
        ] {
            let content = json!({"Version": "2019-10-30", "StartAction": id, "Actions": [
                {"Identifier": id, "Type": "DisconnectParticipant", "Parameters": {}}
            ]})
            .to_string();
            assert!(
                problems_of(&content).iter().any(|p| p.contains(why)),
                "{id}"
            );
        }
    }

    #[test]
    fn an_error_branch_names_an_error_the_action_raises() {
        let mut actions = greet_then_queue();
        actions[0]["Transitions"]["Errors"][0]["ErrorType"] = json!("QueueAtCapacity");
        let problems = problems_of(&flow(actions));
        assert!(
            problems[0].contains("raises no error 'QueueAtCapacity'"),
            "{problems:?}"
        );
    }

    #[test]
    fn conditions_use_the_languages_operators() {
        let actions = json!([
            {"Identifier": "greet", "Type": "Compare",
             "Parameters": {"ComparisonValue": "$.Attributes.tier"},
             "Transitions": {"Conditions": [
                 {"NextAction": "end", "Condition": {"Operator": "Equals", "Operands": ["gold"]}},
                 {"NextAction": "end", "Condition": {"Operator": "Matches", "Operands": ["g.*"]}},
                 {"NextAction": "end", "Condition": {"Operator": "TextContains", "Operands": []}}
             ],
             "Errors": [{"NextAction": "end", "ErrorType": "NoMatchingCondition"}]}},
            {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}}
        ]);
        let problems = problems_of(&flow(actions));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("operator 'Matches'"));
        assert!(problems[1].contains("needs an operand"));
    }

    #[test]
    fn parameters_are_in_range_or_references() {
        let actions = json!([
            {"Identifier": "greet", "Type": "InvokeLambdaFunction",
             "Parameters": {"LambdaFunctionARN": "arn:aws:lambda:us-east-1:1:function:f",
                            "InvocationTimeLimitSeconds": "9"},
             "Transitions": {"NextAction": "wait"}},
            {"Identifier": "wait", "Type": "Wait", "Parameters": {"TimeoutSeconds": "$.Attributes.t"},
             "Transitions": {"NextAction": "target"}},
            {"Identifier": "target", "Type": "UpdateContactTargetQueue",
             "Parameters": {"QueueId": "q", "AgentId": "a"}, "Transitions": {"NextAction": "hours"}},
            {"Identifier": "hours", "Type": "CheckHoursOfOperation", "Parameters": {},
             "Transitions": {"Conditions": [
                 {"NextAction": "end", "Condition": {"Operator": "Equals", "Operands": ["True"]}}]}},
            {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}}
        ]);
        let problems = problems_of(&flow(actions));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("InvocationTimeLimitSeconds must be a number from 1 to 8"));
        assert!(problems[1].contains("exactly one of Parameters.QueueId and Parameters.AgentId"));
        assert!(problems[2].contains("Equals True and Equals False"));
    }

    #[test]
    fn voice_prompts_are_refused_in_chat_flows() {
        let actions = json!([
            {"Identifier": "greet", "Type": "MessageParticipant",
             "Parameters": {"PromptId": "arn:aws:connect:...:prompt/1"},
             "Transitions": {"NextAction": "end"}},
            {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}}
        ]);
        let problems = problems_of(&flow(actions));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("PromptId plays to voice calls")),
            "{problems:?}"
        );
    }

    #[test]
    fn an_interactive_message_follows_its_template() {
        let picker = json!({"templateType": "ListPicker", "version": "1.0",
            "data": {"content": {"title": "Pick", "elements": vec![json!({"title": "x"}); 7]}}});
        let actions = json!([
            {"Identifier": "greet", "Type": "MessageParticipant",
             "Parameters": {"Text": picker.to_string()}, "Transitions": {"NextAction": "end"}},
            {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}}
        ]);
        let problems = problems_of(&flow(actions));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                "Action 'greet': Parameters.Text: a ListPicker template shows at most 6 elements"
            ),
            "{problems:?}"
        );
    }
}
