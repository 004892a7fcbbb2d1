//! Process lifecycle: graceful shutdown, and durability across a crash.

use crate::common::*;

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() {
    let mut server = TestServer::start().await;
    let chat = start_chat(&server, "Leaving").await;
    let mut socket = ChatSocket::subscribe(&chat.websocket_url).await;
    let pid = server.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert_eq!(socket.close_code().await, Some(1001));
    let status = tokio::time::timeout(PATIENCE, server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn every_acknowledged_message_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::builder().dir(dir.path()).start().await;
    let chat = start_chat(&server, "Durable").await;
    let participant = server.participant();

    // Concurrent senders, so commits are shared; every 200 is a promise.
    let mut acknowledged = Vec::new();
    let sends = (0..40).map(|n| {
        participant
            .send_message()
            .connection_token(&chat.connection_token)
            .content_type("text/plain")
            .content(format!("message {n}"))
            .send()
    });
    for result in futures::future::join_all(sends).await {
        acknowledged.push(result.expect("acknowledged").id().unwrap().to_string());
    }
    let status = server.signal("KILL").await;
    assert!(!status.success());

    let server = TestServer::builder().dir(dir.path()).start().await;
    let (token, _) = connect_participant(&server, &chat.participant_token).await;
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&token)
        .max_results(100)
        .scan_direction(aws_sdk_connectparticipant::types::ScanDirection::Backward)
        .sort_order(aws_sdk_connectparticipant::types::SortKey::Ascending)
        .send()
        .await
        .unwrap();
    let stored: Vec<String> = transcript
        .transcript()
        .iter()
        .filter(|i| i.content_type() == Some("text/plain"))
        .map(|i| i.id().unwrap().to_string())
        .collect();
    let mut expected = acknowledged.clone();
    expected.sort();
    let mut found = stored.clone();
    found.sort();
    assert_eq!(found, expected, "every acknowledged message, once");
    let times: Vec<&str> = transcript
        .transcript()
        .iter()
        .map(|i| i.absolute_time().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "strictly ordered: {times:?}"
    );
}

#[test]
fn check_config_accepts_good_files_and_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, config_text("x.db", "")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, config_text("x.db", "colour = \"blue\"")).unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["check-config", file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert!(run(&good).status.success());
    let out = run(&bad);
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("colour"), "{message}");
}

#[tokio::test]
async fn without_a_config_the_demo_is_ready_to_use() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = std::collections::HashMap::new();
    let url = loop {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("demo exited");
        if let Some(url) = line.strip_prefix("switchboard listening on ") {
            break url.to_string();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [.., value] = words.as_slice() {
            printed.insert(words[..words.len() - 1].join(" "), value.to_string());
        }
    };
    // What the demo printed is enough to start a chat with the SDK.
    let config = aws_sdk_connect::Config::builder()
        .behavior_version(aws_sdk_connect::config::BehaviorVersion::latest())
        .region(aws_sdk_connect::config::Region::new(
            printed["region"].clone(),
        ))
        .endpoint_url(&url)
        .credentials_provider(aws_sdk_connect::config::Credentials::new(
            printed["access key id"].clone(),
            printed["secret access key"].clone(),
            None,
            None,
            "demo",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let started = aws_sdk_connect::Client::from_conf(config)
        .start_chat_contact()
        .instance_id(&printed["instance id"])
        .contact_flow_id(&printed["contact flow id"])
        .participant_details(
            aws_sdk_connect::types::ParticipantDetails::builder()
                .display_name("Newcomer")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("StartChatContact on the demo");
    assert!(started.participant_token().is_some());
    assert_eq!(printed["endpoint"], url);
    assert!(dir.path().join("switchboard-data/switchboard.db").exists());

    // The demo shop page carries the widget, whose endpoint starts chats without credentials.
    let http = reqwest::Client::new();
    let page = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"src="/widget.js" data-widget-id="demo""#),
        "{html}"
    );
    assert!(html.contains(r#"href="/agent""#));
    let widget_chat = http
        .post(format!("{url}/widget/demo/chat"))
        .json(&serde_json::json!({"DisplayName": "Visitor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(widget_chat.status(), 200);
    assert!(printed.contains_key("agent password"));
}

#[tokio::test]
async fn a_socket_is_closed_for_reconnection_when_its_lifetime_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .config("[limits]\nsocket_lifetime_seconds = 5")
        .start()
        .await;
    let chat = start_chat(&server, "Old socket").await;
    let mut socket = ChatSocket::subscribe(&chat.websocket_url).await;
    // 1001: going away, come back. The participant is still on the chat and reconnects.
    assert_eq!(socket.close_code().await, Some(1001));
    let (_, url) = connect_participant(&server, &chat.participant_token).await;
    ChatSocket::subscribe(&url).await;
}
