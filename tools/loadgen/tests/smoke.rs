//! A tiny run of loadgen against the real server (and the relay): correctness only, no timing.
//! Needs the workspace's binaries built (`cargo build --workspace`, as scripts/test.sh does).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A binary of another package of this workspace, next to this test's own binary.
fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut command: Command, ready_prefix: &str) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("server exited before it was ready")
            .unwrap();
        if let Some(url) = line.strip_prefix(ready_prefix) {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

fn loadgen(args: &[&str], out: &std::path::Path) -> Value {
    let status = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--out")
        .arg(out)
        .status()
        .expect("run loadgen");
    assert!(status.success(), "loadgen failed: {status:?}");
    let json = std::fs::read_to_string(out.with_extension("json")).expect("loadgen report");
    serde_json::from_str(&json).unwrap()
}

fn assert_correct(report: &Value, expect_targets: usize) {
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), expect_targets, "{report}");
    for r in results {
        assert!(r["acked"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["lost_echo"], 0, "{r}");
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(r["reordered"], 0, "{r}");
        // Every error counts except the one that only says the machine was slow for a moment
        // (a send fell due while all 4 chats still had one in flight): this run checks
        // correctness, not speed.
        let errors = r["errors"].as_object().unwrap();
        let real: Vec<&String> = errors
            .keys()
            .filter(|k| !k.starts_with("no idle chat"))
            .collect();
        assert!(real.is_empty(), "{r}");
    }
}

#[test]
fn loadgen_runs_correctly_against_switchboard_and_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
storage = "sqlite://{}/db"
[[access_keys]]
id = "SMOKEKEY"
secret = "smoke-secret"
[[instances]]
id = "smoke"
[[instances.queues]]
id = "q"
name = "Q"
[[instances.contact_flows]]
id = "flow"
name = "Flow"
queue = "q"
"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let mut command = Command::new(sibling_binary("switchboard"));
    command.args([
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let switchboard = start(command, "switchboard listening on ");
    let mut command = Command::new(sibling_binary("relay"));
    command.arg("127.0.0.1:0");
    let relay = start(command, "relay listening on ");

    let (switchboard_pid, relay_pid) = (
        switchboard.child.id().to_string(),
        relay.child.id().to_string(),
    );
    let common = [
        "--switchboard",
        &switchboard.url,
        "--switchboard-pid",
        &switchboard_pid,
        "--relay",
        &relay.url,
        "--relay-pid",
        &relay_pid,
        "--instance",
        "smoke",
        "--contact-flow",
        "flow",
        "--access-key",
        "SMOKEKEY",
        "--secret-key",
        "smoke-secret",
        "--chats",
        "4",
        "--rate",
        "40",
        "--duration",
        "2",
    ];
    let latency = loadgen(
        &[&["--scenario", "latency"][..], &common].concat(),
        &dir.path().join("latency"),
    );
    assert_correct(&latency, 2);
    // Every scenario with traffic reports the servers' CPU per delivered message.
    for r in latency["results"].as_array().unwrap() {
        let per_message = &r["server"]["cpu_us_per_message"];
        assert!(per_message.as_f64().is_some_and(|c| c >= 0.0), "{r}");
    }
    let catchup = loadgen(
        &[&["--scenario", "catchup"][..], &common].concat(),
        &dir.path().join("catchup"),
    );
    assert_correct(&catchup, 1);
    let per_message = &catchup["results"][0]["server"]["cpu_us_per_message"];
    assert!(per_message.as_f64().is_some(), "{catchup}");
    assert_eq!(catchup["results"][0]["extra"]["reconnected_sockets"], 4);
}
