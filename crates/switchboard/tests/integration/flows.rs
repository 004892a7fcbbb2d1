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
