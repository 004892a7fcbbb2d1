//! Queues as operators and waiting customers see them: limits, the Connect operations about
//! agents and queues, a customer's place in the queue, customers who left while waiting, and the
//! workspace page.

use serde_json::{json, Value};

use super::*;

/// Switchboard's queue-position call, as a waiting customer's widget makes it.
async fn queue_position(server: &TestServer, connection_token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", connection_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_full_queue_refuses_start_chat_contact_with_limit_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), Some(1)).await;
    let start = || {
        server
            .connect()
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id("overflow-flow")
            .participant_details(
                aws_sdk_connect::types::ParticipantDetails::builder()
                    .display_name("Eve")
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let first = start().await.expect("the first chat fits");
    let err = start().await.expect_err("the queue is full");
    let service = err.into_service_error();
    assert!(service.is_limit_exceeded_exception(), "{service:?}");
    // Once the first leaves, there is room again: the chat's end reaches routing before
    // DisconnectParticipant answers, and routing takes requests in the order they come.
    let token = first.participant_token().unwrap();
    let (connection, _) = connect_participant(&server, token).await;
    server
        .participant()
        .disconnect_participant()
        .connection_token(&connection)
        .send()
        .await
        .unwrap();
    start().await.expect("room again");
}

#[tokio::test]
async fn operators_list_queues_users_and_statuses_set_a_status_and_read_live_metrics() {
    use aws_sdk_connect::types::{
        AgentStatusType, Channel, ContactState, CurrentMetric, CurrentMetricName, Filters,
        Grouping, QueueType, Unit, UserDataFilters,
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let connect = server.connect();

    let queues = connect
        .list_queues()
        .instance_id(INSTANCE)
        .queue_types(QueueType::Standard)
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = queues
        .queue_summary_list()
        .iter()
        .filter_map(|q| q.name())
        .collect();
    names.sort();
    assert_eq!(names, ["Overflow", "Support"]);
    let all = connect
        .list_queues()
        .instance_id(INSTANCE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        all.queue_summary_list().len(),
        4,
        "two standard, two agent queues"
    );

    let first = connect
        .list_users()
        .instance_id(INSTANCE)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.user_summary_list()[0].username(), Some("ana"));
    let second = connect
        .list_users()
        .instance_id(INSTANCE)
        .max_results(1)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.user_summary_list()[0].username(), Some("ben"));
    assert!(second.next_token().is_none());
    let ana_id = first.user_summary_list()[0].id().unwrap().to_string();

    let statuses = connect
        .list_agent_statuses()
        .instance_id(INSTANCE)
        .send()
        .await
        .unwrap();
    let kinds: Vec<(&str, AgentStatusType)> = statuses
        .agent_status_summary_list()
        .iter()
        .map(|s| (s.name().unwrap(), s.r#type().unwrap().clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Available", AgentStatusType::Routable),
            ("Break", AgentStatusType::Custom),
            ("Offline", AgentStatusType::Offline)
        ]
    );
    let available_id = statuses.agent_status_summary_list()[0].id().unwrap();

    // Ana's workspace is open; an operator makes her Available, and a chat is offered to her.
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.socket().await;
    connect
        .put_user_status()
        .instance_id(INSTANCE)
        .user_id(&ana_id)
        .agent_status_id(available_id)
        .send()
        .await
        .expect("PutUserStatus");
    assert_eq!(
        next_event(&mut socket, "status").await["status"],
        "Available"
    );
    let err = connect
        .put_user_status()
        .instance_id(INSTANCE)
        .user_id(&ana_id)
        .agent_status_id("no-such-status")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let chat = start_chat(&server, "Gus").await;
    next_event(&mut socket, "offer").await;

    let metrics = |names: &[CurrentMetricName]| {
        let mut request = connect
            .get_current_metric_data()
            .instance_id(INSTANCE)
            .filters(
                Filters::builder()
                    .queues(QUEUE)
                    .channels(Channel::Chat)
                    .build(),
            )
            .groupings(Grouping::Queue)
            .groupings(Grouping::Channel);
        for name in names {
            let unit = if *name == CurrentMetricName::OldestContactAge {
                Unit::Seconds
            } else {
                Unit::Count
            };
            request = request.current_metrics(
                CurrentMetric::builder()
                    .name(name.clone())
                    .unit(unit)
                    .build(),
            );
        }
        request.send()
    };
    let wanted = [
        CurrentMetricName::ContactsInQueue,
        CurrentMetricName::AgentsOnline,
        CurrentMetricName::AgentsAvailable,
        CurrentMetricName::AgentsOnContact,
        CurrentMetricName::SlotsActive,
        CurrentMetricName::SlotsAvailable,
        CurrentMetricName::OldestContactAge,
    ];
    let values =
        |out: &aws_sdk_connect::operation::get_current_metric_data::GetCurrentMetricDataOutput| {
            let result = &out.metric_results()[0];
            let dimensions = result.dimensions().unwrap();
            assert_eq!(dimensions.queue().unwrap().id(), Some(QUEUE));
            assert_eq!(dimensions.channel(), Some(&Channel::Chat));
            result
                .collections()
                .iter()
                .map(|c| {
                    let name = c.metric().unwrap().name().unwrap().as_str().to_string();
                    (name, c.value().unwrap())
                })
                .collect::<std::collections::HashMap<String, f64>>()
        };
    let offered = values(&metrics(&wanted).await.expect("GetCurrentMetricData"));
    assert_eq!(
        offered["CONTACTS_IN_QUEUE"], 1.0,
        "offered, not yet accepted"
    );
    assert_eq!(offered["AGENTS_ONLINE"], 1.0);
    assert_eq!(offered["AGENTS_AVAILABLE"], 1.0);
    assert_eq!(offered["SLOTS_ACTIVE"], 1.0);
    assert_eq!(offered["SLOTS_AVAILABLE"], 1.0);
    assert!(offered["OLDEST_CONTACT_AGE"] >= 0.0);

    let (status, _) = ana.act(&chat.contact_id, "accept", json!({})).await;
    assert_eq!(status, 200);
    next_event(&mut socket, "contact.connected").await;
    let connected = values(&metrics(&wanted).await.unwrap());
    assert_eq!(connected["CONTACTS_IN_QUEUE"], 0.0);
    assert_eq!(connected["AGENTS_ON_CONTACT"], 1.0);

    let users = connect
        .get_current_user_data()
        .instance_id(INSTANCE)
        .filters(UserDataFilters::builder().agents(&ana_id).build())
        .send()
        .await
        .expect("GetCurrentUserData");
    let data = &users.user_data_list()[0];
    assert_eq!(data.user().unwrap().id(), Some(ana_id.as_str()));
    assert_eq!(data.status().unwrap().status_name(), Some("Available"));
    assert_eq!(data.max_slots_by_channel().unwrap()[&Channel::Chat], 2);
    assert_eq!(data.active_slots_by_channel().unwrap()[&Channel::Chat], 1);
    let contact = &data.contacts()[0];
    assert_eq!(contact.contact_id(), Some(chat.contact_id.as_str()));
    assert_eq!(
        contact.agent_contact_state(),
        Some(&ContactState::Connected)
    );
    assert!(contact.connected_to_agent_timestamp().is_some());

    // A unit that is not the metric's is refused, as Amazon does.
    let err = connect
        .get_current_metric_data()
        .instance_id(INSTANCE)
        .filters(Filters::builder().queues(QUEUE).build())
        .current_metrics(
            CurrentMetric::builder()
                .name(CurrentMetricName::OldestContactAge)
                .unit(Unit::Count)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
}

#[tokio::test]
async fn a_waiting_customer_learns_their_place_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_agents(dir.path(), None).await;
    let first = start_chat(&server, "First").await;
    let second = start_chat(&server, "Second").await;
    assert_eq!(
        queue_position(&server, &second.connection_token).await,
        json!({"QueueId": QUEUE, "Position": 2, "QueueLength": 2})
    );
    let ana = AgentClient::sign_in(&server, "ana").await;
    let mut socket = ana.ready().await;
    let (contact_id, _) = accept_offer(&ana, &mut socket).await;
    assert_eq!(contact_id, first.contact_id, "first come, first served");
    assert_eq!(
        queue_position(&server, &first.connection_token).await,
        json!({})
    );
    // Ana has a second slot: the second chat is offered now, and still counts as in the queue.
    assert_eq!(
        queue_position(&server, &second.connection_token).await,
        json!({"QueueId": QUEUE, "Position": 1, "QueueLength": 1})
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_waiting_customer_whose_sockets_all_closed_is_ended_after_the_grace_time() {
    use aws_sdk_connect::types::{ParticipantDetailsToAdd, ParticipantRole};
    let dir = tempfile::tempdir().unwrap();
    let (_, instance) = agents_config(None);
    // The shortest grace time the configuration allows; the test waits for the event, not a clock.
    let server = TestServer::builder()
        .dir(dir.path())
        .config("[routing]\ncustomer_gone_seconds = 5")
        .instance_config(&instance)
        .start()
        .await;
    let chat = start_chat(&server, "Hal").await;
    let customer = ChatSocket::subscribe(&chat.websocket_url).await;
    // A bot on the chat watches what happens to it.
    let bot = server
        .connect()
        .create_participant()
        .instance_id(INSTANCE)
        .contact_id(&chat.contact_id)
        .participant_details(
            ParticipantDetailsToAdd::builder()
                .participant_role(ParticipantRole::CustomBot)
                .display_name("Watcher")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (_, bot_ws) = connect_participant(
        &server,
        bot.participant_credentials()
            .unwrap()
            .participant_token()
            .unwrap(),
    )
    .await;
    let mut watcher = ChatSocket::subscribe(&bot_ws).await;
    // The customer closes the tab.
    drop(customer);
    let ended = watcher
        .wait_for("the abandoned chat to end", |i| is_event(i, "chat.ended"))
        .await;
    assert_eq!(ended["Type"], "EVENT");
    let contact = describe(&server, &chat.contact_id).await;
    assert_eq!(contact.disconnect_reason(), Some("CUSTOMER_DISCONNECT"));
    // The ended chat is gone for its customer, as every participant call says.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/switchboard/participant/queue-position",
            server.url
        ))
        .header("x-amz-bearer", &chat.connection_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_workspace_page_is_served_with_a_policy_that_keeps_it_on_this_server() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (path, content_type) in [
        ("/agent", "text/html"),
        ("/agent/agent.js", "text/javascript"),
        ("/agent/agent.css", "text/css"),
    ] {
        let response = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
        let body = response.text().await.unwrap();
        assert!(!body.contains("https://"), "{path} refers to another site");
    }
}
