//! What an agent does at the desk: sign in and out, accept, talk, end and clear, reject,
//! transfer, and what a restart keeps of it.

use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn an_agent_accepts_a_chat_talks_ends_it_and_clears_after_contact_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;

    let chat = start_chat(&server, "Carla").await;
    let mut customer = ChatSocket::subscribe(&chat.websocket_url).await;
    let offer = next_event(&mut ana_socket, "offer").await;
    assert_eq!(offer["contactId"], chat.contact_id.as_str());
    assert_eq!(offer["customerName"], "Carla");
    assert_eq!(offer["queueId"], QUEUE);
    assert!(offer["expiresAt"].as_str().unwrap().ends_with('Z'));

    let (status, _) = ana.act(&chat.contact_id, "accept", json!({})).await;
    assert_eq!(status, 200);
    let connected = next_event(&mut ana_socket, "contact.connected").await;
    let agent_token = connected["participantToken"].as_str().unwrap();

    // The customer sees the agent join, by name and role.
    let joined = customer
        .wait_for("the agent joining", |i| {
            is_event(i, "participant.joined") && i["ParticipantRole"] == "AGENT"
        })
        .await;
    assert_eq!(joined["DisplayName"], "Ana");

    // The agent's side of the chat is an ordinary participant: the SDK connects and sends.
    let (agent_connection, agent_ws) = connect_participant(&server, agent_token).await;
    let mut agent_chat = ChatSocket::subscribe(&agent_ws).await;
    server
        .participant()
        .send_message()
        .connection_token(&agent_connection)
        .content_type("text/plain")
        .content("Hello Carla, how can I help?")
        .send()
        .await
        .expect("agent SendMessage");
    let message = customer
        .wait_for("the agent's message", |i| i["Type"] == "MESSAGE")
        .await;
    assert_eq!(message["Content"], "Hello Carla, how can I help?");
    assert_eq!(message["ParticipantRole"], "AGENT");
    server
        .participant()
        .send_message()
        .connection_token(&chat.connection_token)
        .content_type("text/plain")
        .content("My order is late")
        .send()
        .await
        .expect("customer SendMessage");
    let reply = agent_chat
        .wait_for("the customer's message", |i| {
            i["Type"] == "MESSAGE" && i["ParticipantRole"] == "CUSTOMER"
        })
        .await;
    assert_eq!(reply["Content"], "My order is late");

    // DescribeContact names the agent; the workspace lists the chat with its token.
    let contact = describe(&server, &chat.contact_id).await;
    assert_eq!(
        contact.agent_info().unwrap().id(),
        Some(ana.user_id.as_str())
    );
    assert!(contact
        .agent_info()
        .unwrap()
        .connected_to_agent_timestamp()
        .is_some());
    assert_eq!(contact.queue_info().unwrap().id(), Some(QUEUE));
    let me = ana.me().await;
    assert_eq!(me["status"], "Available");
    assert_eq!(me["contacts"][0]["contactId"], chat.contact_id.as_str());
    assert_eq!(me["contacts"][0]["state"], "CONNECTED");
    assert!(me["contacts"][0]["participantToken"].is_string());

    // Ending: the customer sees the agent leave, then the end; the agent is in After Contact
    // Work until they clear it.
    let (status, body) = ana.act(&chat.contact_id, "end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let left = customer
        .wait_for("the agent leaving", |i| is_event(i, "participant.left"))
        .await;
    assert_eq!(left["ParticipantRole"], "AGENT");
    customer
        .wait_for("the chat ending", |i| is_event(i, "chat.ended"))
        .await;
    let me = ana.me().await;
    assert_eq!(me["contacts"][0]["state"], "AFTER_CONTACT_WORK");
    assert_eq!(me["contacts"][0]["ended"], true);
    let (status, _) = ana.act(&chat.contact_id, "clear", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(ana.me().await["contacts"], json!([]));
    let (status, body) = ana.act(&chat.contact_id, "clear", json!({})).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn sign_in_refuses_bad_passwords_and_sign_out_ends_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let http = reqwest::Client::new();
    for (username, password) in [("ana", "wrong"), ("nobody", PASSWORD)] {
        let response = http
            .post(format!("{}/agent/api/sign-in", server.url))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["__type"], "UnauthorizedException", "{body}");
    }
    let response = http
        .post(format!("{}/agent/api/sign-in", server.url))
        .json(&json!({"username": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.socket().await;
    assert_eq!(ana.me().await["username"], "ana");
    let (status, body) = ana
        .call(reqwest::Method::PUT, "/status", json!({"status": "Lunch"}))
        .await;
    assert_eq!(status, 400, "{body}");
    ana.set_status("Break").await;
    assert_eq!(ana.me().await["status"], "Break");
    let (status, _) = ana
        .call(reqwest::Method::POST, "/sign-out", json!({}))
        .await;
    assert_eq!(status, 200);
    next_event(&mut socket, "signed-out").await;
    let (status, body) = ana.call(reqwest::Method::GET, "/me", json!({})).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn a_rejected_chat_goes_to_the_other_agent_and_a_transfer_carries_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    // The chat is also streamed, so the stream's view of agents and transfers is checked too.
    let receiver = Receiver::start(streaming::SECRET).await;
    let (_, instance) = agents_config(None);
    let server = TestServer::builder()
        .dir(dir.path())
        .config(&streaming::streaming_config(&[("crm", &receiver)]))
        .instance_config(&instance)
        .start()
        .await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ana_socket = ana.ready().await;

    let chat = start_chat(&server, "Dev").await;
    streaming::start_streaming(&server, &chat.contact_id, &streaming::webhook_arn("crm")).await;
    let mut customer = ChatSocket::subscribe(&chat.websocket_url).await;
    let offer = next_event(&mut ana_socket, "offer").await;
    let (status, _) = ana
        .act(offer["contactId"].as_str().unwrap(), "reject", json!({}))
        .await;
    assert_eq!(status, 200);
    // Ben comes on and gets it.
    let mut ben_socket = ben.ready().await;
    let (contact_id, ben_token) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(contact_id, chat.contact_id);
    let (ben_connection, _) = connect_participant(&server, &ben_token).await;
    server
        .participant()
        .send_message()
        .connection_token(&ben_connection)
        .content_type("text/plain")
        .content("Ben here")
        .send()
        .await
        .unwrap();

    // Ben transfers to Ana (who rejected it before, but a transfer to her is meant for her).
    let (status, body) = ben
        .act(
            &chat.contact_id,
            "transfer",
            json!({"agentId": ana.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    customer
        .wait_for("transfer.succeeded", |i| is_event(i, "transfer.succeeded"))
        .await;
    let left = customer
        .wait_for("Ben leaving", |i| is_event(i, "participant.left"))
        .await;
    assert_eq!(left["DisplayName"], "Ben");
    assert_eq!(ben.me().await["contacts"][0]["state"], "AFTER_CONTACT_WORK");
    assert_eq!(
        ben.me().await["contacts"][0]["contactId"],
        chat.contact_id.as_str()
    );
    // As on Amazon Connect, the transfer made a new contact of the same chat.
    let (contact_id, ana_token) = accept_offer(&ana, &mut ana_socket).await;
    assert_ne!(contact_id, chat.contact_id);
    let next = describe(&server, &contact_id).await;
    assert_eq!(next.initial_contact_id(), Some(chat.contact_id.as_str()));
    assert_eq!(next.previous_contact_id(), Some(chat.contact_id.as_str()));
    assert_eq!(
        next.initiation_method().map(|m| m.as_str()),
        Some("TRANSFER")
    );
    assert!(next.disconnect_timestamp().is_none());
    let first = describe(&server, &chat.contact_id).await;
    assert!(first.disconnect_timestamp().is_some(), "handed on");
    assert_eq!(first.initiation_method().map(|m| m.as_str()), Some("API"));
    let joined = customer
        .wait_for("Ana joining", |i| {
            is_event(i, "participant.joined") && i["ParticipantRole"] == "AGENT"
        })
        .await;
    assert_eq!(joined["DisplayName"], "Ana");
    // The customer's session carried on: what it receives now names the new contact.
    assert_eq!(joined["ContactId"], contact_id.as_str());
    assert_eq!(joined["InitialContactId"], chat.contact_id.as_str());

    // Ana sees the whole transcript, Ben's message included; InitialContactId is unchanged.
    let (ana_connection, _) = connect_participant(&server, &ana_token).await;
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&ana_connection)
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert!(transcript
        .transcript()
        .iter()
        .any(|i| i.content() == Some("Ben here")));
    assert_eq!(
        transcript.initial_contact_id(),
        Some(chat.contact_id.as_str())
    );

    // A transfer to a queue that does not exist fails, and says so in the chat.
    let (status, body) = ana
        .act(&contact_id, "transfer", json!({"queueId": "nope"}))
        .await;
    assert_eq!(status, 404, "{body}");
    customer
        .wait_for("transfer.failed", |i| is_event(i, "transfer.failed"))
        .await;

    // The stream saw the same story, in the same order.
    receiver
        .wait_for_count("application/vnd.amazonaws.connect.event.transfer.failed", 1)
        .await;
    let streamed: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| {
            let kind = r.content_type().rsplit('.').next().unwrap_or_default();
            let who = r.item["DisplayName"].as_str().unwrap_or("-");
            format!("{kind} {who} {}", r.attributes["ParticipantRole"])
        })
        .collect();
    assert_eq!(
        streamed,
        [
            "joined Dev CUSTOMER",
            "joined Ben AGENT",
            "text/plain Ben AGENT",
            "succeeded - SYSTEM",
            "left Ben AGENT",
            "joined Ana AGENT",
            "failed - SYSTEM",
        ]
    );
}

#[tokio::test]
async fn a_queued_chat_a_sign_in_and_a_status_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_agents(dir.path(), None).await;
    let mut ana = AgentClient::sign_in(&server, "ana").await;
    // Available, but with no workspace socket open nothing is offered yet.
    ana.set_status("Available").await;
    let chat = start_chat(&server, "Fay").await;
    assert!(server.signal("TERM").await.success());
    let server = start_with_agents(dir.path(), None).await;
    // The same token, the same status: opening the workspace is all it takes.
    ana.base = format!("{}/agent/api", server.url);
    let mut socket = ana.socket().await;
    let (contact_id, _) = accept_offer(&ana, &mut socket).await;
    assert_eq!(contact_id, chat.contact_id);
    assert_eq!(ana.me().await["status"], "Available");
}

#[tokio::test]
async fn a_flow_can_send_the_customer_back_to_the_queue_when_the_agent_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let started = server
        .connect()
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id("requeue-flow")
        .participant_details(
            aws_sdk_connect::types::ParticipantDetails::builder()
                .display_name("Ivy")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let contact_id = started.contact_id().unwrap().to_string();
    let (_, customer_ws) = connect_participant(&server, started.participant_token().unwrap()).await;
    let mut customer = ChatSocket::subscribe(&customer_ws).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    accept_offer(&ana, &mut ana_socket).await;
    let (status, body) = ana.act(&contact_id, "end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    customer
        .wait_for("Ana leaving", |i| is_event(i, "participant.left"))
        .await;
    // The chat goes on: Ben is offered it, and the customer's next message reaches him.
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, contact_id);
    let joined = customer
        .wait_for("Ben joining", |i| {
            is_event(i, "participant.joined") && i["DisplayName"] == "Ben"
        })
        .await;
    assert_eq!(joined["ParticipantRole"], "AGENT");
    assert!(describe(&server, &contact_id)
        .await
        .disconnect_timestamp()
        .is_none());
    assert_eq!(ana.me().await["contacts"][0]["state"], "AFTER_CONTACT_WORK");
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_for_that_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let http = reqwest::Client::new();
    let attempt = |username: &'static str, password: &'static str| {
        http.post(format!("{}/agent/api/sign-in", server.url))
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("ana", "guess").await.unwrap().status(), 401);
    }
    // Now even the right password waits out the window: the guesser learns nothing.
    let refused = attempt("ana", PASSWORD).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["__type"], "ThrottlingException");
    assert_eq!(attempt("ben", PASSWORD).await.unwrap().status(), 200);

    // Guesses in parallel are counted as they arrive, not once each is checked.
    let parallel = futures::future::join_all((0..8).map(|_| attempt("ben", "guess"))).await;
    let statuses: Vec<u16> = parallel
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_transferred_chat_still_waits_for_its_next_agent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_agents(dir.path(), None).await;
    let chat = start_chat(&server, "Uma").await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut ana_socket = ana.ready().await;
    accept_offer(&ana, &mut ana_socket).await;
    let (status, body) = ana
        .act(&chat.contact_id, "transfer", json!({"queueId": QUEUE}))
        .await;
    assert_eq!(status, 200, "{body}");
    let first = describe(&server, &chat.contact_id).await;
    assert!(first.disconnect_timestamp().is_some(), "handed on");
    assert!(server.signal("TERM").await.success());

    // The chat waits as the new contact the transfer made, with nobody, and is offered as it.
    let server = start_with_agents(dir.path(), None).await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_ne!(offered, chat.contact_id);
    let next = describe(&server, &offered).await;
    assert_eq!(next.previous_contact_id(), Some(chat.contact_id.as_str()));
    assert_eq!(next.initial_contact_id(), Some(chat.contact_id.as_str()));
    assert!(next.agent_info().is_some(), "Ben has it now");
}
