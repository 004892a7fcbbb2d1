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

fn hours_check(hours_arn: &str) -> String {
    serde_json::json!({
        "Version": "2019-10-30",
        "StartAction": "check",
        "Actions": [
            {"Identifier": "check", "Type": "CheckHoursOfOperation",
             "Parameters": {"HoursOfOperationId": hours_arn},
             "Transitions": {"Conditions": [
                 {"NextAction": "open", "Condition": {"Operator": "Equals", "Operands": ["True"]}},
                 {"NextAction": "closed", "Condition": {"Operator": "Equals", "Operands": ["False"]}}],
                 "Errors": [{"NextAction": "gone", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "open", "Type": "MessageParticipant", "Parameters": {"Text": "Open."},
             "Transitions": {"NextAction": "bye"}},
            {"Identifier": "closed", "Type": "MessageParticipant", "Parameters": {"Text": "Closed."},
             "Transitions": {"NextAction": "bye"}},
            {"Identifier": "gone", "Type": "MessageParticipant", "Parameters": {"Text": "No such hours."},
             "Transitions": {"NextAction": "bye"}},
            {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn hours_made_through_the_api_decide_a_flows_branch() {
    use crate::flow_chats::flow_messages_until_end;
    use aws_sdk_connect::types::{
        HoursOfOperationConfig, HoursOfOperationDays, HoursOfOperationTimeSlice,
    };
    let dir = tempfile::tempdir().unwrap();
    let (function_url, _) = function_server().await;
    let server = start_server(dir.path(), &function_url).await;
    let connect = server.connect();
    let slice = |h, m| {
        HoursOfOperationTimeSlice::builder()
            .hours(h)
            .minutes(m)
            .build()
            .unwrap()
    };
    let every_day: Vec<HoursOfOperationConfig> = [
        HoursOfOperationDays::Sunday,
        HoursOfOperationDays::Monday,
        HoursOfOperationDays::Tuesday,
        HoursOfOperationDays::Wednesday,
        HoursOfOperationDays::Thursday,
        HoursOfOperationDays::Friday,
        HoursOfOperationDays::Saturday,
    ]
    .into_iter()
    .map(|day| {
        HoursOfOperationConfig::builder()
            .day(day)
            .start_time(slice(0, 0))
            .end_time(slice(0, 0))
            .build()
            .unwrap()
    })
    .collect();
    let created = connect
        .create_hours_of_operation()
        .instance_id(INSTANCE)
        .name("Round the clock")
        .time_zone("Asia/Tokyo")
        .set_config(Some(every_day))
        .send()
        .await
        .expect("CreateHoursOfOperation");
    let hours_id = created.hours_of_operation_id().unwrap().to_string();
    let hours_arn = created.hours_of_operation_arn().unwrap().to_string();
    assert!(hours_arn.ends_with(&format!("/operating-hours/{hours_id}")));
    let described = connect
        .describe_hours_of_operation()
        .instance_id(INSTANCE)
        .hours_of_operation_id(&hours_id)
        .send()
        .await
        .expect("DescribeHoursOfOperation")
        .hours_of_operation
        .unwrap();
    assert_eq!(described.time_zone(), Some("Asia/Tokyo"));
    assert_eq!(described.config().len(), 7);
    assert_eq!(described.config()[0].start_time().unwrap().hours(), 0);
    let listed = connect
        .list_hours_of_operations()
        .instance_id(INSTANCE)
        .send()
        .await
        .expect("ListHoursOfOperations");
    let names: Vec<&str> = listed
        .hours_of_operation_summary_list()
        .iter()
        .filter_map(|h| h.name())
        .collect();
    assert!(
        names.contains(&"Round the clock") && names.contains(&"Office hours"),
        "{names:?}"
    );

    let flow = connect
        .create_contact_flow()
        .instance_id(INSTANCE)
        .name("Hours check")
        .r#type(ContactFlowType::ContactFlow)
        .content(hours_check(&hours_arn))
        .send()
        .await
        .expect("CreateContactFlow");
    let flow_id = flow.contact_flow_id().unwrap();
    let (_chat, mut socket) = chat_in(&server, flow_id, &[]).await;
    assert_eq!(flow_messages_until_end(&mut socket).await, vec!["Open."]);

    // No open ranges any more: closed.
    connect
        .update_hours_of_operation()
        .instance_id(INSTANCE)
        .hours_of_operation_id(&hours_id)
        .set_config(Some(Vec::new()))
        .send()
        .await
        .expect("UpdateHoursOfOperation");
    let (_chat, mut socket) = chat_in(&server, flow_id, &[]).await;
    assert_eq!(flow_messages_until_end(&mut socket).await, vec!["Closed."]);

    // A time zone the database does not know is refused.
    let refused = connect
        .update_hours_of_operation()
        .instance_id(INSTANCE)
        .hours_of_operation_id(&hours_id)
        .time_zone("Mars/Olympus_Mons")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_request_exception(), "{refused:?}");

    // Gone: the flow takes its error branch.
    connect
        .delete_hours_of_operation()
        .instance_id(INSTANCE)
        .hours_of_operation_id(&hours_id)
        .send()
        .await
        .expect("DeleteHoursOfOperation");
    let (_chat, mut socket) = chat_in(&server, flow_id, &[]).await;
    assert_eq!(
        flow_messages_until_end(&mut socket).await,
        vec!["No such hours."]
    );
}
