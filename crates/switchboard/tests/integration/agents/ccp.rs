//! What the Streams CCP page reads (`GET /ccp-v2/api/agent`): the agent's state in the shapes of
//! Streams' `agent::update` event, from the same agent model the workspace reads. The browser
//! side (Streams itself driving the page) is tests/e2e/streams.test.mjs.

use serde_json::{json, Value};

use super::*;

/// The CCP's read for `agent`: status and body.
pub(crate) async fn agent_update(server: &TestServer, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/ccp-v2/api/agent", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn instance_arn() -> String {
    format!("arn:aws:connect:{REGION}:")
}

#[tokio::test]
async fn an_offer_is_a_connecting_contact_and_an_accepted_one_carries_its_media_info() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.ready().await;

    let (status, update) = agent_update(&server, &ana.token).await;
    assert_eq!(status, 200, "{update}");
    let configuration = &update["configuration"];
    assert_eq!(configuration["name"], "Ana");
    assert_eq!(configuration["username"], "ana");
    let agent_arn = configuration["agentARN"].as_str().unwrap();
    assert!(agent_arn.starts_with(&instance_arn()), "{agent_arn}");
    assert!(
        agent_arn.contains(&format!(":instance/{INSTANCE}/agent/")),
        "{agent_arn}"
    );
    let states: Vec<(&str, &str)> = configuration["agentStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("Available", "routable"),
            ("Break", "not_routable"),
            ("Offline", "offline")
        ]
    );
    let profile = &configuration["routingProfile"];
    assert_eq!(profile["name"], "Front line");
    assert_eq!(profile["routingProfileARN"], profile["routingProfileId"]);
    assert_eq!(profile["channelConcurrencyMap"]["CHAT"], 2);
    let queues: Vec<&str> = profile["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queueARN"].as_str().unwrap())
        .collect();
    assert!(
        queues[0].ends_with(&format!("/queue/{QUEUE}")),
        "{queues:?}"
    );
    // The agent's own queue is among theirs, as on Amazon (Streams looks for it).
    assert!(
        queues.iter().any(|q| q.contains("/queue/agent/")),
        "{queues:?}"
    );
    let snapshot = &update["snapshot"];
    assert_eq!(snapshot["state"]["name"], "Available");
    assert_eq!(snapshot["state"]["type"], "routable");
    assert!(snapshot["state"]["startTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(snapshot["contacts"], json!([]));

    // An offer: a chat contact connecting, its agent connection without media info yet.
    let chat = start_chat(&server, "Carla").await;
    next_event(&mut socket, "offer").await;
    server
        .connect()
        .update_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id(&chat.contact_id)
        .attributes("order", "42")
        .send()
        .await
        .unwrap();
    let (_, update) = agent_update(&server, &ana.token).await;
    let contact = &update["snapshot"]["contacts"][0];
    // Attributes as Streams' getAttributes gives them.
    assert_eq!(
        contact["attributes"]["order"],
        json!({"name": "order", "value": "42"})
    );
    assert_eq!(contact["contactId"], chat.contact_id.as_str());
    assert_eq!(contact["initialContactId"], chat.contact_id.as_str());
    assert_eq!(contact["type"], "chat");
    assert_eq!(contact["state"]["type"], "connecting");
    assert_eq!(contact["queue"]["name"], "Support");
    assert!(contact["queue"]["queueARN"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/queue/{QUEUE}")));
    let connections = contact["connections"].as_array().unwrap();
    let customer = connections.iter().find(|c| c["initial"] == true).unwrap();
    assert_eq!(customer["type"], "inbound");
    assert_eq!(customer["endpoint"]["name"], "Carla");
    let agent = connections.iter().find(|c| c["type"] == "agent").unwrap();
    assert_eq!(agent["state"]["type"], "connecting");
    assert!(agent["chatMediaInfo"].is_null(), "{agent}");

    // Accepted: connected, and the media info carries a participant token that works.
    let (contact_id, _) = {
        let (status, body) = ana.act(&chat.contact_id, "accept", json!({})).await;
        assert_eq!(status, 200, "{body}");
        let connected = next_event(&mut socket, "contact.connected").await;
        (connected["contactId"].as_str().unwrap().to_string(), ())
    };
    let (_, update) = agent_update(&server, &ana.token).await;
    let contact = &update["snapshot"]["contacts"][0];
    assert_eq!(contact["contactId"], contact_id.as_str());
    assert_eq!(contact["state"]["type"], "connected");
    let agent = contact["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "agent")
        .unwrap();
    assert_eq!(agent["state"]["type"], "connected");
    let data: Value =
        serde_json::from_str(agent["chatMediaInfo"]["connectionData"].as_str().unwrap()).unwrap();
    let token = data["ConnectionAuthenticationToken"].as_str().unwrap();
    let (connection_token, _) = connect_participant(&server, token).await;
    assert!(!connection_token.is_empty());

    // Ended by the agent: After Contact Work is the contact's `ended` state.
    let (status, body) = ana.act(&contact_id, "end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, update) = agent_update(&server, &ana.token).await;
    let contact = &update["snapshot"]["contacts"][0];
    assert_eq!(contact["state"]["type"], "ended");
    assert!(contact["connections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["state"]["type"] == "disconnected"));
}

#[tokio::test]
async fn an_agents_update_never_shows_another_agents_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let ana = AgentClient::sign_in(&server, "ana").await;
    let ben = AgentClient::sign_in(&server, "ben").await;
    let mut ana_socket = ana.ready().await;
    start_chat(&server, "Carla").await;
    accept_offer(&ana, &mut ana_socket).await;

    let (_, ana_update) = agent_update(&server, &ana.token).await;
    assert_eq!(
        ana_update["snapshot"]["contacts"].as_array().unwrap().len(),
        1
    );
    let (status, ben_update) = agent_update(&server, &ben.token).await;
    assert_eq!(status, 200, "{ben_update}");
    assert_eq!(ben_update["snapshot"]["contacts"], json!([]));
    // The quick connects name other agents, never the caller.
    let endpoints: Vec<&str> = ben_update["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(endpoints.contains(&"Ana"), "{endpoints:?}");
    assert!(!endpoints.contains(&"Ben"), "{endpoints:?}");
}

#[tokio::test]
async fn a_user_who_takes_no_chats_is_refused_the_ccp_and_cannot_go_available() {
    let dir = tempfile::tempdir().unwrap();
    let (top, mut instance) = agents_config(None);
    instance.push_str(&format!(
        r#"
[[instances.users]]
username = "sam"
display_name = "Sam"
password_hash = "{}"
routing_profile = "front"
supervisor = true
takes_chats = false
"#,
        password_hash()
    ));
    let server = TestServer::builder()
        .dir(dir.path())
        .config(&top)
        .instance_config(&instance)
        .start()
        .await;
    let sam = AgentClient::sign_in(&server, "sam").await;
    let (status, body) = agent_update(&server, &sam.token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["__type"], "AccessDeniedException");
    let (status, body) = sam
        .call(
            reqwest::Method::PUT,
            "/status",
            json!({"status": "Available"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // The supervisor view is still theirs.
    let (status, body) = sam.call(reqwest::Method::GET, "/overview", json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_ccp_read_without_a_sign_in_is_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let (status, body) = agent_update(&server, "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["__type"], "UnauthorizedException");
}
