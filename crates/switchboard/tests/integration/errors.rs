//! Errors as the AWS SDK for Rust decodes them: modeled errors typed, generic ones by code.

use aws_sdk_connect::error::ProvideErrorMetadata;
use aws_sdk_connect::types::{ChatMessage, ParticipantDetails};

use crate::common::*;

fn details(name: &str) -> ParticipantDetails {
    ParticipantDetails::builder()
        .display_name(name)
        .build()
        .unwrap()
}

/// StartChatContact on the test instance and flow, for a customer called `name`.
fn start(
    connect: &aws_sdk_connect::Client,
    name: &str,
) -> aws_sdk_connect::operation::start_chat_contact::builders::StartChatContactFluentBuilder {
    connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details(name))
}

#[tokio::test]
async fn start_chat_contact_validates_its_members() {
    let server = TestServer::start().await;
    let connect = server.connect();

    let err = connect
        .start_chat_contact()
        .instance_id("no-such-instance")
        .contact_flow_id(FLOW)
        .participant_details(details("A"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id("no-such-flow")
        .participant_details(details("A"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    for minutes in [59, 10081] {
        let err = start(&connect, "A")
            .chat_duration_in_minutes(minutes)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_exception(), "{minutes}: {err:?}");
        assert!(
            err.message().unwrap().contains("ChatDurationInMinutes"),
            "{err:?}"
        );
    }

    let err = start(&connect, "A")
        .supported_messaging_content_types("text/markdown")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");

    let err = start(&connect, "A")
        .attributes("big", "x".repeat(32_766))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");

    let err = start(&connect, "")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    let err = start(&connect, "A")
        .initial_message(
            ChatMessage::builder()
                .content_type("text/markdown")
                .content("**not allowed**")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");
}

#[tokio::test]
async fn start_chat_contact_with_the_same_client_token_returns_the_same_contact() {
    let server = TestServer::start().await;
    let start = || {
        server
            .connect()
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id(FLOW)
            .participant_details(details("Retry"))
            .initial_message(
                ChatMessage::builder()
                    .content_type("text/plain")
                    .content("hi")
                    .build()
                    .unwrap(),
            )
            .client_token("retry-token-1")
    };
    let first = start().send().await.unwrap();
    let second = start().send().await.unwrap();
    assert_eq!(first.contact_id(), second.contact_id());
    assert_eq!(first.participant_id(), second.participant_id());

    // The retried start added nothing: one joined event and one initial message.
    let (token, _) = connect_participant(&server, second.participant_token().unwrap()).await;
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(transcript.transcript().len(), 2);

    // SendMessage with a repeated ClientToken returns the first message and stores it once.
    let send = || {
        server
            .participant()
            .send_message()
            .connection_token(&token)
            .content_type("text/plain")
            .content("once")
            .client_token("message-token-1")
    };
    let a = send().send().await.unwrap();
    let b = send().send().await.unwrap();
    assert_eq!(a.id(), b.id());
    let transcript = server
        .participant()
        .get_transcript()
        .connection_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(transcript.transcript().len(), 3);
}

#[tokio::test]
async fn contact_operations_report_missing_contacts() {
    let server = TestServer::start().await;
    let connect = server.connect();
    let err = connect
        .stop_contact()
        .instance_id(INSTANCE)
        .contact_id("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(410));
    assert!(err.into_service_error().is_contact_not_found_exception());
    let err = connect
        .describe_contact()
        .instance_id(INSTANCE)
        .contact_id("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = connect
        .get_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn attributes_are_read_and_merged() {
    let server = TestServer::start().await;
    let connect = server.connect();
    let started = start(&connect, "Attr")
        .attributes("order", "42")
        .send()
        .await
        .unwrap();
    let id = started.contact_id().unwrap();
    connect
        .update_contact_attributes()
        .instance_id(format!(
            "arn:aws:connect:{REGION}:123456789012:instance/{INSTANCE}"
        ))
        .initial_contact_id(id)
        .attributes("tier", "gold")
        .send()
        .await
        .unwrap();
    let attributes = connect
        .get_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id(id)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes.get("order").map(String::as_str), Some("42"));
    assert_eq!(attributes.get("tier").map(String::as_str), Some("gold"));
    let err = connect
        .update_contact_attributes()
        .instance_id(INSTANCE)
        .initial_contact_id(id)
        .attributes("huge", "y".repeat(32_760))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
}

#[tokio::test]
async fn signatures_are_verified() {
    let server = TestServer::start().await;
    let attempt = |client: aws_sdk_connect::Client| async move {
        client
            .describe_contact()
            .instance_id(INSTANCE)
            .contact_id("any")
            .send()
            .await
            .unwrap_err()
    };
    let err = attempt(server.connect_with_keys(ACCESS_KEY, "wrong-secret")).await;
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    let err = attempt(server.connect_with_keys("AKIDUNKNOWN", SECRET_KEY)).await;
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn participant_calls_check_tokens_and_content() {
    let server = TestServer::start().await;
    let chat = start_chat(&server, "Tokens").await;
    let participant = server.participant();

    // A participant token is not a connection token, and a forged one is nothing.
    for token in [chat.participant_token.as_str(), "forged.token"] {
        let err = participant
            .send_message()
            .connection_token(token)
            .content_type("text/plain")
            .content("x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_access_denied_exception(), "{err:?}");
    }
    let err = participant
        .create_participant_connection()
        .participant_token(&chat.connection_token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");

    // Content types are held to the chat's SupportedMessagingContentTypes and the size limit.
    let send = |content_type: &'static str, content: String| {
        participant
            .send_message()
            .connection_token(&chat.connection_token)
            .content_type(content_type)
            .content(content)
            .send()
    };
    let err = send("text/markdown", "**bold**".into())
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = send("text/plain", "é".repeat(8193))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = participant
        .send_event()
        .connection_token(&chat.connection_token)
        .content_type("application/vnd.amazonaws.connect.event.nonsense")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = participant
        .send_event()
        .connection_token(&chat.connection_token)
        .content_type("application/vnd.amazonaws.connect.event.message.read")
        .content(r#"{"messageId":"not-a-message"}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");

    // Repeated CreateParticipantConnection mints new tokens; the older ones keep working.
    let (newer, _) = connect_participant(&server, &chat.participant_token).await;
    assert_ne!(newer, chat.connection_token);
    for token in [&chat.connection_token, &newer] {
        send_ok(&participant, token).await;
    }
}

async fn send_ok(participant: &aws_sdk_connectparticipant::Client, token: &str) {
    participant
        .send_message()
        .connection_token(token)
        .content_type("text/plain")
        .content("still valid")
        .send()
        .await
        .expect("token still valid");
}
