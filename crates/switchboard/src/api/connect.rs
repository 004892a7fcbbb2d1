//! The chat operations of the Amazon Connect API (`connect`, 2017-08-08), SigV4-authenticated.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::ApiState;
use super::Signed;
use crate::chat::service::{StartChat, StartedChat};
use crate::chat::ChatError;
use crate::clock::{epoch_seconds, format_instant};
use crate::model::{Contact, Role};
use awsproto::extract::Path;
use awsproto::json::Input;
use awsproto::ApiError;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/contact/chat", put(start_chat_contact))
        .route("/contact/stop", post(stop_contact))
        .route(
            "/contacts/{instance_id}/{contact_id}",
            get(describe_contact),
        )
        .route(
            "/contact/attributes/{instance_id}/{initial_contact_id}",
            get(get_contact_attributes),
        )
        .route("/contact/attributes", post(update_contact_attributes))
        .route("/contact/create-participant", post(create_participant))
        .route("/contact/start-streaming", post(start_contact_streaming))
        .route("/contact/stop-streaming", post(stop_contact_streaming))
}

type Reply = Result<Json<Value>, ApiError>;

/// Maps domain errors to connect's modeled errors.
pub(crate) fn connect_error(e: ChatError) -> ApiError {
    match e {
        ChatError::NotFound(m) => ApiError::resource_not_found(m),
        ChatError::ContactNotFound => ApiError::resource_not_found("Contact not found"),
        ChatError::AccessDenied => ApiError::access_denied(),
        ChatError::Denied(m) => ApiError::access_denied_because(m),
        ChatError::Invalid(m) => ApiError::invalid_request(m),
        ChatError::Conflict(m) => {
            ApiError::new(axum::http::StatusCode::CONFLICT, "ConflictException", m)
        }
        ChatError::Duplicate(m) => ApiError::duplicate_resource(m),
        ChatError::InvalidFlow(problems) => ApiError::invalid_contact_flow(&problems),
        ChatError::LimitExceeded(m) => ApiError::limit_exceeded(m),
        ChatError::Internal(why) => {
            tracing::error!(error = %why, "connect operation failed");
            ApiError::internal_service()
        }
    }
}

/// A Connect operation's JSON body; malformed input is `InvalidParameterException`.
pub(super) fn parse(body: &[u8]) -> Result<Input, ApiError> {
    Input::parse(body, ApiError::invalid_parameter)
}

/// Path labels arrive percent-decoded; they still have the model's length limits.
fn check_label(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value at '{name}' failed to satisfy constraint: Member must have length between 1 and {max}"
        )));
    }
    Ok(())
}

fn attributes(input: &mut Input, name: &str) -> Option<BTreeMap<String, String>> {
    input.string_map(name, (1, 32767), (0, 32767))
}

async fn start_chat_contact(State(app): State<ApiState>, signed: Signed) -> Reply {
    let request = read_start_chat(&signed.body)?;
    let started = app.chat.start_chat(request).await.map_err(connect_error)?;
    Ok(Json(started_chat_output(started)))
}

/// StartChatContact's body, validated against the model (and the rules between members) without
/// touching anything: what the handler acts on, and what the fuzz target feeds arbitrary bytes.
pub fn read_start_chat(body: &[u8]) -> Result<StartChat, ApiError> {
    let mut i = parse(body)?;
    let instance_id = i.required_string("InstanceId", 1, 100);
    let contact_flow_id = i.required_string("ContactFlowId", 0, 500);
    let display_name = i
        .required_object("ParticipantDetails", |p| {
            p.required_string("DisplayName", 1, 256)
        })
        .flatten();
    let attributes = attributes(&mut i, "Attributes");
    let initial_message = i
        .object("InitialMessage", |m| {
            let content_type = m.required_string("ContentType", 1, 100);
            let content = m.required_string("Content", 1, 16384);
            content_type.zip(content)
        })
        .flatten();
    let client_token = i.string("ClientToken", 0, 500);
    let duration = i.integer("ChatDurationInMinutes", 60, 10080);
    let supported = i.string_list("SupportedMessagingContentTypes", (0, usize::MAX), (1, 100));
    let persistent = i.object("PersistentChat", |p| {
        let rehydration =
            p.enumeration("RehydrationType", &["ENTIRE_PAST_SESSION", "FROM_SEGMENT"]);
        let source = p.string("SourceContactId", 1, 256);
        (rehydration, source)
    });
    let related = i.string("RelatedContactId", 1, 256);
    let segment_attributes = i.raw("SegmentAttributes");
    let customer_id = i.string("CustomerId", 1, 128);
    let disconnect_on_exit = i.enum_list("DisconnectOnCustomerExit", (1, 1), &["AGENT"]);
    let participant_configuration = i.object("ParticipantConfiguration", |p| {
        p.enumeration("ResponseMode", &["INCREMENTAL", "COMPLETE"])
            .map(|mode| json!({ "ResponseMode": mode }))
    });
    let connection_types = i.enum_list(
        "ConnectionTypes",
        (1, 2),
        &[
            "WEBSOCKET",
            "CONNECTION_CREDENTIALS",
            "AUTHENTICATION_SESSION",
            "WEBRTC_CONNECTION",
        ],
    );
    let streaming = i.object("ChatStreamingConfiguration", |s| {
        s.required_string("StreamingEndpointArn", 1, 350)
    });
    if let Some(segments) = &segment_attributes {
        check_segment_attributes(&mut i, segments);
    }
    if !guide_needs_interactive_types(segment_attributes.as_ref(), supported.as_ref()) {
        i.reject(
            "SegmentAttributes connect:Subtype connect:Guide requires both interactive content types \
             in SupportedMessagingContentTypes",
        );
    }
    if related.is_some() && persistent.is_some() {
        i.reject("RelatedContactId and PersistentChat cannot be used together");
    }
    let persistent_source = match persistent {
        Some((Some(_), Some(source))) => Some(source),
        Some((None, _)) => {
            i.reject("PersistentChat.RehydrationType is required when PersistentChat is given");
            None
        }
        Some((Some(_), None)) => {
            i.reject("PersistentChat.SourceContactId is required when PersistentChat is given");
            None
        }
        None => None,
    };
    i.finish()?;
    Ok(StartChat {
        instance_id: instance_id.unwrap_or_default(),
        contact_flow_id: contact_flow_id.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        attributes: attributes.unwrap_or_default(),
        initial_message,
        client_token,
        duration_minutes: duration,
        supported_content_types: supported,
        customer_id,
        related_contact_id: related,
        persistent_chat_source: persistent_source,
        segment_attributes,
        disconnect_on_customer_exit: disconnect_on_exit,
        participant_configuration: participant_configuration.flatten(),
        connection_types: connection_types.unwrap_or_default(),
        streaming_endpoint: streaming.flatten(),
    })
}

/// StartChatContact's answer (also what a widget's start-chat endpoint answers).
pub(crate) fn started_chat_output(started: StartedChat) -> Value {
    let mut out = Map::new();
    out.insert("ContactId".into(), json!(started.contact_id));
    out.insert("ParticipantId".into(), json!(started.participant_id));
    out.insert("ParticipantToken".into(), json!(started.participant_token));
    if let Some(from) = started.continued_from {
        out.insert("ContinuedFromContactId".into(), json!(from));
    }
    if let Some((url, expiry)) = started.connection.websocket {
        out.insert(
            "Websocket".into(),
            json!({"Url": url, "ConnectionExpiry": format_instant(expiry)}),
        );
    }
    if let Some((token, expiry)) = started.connection.credentials {
        out.insert(
            "ConnectionCredentials".into(),
            json!({"ConnectionToken": token, "Expiry": format_instant(expiry)}),
        );
    }
    if let Some(id) = started.streaming_id {
        out.insert("StreamingId".into(), json!(id));
    }
    Value::Object(out)
}

/// SegmentAttributes: a map of names (1..128) to SegmentAttributeValue, checked recursively.
fn check_segment_attributes(i: &mut Input, segments: &Value) {
    check_segment_map(i, "SegmentAttributes", segments);
}

fn check_segment_map(i: &mut Input, path: &str, map: &Value) {
    let Some(map) = map.as_object() else {
        i.reject(format!(
            "Value at '{path}' failed to satisfy constraint: Member must be a map"
        ));
        return;
    };
    for (name, value) in map {
        if name.is_empty() || name.chars().count() > 128 {
            i.reject(format!(
                "Value at '{path}' failed to satisfy constraint: Map keys must have length between 1 and 128"
            ));
        }
        check_segment_value(i, &format!("{path}.{name}"), value);
    }
}

fn check_segment_value(i: &mut Input, path: &str, value: &Value) {
    let Some(value) = value.as_object() else {
        i.reject(format!(
            "Value at '{path}' failed to satisfy constraint: Member must be a structure"
        ));
        return;
    };
    for (key, member) in value {
        let at = format!("{path}.{key}");
        match (key.as_str(), member) {
            (_, Value::Null) => {}
            ("ValueString" | "ValueArn", Value::String(s)) if s.chars().count() <= 1024 => {}
            ("ValueString" | "ValueArn", _) => i.reject(format!(
                "Value at '{at}' failed to satisfy constraint: Member must be a string of at most 1024 characters"
            )),
            ("ValueInteger", v) if v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {}
            ("ValueInteger", _) => i.reject(format!(
                "Value at '{at}' failed to satisfy constraint: Member must be an integer"
            )),
            ("ValueMap", map) => check_segment_map(i, &at, map),
            ("ValueList", Value::Array(items)) => {
                for (n, item) in items.iter().enumerate() {
                    check_segment_value(i, &format!("{at}.{}", n + 1), item);
                }
            }
            ("ValueList", _) => i.reject(format!(
                "Value at '{at}' failed to satisfy constraint: Member must be a list"
            )),
            _ => {} // members newer than this server's model are ignored, like unknown members
        }
    }
}

/// `connect:Subtype` = `connect:Guide` needs both interactive content types.
fn guide_needs_interactive_types(
    segments: Option<&Value>,
    supported: Option<&Vec<String>>,
) -> bool {
    let is_guide = segments
        .and_then(|s| s.pointer("/connect:Subtype/ValueString"))
        .and_then(Value::as_str)
        == Some("connect:Guide");
    let has = |t: &str| supported.is_some_and(|s| s.iter().any(|x| x == t));
    !is_guide
        || (has("application/vnd.amazonaws.connect.message.interactive")
            && has("application/vnd.amazonaws.connect.message.interactive.response"))
}

async fn stop_contact(State(app): State<ApiState>, signed: Signed) -> Reply {
    let mut i = parse(&signed.body)?;
    let contact_id = i.required_string("ContactId", 1, 256);
    let instance_id = i.required_string("InstanceId", 1, 100);
    let reason = i
        .object("DisconnectReason", |r| r.string("Code", 0, usize::MAX))
        .flatten();
    i.finish()?;
    let (contact_id, instance_id) = (
        contact_id.unwrap_or_default(),
        instance_id.unwrap_or_default(),
    );
    app.chat
        .stop_contact(&instance_id, &contact_id, reason)
        .await
        .map_err(|e| match e {
            ChatError::ContactNotFound => {
                ApiError::contact_not_found(format!("Contact {contact_id} not found"))
            }
            other => connect_error(other),
        })?;
    Ok(Json(json!({})))
}

async fn describe_contact(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, contact_id) = path?.0;
    check_label("InstanceId", &instance_id, 100)?;
    check_label("ContactId", &contact_id, 256)?;
    let contact = app
        .chat
        .contact(&instance_id, &contact_id)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({ "Contact": describe(&app, &contact) })))
}

fn describe(app: &ApiState, c: &Contact) -> Value {
    let mut m = Map::new();
    m.insert(
        "Arn".into(),
        json!(format!(
            "{}/contact/{}",
            app.chat.instance_arn(&c.instance_id),
            c.id
        )),
    );
    m.insert("Id".into(), json!(c.id));
    m.insert("InitialContactId".into(), json!(c.initial_contact_id));
    // A transferred chat continues as a new contact, which names the one it came from.
    let method = match &c.previous_contact_id {
        Some(previous) => {
            m.insert("PreviousContactId".into(), json!(previous));
            "TRANSFER"
        }
        None => "API",
    };
    m.insert("InitiationMethod".into(), json!(method));
    m.insert("Channel".into(), json!("CHAT"));
    m.insert(
        "InitiationTimestamp".into(),
        json!(epoch_seconds(c.initiated_at)),
    );
    m.insert(
        "LastUpdateTimestamp".into(),
        json!(epoch_seconds(c.updated_at)),
    );
    if let Some(at) = c.disconnected_at() {
        m.insert("DisconnectTimestamp".into(), json!(epoch_seconds(at)));
    }
    // How the chat ended is told by the contact that was current then.
    if let (Some(reason), None) = (&c.disconnect_reason, &c.transferred_to) {
        m.insert("DisconnectReason".into(), json!(reason));
    }
    if let Some(queue) = &c.queue_id {
        let mut q = Map::new();
        q.insert("Id".into(), json!(queue));
        if let Some(at) = c.enqueued_at {
            q.insert("EnqueueTimestamp".into(), json!(epoch_seconds(at)));
        }
        m.insert("QueueInfo".into(), Value::Object(q));
    }
    if let Some((agent_id, at)) = &c.agent {
        m.insert(
            "AgentInfo".into(),
            json!({ "Id": agent_id, "ConnectedToAgentTimestamp": epoch_seconds(*at) }),
        );
    }
    if let Some(id) = &c.details.customer_id {
        m.insert("CustomerId".into(), json!(id));
    }
    if let Some(id) = &c.details.related_contact_id {
        m.insert("RelatedContactId".into(), json!(id));
    }
    if let Some(segments) = &c.details.segment_attributes {
        m.insert("SegmentAttributes".into(), segments.clone());
    }
    if !c.attributes.is_empty() {
        m.insert("Attributes".into(), json!(c.attributes));
    }
    Value::Object(m)
}

async fn get_contact_attributes(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, contact_id) = path?.0;
    check_label("InstanceId", &instance_id, 100)
        .map_err(|e| ApiError::invalid_request(e.message))?;
    check_label("InitialContactId", &contact_id, 256)
        .map_err(|e| ApiError::invalid_request(e.message))?;
    let contact = app
        .chat
        .contact(&instance_id, &contact_id)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({ "Attributes": contact.attributes })))
}

async fn update_contact_attributes(State(app): State<ApiState>, signed: Signed) -> Reply {
    let mut i = parse(&signed.body)?;
    let contact_id = i.required_string("InitialContactId", 1, 256);
    let instance_id = i.required_string("InstanceId", 1, 100);
    let present = i.has("Attributes");
    let attrs = attributes(&mut i, "Attributes");
    if !present {
        i.reject("Value at 'Attributes' failed to satisfy constraint: Member must not be null");
    }
    i.finish()?;
    app.chat
        .update_attributes(
            &instance_id.unwrap_or_default(),
            &contact_id.unwrap_or_default(),
            attrs.unwrap_or_default(),
        )
        .await
        .map_err(|e| match e {
            ChatError::Invalid(m) => ApiError::invalid_parameter(m),
            other => connect_error(other),
        })?;
    Ok(Json(json!({})))
}

async fn create_participant(State(app): State<ApiState>, signed: Signed) -> Reply {
    let mut i = Input::parse(&signed.body, ApiError::invalid_request)?;
    let instance_id = i.required_string("InstanceId", 1, 100);
    let contact_id = i.required_string("ContactId", 1, 256);
    let client_token = i.string("ClientToken", 0, 500);
    let details = i.required_object("ParticipantDetails", |p| {
        let role = p.enumeration(
            "ParticipantRole",
            &["AGENT", "CUSTOMER", "SYSTEM", "CUSTOM_BOT", "SUPERVISOR"],
        );
        let name = p.string("DisplayName", 1, 256);
        let _ = p.raw("ParticipantCapabilities");
        (role, name)
    });
    i.finish()?;
    let (role, name) = details.unwrap_or_default();
    let role = role.and_then(|r| Role::parse(&r)).ok_or_else(|| {
        ApiError::invalid_request("ParticipantDetails.ParticipantRole is required")
    })?;
    let name = name
        .ok_or_else(|| ApiError::invalid_request("ParticipantDetails.DisplayName is required"))?;
    let (participant, token, expires_at) = app
        .chat
        .create_participant(
            &instance_id.unwrap_or_default(),
            &contact_id.unwrap_or_default(),
            role,
            name,
            client_token,
        )
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({
        "ParticipantCredentials": {
            "ParticipantToken": token,
            "Expiry": format_instant(expires_at),
        },
        "ParticipantId": participant.id,
    })))
}

async fn start_contact_streaming(State(app): State<ApiState>, signed: Signed) -> Reply {
    let mut i = parse(&signed.body)?;
    let instance_id = i.required_string("InstanceId", 1, 100);
    let contact_id = i.required_string("ContactId", 1, 256);
    let endpoint = i.required_object("ChatStreamingConfiguration", |s| {
        s.required_string("StreamingEndpointArn", 1, 350)
    });
    let client_token = i.required_string("ClientToken", 0, 500);
    i.finish()?;
    let streaming_id = app
        .chat
        .start_streaming(
            &instance_id.unwrap_or_default(),
            &contact_id.unwrap_or_default(),
            &endpoint.flatten().unwrap_or_default(),
            client_token.filter(|t| !t.is_empty()),
        )
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({ "StreamingId": streaming_id })))
}

async fn stop_contact_streaming(State(app): State<ApiState>, signed: Signed) -> Reply {
    let mut i = parse(&signed.body)?;
    let instance_id = i.required_string("InstanceId", 1, 100);
    let contact_id = i.required_string("ContactId", 1, 256);
    let streaming_id = i.required_string("StreamingId", 1, 100);
    i.finish()?;
    app.chat
        .stop_streaming(
            &instance_id.unwrap_or_default(),
            &contact_id.unwrap_or_default(),
            &streaming_id.unwrap_or_default(),
        )
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}
