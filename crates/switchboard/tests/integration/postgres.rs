//! The whole server on PostgreSQL (`storage = "postgres://..."`): chats, sockets, transcripts and
//! streaming work as on SQLite, and survive a restart.

use crate::common::*;
use crate::receiver::Receiver;
use crate::streaming;

#[tokio::test]
async fn the_server_runs_on_postgresql_and_keeps_everything_across_a_restart() {
    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(streaming::SECRET).await;
    let extra = streaming::streaming_config(&[("crm", &receiver)]);
    let mut server = TestServer::builder()
        .dir(dir.path())
        .storage(&database.url())
        .config(&extra)
        .start()
        .await;
    let ready = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let chat = start_chat(&server, "Pat").await;
    streaming::start_streaming(&server, &chat.contact_id, &streaming::webhook_arn("crm")).await;
    let mut socket = ChatSocket::subscribe(&chat.websocket_url).await;
    let say = |text: &'static str, server: &TestServer| {
        server
            .participant()
            .send_message()
            .connection_token(&chat.connection_token)
            .content_type("text/plain")
            .content(text)
            .send()
    };
    let one = say("one", &server).await.unwrap();
    let pushed = socket
        .wait_for("the message", |i| i["Id"] == one.id().unwrap())
        .await;
    assert_eq!(pushed["Content"], "one");

    assert!(server.signal("TERM").await.success());
    let server = TestServer::builder()
        .dir(dir.path())
        .storage(&database.url())
        .config(&extra)
        .start()
        .await;
    // The connection token still works: the signing key lives in the database too.
    say("two", &server)
        .await
        .expect("SendMessage after restart");
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&chat.connection_token)
        .sort_order(aws_sdk_connectparticipant::types::SortKey::Ascending)
        .send()
        .await
        .unwrap();
    let contents: Vec<&str> = transcript
        .transcript()
        .iter()
        .filter_map(|i| i.content())
        .collect();
    assert_eq!(contents, ["one", "two"]);

    server
        .participant()
        .disconnect_participant()
        .connection_token(&chat.connection_token)
        .send()
        .await
        .unwrap();
    receiver.wait_for_count(ENDED, 1).await;
    let streamed: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| r.content_type().rsplit('.').next().unwrap().to_string())
        .collect();
    assert_eq!(
        streamed,
        ["joined", "text/plain", "text/plain", "left", "ended"]
    );
}
