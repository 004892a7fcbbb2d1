//! The Amazon Connect Participant Service (`connectparticipant`, 2018-09-07): what a chat
//! participant (customer, bot, agent) calls with its bearer token.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::ApiState;
use super::Bearer;
use crate::chat::service::Session;
use crate::chat::transcript::{StartPosition, TranscriptQuery};
use crate::chat::ChatError;
use crate::clock::format_instant;
use awsproto::json::Input;
use awsproto::ApiError;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/participant/connection",
            post(create_participant_connection),
        )
        .route("/participant/message", post(send_message))
        .route("/participant/event", post(send_event))
        .route("/participant/transcript", post(get_transcript))
        .route("/participant/disconnect", post(disconnect_participant))
        .route(
            "/switchboard/participant/queue-position",
            post(get_queue_position),
        )
}

type Reply = Result<Json<Value>, ApiError>;

/// Maps domain errors to the participant service's modeled errors. Anything about a contact or
/// participant that is gone reads as "Access denied", as on Amazon.
fn participant_error(e: ChatError) -> ApiError {
    match e {
        ChatError::AccessDenied
        | ChatError::Denied(_)
        | ChatError::ContactNotFound
        | ChatError::NotFound(_) => ApiError::access_denied(),
        ChatError::Invalid(m) => ApiError::validation(m),
        e @ ChatError::InvalidFlow(_) => ApiError::validation(e.to_string()),
        ChatError::Conflict(m) | ChatError::Duplicate(m) => ApiError::conflict(m),
        ChatError::LimitExceeded(m) => ApiError::throttling(m),
        ChatError::Internal(why) => {
            tracing::error!(error = %why, "participant operation failed");
            ApiError::internal_server()
        }
    }
}

fn parse(body: &[u8]) -> Result<Input, ApiError> {
    Input::parse(body, ApiError::validation)
}

async fn session(app: &ApiState, token: &str) -> Result<std::sync::Arc<Session>, ApiError> {
    app.chat
        .authenticate(token)
        .await
        .map_err(participant_error)
}

async fn create_participant_connection(State(app): State<ApiState>, req: Bearer) -> Reply {
    let mut i = parse(&req.body)?;
    let types = i.enum_list(
        "Type",
        (1, usize::MAX),
        &["WEBSOCKET", "CONNECTION_CREDENTIALS", "WEBRTC_CONNECTION"],
    );
    let connect_participant = i.boolean("ConnectParticipant");
    i.finish()?;
    let connection = app
        .chat
        .create_connection(
            &req.token,
            &types.unwrap_or_default(),
            connect_participant.unwrap_or(false),
        )
        .await
        .map_err(participant_error)?;
    let mut out = Map::new();
    if let Some((url, expiry)) = connection.websocket {
        out.insert(
            "Websocket".into(),
            json!({"Url": url, "ConnectionExpiry": format_instant(expiry)}),
        );
    }
    if let Some((token, expiry)) = connection.credentials {
        out.insert(
            "ConnectionCredentials".into(),
            json!({"ConnectionToken": token, "Expiry": format_instant(expiry)}),
        );
    }
    Ok(Json(Value::Object(out)))
}

async fn send_message(State(app): State<ApiState>, req: Bearer) -> Reply {
    let session = session(&app, &req.token).await?;
    let mut i = parse(&req.body)?;
    let content_type = i.required_string("ContentType", 1, 100);
    let content = i.required_string("Content", 1, 16384);
    let client_token = i.string("ClientToken", 0, 500);
    i.finish()?;
    let item = app
        .chat
        .send_message(
            &session,
            content_type.unwrap_or_default(),
            content.unwrap_or_default(),
            client_token,
        )
        .await
        .map_err(participant_error)?;
    Ok(Json(json!({
        "Id": item.id,
        "AbsoluteTime": format_instant(item.absolute_time),
    })))
}

async fn send_event(State(app): State<ApiState>, req: Bearer) -> Reply {
    let session = session(&app, &req.token).await?;
    let mut i = parse(&req.body)?;
    let content_type = i.required_string("ContentType", 1, 100);
    let content = i.string("Content", 1, 16384);
    let client_token = i.string("ClientToken", 0, 500);
    i.finish()?;
    let (id, at) = app
        .chat
        .send_event(
            &session,
            &content_type.unwrap_or_default(),
            content,
            client_token,
        )
        .await
        .map_err(participant_error)?;
    Ok(Json(
        json!({ "Id": id, "AbsoluteTime": format_instant(at) }),
    ))
}

async fn get_transcript(State(app): State<ApiState>, req: Bearer) -> Reply {
    let session = session(&app, &req.token).await?;
    let (contact_id, query) = read_transcript_query(&req.body)?;
    let page = app
        .chat
        .get_transcript(&session, contact_id.as_deref(), query)
        .await
        .map_err(participant_error)?;
    let mut out = Map::new();
    out.insert("InitialContactId".into(), json!(page.initial_contact_id));
    out.insert("Transcript".into(), Value::Array(page.items));
    if let Some(token) = page.next_token {
        out.insert("NextToken".into(), json!(token));
    }
    Ok(Json(Value::Object(out)))
}

/// GetTranscript's body, validated: the ContactId it names (if any) and the query. No I/O: the
/// fuzz target feeds it arbitrary bytes.
pub fn read_transcript_query(body: &[u8]) -> Result<(Option<String>, TranscriptQuery), ApiError> {
    let mut i = parse(body)?;
    let contact_id = i.string("ContactId", 1, 256);
    let max_results = i.integer("MaxResults", 0, 100);
    let next_token = i.string("NextToken", 1, 1000);
    let forward = i
        .enumeration("ScanDirection", &["FORWARD", "BACKWARD"])
        .map(|d| d == "FORWARD");
    let ascending = i
        .enumeration("SortOrder", &["DESCENDING", "ASCENDING"])
        .map(|s| s == "ASCENDING");
    let start = i
        .object("StartPosition", |p| {
            let id = p.string("Id", 1, 256);
            let at = p.string("AbsoluteTime", 1, 100);
            let recent = p.integer("MostRecent", 0, 100);
            let given = [id.is_some(), at.is_some(), recent.is_some()];
            if given.iter().filter(|g| **g).count() > 1 {
                p.reject("StartPosition takes only one of Id, AbsoluteTime and MostRecent");
            }
            match (id, at, recent) {
                (Some(id), _, _) => StartPosition::Id(id),
                (_, Some(at), _) => StartPosition::AbsoluteTime(at),
                (_, _, Some(n)) => StartPosition::MostRecent(n),
                _ => StartPosition::None,
            }
        })
        .unwrap_or_default();
    i.finish()?;
    let query = TranscriptQuery {
        max_results: max_results.map(|n| n as usize),
        next_token,
        forward,
        ascending,
        start,
    };
    Ok((contact_id, query))
}

async fn disconnect_participant(State(app): State<ApiState>, req: Bearer) -> Reply {
    let mut i = parse(&req.body)?;
    let client_token = i.string("ClientToken", 0, 500);
    i.finish()?;
    // A retry of a disconnect that went through (same ClientToken) must succeed again even though
    // the participant is gone; the store recognises the token.
    match app.chat.authenticate(&req.token).await {
        Ok(session) => app
            .chat
            .disconnect(&session, client_token)
            .await
            .map_err(participant_error)?,
        Err(ChatError::AccessDenied) if client_token.is_some() => app
            .chat
            .retry_disconnect(&req.token, client_token)
            .await
            .map_err(participant_error)?,
        Err(e) => return Err(participant_error(e)),
    }
    Ok(Json(json!({})))
}

/// Switchboard's addition to the participant API (Amazon has no such call): where the caller's
/// chat stands in its queue, so a waiting customer can be told. `Position` is 1 at the head;
/// both members are absent once an agent has the chat (or when it waits in no queue).
async fn get_queue_position(State(app): State<ApiState>, req: Bearer) -> Reply {
    let session = session(&app, &req.token).await?;
    parse(&req.body)?.finish()?;
    let mut out = Map::new();
    if let Some((queue, position, length)) = app.chat.queue_position(&session).await {
        out.insert("QueueId".into(), json!(queue));
        out.insert("Position".into(), json!(position));
        out.insert("QueueLength".into(), json!(length));
    }
    Ok(Json(Value::Object(out)))
}
