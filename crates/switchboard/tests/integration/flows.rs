//! `switchboard flow check`: the flows in tests/flows (written in the Amazon Connect flow
//! language, after the public documentation's examples) pass; a broken one gets every problem
//! printed and a failing exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn check(file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["flow", "check"])
        .arg(file)
        .output()
        .unwrap()
}

fn example_flows() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/flows");
    let mut flows: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    flows.sort();
    flows
}

#[test]
fn every_example_flow_is_valid() {
    let flows = example_flows();
    assert!(flows.len() >= 3, "{flows:?}");
    for flow in flows {
        let out = check(&flow);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {said}", flow.display());
        assert!(said.contains("the flow is valid"), "{said}");
    }
}

#[test]
fn a_broken_flow_gets_every_problem_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(
        &file,
        r#"{"Version": "2019-10-30", "StartAction": "start", "Actions": [
            {"Identifier": "start", "Type": "PlayPrompt", "Parameters": {},
             "Transitions": {"NextAction": "gone"}}
        ]}"#,
    )
    .unwrap();
    let out = check(&file);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("type 'PlayPrompt' does not run in chat flows"),
        "{said}"
    );
    assert!(said.contains("NextAction 'gone' names no action"), "{said}");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("2 problems"), "{errors}");
}

#[tokio::test]
async fn configured_flows_are_listed_and_described_as_the_flow_they_stand_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::common::TestServer::builder()
        .dir(dir.path())
        .start()
        .await;
    let connect = server.connect();
    let listed = connect
        .list_contact_flows()
        .instance_id(crate::common::INSTANCE)
        .send()
        .await
        .unwrap();
    let summaries = listed.contact_flow_summary_list();
    assert_eq!(summaries.len(), 1);
    let summary = &summaries[0];
    assert_eq!(summary.id(), Some(crate::common::FLOW));
    assert_eq!(
        summary.contact_flow_type().map(|t| t.as_str()),
        Some("CONTACT_FLOW")
    );
    assert_eq!(
        summary.contact_flow_status().map(|s| s.as_str()),
        Some("PUBLISHED")
    );
    let arn = summary.arn().unwrap().to_string();
    assert!(
        arn.ends_with(&format!("/contact-flow/{}", crate::common::FLOW)),
        "{arn}"
    );

    // Described by id or ARN: its content is a valid flow that queues the chat.
    for reference in [crate::common::FLOW.to_string(), arn] {
        let described = connect
            .describe_contact_flow()
            .instance_id(crate::common::INSTANCE)
            .contact_flow_id(&reference)
            .send()
            .await
            .unwrap();
        let flow = described.contact_flow().unwrap();
        assert_eq!(flow.name(), Some("Inbound chat"));
        let content = switchboard::flows::validate(flow.content().unwrap()).unwrap();
        let target = content.action(&content.start_action).unwrap();
        assert_eq!(target.kind, "UpdateContactTargetQueue");
        assert!(target.parameters["QueueId"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/queue/{}", crate::common::QUEUE)));
    }

    let missing = connect
        .describe_contact_flow()
        .instance_id(crate::common::INSTANCE)
        .contact_flow_id("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{missing:?}"
    );
    // Other flow types: none configured.
    let queues_only = connect
        .list_contact_flows()
        .instance_id(crate::common::INSTANCE)
        .contact_flow_types(aws_sdk_connect::types::ContactFlowType::CustomerQueue)
        .send()
        .await
        .unwrap();
    assert!(queues_only.contact_flow_summary_list().is_empty());
}
