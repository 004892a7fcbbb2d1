//! Several nodes on one PostgreSQL database, joined by NATS: any node takes any request, a chat's
//! items reach its sockets on every node in order, and a node killed mid-chat costs nothing.

use aws_sdk_connectparticipant::types::SortKey;
use serde_json::Value;

use crate::common::*;

/// The NATS server the tests use.
fn nats_url() -> String {
    std::env::var("SWITCHBOARD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A node of the test cluster: its own data directory, the shared database, `extra`
/// configuration (the bus, at least).
async fn node(dir: &std::path::Path, database: &PostgresDatabase, extra: &str) -> TestServer {
    TestServer::builder()
        .dir(dir)
        .storage(&database.url())
        .config(extra)
        .start()
        .await
}

async fn say(node: &TestServer, connection_token: &str, text: &str) -> String {
    node.participant()
        .send_message()
        .connection_token(connection_token)
        .content_type("text/plain")
        .content(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SendMessage {text}: {e:?}"))
        .id()
        .unwrap()
        .to_string()
}

/// Reads a socket's items up to and including the one with `id`, keeping them all.
async fn read_through(socket: &mut ChatSocket, id: &str, seen: &mut Vec<Value>) {
    loop {
        let item = socket
            .next_item()
            .await
            .unwrap_or_else(|| panic!("socket closed while waiting for {id}"));
        let done = item["Id"] == id;
        seen.push(item);
        if done {
            return;
        }
    }
}

#[tokio::test]
async fn three_nodes_share_a_chat_and_a_killed_node_loses_nothing() {
    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let extra = format!("bus = \"{}\"", nats_url());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let node1 = node(dirs[0].path(), &database, &extra).await;
    let mut node2 = node(dirs[1].path(), &database, &extra).await;
    let node3 = node(dirs[2].path(), &database, &extra).await;
    for node in [&node1, &node2, &node3] {
        let ready: Value = reqwest::get(format!("{}/readyz", node.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["bus"], "nats", "{ready}");
    }

    // The customer on node 1, a bot on node 2.
    let customer = start_chat(&node1, "Cluster customer").await;
    let mut customer_socket = ChatSocket::subscribe(&customer.websocket_url).await;
    let (_, bot_token) = add_bot(&node2, &customer.contact_id, "Cluster bot").await;
    let (bot_connection, bot_url) = connect_participant(&node2, &bot_token).await;
    assert!(bot_url.contains(&node2.url.replace("http://", "")));
    let mut bot_socket = ChatSocket::subscribe(&bot_url).await;
    let mut at_customer = Vec::new();
    let mut at_bot = Vec::new();

    // Both ways, across nodes.
    let c1 = say(&node1, &customer.connection_token, "hello from node 1").await;
    read_through(&mut bot_socket, &c1, &mut at_bot).await;
    let b1 = say(&node2, &bot_connection, "hello from node 2").await;
    read_through(&mut customer_socket, &b1, &mut at_customer).await;

    // Node 2 dies mid-chat. The customer goes on; the bot reconnects through node 3.
    node2.signal("KILL").await;
    let c2 = say(&node1, &customer.connection_token, "are you there?").await;
    let (bot_connection, bot_url) = connect_participant(&node3, &bot_token).await;
    let mut bot_socket = ChatSocket::subscribe(&bot_url).await;
    let b2 = say(&node3, &bot_connection, "back, on node 3").await;
    let c3 = say(&node1, &customer.connection_token, "great").await;
    read_through(&mut customer_socket, &c3, &mut at_customer).await;
    let mut at_bot_again = Vec::new();
    read_through(&mut bot_socket, &c3, &mut at_bot_again).await;

    // The transcript, read through node 3, has everything once, in order; the customer's socket
    // on node 1 got all of it, in the same order.
    let transcript = node3
        .participant()
        .get_transcript()
        .connection_token(&customer.connection_token)
        .sort_order(SortKey::Ascending)
        .max_results(100)
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = transcript
        .transcript()
        .iter()
        .filter(|i| i.r#type() == Some(&aws_sdk_connectparticipant::types::ChatItemType::Message))
        .filter_map(|i| i.id())
        .collect();
    assert_eq!(messages, [&c1, &b1, &c2, &b2, &c3]);
    let all: Vec<&str> = transcript
        .transcript()
        .iter()
        .filter_map(|i| i.id())
        .collect();
    let pushed: Vec<&str> = at_customer
        .iter()
        .filter_map(|i| i["Id"].as_str())
        .collect();
    // The socket opened after the customer's own participant.joined; everything since came.
    assert_eq!(all.len(), pushed.len() + 1, "{all:?} {pushed:?}");
    assert_eq!(
        pushed,
        all[1..],
        "the customer's socket on node 1 got every item, in order"
    );
    // The bot's new socket on node 3 got what came after it subscribed, including the message
    // node 1 committed.
    assert_eq!(at_bot_again.last().unwrap()["Content"], "great");
}

#[tokio::test]
async fn one_node_at_a_time_publishes_a_stream_and_another_takes_over_when_it_dies() {
    use crate::receiver::Receiver;
    use crate::streaming;

    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let receiver = Receiver::start(streaming::SECRET).await;
    // Short leases and sweeps, so that a take-over happens within the test's patience.
    let streaming_config = streaming::streaming_config(&[("crm", &receiver)]).replace(
        "[streaming]\n",
        "[streaming]\nlease_seconds = 2\nsweep_seconds = 1\n",
    );
    let extra = format!("bus = \"{}\"\n{streaming_config}", nats_url());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut node_a = node(dirs[0].path(), &database, &extra).await;
    let node_b = node(dirs[1].path(), &database, &extra).await;

    let started = start_chat_request(&node_a, "Streamed across nodes")
        .chat_streaming_configuration(streaming::streaming_to(&streaming::webhook_arn("crm")))
        .send()
        .await
        .unwrap();
    let customer = customer_of(&node_a, &started).await;
    // Node B's sweep finds the stream: both nodes now have a worker for it.
    tokio::time::timeout(PATIENCE, async {
        while metric(&node_b, "switchboard_streams_active", "").await != 1.0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("node B never took the stream up");

    let mut said = Vec::new();
    for n in 0..20 {
        let node = if n % 2 == 0 { &node_a } else { &node_b };
        said.push(say(node, &customer.connection_token, &format!("both {n}")).await);
    }
    let arrived = |r: &Receiver| -> Vec<String> {
        r.accepted()
            .iter()
            .filter(|x| x.content_type() == "text/plain")
            .map(|x| x.id().to_string())
            .collect()
    };
    receiver
        .wait_until("the messages sent through both nodes", |r| {
            said.iter().all(|id| arrived(r).contains(id))
        })
        .await;
    let texts = arrived(&receiver);
    assert_eq!(texts, said, "each once, in order, from one publisher");

    // Node A dies; node B takes the stream over once A's lease runs out.
    node_a.signal("KILL").await;
    for n in 0..5 {
        said.push(say(&node_b, &customer.connection_token, &format!("after {n}")).await);
    }
    receiver
        .wait_until("the messages sent after node A died", |r| {
            said.iter().all(|id| arrived(r).contains(id))
        })
        .await;
    let mut seen = std::collections::HashSet::new();
    let first_arrivals: Vec<String> = arrived(&receiver)
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect();
    assert_eq!(first_arrivals, said);
}

/// Whether the node routes the test instance now, by its metrics.
async fn routes_instance(node: &TestServer) -> bool {
    let instance = format!("instance=\"{INSTANCE}\"");
    metric(node, "switchboard_routing_owned", &instance).await == 1.0
}

/// The index of the one node that routes the test instance, once one does.
async fn routing_owner(nodes: &[&TestServer]) -> usize {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let mut owners = Vec::new();
            for (at, node) in nodes.iter().enumerate() {
                if routes_instance(node).await {
                    owners.push(at);
                }
            }
            assert!(owners.len() <= 1, "several routing owners: {owners:?}");
            if let Some(owner) = owners.first() {
                return *owner;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("no node took routing up")
}

#[tokio::test]
async fn one_node_routes_the_queues_for_all_and_another_takes_over_when_it_dies() {
    use crate::agents::{accept_offer, agents_config, next_event, AgentClient};

    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let (_, instance) = agents_config(None);
    // A short lease, so that a take-over happens within the test's patience.
    let extra = format!("bus = \"{}\"\n[routing]\nlease_seconds = 2\n", nats_url());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(
            TestServer::builder()
                .dir(dir.path())
                .storage(&database.url())
                .config(&extra)
                .instance_config(&instance)
                .start()
                .await,
        );
    }
    let owner = routing_owner(&nodes.iter().collect::<Vec<_>>()).await;
    // The agent works on one node, the customers come through another, and neither routes.
    let mut routing_node = nodes.remove(owner);
    let (agent_node, customer_node) = (&nodes[0], &nodes[1]);

    let ana = AgentClient::sign_in(agent_node, "ana").await;
    let mut workspace = ana.ready().await;
    let first = start_chat(customer_node, "First customer").await;
    let (contact, agent_token) = accept_offer(&ana, &mut workspace).await;
    assert_eq!(contact, first.contact_id);
    let (agent_connection, _) = connect_participant(customer_node, &agent_token).await;
    let mut first_socket = ChatSocket::subscribe(&first.websocket_url).await;
    let hello = say(customer_node, &agent_connection, "Ana here").await;
    first_socket
        .wait_for("the agent's message", |i| i["Id"] == hello)
        .await;

    // Ana takes a break: the next chat waits in the queue.
    ana.set_status("Break").await;
    let second = start_chat(customer_node, "Second customer").await;
    let _second_socket = ChatSocket::subscribe(&second.websocket_url).await;
    let me = ana.me().await;
    assert_eq!(me["status"], "Break", "{me}");

    // The routing node dies. Another takes the queues over from the store; Ana, back from her
    // break, is offered the chat that was waiting, and keeps the one she had.
    routing_node.signal("KILL").await;
    routing_owner(&[agent_node, customer_node]).await;
    ana.set_status("Available").await;
    let offer = next_event(&mut workspace, "offer").await;
    assert_eq!(offer["contactId"], second.contact_id.as_str(), "{offer}");
    let (status, body) = ana
        .act(&second.contact_id, "accept", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let connected = next_event(&mut workspace, "contact.connected").await;
    assert_eq!(connected["contactId"], second.contact_id.as_str());
    let me = ana.me().await;
    let mut contacts: Vec<&str> = me["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["contactId"].as_str().or(c.as_str()))
        .collect();
    contacts.sort();
    let mut expected = vec![first.contact_id.as_str(), second.contact_id.as_str()];
    expected.sort();
    assert_eq!(contacts, expected, "{me}");

    // Signing out on one node ends the sign-in on every node.
    let (status, _) = ana
        .call(reqwest::Method::POST, "/sign-out", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    let elsewhere = reqwest::Client::new();
    tokio::time::timeout(PATIENCE, async {
        loop {
            let response = elsewhere
                .get(format!("{}/agent/api/me", customer_node.url))
                .bearer_auth(&ana.token)
                .send()
                .await
                .unwrap();
            if response.status() == 401 {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the other node still took the signed-out token");

    // Password guesses count on every node: five on one node use up the user's tries on the
    // other too (it refuses before it has let five of its own through).
    let guess = |node: &TestServer| {
        elsewhere
            .post(format!("{}/agent/api/sign-in", node.url))
            .json(&serde_json::json!({"username": "ben", "password": "guess"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(guess(agent_node).await.unwrap().status(), 401);
    }
    let mut let_through = 0;
    loop {
        match guess(customer_node).await.unwrap().status().as_u16() {
            401 => let_through += 1,
            429 => break,
            other => panic!("sign-in answered {other}"),
        }
        assert!(
            let_through < 5,
            "the other node counted only its own guesses"
        );
    }
}

#[tokio::test]
async fn an_item_nats_never_brought_still_reaches_a_quiet_socket() {
    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let extra = format!("bus = \"{}\"\n[limits]\ncatch_up_seconds = 1\n", nats_url());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for dir in &dirs {
        std::fs::write(
            dir.path().join("switchboard.toml"),
            config_text_for(&database.url(), &extra, ""),
        )
        .unwrap();
    }
    let node1 = TestServer::builder()
        .dir(dirs[0].path())
        .existing_config()
        .start()
        .await;
    // Node 2 commits what contains "unpublished" but never puts it on NATS: its last message
    // is lost on the way, and nothing comes after it that would show the gap.
    let node2 = TestServer::builder()
        .dir(dirs[1].path())
        .existing_config()
        .env(&[("SWITCHBOARD_TEST_DROP_FROM_BUS", "unpublished")])
        .start()
        .await;

    let customer = start_chat(&node1, "Quiet customer").await;
    let mut customer_socket = ChatSocket::subscribe(&customer.websocket_url).await;
    let (_, bot_token) = add_bot(&node2, &customer.contact_id, "Bot").await;
    let (bot_connection, _) = connect_participant(&node2, &bot_token).await;
    let seen = say(&node2, &bot_connection, "published").await;
    customer_socket
        .wait_for("the published message", |i| i["Id"] == seen)
        .await;
    let lost = say(&node2, &bot_connection, "unpublished, the last word").await;
    let item = customer_socket
        .wait_for("the unpublished message", |i| {
            i["Type"] == "MESSAGE"
                && i["Content"]
                    .as_str()
                    .is_some_and(|c| c.contains("unpublished"))
        })
        .await;
    assert_eq!(item["Id"], lost, "{item}");
}

#[tokio::test]
async fn a_stream_publishes_items_written_on_another_node_without_waiting_for_a_sweep() {
    use crate::receiver::Receiver;
    use crate::streaming;

    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let receiver = Receiver::start(streaming::SECRET).await;
    // Sweeps so rare that only being told of the items gets them published within the test.
    let streaming_config = streaming::streaming_config(&[("crm", &receiver)])
        .replace("[streaming]\n", "[streaming]\nsweep_seconds = 3600\n");
    let extra = format!("bus = \"{}\"\n{streaming_config}", nats_url());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let node_a = node(dirs[0].path(), &database, &extra).await;
    let node_b = node(dirs[1].path(), &database, &extra).await;

    // The stream starts on node A, whose worker takes its lease; node B never hears of it.
    let started = start_chat_request(&node_a, "Streamed from node B")
        .chat_streaming_configuration(streaming::streaming_to(&streaming::webhook_arn("crm")))
        .send()
        .await
        .unwrap();
    let customer = customer_of(&node_b, &started).await;
    let mut said = Vec::new();
    for n in 0..3 {
        said.push(say(&node_b, &customer.connection_token, &format!("via B {n}")).await);
    }
    receiver
        .wait_until("the messages written on node B", |r| {
            let arrived: Vec<String> = r.accepted().iter().map(|x| x.id().to_string()).collect();
            said.iter().all(|id| arrived.contains(id))
        })
        .await;
}

/// A flow that asks, times out once after 2 seconds, asks again, and queues the chat.
const PATIENT_FLOW: &str = r#"
[[instances.contact_flows]]
id = "patient"
name = "Asks twice"
content = '''
{"Version": "2019-10-30", "StartAction": "ask", "Actions": [
  {"Identifier": "ask", "Type": "GetParticipantInput",
   "Parameters": {"Text": "Which team?", "InputTimeLimitSeconds": "2"},
   "Transitions": {"NextAction": "again",
     "Errors": [{"NextAction": "again", "ErrorType": "InputTimeLimitExceeded"}]}},
  {"Identifier": "again", "Type": "GetParticipantInput",
   "Parameters": {"Text": "Still there? Which team?", "InputTimeLimitSeconds": "300"},
   "Transitions": {"NextAction": "queue",
     "Conditions": [{"NextAction": "sales", "Condition": {"Operator": "Equals", "Operands": ["sales"]}}],
     "Errors": [{"NextAction": "queue", "ErrorType": "NoMatchingCondition"},
                {"NextAction": "queue", "ErrorType": "InputTimeLimitExceeded"}]}},
  {"Identifier": "sales", "Type": "MessageParticipant", "Parameters": {"Text": "Sales it is."},
   "Transitions": {"NextAction": "queue"}},
  {"Identifier": "queue", "Type": "UpdateContactTargetQueue", "Parameters": {"QueueId": "queue-1"},
   "Transitions": {"NextAction": "transfer"}},
  {"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {}, "Transitions": {}}]}
'''
"#;

#[tokio::test]
async fn a_flow_whose_node_dies_goes_on_from_another_node_timer_and_all() {
    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let extra = format!("bus = \"{}\"", nats_url());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = |dir| {
        TestServer::builder()
            .dir(dir)
            .storage(&database.url())
            .config(&extra)
            .instance_config(PATIENT_FLOW)
            .start()
    };
    let mut node1 = start(dirs[0].path()).await;
    let node2 = start(dirs[1].path()).await;

    // The customer connects on node 1: the flow starts there and asks.
    let started = start_chat_request(&node1, "Kim")
        .contact_flow_id("patient")
        .send()
        .await
        .expect("StartChatContact");
    let customer = customer_of(&node1, &started).await;
    let mut socket = ChatSocket::subscribe(&customer.websocket_url).await;
    let asked = socket
        .wait_for("the question", |i| i["ParticipantRole"] == "SYSTEM")
        .await;
    assert_eq!(asked["Content"], "Which team?");

    // Node 1 dies while the flow waits. The customer reconnects through node 2, whose once-a-second
    // look at due runs times the question out there.
    node1.signal("KILL").await;
    let (connection, url) = connect_participant(&node2, &customer.participant_token).await;
    let mut socket = ChatSocket::subscribe(&url).await;
    // The timeout may have come before this socket did: then the transcript has its question.
    let transcript = node2
        .participant()
        .get_transcript()
        .connection_token(&connection)
        .max_results(100)
        .send()
        .await
        .unwrap();
    let already = transcript
        .transcript()
        .iter()
        .any(|i| i.content() == Some("Still there? Which team?"));
    if !already {
        let again = socket
            .wait_for("the question again", |i| i["ParticipantRole"] == "SYSTEM")
            .await;
        assert_eq!(again["Content"], "Still there? Which team?");
    }
    say(&node2, &connection, "sales").await;
    let answered = socket
        .wait_for("the answer's branch", |i| i["Content"] == "Sales it is.")
        .await;
    assert_eq!(answered["ParticipantRole"], "SYSTEM");

    let transcript = node2
        .participant()
        .get_transcript()
        .connection_token(&connection)
        .sort_order(SortKey::Ascending)
        .max_results(100)
        .send()
        .await
        .unwrap();
    let said: Vec<&str> = transcript
        .transcript()
        .iter()
        .filter(|i| i.r#type() == Some(&aws_sdk_connectparticipant::types::ChatItemType::Message))
        .filter_map(|i| i.content())
        .collect();
    assert_eq!(
        said,
        [
            "Which team?",
            "Still there? Which team?",
            "sales",
            "Sales it is."
        ],
        "every step once"
    );
}

#[tokio::test]
async fn a_transfer_flow_started_on_one_node_queues_the_chat_from_another() {
    use crate::agents::{accept_offer, AgentClient};
    use crate::flow_chats::next_system_message;
    use crate::quick_connects::{chat_with_ana, instance_config, queue_of};

    let Some(database) = PostgresDatabase::fresh().await else {
        return;
    };
    let extra = format!("bus = \"{}\"", nats_url());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(
            TestServer::builder()
                .dir(dir.path())
                .storage(&database.url())
                .config(&extra)
                .instance_config(&instance_config())
                .start()
                .await,
        );
    }
    let (node1, node2) = (&nodes[0], &nodes[1]);

    // Ana works on node 1, Ben on node 2; the customer came in through node 1.
    let ana = AgentClient::sign_in(node1, "ana").await;
    let mut ana_socket = ana.ready().await;
    let ben = AgentClient::sign_in(node2, "ben").await;
    let mut ben_socket = ben.ready().await;
    let (chat, _) = chat_with_ana(node1, &ana, &mut ana_socket).await;

    // Ana transfers through the quick connect on node 1, where its flow starts and asks.
    let (status, body) = ana
        .act(
            &chat.contact_id,
            "transfer",
            serde_json::json!({"quickConnectId": "to-billing"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let next = body["contactId"].as_str().unwrap().to_string();
    let (connection, url) = connect_participant(node2, &chat.participant_token).await;
    let mut socket = ChatSocket::subscribe(&url).await;
    let transcript = node2
        .participant()
        .get_transcript()
        .connection_token(&connection)
        .max_results(100)
        .send()
        .await
        .unwrap();
    let question = "Transferring you to billing. What is it about?";
    if !transcript
        .transcript()
        .iter()
        .any(|i| i.content() == Some(question))
    {
        assert_eq!(next_system_message(&mut socket).await["Content"], question);
    }

    // The customer answers through node 2: the flow goes on there and queues the chat, and Ben
    // is offered it on node 2, wherever routing runs.
    say(node2, &connection, "a refund").await;
    let (offered, _) = accept_offer(&ben, &mut ben_socket).await;
    assert_eq!(offered, next);
    assert_eq!(queue_of(node2, &next).await.as_deref(), Some("billing"));
}
