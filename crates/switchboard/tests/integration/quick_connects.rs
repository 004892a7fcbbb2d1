//! Quick connects on the real server: made, described, listed, changed and deleted with the AWS
//! SDK for Rust, and agents transferring chats through them. A quick connect's transfer flow
//! runs on the new contact before anyone is offered it, talks with the customer, and queues the
//! chat where the quick connect points.

use aws_sdk_connect::types::{
    ContactFlowType, QueueQuickConnectConfig, QuickConnectConfig, QuickConnectType,
    UserQuickConnectConfig,
};
use serde_json::json;

use crate::agents::ccp::agent_update;
use crate::agents::{accept_offer, password_hash, AgentClient};
use crate::common::*;
use crate::flow_chats::{next_system_message, say, SYSTEM};

/// Queues `support` (Ana's) and `billing` (Ben's); chats start in a queue-only flow to
/// `support`; the quick connect `to-billing` runs a transfer flow that asks what it is about.
pub(crate) fn instance_config() -> String {
    let hash = password_hash();
    format!(
        r#"
[[instances.queues]]
id = "support"
name = "Support"

[[instances.queues]]
id = "billing"
name = "Billing"

[[instances.routing_profiles]]
id = "front"
name = "Front line"
chat_concurrency = 2
queues = [{{ queue = "support" }}]

[[instances.routing_profiles]]
id = "money"
name = "Billing desk"
chat_concurrency = 2
queues = [{{ queue = "billing" }}]

[[instances.users]]
username = "ana"
display_name = "Ana"
password_hash = "{hash}"
routing_profile = "front"

[[instances.users]]
username = "ben"
display_name = "Ben"
password_hash = "{hash}"
routing_profile = "money"

[[instances.contact_flows]]
id = "inbound"
name = "Straight to support"
queue = "support"

[[instances.contact_flows]]
id = "billing-transfer"
name = "Into billing"
content = '''
{{"Version": "2019-10-30", "StartAction": "ask", "Actions": [
  {{"Identifier": "ask", "Type": "GetParticipantInput",
    "Parameters": {{"Text": "Transferring you to billing. What is it about?", "InputTimeLimitSeconds": "300", "StoreInput": "True"}},
    "Transitions": {{"NextAction": "note",
      "Errors": [{{"NextAction": "note", "ErrorType": "InputTimeLimitExceeded"}},
                 {{"NextAction": "note", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "note", "Type": "UpdateContactAttributes",
    "Parameters": {{"Attributes": {{"topic": "$.StoredCustomerInput"}}}},
    "Transitions": {{"NextAction": "queue", "Errors": [{{"NextAction": "queue", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {{}},
    "Transitions": {{"Errors": [{{"NextAction": "bye", "ErrorType": "QueueAtCapacity"}},
                               {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
  {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}}}]}}
'''

[[instances.quick_connects]]
id = "to-billing"
name = "Billing"
description = "The billing team, after a question"
queue = "billing"
flow = "billing-transfer"
"#
    )
}

async fn start_server(dir: &std::path::Path) -> TestServer {
    TestServer::builder()
        .dir(dir)
        .instance_config(&instance_config())
        .start()
        .await
}

/// A chat in `support`, taken by Ana; the customer's socket and the chat.
pub(crate) async fn chat_with_ana(
    server: &TestServer,
    ana: &AgentClient,
    ana_socket: &mut crate::agents::AgentSocket,
) -> (Chat, ChatSocket) {
    let started = start_chat_request(server, "Kim")
        .contact_flow_id("inbound")
        .send()
        .await
        .expect("StartChatContact");
    let chat = customer_of(server, &started).await;
    let socket = ChatSocket::subscribe(&chat.websocket_url).await;
    let (contact_id, _) = accept_offer(ana, ana_socket).await;
    assert_eq!(contact_id, chat.contact_id);
    (chat, socket)
}

pub(crate) async fn queue_of(server: &TestServer, contact_id: &str) -> Option<String> {
    server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(contact_id)
        .send()
        .await
        .expect("DescribeContact")
        .contact
        .and_then(|c| c.queue_info)
        .and_then(|q| q.id)
}

/// A QuickConnectConfig of type `kind` carrying a UserConfig (a mismatch unless `kind` is USER).
fn user_config(kind: QuickConnectType, user: &str, flow: &str) -> QuickConnectConfig {
    QuickConnectConfig::builder()
        .quick_connect_type(kind)
        .user_config(
            UserQuickConnectConfig::builder()
                .user_id(user)
                .contact_flow_id(flow)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_transfer_through_a_quick_connect_runs_its_flow_which_then_queues_the_chat() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (chat, mut customer) = chat_with_ana(&server, &ana, &mut ana_socket).await;

    // Ana's workspace lists the quick connect; she transfers through it.
    let me = ana.me().await;
    assert_eq!(
        me["transferTargets"]["quickConnects"],
        json!([{"id": "to-billing", "name": "Billing", "type": "QUEUE"}])
    );
    let (status, body) = ana
        .act(
            &chat.contact_id,
            "transfer",
            json!({"quickConnectId": "to-billing"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let next = body["contactId"].as_str().unwrap().to_string();
    customer
        .wait_for("transfer.succeeded", |i| {
            content_type(i).ends_with("transfer.succeeded")
        })
        .await;

    // The transfer flow talks with the customer first; meanwhile the new contact is in no
    // queue, so nobody is offered it.
    let ask = next_system_message(&mut customer).await;
    assert_eq!(
        ask["Content"],
        "Transferring you to billing. What is it about?"
    );
    assert_eq!(
        ask["ContactId"],
        next.as_str(),
        "said as the new contact: {ask}"
    );
    assert_eq!(queue_of(&server, &next).await, None);
    say(&server, &chat, "a refund").await;

    // Then it queues the chat in billing, where Ben takes it, with what the flow noted.
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, next);
    assert_eq!(queue_of(&server, &next).await.as_deref(), Some("billing"));
    let attributes = server
        .connect()
        .get_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id(&chat.contact_id)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    assert_eq!(attributes["topic"], "a refund");
    let joined = customer
        .wait_for("Ben joining", |i| {
            content_type(i).ends_with("participant.joined") && i["ParticipantRole"] == "AGENT"
        })
        .await;
    assert_eq!(joined["DisplayName"], "Ben");
    // Ana has the old contact in After Contact Work.
    let contacts = ana.me().await["contacts"].clone();
    assert_eq!(contacts[0]["state"], "AFTER_CONTACT_WORK", "{contacts}");
    assert_eq!(contacts[0]["contactId"], chat.contact_id.as_str());
}

#[tokio::test]
async fn quick_connects_are_managed_through_the_api_and_their_agent_transfer_flows_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let connect = server.connect();
    let ana = AgentClient::sign_in(&server, "ana").await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let ben_id = ben.user_id.clone();

    // An AGENT_TRANSFER flow deployed as to Amazon, and a USER quick connect running it.
    let flow = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("To an agent")
        .r#type(ContactFlowType::AgentTransfer)
        .content(
            json!({"Version": "2019-10-30", "StartAction": "say", "Actions": [
                {"Identifier": "say", "Type": "MessageParticipant",
                 "Parameters": {"Text": "Connecting you to a colleague."},
                 "Transitions": {"NextAction": "queue"}},
                {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {},
                 "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"},
                                            {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
                {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}]})
            .to_string(),
        )
        .send()
        .await
        .expect("CreateContactFlow");
    let flow_id = flow.contact_flow_id().unwrap().to_string();
    let created = connect
        .create_quick_connect()
        .instance_id(INSTANCE)
        .name("Ben")
        .description("Ben, directly")
        .quick_connect_config(user_config(QuickConnectType::User, &ben_id, &flow_id))
        .tags("team", "billing")
        .send()
        .await
        .expect("CreateQuickConnect");
    let quick_id = created.quick_connect_id().unwrap().to_string();
    assert!(created
        .quick_connect_arn()
        .unwrap()
        .ends_with(&format!("/transfer-destination/{quick_id}")));

    let described = connect
        .describe_quick_connect()
        .instance_id(INSTANCE)
        .quick_connect_id(&quick_id)
        .send()
        .await
        .expect("DescribeQuickConnect")
        .quick_connect
        .unwrap();
    assert_eq!(described.name(), Some("Ben"));
    assert_eq!(described.description(), Some("Ben, directly"));
    let config = described.quick_connect_config().unwrap();
    assert_eq!(config.quick_connect_type(), &QuickConnectType::User);
    let user = config.user_config().unwrap();
    assert_eq!(
        (user.user_id(), user.contact_flow_id()),
        (ben_id.as_str(), flow_id.as_str())
    );
    assert_eq!(described.tags().unwrap()["team"], "billing");
    assert!(described.last_modified_time().is_some());

    // Listed with the configured one; by type.
    let all = connect
        .list_quick_connects()
        .instance_id(INSTANCE)
        .send()
        .await
        .expect("ListQuickConnects");
    let names: Vec<_> = all
        .quick_connect_summary_list()
        .iter()
        .map(|q| (q.name().unwrap(), q.quick_connect_type().unwrap().as_str()))
        .collect();
    assert_eq!(names, [("Billing", "QUEUE"), ("Ben", "USER")]);
    let users = connect
        .list_quick_connects()
        .instance_id(INSTANCE)
        .quick_connect_types(QuickConnectType::User)
        .send()
        .await
        .unwrap();
    assert_eq!(users.quick_connect_summary_list().len(), 1);

    // Bad input gets the model's errors.
    let duplicate = connect
        .create_quick_connect()
        .instance_id(INSTANCE)
        .name("Billing")
        .quick_connect_config(user_config(QuickConnectType::User, &ben_id, &flow_id))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.into_service_error().meta().code(),
        Some("DuplicateResourceException")
    );
    let nowhere = connect
        .create_quick_connect()
        .instance_id(INSTANCE)
        .name("Nowhere")
        .quick_connect_config(
            QuickConnectConfig::builder()
                .quick_connect_type(QuickConnectType::Queue)
                .queue_config(
                    QueueQuickConnectConfig::builder()
                        .queue_id("no-such-queue")
                        .contact_flow_id(&flow_id)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        nowhere.into_service_error().meta().code(),
        Some("ResourceNotFoundException")
    );
    let mismatched = connect
        .create_quick_connect()
        .instance_id(INSTANCE)
        .name("Mismatched")
        .quick_connect_config(user_config(QuickConnectType::Queue, &ben_id, &flow_id))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(mismatched.meta().code(), Some("InvalidParameterException"));
    assert!(
        mismatched.meta().message().unwrap().contains("QueueConfig"),
        "{mismatched:?}"
    );
    let configured = connect
        .update_quick_connect_name()
        .instance_id(INSTANCE)
        .quick_connect_id("to-billing")
        .name("Renamed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        configured.into_service_error().meta().code(),
        Some("InvalidRequestException")
    );

    // Ana transfers a chat through it from the CCP's list: the flow speaks, then Ben is
    // offered the chat in his own queue.
    let mut ana_socket = ana.ready().await;
    let mut ben_socket = ben.ready().await;
    let (chat, mut customer) = chat_with_ana(&server, &ana, &mut ana_socket).await;
    let (status, ccp) = agent_update(&server, &ana.token).await;
    assert_eq!(status, 200, "{ccp}");
    let endpoint = ccp["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Ben")
        .cloned()
        .unwrap_or_else(|| panic!("no quick connect for Ben in {ccp}"));
    assert_eq!(endpoint["type"], "agent");
    let (status, body) = ana
        .act(
            &chat.contact_id,
            "transfer",
            json!({"quickConnectId": endpoint["endpointARN"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let said = next_system_message(&mut customer).await;
    assert_eq!(said["Content"], "Connecting you to a colleague.");
    assert_eq!(said["ParticipantRole"], SYSTEM);
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, body["contactId"].as_str().unwrap());

    // Renamed and pointed at a flow that is then deleted: a transfer through it fails, and
    // Ben keeps the chat.
    connect
        .update_quick_connect_name()
        .instance_id(INSTANCE)
        .quick_connect_id(&quick_id)
        .name("Ana")
        .send()
        .await
        .expect("UpdateQuickConnectName");
    connect
        .update_quick_connect_config()
        .instance_id(INSTANCE)
        .quick_connect_id(&quick_id)
        .quick_connect_config(user_config(QuickConnectType::User, &ana.user_id, &flow_id))
        .send()
        .await
        .expect("UpdateQuickConnectConfig");
    connect
        .delete_contact_flow()
        .instance_id(INSTANCE)
        .contact_flow_id(&flow_id)
        .send()
        .await
        .unwrap();
    let (status, body) = ben
        .act(&offered, "transfer", json!({"quickConnectId": quick_id}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(ben.me().await["contacts"][0]["state"], "CONNECTED");

    connect
        .delete_quick_connect()
        .instance_id(INSTANCE)
        .quick_connect_id(&quick_id)
        .send()
        .await
        .expect("DeleteQuickConnect");
    let gone = connect
        .describe_quick_connect()
        .instance_id(INSTANCE)
        .quick_connect_id(&quick_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gone.into_service_error().meta().code(),
        Some("ResourceNotFoundException")
    );
}

/// The ids of the quick connects an agent's workspace offers.
async fn offered_quick_connects(agent: &AgentClient) -> Vec<String> {
    agent.me().await["transferTargets"]["quickConnects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn agents_see_the_quick_connects_of_the_queues_they_serve_once_queues_have_some() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let connect = server.connect();
    let ana = AgentClient::sign_in(&server, "ana").await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let associate = |queue: &'static str, ids: &[&str]| {
        connect
            .associate_queue_quick_connects()
            .instance_id(INSTANCE)
            .queue_id(queue)
            .set_quick_connect_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
            .send()
    };

    // No queue has any: every agent sees every quick connect.
    assert_eq!(offered_quick_connects(&ana).await, ["to-billing"]);
    assert_eq!(offered_quick_connects(&ben).await, ["to-billing"]);

    // Associated with billing: only Ben, who serves billing, sees it.
    associate("billing", &["to-billing"])
        .await
        .expect("AssociateQueueQuickConnects");
    assert!(offered_quick_connects(&ana).await.is_empty());
    assert_eq!(offered_quick_connects(&ben).await, ["to-billing"]);
    let listed = connect
        .list_queue_quick_connects()
        .instance_id(INSTANCE)
        .queue_id("billing")
        .send()
        .await
        .expect("ListQueueQuickConnects");
    let names: Vec<_> = listed
        .quick_connect_summary_list()
        .iter()
        .map(|q| q.name().unwrap())
        .collect();
    assert_eq!(names, ["Billing"]);

    // Associated with support too (twice changes nothing), then taken away again.
    associate("support", &["to-billing"]).await.unwrap();
    associate("support", &["to-billing"]).await.unwrap();
    assert_eq!(offered_quick_connects(&ana).await, ["to-billing"]);
    connect
        .disassociate_queue_quick_connects()
        .instance_id(INSTANCE)
        .queue_id("support")
        .quick_connect_ids("to-billing")
        .send()
        .await
        .expect("DisassociateQueueQuickConnects");
    assert!(offered_quick_connects(&ana).await.is_empty());

    // Unknown queues and quick connects are refused.
    let code = |e: aws_sdk_connect::error::SdkError<_, _>| {
        aws_sdk_connect::error::ProvideErrorMetadata::code(&e.into_service_error())
            .map(str::to_string)
    };
    let unknown_queue = associate("nowhere", &["to-billing"]).await.unwrap_err();
    assert_eq!(
        code(unknown_queue).as_deref(),
        Some("ResourceNotFoundException")
    );
    let unknown_quick = associate("billing", &["nothing"]).await.unwrap_err();
    assert_eq!(
        code(unknown_quick).as_deref(),
        Some("ResourceNotFoundException")
    );
}
