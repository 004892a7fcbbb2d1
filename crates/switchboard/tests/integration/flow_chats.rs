//! Flows in the Amazon Connect flow language running in chats on the real server, driven by the
//! AWS SDK for Rust as a customer would be: the flows of tests/flows (by file) and a few written
//! inline, a function on a loopback HTTP server, an agent taking the queued chat, and a kill -9
//! while a flow waits for the customer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_connectparticipant::types::SortKey;
use axum::routing::post;
use serde_json::{json, Value};

use crate::agents::{accept_offer, password_hash, AgentClient};
use crate::common::*;

const FUNCTION_SECRET: &str = "flow-function-secret-0123456789";
pub(crate) const SYSTEM: &str = "SYSTEM";

pub(crate) fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/flows")
        .join(name)
}

/// Every day, all day.
fn always() -> String {
    [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| format!(r#"{{ day = "{day}", start = "00:00", end = "00:00" }}"#))
    .collect::<Vec<_>>()
    .join(", ")
}

/// The instance: queues `support` and `billing` (as the example flows name them), Ana serving
/// both, hours always open and never open, and the flows.
fn instance_config() -> String {
    let hash = password_hash();
    let always = always();
    let file = |name: &str| example(name).display().to_string();
    let (greet, menu, hours) = (
        file("greet-and-queue.json"),
        file("ask-and-branch.json"),
        file("business-hours.json"),
    );
    format!(
        r#"
[[instances.queues]]
id = "support"
name = "Support"

[[instances.queues]]
id = "billing"
name = "Billing"

[[instances.hours_of_operation]]
id = "office-hours"
name = "Office hours"
time_zone = "Europe/Berlin"
config = [{always}]

[[instances.hours_of_operation]]
id = "never"
name = "Never open"
time_zone = "America/New_York"

[[instances.routing_profiles]]
id = "front"
name = "Front line"
chat_concurrency = 2
queues = [{{ queue = "support" }}, {{ queue = "billing" }}]

[[instances.users]]
username = "ana"
display_name = "Ana"
password_hash = "{hash}"
routing_profile = "front"

[[instances.routing_profiles]]
id = "money"
name = "Billing only"
chat_concurrency = 2
queues = [{{ queue = "billing" }}]

[[instances.users]]
username = "ben"
display_name = "Ben"
password_hash = "{hash}"
routing_profile = "money"

[[instances.contact_flows]]
id = "overflow"
name = "Support, overflowing to billing"
content = '''
{{"Version": "2019-10-30", "StartAction": "hook", "Actions": [
  {{"Identifier": "hook", "Type": "UpdateContactEventHooks",
    "Parameters": {{"EventHooks": {{"CustomerQueue": "overflow-waiting"}}}}, "Transitions": {{"NextAction": "queue"}}}},
  {{"Identifier": "queue", "Type": "UpdateContactTargetQueue",
    "Parameters": {{"QueueId": "support"}}, "Transitions": {{"NextAction": "transfer"}}}},
  {{"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {{}},
    "Transitions": {{"Errors": [{{"NextAction": "bye", "ErrorType": "QueueAtCapacity"}}]}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "overflow-waiting"
name = "While waiting in support: move to billing"
content = '''
{{"Version": "2019-10-30", "StartAction": "pause", "Actions": [
  {{"Identifier": "pause", "Type": "Wait", "Parameters": {{"TimeoutSeconds": "1"}},
    "Transitions": {{"NextAction": "tell",
      "Errors": [{{"NextAction": "tell", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "tell", "Type": "MessageParticipant",
    "Parameters": {{"Text": "Support is busy; moving you to billing."}}, "Transitions": {{"NextAction": "queue"}}}},
  {{"Identifier": "queue", "Type": "UpdateContactTargetQueue",
    "Parameters": {{"QueueId": "billing"}}, "Transitions": {{"NextAction": "move"}}}},
  {{"Identifier": "move", "Type": "TransferContactToQueue", "Parameters": {{}},
    "Transitions": {{"Errors": [{{"NextAction": "end", "ErrorType": "QueueAtCapacity"}},
                               {{"NextAction": "end", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "greet"
name = "Greet and queue"
file = "{greet}"

[[instances.contact_flows]]
id = "menu"
name = "Ask and branch"
file = "{menu}"

[[instances.contact_flows]]
id = "hours"
name = "Business hours"
file = "{hours}"

[[instances.contact_flows]]
id = "quick-question"
name = "A question with a short time limit"
content = '''
{{"Version": "2019-10-30", "StartAction": "ask", "Actions": [
  {{"Identifier": "ask", "Type": "GetParticipantInput",
    "Parameters": {{"Text": "Did that help?", "InputTimeLimitSeconds": "1"}},
    "Transitions": {{"NextAction": "bye",
      "Conditions": [{{"NextAction": "glad", "Condition": {{"Operator": "Equals", "Operands": ["yes"]}}}}],
      "Errors": [{{"NextAction": "late", "ErrorType": "InputTimeLimitExceeded"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingCondition"}}]}}}},
  {{"Identifier": "glad", "Type": "MessageParticipant", "Parameters": {{"Text": "Glad to hear it."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "late", "Type": "MessageParticipant", "Parameters": {{"Text": "No answer, goodbye."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "lookup"
name = "Ask a function"
content = '''
{{"Version": "2019-10-30", "StartAction": "call", "Actions": [
  {{"Identifier": "call", "Type": "InvokeLambdaFunction",
    "Parameters": {{"LambdaFunctionARN": "arn:switchboard:function:us-east-1:000000000000:lookup",
                   "InvocationTimeLimitSeconds": "8",
                   "LambdaInvocationAttributes": {{"customer": "$.Attributes.customer"}}}},
    "Transitions": {{"NextAction": "tell",
      "Errors": [{{"NextAction": "failed", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "tell", "Type": "MessageParticipant",
    "Parameters": {{"Text": "Your balance is $.External.balance."}}, "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "failed", "Type": "MessageParticipant",
    "Parameters": {{"Text": "The lookup failed."}}, "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "with-hooks"
name = "Queue with a waiting flow and a survey after the agent"
content = '''
{{"Version": "2019-10-30", "StartAction": "waiting", "Actions": [
  {{"Identifier": "waiting", "Type": "UpdateContactEventHooks",
    "Parameters": {{"EventHooks": {{"CustomerQueue": "waiting-flow"}}}}, "Transitions": {{"NextAction": "after"}}}},
  {{"Identifier": "after", "Type": "UpdateContactEventHooks",
    "Parameters": {{"EventHooks": {{"CustomerRemaining": "survey"}}}}, "Transitions": {{"NextAction": "queue"}}}},
  {{"Identifier": "queue", "Type": "UpdateContactTargetQueue",
    "Parameters": {{"QueueId": "support"}}, "Transitions": {{"NextAction": "transfer"}}}},
  {{"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {{}},
    "Transitions": {{"Errors": [{{"NextAction": "bye", "ErrorType": "QueueAtCapacity"}}]}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "waiting-flow"
name = "While the customer waits"
content = '''
{{"Version": "2019-10-30", "StartAction": "hello", "Actions": [
  {{"Identifier": "hello", "Type": "MessageParticipant", "Parameters": {{"Text": "You are in the queue."}},
    "Transitions": {{"NextAction": "pause"}}}},
  {{"Identifier": "pause", "Type": "Wait", "Parameters": {{"TimeoutSeconds": "1"}},
    "Transitions": {{"NextAction": "still",
      "Conditions": [{{"NextAction": "still", "Condition": {{"Operator": "Equals", "Operands": ["WaitCompleted"]}}}}],
      "Errors": [{{"NextAction": "still", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "still", "Type": "MessageParticipant", "Parameters": {{"Text": "Still waiting, thanks."}},
    "Transitions": {{"NextAction": "end"}}}},
  {{"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "survey"
name = "After the agent"
content = '''
{{"Version": "2019-10-30", "StartAction": "ask", "Actions": [
  {{"Identifier": "ask", "Type": "GetParticipantInput",
    "Parameters": {{"Text": "How did we do? Type 1 to 5.", "InputTimeLimitSeconds": "300", "StoreInput": "True"}},
    "Transitions": {{"NextAction": "thanks",
      "Errors": [{{"NextAction": "bye", "ErrorType": "InputTimeLimitExceeded"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "thanks", "Type": "MessageParticipant",
    "Parameters": {{"Text": "Thanks for the $.StoredCustomerInput!"}}, "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "picker"
name = "A list picker"
content = '''
{{"Version": "2019-10-30", "StartAction": "pick", "Actions": [
  {{"Identifier": "pick", "Type": "GetParticipantInput",
    "Parameters": {{"InputTimeLimitSeconds": "300",
      "Text": "{{\"templateType\": \"ListPicker\", \"version\": \"1.0\", \"data\": {{\"content\": {{\"title\": \"What is it about, $.Attributes.firstName?\", \"elements\": [{{\"title\": \"Billing\"}}, {{\"title\": \"Something else\"}}]}}}}}}"}},
    "Transitions": {{"NextAction": "other",
      "Conditions": [{{"NextAction": "billing", "Condition": {{"Operator": "Equals", "Operands": ["Billing"]}}}}],
      "Errors": [{{"NextAction": "other", "ErrorType": "NoMatchingCondition"}},
                 {{"NextAction": "other", "ErrorType": "InputTimeLimitExceeded"}}]}}}},
  {{"Identifier": "billing", "Type": "MessageParticipant", "Parameters": {{"Text": "Billing it is."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "other", "Type": "MessageParticipant", "Parameters": {{"Text": "Something else, then."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "staffed"
name = "Is anybody free?"
content = '''
{{"Version": "2019-10-30", "StartAction": "check", "Actions": [
  {{"Identifier": "check", "Type": "CheckMetricData",
    "Parameters": {{"MetricType": "NumberOfAgentsAvailable", "QueueId": "support"}},
    "Transitions": {{
      "Conditions": [{{"NextAction": "free", "Condition": {{"Operator": "NumberGreaterThan", "Operands": ["0"]}}}}],
      "Errors": [{{"NextAction": "busy", "ErrorType": "NoMatchingCondition"}},
                 {{"NextAction": "busy", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "free", "Type": "MessageParticipant", "Parameters": {{"Text": "An agent is free."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "busy", "Type": "MessageParticipant", "Parameters": {{"Text": "Nobody is free."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "pizza"
name = "A bot takes the order"
content = '''
{{"Version": "2019-10-30", "StartAction": "bot", "Actions": [
  {{"Identifier": "bot", "Type": "ConnectParticipantWithLexBot",
    "Parameters": {{"Text": "What would you like?",
                   "LexV2Bot": {{"AliasArn": "arn:switchboard:bot:us-east-1:000000000000:pizza"}},
                   "LexTimeoutSeconds": {{"Text": "300"}}}},
    "Transitions": {{"NextAction": "bye",
      "Conditions": [{{"NextAction": "ordered", "Condition": {{"Operator": "Equals", "Operands": ["OrderPizza"]}}}}],
      "Errors": [{{"NextAction": "bye", "ErrorType": "InputTimeLimitExceeded"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingCondition"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "ordered", "Type": "MessageParticipant",
    "Parameters": {{"Text": "A $.Lex.Slots.size pizza is on its way."}}, "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "aws"
name = "AWS Lambda, then Amazon Lex"
content = '''
{{"Version": "2019-10-30", "StartAction": "call", "Actions": [
  {{"Identifier": "call", "Type": "InvokeLambdaFunction",
    "Parameters": {{"LambdaFunctionARN": "arn:aws:lambda:us-east-1:123456789012:function:lookup",
                   "InvocationTimeLimitSeconds": "8"}},
    "Transitions": {{"NextAction": "tell", "Errors": [{{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "tell", "Type": "MessageParticipant",
    "Parameters": {{"Text": "Lambda says $.External.balance."}}, "Transitions": {{"NextAction": "bot"}}}},
  {{"Identifier": "bot", "Type": "ConnectParticipantWithLexBot",
    "Parameters": {{"LexV2Bot": {{"AliasArn": "arn:aws:lex:us-east-1:123456789012:bot-alias/PIZZABOT/LIVE"}},
                   "LexInitilizationData": {{"InitialMessage": "I would like a pizza"}}}},
    "Transitions": {{"NextAction": "bye",
      "Conditions": [{{"NextAction": "ordered", "Condition": {{"Operator": "Equals", "Operands": ["OrderPizza"]}}}}],
      "Errors": [{{"NextAction": "bye", "ErrorType": "InputTimeLimitExceeded"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingCondition"}},
                 {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "ordered", "Type": "MessageParticipant",
    "Parameters": {{"Text": "Lex took a $.Lex.Slots.size order."}}, "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.contact_flows]]
id = "hours-by-attribute"
name = "Hours named by an attribute"
content = '''
{{"Version": "2019-10-30", "StartAction": "check", "Actions": [
  {{"Identifier": "check", "Type": "CheckHoursOfOperation",
    "Parameters": {{"HoursOfOperationId": "$.Attributes.hours"}},
    "Transitions": {{
      "Conditions": [{{"NextAction": "open", "Condition": {{"Operator": "Equals", "Operands": ["True"]}}}},
                     {{"NextAction": "closed", "Condition": {{"Operator": "Equals", "Operands": ["False"]}}}}],
      "Errors": [{{"NextAction": "closed", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "open", "Type": "MessageParticipant", "Parameters": {{"Text": "We are open."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "closed", "Type": "MessageParticipant", "Parameters": {{"Text": "We are closed."}},
    "Transitions": {{"NextAction": "bye"}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''
"#
    )
}

/// The function `lookup`, on a loopback server: answers a balance by the customer it is asked
/// about, and keeps the events it was sent.
pub(crate) async fn function_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let heard: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = heard.clone();
    let app =
        axum::Router::new()
            .route(
                "/lookup",
                post(move |axum::Json(event): axum::Json<Value>| {
                    let keep = keep.clone();
                    async move {
                        let who = event["Details"]["Parameters"]["customer"].clone();
                        keep.lock().unwrap().push(event);
                        let balance = if who == "kim" { "42.00" } else { "0.00" };
                        axum::Json(json!({ "balance": balance }))
                    }
                }),
            )
            .route("/pizza", post(pizza_bot))
            // Stand-ins for AWS Lambda's Invoke and Lex V2's RecognizeText, which the AWS SDK for
            // Rust inside the server calls (the [lambda] and [lex] endpoints point here).
            .route(
                "/2015-03-31/functions/{name}/invocations",
                post(
                    |axum::extract::Path(name): axum::extract::Path<String>,
                     payload: axum::body::Bytes| async move {
                        // The payload is a blob: the event, as JSON.
                        let event: Value = serde_json::from_slice(&payload).unwrap();
                        assert_eq!(
                            name,
                            "arn:aws:lambda:us-east-1:123456789012:function:lookup"
                        );
                        assert_eq!(event["Name"], "ContactFlowEvent");
                        axum::Json(json!({"balance": "7.50"}))
                    },
                ),
            )
            .route(
                "/bots/{bot}/botAliases/{alias}/botLocales/{locale}/sessions/{session}/text",
                post(
                    |axum::extract::Path((bot, alias, locale, _session)): axum::extract::Path<
                        (String, String, String, String),
                    >,
                     axum::Json(turn): axum::Json<Value>| async move {
                        assert_eq!(
                            (bot.as_str(), alias.as_str(), locale.as_str()),
                            ("PIZZABOT", "LIVE", "en_US")
                        );
                        axum::Json(pizza_turn(&turn))
                    },
                ),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, heard)
}

/// The HTTP bot: the pizza bot, behind a signed request.
async fn pizza_bot(
    headers: axum::http::HeaderMap,
    axum::Json(turn): axum::Json<Value>,
) -> axum::Json<Value> {
    assert!(
        headers.contains_key("x-switchboard-signature"),
        "{headers:?}"
    );
    axum::Json(pizza_turn(&turn))
}

/// A bot in Lex's shape: asks for the size, then closes the order with it.
fn pizza_turn(turn: &Value) -> Value {
    let asked = turn["sessionState"]["sessionAttributes"]["step"] == "size";
    if asked {
        json!({
            "messages": [{"contentType": "PlainText", "content": "Coming up."}],
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": "OrderPizza", "state": "Fulfilled",
                           "slots": {"size": {"value": {"interpretedValue": turn["text"],
                                                        "originalValue": turn["text"]}}}}
            }
        })
    } else {
        json!({
            "messages": [{"contentType": "PlainText", "content": "Which size?"}],
            "sessionState": {
                "dialogAction": {"type": "ElicitSlot", "slotToElicit": "size"},
                "intent": {"name": "OrderPizza", "state": "InProgress"},
                "sessionAttributes": {"step": "size"}
            }
        })
    }
}

pub(crate) async fn start_server(dir: &Path, function_url: &str) -> TestServer {
    let top = format!(
        r#"
[[functions]]
name = "lookup"
url = "{function_url}/lookup"
secret = "{FUNCTION_SECRET}"

[[bots]]
name = "pizza"
url = "{function_url}/pizza"
secret = "{FUNCTION_SECRET}"

[lambda]
endpoint_url = "{function_url}"
access_key_id = "AKIDSTANDIN"
secret_access_key = "stand-in-secret"

[lex]
endpoint_url = "{function_url}"
access_key_id = "AKIDSTANDIN"
secret_access_key = "stand-in-secret"
"#
    );
    TestServer::builder()
        .dir(dir)
        .config(&top)
        .instance_config(&instance_config())
        .start()
        .await
}

/// A chat started into `flow` with `attributes`, its customer connected and subscribed (which
/// starts the flow, as on Amazon Connect).
pub(crate) async fn chat_in(
    server: &TestServer,
    flow: &str,
    attributes: &[(&str, &str)],
) -> (Chat, ChatSocket) {
    let mut request = start_chat_request(server, "Kim").contact_flow_id(flow);
    for (name, value) in attributes {
        request = request.attributes(*name, *value);
    }
    let started = request.send().await.expect("StartChatContact");
    let chat = customer_of(server, &started).await;
    let socket = ChatSocket::subscribe(&chat.websocket_url).await;
    (chat, socket)
}

/// The chat's messages, oldest first: who sent each (role) and its text.
pub(crate) async fn messages(server: &TestServer, chat: &Chat) -> Vec<(String, String)> {
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&chat.connection_token)
        .sort_order(SortKey::Ascending)
        .max_results(100)
        .send()
        .await
        .expect("GetTranscript");
    transcript
        .transcript()
        .iter()
        .filter(|item| item.r#type().is_some_and(|t| t.as_str() == "MESSAGE"))
        .map(|item| {
            (
                item.participant_role()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                item.content().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The queue DescribeContact says the contact is in.
async fn queue_of(server: &TestServer, contact_id: &str) -> Option<String> {
    let contact = server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(contact_id)
        .send()
        .await
        .expect("DescribeContact")
        .contact
        .expect("a contact");
    contact
        .queue_info()
        .and_then(|q| q.id())
        .map(str::to_string)
}

pub(crate) async fn say(server: &TestServer, chat: &Chat, text: &str) {
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content(text)
        .send()
        .await
        .expect("SendMessage");
}

/// The next message the flow sends, as the customer's socket receives it.
pub(crate) async fn next_system_message(socket: &mut ChatSocket) -> Value {
    socket
        .wait_for("a message from the flow", |item| {
            item["Type"] == "MESSAGE" && item["ParticipantRole"] == SYSTEM
        })
        .await
}

/// The flow's messages the socket receives until the chat ends (an ended chat's transcript is
/// no longer the customer's to read).
pub(crate) async fn flow_messages_until_end(socket: &mut ChatSocket) -> Vec<String> {
    let mut said = Vec::new();
    loop {
        let item = socket
            .next_item()
            .await
            .expect("the socket closed before chat.ended");
        if content_type(&item) == ENDED {
            return said;
        }
        if item["Type"] == "MESSAGE" && item["ParticipantRole"] == SYSTEM {
            said.push(item["Content"].as_str().unwrap().to_string());
        }
    }
}

async fn attributes(
    server: &TestServer,
    contact_id: &str,
) -> std::collections::HashMap<String, String> {
    server
        .connect()
        .get_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id(contact_id)
        .send()
        .await
        .expect("GetContactAttributes")
        .attributes
        .unwrap_or_default()
}

#[tokio::test]
async fn a_flow_greets_sets_attributes_and_queues_the_chat_for_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;

    let (chat, _socket) = chat_in(&server, "greet", &[("firstName", "Kim")]).await;
    // The flow started once the customer's socket subscribed, and greeted before confirming.
    let said = messages(&server, &chat).await;
    assert_eq!(
        said,
        vec![(
            SYSTEM.to_string(),
            "Hi Kim, thanks for reaching out. Someone will be with you shortly.".to_string()
        )]
    );
    let set = attributes(&server, &chat.contact_id).await;
    assert_eq!(set["source"], "website");
    assert_eq!(set["greeted"], "true");
    assert_eq!(set["firstName"], "Kim");

    // The flow queued the chat in `support`, which Ana serves.
    let (offered, _) = accept_offer(&ana, &mut ana_socket).await;
    assert_eq!(offered, chat.contact_id);
    assert_eq!(
        queue_of(&server, &chat.contact_id).await.as_deref(),
        Some("support")
    );
}

#[tokio::test]
async fn a_question_is_answered_through_its_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;

    let (chat, mut socket) = chat_in(&server, "menu", &[]).await;
    assert_eq!(
        messages(&server, &chat).await,
        vec![(
            SYSTEM.to_string(),
            "Type 1 for billing or 2 for anything else.".to_string()
        )]
    );
    // An answer no condition matches asks again (the NoMatchingCondition branch).
    say(&server, &chat, "3").await;
    let again = next_system_message(&mut socket).await;
    assert_eq!(
        again["Content"],
        "Type 1 for billing or 2 for anything else."
    );
    say(&server, &chat, "1").await;
    let (offered, _) = accept_offer(&ana, &mut ana_socket).await;
    assert_eq!(offered, chat.contact_id);
    assert_eq!(
        attributes(&server, &chat.contact_id).await["topic"],
        "billing"
    );
    assert_eq!(
        queue_of(&server, &chat.contact_id).await.as_deref(),
        Some("billing")
    );

    // The flow log says which way the chat went, and why.
    let trace = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["flow", "trace", "--config"])
        .arg(dir.path().join("switchboard.toml"))
        .arg(&chat.contact_id)
        .output()
        .unwrap();
    assert!(trace.status.success(), "{trace:?}");
    let steps: Vec<String> = String::from_utf8(trace.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split("  ").skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        steps,
        [
            "default-queue UpdateContactTargetQueue -> done",
            "menu GetParticipantInput -> waiting for Input",
            "menu GetParticipantInput -> NoMatchingCondition",
            "menu GetParticipantInput -> waiting for Input",
            "menu GetParticipantInput -> 1",
            "billing UpdateContactAttributes -> done",
            "billing-queue UpdateContactTargetQueue -> done",
            "to-queue TransferContactToQueue -> waiting for Queue",
            "to-queue TransferContactToQueue -> done",
        ]
    );
}

#[tokio::test]
async fn a_question_left_unanswered_takes_the_timeout_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (_chat, mut socket) = chat_in(&server, "quick-question", &[]).await;
    // Nobody answers within the second the flow allows.
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Did that help?", "No answer, goodbye."]
    );
}

#[tokio::test]
async fn a_function_answer_is_read_as_external() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, heard) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (chat, mut socket) = chat_in(&server, "lookup", &[("customer", "kim")]).await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Your balance is 42.00."]
    );
    let events = heard.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "called once");
    let data = &events[0]["Details"]["ContactData"];
    assert_eq!(data["ContactId"], chat.contact_id.as_str());
    assert_eq!(data["Channel"], "CHAT");
    assert_eq!(data["Attributes"]["customer"], "kim");
}

#[tokio::test]
async fn hours_open_and_closed_take_their_branches() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    for (hours, expected) in [
        ("office-hours", "We are open."),
        ("never", "We are closed."),
    ] {
        let (_chat, mut socket) = chat_in(&server, "hours-by-attribute", &[("hours", hours)]).await;
        assert_eq!(
            flow_messages_until_end(&mut socket).await,
            vec![expected],
            "{hours}"
        );
    }

    // The example flow: open, so the chat waits in `support` and nothing is said.
    let (chat, _socket) = chat_in(&server, "hours", &[]).await;
    assert!(messages(&server, &chat).await.is_empty());
    assert_eq!(
        queue_of(&server, &chat.contact_id).await.as_deref(),
        Some("support")
    );
}

#[tokio::test]
async fn a_flow_waiting_for_input_resumes_once_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let mut server = start_server(dir.path(), &function_url).await;
    let (chat, _socket) = chat_in(&server, "menu", &[]).await;
    let question = "Type 1 for billing or 2 for anything else.";
    assert_eq!(messages(&server, &chat).await.len(), 1);

    server.signal("KILL").await;
    let server = TestServer::builder()
        .dir(dir.path())
        .existing_config()
        .start()
        .await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    // The customer reconnects, as ChatJS does, and answers the question asked before the crash.
    let (connection_token, websocket_url) =
        connect_participant(&server, &chat.participant_token).await;
    let chat = Chat {
        connection_token,
        websocket_url,
        ..chat
    };
    say(&server, &chat, "2").await;
    let (offered, _) = accept_offer(&ana, &mut ana_socket).await;
    assert_eq!(offered, chat.contact_id);
    let said = messages(&server, &chat).await;
    assert_eq!(
        said,
        vec![
            (SYSTEM.to_string(), question.to_string()),
            ("CUSTOMER".to_string(), "2".to_string()),
        ],
        "the question once, the answer once"
    );
}

#[tokio::test]
async fn a_customer_queue_flow_runs_while_waiting_and_a_disconnect_flow_after_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (chat, mut socket) = chat_in(&server, "with-hooks", &[]).await;
    // Queued, the chat hears the customer queue flow: at once, and after its Wait.
    let first = next_system_message(&mut socket).await;
    assert_eq!(first["Content"], "You are in the queue.");
    let second = next_system_message(&mut socket).await;
    assert_eq!(second["Content"], "Still waiting, thanks.");

    // The customer queue flow has ended; the chat still waits. An agent takes it, then leaves
    // it: the customer remains, and the survey runs.
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    let (_, agent_token) = accept_offer(&ana, &mut ana_socket).await;
    let (agent_connection, _) = connect_participant(&server, &agent_token).await;
    server
        .participant()
        .disconnect_participant()
        .connection_token(&agent_connection)
        .send()
        .await
        .expect("the agent leaves");
    socket
        .wait_for("the agent leaving", |item| content_type(item) == LEFT)
        .await;
    let ask = next_system_message(&mut socket).await;
    assert_eq!(ask["Content"], "How did we do? Type 1 to 5.");
    say(&server, &chat, "5").await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Thanks for the 5!"]
    );
    let contact = server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(&chat.contact_id)
        .send()
        .await
        .unwrap()
        .contact
        .unwrap();
    assert_eq!(
        contact.disconnect_reason(),
        Some("CONTACT_FLOW_DISCONNECT"),
        "{contact:?}"
    );
}

#[tokio::test]
async fn a_customer_queue_flow_moves_the_waiting_chat_to_another_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    // Only Ben is there, and he serves billing alone.
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;

    // The chat waits in support a moment (its customer queue flow's Wait), then the flow moves
    // it.
    let (chat, mut socket) = chat_in(&server, "overflow", &[]).await;
    let said = next_system_message(&mut socket).await;
    assert_eq!(said["Content"], "Support is busy; moving you to billing.");
    // Routing moved it too: Ben, who does not serve support, is offered it.
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, chat.contact_id);
    assert_eq!(
        queue_of(&server, &chat.contact_id).await.as_deref(),
        Some("billing")
    );
}

#[tokio::test]
async fn a_list_picker_goes_out_as_an_interactive_message_and_its_pick_is_compared() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (chat, mut socket) = chat_in(&server, "picker", &[("firstName", "Kim")]).await;
    let said = messages(&server, &chat).await;
    let picker = server
        .participant()
        .get_transcript()
        .connection_token(&chat.connection_token)
        .send()
        .await
        .unwrap();
    let item = picker
        .transcript()
        .iter()
        .find(|i| i.participant_role().is_some_and(|r| r.as_str() == SYSTEM))
        .expect("the picker");
    assert_eq!(
        item.content_type(),
        Some("application/vnd.amazonaws.connect.message.interactive"),
        "{said:?}"
    );
    let template: Value = serde_json::from_str(item.content().unwrap()).unwrap();
    assert_eq!(template["templateType"], "ListPicker");
    assert_eq!(
        template["data"]["content"]["title"],
        "What is it about, Kim?"
    );
    // The widget answers a pick with the element's title, as plain text.
    say(&server, &chat, "Billing").await;
    let heard = flow_messages_until_end(&mut socket).await;
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(heard[0], item.content().unwrap(), "the picker, pushed too");
    assert_eq!(heard[1], "Billing it is.");
}

#[tokio::test]
async fn check_metric_data_reads_the_queues_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (_chat, mut socket) = chat_in(&server, "staffed", &[]).await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Nobody is free."]
    );
    let ana = AgentClient::sign_in(&server, "ana").await;
    let _ana_socket = ana.ready().await;
    let (_chat, mut socket) = chat_in(&server, "staffed", &[]).await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["An agent is free."]
    );
}

#[tokio::test]
async fn an_http_bot_talks_with_the_customer_until_it_closes_the_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (chat, mut socket) = chat_in(&server, "pizza", &[]).await;
    let prompt = next_system_message(&mut socket).await;
    assert_eq!(prompt["Content"], "What would you like?");
    say(&server, &chat, "A pizza, please").await;
    let asked = next_system_message(&mut socket).await;
    assert_eq!(asked["Content"], "Which size?");
    assert_eq!(
        asked["DisplayName"], "BOT",
        "the bot's turns come from the BOT"
    );
    say(&server, &chat, "large").await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Coming up.", "A large pizza is on its way."]
    );
}

#[tokio::test]
async fn aws_lambda_and_lex_are_called_through_the_aws_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;

    let (chat, mut socket) = chat_in(&server, "aws", &[]).await;
    let told = next_system_message(&mut socket).await;
    assert_eq!(told["Content"], "Lambda says 7.50.");
    // The flow's initial message opened the conversation: the bot asks at once.
    let asked = next_system_message(&mut socket).await;
    assert_eq!(asked["Content"], "Which size?");
    say(&server, &chat, "small").await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["Coming up.", "Lex took a small order."]
    );
}
