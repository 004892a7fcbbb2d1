//! The chat scenario end to end with the AWS SDK for Rust and WebSockets.

use aws_sdk_connectparticipant::error::SdkError;
use aws_sdk_connectparticipant::operation::send_message::SendMessageError;
use aws_sdk_connectparticipant::types::{ScanDirection, SortKey, StartPosition};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn customer_and_bot_chat_from_start_to_end() {
    let server = TestServer::start().await;
    let participant = server.participant();
    let customer = start_chat(&server, "Jane").await;
    let mut customer_socket = ChatSocket::subscribe(&customer.websocket_url).await;

    // A custom bot joins as a participant and connects its own socket.
    let (bot_id, bot_token) = add_bot(&server, &customer.contact_id, "Helper bot").await;
    let bot_token = bot_token.as_str();
    let joined = customer_socket
        .wait_for("the bot's participant.joined", |i| {
            content_type(i) == JOINED
        })
        .await;
    assert_eq!(joined["ParticipantId"], bot_id.as_str());
    assert_eq!(joined["DisplayName"], "Helper bot");
    assert_eq!(joined["ParticipantRole"], "CUSTOM_BOT");
    assert_eq!(joined["InitialContactId"], customer.contact_id.as_str());
    let (bot_connection, bot_url) = connect_participant(&server, bot_token).await;
    let mut bot_socket = ChatSocket::subscribe(&bot_url).await;

    // Messages both ways: each side receives the other's, with the Id SendMessage returned; the
    // sender's own socket gets it too.
    let sent = participant
        .send_message()
        .connection_token(&customer.connection_token)
        .content_type("text/plain")
        .content("Hello, I need help")
        .send()
        .await
        .expect("customer SendMessage");
    let at_bot = bot_socket
        .wait_for("the customer's message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(at_bot["Id"], sent.id().unwrap());
    assert_eq!(at_bot["Content"], "Hello, I need help");
    assert_eq!(at_bot["ParticipantRole"], "CUSTOMER");
    assert_eq!(at_bot["AbsoluteTime"], sent.absolute_time().unwrap());
    assert_eq!(at_bot["ContactId"], customer.contact_id.as_str());
    let echo = customer_socket
        .wait_for("the customer's own message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(echo["Id"], sent.id().unwrap());

    let reply = participant
        .send_message()
        .connection_token(&bot_connection)
        .content_type("text/plain")
        .content("Hi Jane, how can I help?")
        .send()
        .await
        .expect("bot SendMessage");
    let at_customer = customer_socket
        .wait_for("the bot's reply", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(at_customer["Id"], reply.id().unwrap());
    assert_eq!(at_customer["ParticipantId"], bot_id.as_str());

    // Typing both ways: pushed to the other side.
    participant
        .send_event()
        .connection_token(&customer.connection_token)
        .content_type(TYPING)
        .send()
        .await
        .expect("typing");
    let typing = bot_socket
        .wait_for("customer typing", |i| content_type(i) == TYPING)
        .await;
    assert_eq!(typing["ParticipantRole"], "CUSTOMER");
    participant
        .send_event()
        .connection_token(&bot_connection)
        .content_type(TYPING)
        .send()
        .await
        .expect("typing");
    customer_socket
        .wait_for("bot typing", |i| {
            content_type(i) == TYPING && i["ParticipantId"] == bot_id.as_str()
        })
        .await;

    // Delivered and read receipts for the bot's reply, from the customer.
    for kind in [DELIVERED, READ] {
        participant
            .send_event()
            .connection_token(&customer.connection_token)
            .content_type(kind)
            .content(json!({"messageId": reply.id().unwrap()}).to_string())
            .send()
            .await
            .expect("receipt");
        let receipt = bot_socket
            .wait_for("a receipt", |i| i["Type"] == "MESSAGEMETADATA")
            .await;
        assert_eq!(content_type(&receipt), METADATA);
        assert_eq!(receipt["MessageMetadata"]["MessageId"], reply.id().unwrap());
        let r = &receipt["MessageMetadata"]["Receipts"][0];
        assert_eq!(
            r["RecipientParticipantId"],
            customer.participant_id.as_str()
        );
        assert!(r["DeliveredTimestamp"].is_string());
        assert_eq!(r["ReadTimestamp"].is_string(), kind == READ);
    }

    // The whole transcript, newest first by default: typing is not kept, receipts sit on the message.
    let all = participant
        .get_transcript()
        .connection_token(&customer.connection_token)
        .max_results(100)
        .send()
        .await
        .expect("GetTranscript");
    let items = all.transcript();
    let kinds: Vec<&str> = items.iter().map(|i| i.content_type().unwrap()).collect();
    assert!(
        !kinds.contains(&TYPING),
        "typing must not be stored: {kinds:?}"
    );
    assert_eq!(
        items.len(),
        4,
        "customer joined, bot joined, two messages: {kinds:?}"
    );
    let times: Vec<&str> = items.iter().map(|i| i.absolute_time().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "descending by time: {times:?}"
    );
    let replied = items.iter().find(|i| i.id() == reply.id()).unwrap();
    let receipts = replied.message_metadata().unwrap().receipts();
    assert_eq!(receipts.len(), 1);
    assert!(receipts[0].read_timestamp().is_some());
    assert_eq!(all.initial_contact_id(), Some(customer.contact_id.as_str()));

    // Paged forward two at a time from the first item, and backward from the newest: the same
    // items, none skipped, none repeated.
    let ascending: Vec<String> = items
        .iter()
        .rev()
        .map(|i| i.id().unwrap().to_string())
        .collect();
    let mut forward = Vec::new();
    let mut token = None;
    loop {
        let page = participant
            .get_transcript()
            .connection_token(&customer.connection_token)
            .max_results(2)
            .scan_direction(ScanDirection::Forward)
            .sort_order(SortKey::Ascending)
            .start_position(StartPosition::builder().id(&ascending[0]).build())
            .set_next_token(token.clone())
            .send()
            .await
            .expect("forward page");
        assert!(page.transcript().len() <= 2);
        forward.extend(
            page.transcript()
                .iter()
                .map(|i| i.id().unwrap().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(forward, ascending);
    let mut backward = Vec::new();
    let mut token = None;
    loop {
        let page = participant
            .get_transcript()
            .connection_token(&bot_connection)
            .max_results(3)
            .scan_direction(ScanDirection::Backward)
            .sort_order(SortKey::Descending)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("backward page");
        backward.extend(
            page.transcript()
                .iter()
                .map(|i| i.id().unwrap().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    backward.reverse();
    assert_eq!(backward, ascending);

    // The customer leaves: the bot sees participant.left then chat.ended, and the sockets close.
    participant
        .disconnect_participant()
        .connection_token(&customer.connection_token)
        .send()
        .await
        .expect("DisconnectParticipant");
    let left = bot_socket
        .wait_for("participant.left", |i| {
            i["Type"] == "EVENT" && content_type(i) != TYPING
        })
        .await;
    assert_eq!(content_type(&left), LEFT);
    assert_eq!(left["ParticipantId"], customer.participant_id.as_str());
    let ended = bot_socket.next_item().await.expect("chat.ended");
    assert_eq!(content_type(&ended), ENDED);
    assert_eq!(ended["InitialContactId"], customer.contact_id.as_str());
    assert_eq!(bot_socket.close_code().await, Some(1000));

    // Every later participant call is denied, as a typed AccessDeniedException.
    let err = participant
        .send_message()
        .connection_token(&bot_connection)
        .content_type("text/plain")
        .content("anyone?")
        .send()
        .await
        .expect_err("chat ended");
    match err {
        SdkError::ServiceError(e) => {
            assert!(
                matches!(e.err(), SendMessageError::AccessDeniedException(_)),
                "{:?}",
                e.err()
            );
            assert_eq!(e.raw().status().as_u16(), 403);
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    for token in [&customer.connection_token, &bot_connection] {
        let err = participant
            .get_transcript()
            .connection_token(token)
            .send()
            .await
            .expect_err("ended");
        assert!(err.into_service_error().is_access_denied_exception());
    }
    let err = participant
        .create_participant_connection()
        .participant_token(&customer.participant_token)
        .r#type(aws_sdk_connectparticipant::types::ConnectionType::ConnectionCredentials)
        .send()
        .await
        .expect_err("ended");
    assert!(err.into_service_error().is_access_denied_exception());

    // DescribeContact reflects the end.
    let contact = server
        .connect()
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id(&customer.contact_id)
        .send()
        .await
        .unwrap();
    let contact = contact.contact().unwrap();
    assert!(contact.disconnect_timestamp().is_some());
    assert_eq!(contact.queue_info().unwrap().id(), Some(QUEUE));
    assert_eq!(contact.channel().unwrap().as_str(), "CHAT");
}

#[tokio::test]
async fn every_socket_of_a_participant_receives_every_item_up_to_the_limit() {
    let server = TestServer::start().await;
    let chat = start_chat(&server, "Multi-tab").await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let (_, url) = connect_participant(&server, &chat.participant_token).await;
        sockets.push(ChatSocket::subscribe(&url).await);
    }
    // A sixth socket is refused; the five stay.
    let (_, url) = connect_participant(&server, &chat.participant_token).await;
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!(
            "sixth socket should be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    let sent = server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content("to every tab")
        .send()
        .await
        .unwrap();
    for socket in &mut sockets {
        let item = socket
            .wait_for("the message", |i| i["Type"] == "MESSAGE")
            .await;
        assert_eq!(item["Id"], sent.id().unwrap());
    }
}

#[tokio::test]
async fn heartbeat_and_deep_ping_are_answered() {
    let server = TestServer::start().await;
    let chat = start_chat(&server, "Pinger").await;
    let mut socket = ChatSocket::subscribe(&chat.websocket_url).await;
    socket.send(json!({"topic": "aws/ping"})).await;
    assert_eq!(
        socket.next_frame().await.unwrap(),
        json!({"topic": "aws/ping", "statusCode": 200, "statusContent": "OK"})
    );
    socket.send(json!({"topic": "aws/heartbeat"})).await;
    assert_eq!(
        socket.next_frame().await.unwrap(),
        json!({"topic": "aws/heartbeat"})
    );
    socket.send(json!({"topic": "nonsense"})).await;
    let error = socket.next_frame().await.unwrap();
    assert!(
        error.get("topic").is_none() && error["message"].is_string(),
        "{error}"
    );
}

#[tokio::test]
async fn start_chat_contact_can_hand_out_the_connection_directly() {
    use aws_sdk_connect::types::{ConnectionType, ParticipantDetails};
    let server = TestServer::start().await;
    let started = server
        .connect()
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(
            ParticipantDetails::builder()
                .display_name("Direct")
                .build()
                .unwrap(),
        )
        .connection_types(ConnectionType::Websocket)
        .connection_types(ConnectionType::ConnectionCredentials)
        .send()
        .await
        .unwrap();
    let url = started.websocket().unwrap().url().unwrap();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    assert!(started.websocket().unwrap().connection_expiry().is_some());
    let token = started
        .connection_credentials()
        .unwrap()
        .connection_token()
        .unwrap();
    let mut socket = ChatSocket::subscribe(url).await;
    let sent = server
        .participant()
        .send_message()
        .connection_token(token)
        .content_type("text/plain")
        .content("no extra call needed")
        .send()
        .await
        .unwrap();
    let item = socket
        .wait_for("the message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(item["Id"], sent.id().unwrap());
}

#[tokio::test]
async fn a_socket_that_stops_reading_is_closed_without_holding_up_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .dir(dir.path())
        .config("[limits]\nsocket_queue = 64\n")
        .start()
        .await;
    let chat = start_chat(&server, "Slow reader").await;
    let (_, slow_url) = connect_participant(&server, &chat.participant_token).await;
    let mut slow = ChatSocket::subscribe(&slow_url).await;
    let mut healthy = ChatSocket::subscribe(&chat.websocket_url).await;

    // Far more than the socket's queue and the kernel's buffers hold, while `slow` reads nothing.
    let participant = server.participant();
    let big = "x".repeat(16_000);
    let mut ids = Vec::new();
    for batch in 0..25 {
        let sends = (0..20).map(|n| {
            participant
                .send_message()
                .connection_token(&chat.connection_token)
                .content_type("text/plain")
                .content(format!("{batch}-{n} {big}"))
                .send()
        });
        for sent in futures::future::join_all(sends).await {
            ids.push(sent.unwrap().id().unwrap().to_string());
        }
        // The healthy socket keeps up: it receives this batch while the slow one stalls.
        for _ in 0..20 {
            healthy
                .wait_for("a message", |i| i["Type"] == "MESSAGE")
                .await;
        }
    }
    assert_eq!(ids.len(), 500);
    // The slow socket gets what was already on its way, then a close that tells it to reconnect.
    let mut received = 0;
    let code = loop {
        match slow.next_item_or_close().await {
            Ok(_) => received += 1,
            Err(code) => break code,
        }
    };
    assert_eq!(code, Some(1013), "after {received} items");
    assert!(received < 500);
}
