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
    let mut server = TestServer::start_in(dir.path(), "").await;
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

    let server = TestServer::start_in(dir.path(), "").await;
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
