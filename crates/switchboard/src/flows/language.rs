//! The Amazon Connect flow language as data: what `CreateContactFlow`'s `Content` carries
//! (`Version`, `StartAction`, `Metadata`, `Actions[]`, each with `Identifier`, `Type`,
//! `Parameters` and `Transitions`). Reading is lenient (serde keeps unknown parameters as JSON);
//! what a flow must be to run is [`super::validate`]'s business.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only version of the flow language.
pub const VERSION: &str = "2019-10-30";

/// A flow as its content describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Flow {
    pub version: String,
    pub start_action: String,
    /// Free-form (the console's layout); kept, never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub actions: Vec<Action>,
}

impl Flow {
    /// The action with this identifier.
    pub fn action(&self, identifier: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.identifier == identifier)
    }
}

/// One action (a block of the flow designer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    pub identifier: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub transitions: Transitions,
}

/// Where an action goes next: by default, on an error of a type, or when a condition holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transitions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorTransition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionTransition>,
}

impl Transitions {
    /// Every action these transitions name.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.next_action
            .iter()
            .map(String::as_str)
            .chain(self.errors.iter().map(|e| e.next_action.as_str()))
            .chain(self.conditions.iter().map(|c| c.next_action.as_str()))
    }

    /// The action to go to on an error of `error_type`, if the flow has a branch for it.
    pub fn on_error(&self, error_type: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.error_type == error_type)
            .map(|e| e.next_action.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorTransition {
    pub next_action: String,
    pub error_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConditionTransition {
    pub next_action: String,
    pub condition: Condition,
}

/// A condition on an action's result: `Operator` applied to the result and `Operands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    pub operator: String,
    #[serde(default)]
    pub operands: Vec<Value>,
}

/// The comparison operators of the flow language's conditions.
pub const OPERATORS: [&str; 9] = [
    "Equals",
    "NumberLessThan",
    "NumberLessOrEqualTo",
    "NumberGreaterThan",
    "NumberGreaterOrEqualTo",
    "TextStartsWith",
    "TextEndsWith",
    "TextContains",
    // DistributeByPercentage's chain of buckets.
    "NumericLessThan",
];

/// The action types a chat flow can run here, with the error types each may branch on.
pub const CHAT_ACTIONS: [(&str, &[&str]); 18] = [
    ("MessageParticipant", &["NoMatchingError"]),
    (
        "GetParticipantInput",
        &[
            "InputTimeLimitExceeded",
            "NoMatchingCondition",
            "NoMatchingError",
        ],
    ),
    (
        "ConnectParticipantWithLexBot",
        &[
            "InputTimeLimitExceeded",
            "NoMatchingCondition",
            "NoMatchingError",
        ],
    ),
    ("UpdateContactAttributes", &["NoMatchingError"]),
    ("Compare", &["NoMatchingCondition", "NoMatchingError"]),
    ("CheckHoursOfOperation", &["NoMatchingError"]),
    ("UpdateContactTargetQueue", &["NoMatchingError"]),
    (
        "TransferContactToQueue",
        &["QueueAtCapacity", "NoMatchingError"],
    ),
    (
        "CheckMetricData",
        &["NoMatchingCondition", "NoMatchingError"],
    ),
    ("DistributeByPercentage", &["NoMatchingCondition"]),
    ("Wait", &["NoMatchingError", "ParticipantNotFound"]),
    ("InvokeLambdaFunction", &["NoMatchingError"]),
    ("TransferToFlow", &["NoMatchingError"]),
    ("UpdateContactEventHooks", &["NoMatchingError"]),
    ("UpdateFlowLoggingBehavior", &[]),
    ("DisconnectParticipant", &[]),
    ("EndFlowExecution", &[]),
    ("UpdateContactRecordingBehavior", &[]),
];

/// The error types `kind` may branch on; `None` for an action type chat flows cannot run.
pub fn error_types(kind: &str) -> Option<&'static [&'static str]> {
    CHAT_ACTIONS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, errors)| *errors)
}

/// Action types that end the flow: they have no transitions to follow.
pub fn ends_flow(kind: &str) -> bool {
    matches!(kind, "DisconnectParticipant" | "EndFlowExecution")
}

/// The flow a configured contact flow with only a `queue` stands for: the chat goes to that
/// queue (`queue_arn`), and a full queue or an error ends it.
pub fn queue_flow(queue_arn: &str) -> Flow {
    let content = serde_json::json!({
        "Version": VERSION,
        "StartAction": "set-queue",
        "Actions": [
            {"Identifier": "set-queue", "Type": "UpdateContactTargetQueue",
             "Parameters": {"QueueId": queue_arn},
             "Transitions": {"NextAction": "transfer",
                             "Errors": [{"NextAction": "disconnect", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {},
             "Transitions": {"Errors": [
                 {"NextAction": "disconnect", "ErrorType": "QueueAtCapacity"},
                 {"NextAction": "disconnect", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "disconnect", "Type": "DisconnectParticipant", "Parameters": {}}
        ]
    });
    serde_json::from_value(content).expect("a flow in the language's shape")
}
