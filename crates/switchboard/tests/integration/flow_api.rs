//! Contact flows deployed through the Connect API with the AWS SDK for Rust, as a team deploys
//! the same JSON to Amazon Connect: created, described, listed, started into, changed, renamed
//! and deleted; invalid content refused with every problem.

use aws_sdk_connect::types::{ContactFlowStatus, ContactFlowType};
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::flow_chats::{chat_in, example, function_server, messages, start_server, SYSTEM};

fn saying(text: &str) -> String {
    serde_json::json!({
        "Version": "2019-10-30",
        "StartAction": "say",
        "Actions": [
            {"Identifier": "say", "Type": "MessageParticipant", "Parameters": {"Text": text},
             "Transitions": {"NextAction": "queue"}},
            {"Identifier": "queue", "Type": "UpdateContactTargetQueue",
             "Parameters": {"QueueId": "support"}, "Transitions": {"NextAction": "transfer"}},
            {"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {},
             "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"}]}},
            {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn a_flow_deployed_through_the_api_runs_and_can_be_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    let connect = server.connect();
    let content = std::fs::read_to_string(example("greet-and-queue.json")).unwrap();

    let created = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("Deployed greeting")
        .r#type(ContactFlowType::ContactFlow)
        .content(&content)
        .tags("team", "support")
        .send()
        .await
        .expect("CreateContactFlow");
    let id = created.contact_flow_id().unwrap().to_string();
    assert!(created
        .contact_flow_arn()
        .unwrap()
        .ends_with(&format!("/contact-flow/{id}")));
    assert_eq!(
        created.flow_content_sha256(),
        Some(hex::encode(Sha256::digest(content.as_bytes())).as_str())
    );

    let described = connect
        .describe_contact_flow()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .send()
        .await
        .expect("DescribeContactFlow")
        .contact_flow
        .unwrap();
    assert_eq!(described.content(), Some(content.as_str()));
    assert_eq!(described.status(), Some(&ContactFlowStatus::Published));
    assert_eq!(described.r#type(), Some(&ContactFlowType::ContactFlow));
    assert_eq!(described.tags().unwrap()["team"], "support");
    let listed = connect
        .list_contact_flows()
        .instance_id(INSTANCE)
        .send()
        .await
        .expect("ListContactFlows");
    let names: Vec<&str> = listed
        .contact_flow_summary_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert!(names.contains(&"Deployed greeting"), "{names:?}");
    assert!(
        names.contains(&"Greet and queue"),
        "configured ones too: {names:?}"
    );

    // A chat started in it is greeted as the flow says.
    let (chat, _socket) = chat_in(&server, &id, &[("firstName", "Kim")]).await;
    assert_eq!(
        messages(&server, &chat).await,
        vec![(
            SYSTEM.to_string(),
            "Hi Kim, thanks for reaching out. Someone will be with you shortly.".to_string()
        )]
    );

    // New content is published: the next chat runs it.
    connect
        .update_contact_flow_content()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .content(saying("Changed."))
        .send()
        .await
        .expect("UpdateContactFlowContent");
    let (chat, _socket) = chat_in(&server, &id, &[]).await;
    assert_eq!(
        messages(&server, &chat).await,
        vec![(SYSTEM.to_string(), "Changed.".to_string())]
    );

    connect
        .update_contact_flow_name()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .name("Renamed")
        .description("Says it changed")
        .send()
        .await
        .expect("UpdateContactFlowName");
    let described = connect
        .describe_contact_flow()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .send()
        .await
        .unwrap()
        .contact_flow
        .unwrap();
    assert_eq!(described.name(), Some("Renamed"));
    assert_eq!(described.description(), Some("Says it changed"));

    connect
        .delete_contact_flow()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .send()
        .await
        .expect("DeleteContactFlow");
    let gone = connect
        .describe_contact_flow()
        .instance_id(INSTANCE)
        .contact_flow_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn invalid_flows_are_refused_with_every_problem_and_saved_ones_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    let connect = server.connect();
    let broken = r#"{"Version": "2019-10-30", "StartAction": "nowhere", "Actions": [
        {"Identifier": "play", "Type": "PlayPrompt", "Parameters": {}}]}"#;

    let refused = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("Broken")
        .r#type(ContactFlowType::ContactFlow)
        .content(broken)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let problems: Vec<String> = match &refused {
        aws_sdk_connect::operation::create_contact_flow::CreateContactFlowError::InvalidContactFlowException(e) => e
            .problems()
            .iter()
            .filter_map(|p| p.message().map(str::to_string))
            .collect(),
        other => panic!("{other:?}"),
    };
    assert!(
        problems.iter().any(|p| p.contains("PlayPrompt")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("nowhere")),
        "{problems:?}"
    );

    // SAVED keeps it as given; it does not run.
    let saved = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("Draft")
        .r#type(ContactFlowType::ContactFlow)
        .status(ContactFlowStatus::Saved)
        .content(broken)
        .send()
        .await
        .expect("a SAVED flow is not validated");
    let refused = start_chat_request(&server, "Kim")
        .contact_flow_id(saved.contact_flow_id().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_request_exception(), "{refused:?}");

    // Names are unique, configured flows included.
    let duplicate = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("Greet and queue")
        .r#type(ContactFlowType::ContactFlow)
        .content(std::fs::read_to_string(example("greet-and-queue.json")).unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(duplicate.is_duplicate_resource_exception(), "{duplicate:?}");

    // A configured flow is changed in the file, not through the API.
    let configured = connect
        .update_contact_flow_content()
        .instance_id(INSTANCE)
        .contact_flow_id("greet")
        .content(broken)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(configured.is_invalid_request_exception(), "{configured:?}");
}
