//! The agent API (ours; docs/agent-api.md): sign-in and sign-out, status, the agent's offers and
//! chats, accept / reject / end / clear After Contact Work / transfer, and the agent socket that
//! pushes offers and status changes. Authentication is a bearer token from sign-in (no cookies).
//! Errors use the same JSON error shape as the AWS APIs.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiState;
use crate::agent::auth::{AgentIdentity, SignInError};
use crate::chat::ChatError;
use crate::clock::format_instant;
use crate::desk::{ContactAction, DeskContact, DeskError};
use crate::routing::engine::{QueueKey, RoutingError};
use awsproto::extract::{Body, Path, Query, Upgrade};
use awsproto::ApiError;

type Reply = Result<Json<Value>, ApiError>;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/agent/api/sign-in", post(sign_in))
        .route("/agent/api/sign-out", post(sign_out))
        .route("/agent/api/me", get(me))
        .route("/agent/api/overview", get(overview))
        .route("/agent/api/status", put(set_status))
        .route(
            "/agent/api/contacts/{contact_id}/{action}",
            post(contact_action),
        )
        .route("/agent/api/socket", get(socket))
}

/// The agent calling, from `Authorization: Bearer <token>`.
pub struct Agent(pub AgentIdentity);

impl FromRequestParts<ApiState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &ApiState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("Sign in first: send Authorization: Bearer <token>")
            })?;
        app.desk.identify(token.trim()).map(Agent).ok_or_else(|| {
            ApiError::unauthorized("The sign-in has expired or ended; sign in again")
        })
    }
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_request(format!("The request body is not valid: {e}")))
}

fn routing_error(e: RoutingError) -> ApiError {
    match e {
        RoutingError::NoSuchOffer => {
            ApiError::conflict("That contact is not offered to you (any more)")
        }
        RoutingError::NotAgentsContact => ApiError::conflict("You do not have that contact"),
        RoutingError::UnknownQueue(q) => {
            ApiError::resource_not_found(format!("Queue {q} not found"))
        }
        RoutingError::UnknownAgent(a) => {
            ApiError::resource_not_found(format!("Agent {a} not found"))
        }
        RoutingError::TransferToSelf => {
            ApiError::invalid_request("A contact cannot be transferred to yourself")
        }
        e @ (RoutingError::QueueFull(_) | RoutingError::AlreadyQueued) => {
            ApiError::limit_exceeded(e.to_string())
        }
        e @ RoutingError::Unavailable => ApiError::service_unavailable(e.to_string()),
    }
}

fn chat_error(e: ChatError) -> ApiError {
    match e {
        ChatError::NotFound(m) => ApiError::resource_not_found(m),
        ChatError::ContactNotFound => ApiError::resource_not_found("Contact not found"),
        ChatError::AccessDenied => ApiError::conflict("The chat has ended"),
        ChatError::Denied(m) => ApiError::access_denied_because(m),
        ChatError::Invalid(m) => ApiError::invalid_request(m),
        ChatError::Conflict(m) | ChatError::Duplicate(m) => ApiError::conflict(m),
        e @ ChatError::InvalidFlow(_) => ApiError::invalid_request(e.to_string()),
        ChatError::LimitExceeded(m) => ApiError::limit_exceeded(m),
        ChatError::Internal(why) => {
            tracing::error!(error = %why, "agent operation failed");
            ApiError::internal_service()
        }
    }
}

pub(super) fn desk_error(e: DeskError) -> ApiError {
    match e {
        DeskError::Routing(e) => routing_error(e),
        DeskError::Chat(e) => chat_error(e),
        DeskError::SignIn(e @ SignInError::BadCredentials) => ApiError::unauthorized(e.to_string()),
        DeskError::SignIn(e @ SignInError::AmbiguousUser) => {
            ApiError::invalid_request(e.to_string())
        }
        DeskError::SignIn(e @ SignInError::TooManyFailures(_)) => {
            ApiError::throttling(e.to_string())
        }
        DeskError::NotFound(m) => ApiError::resource_not_found(m),
        DeskError::Invalid(m) => ApiError::invalid_request(m),
        DeskError::NotSupervisor => ApiError::access_denied(),
        e @ DeskError::TakesNoChats => ApiError::access_denied_because(e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    instance_id: Option<String>,
    username: String,
    password: String,
}

async fn sign_in(State(app): State<ApiState>, Body(bytes): Body) -> Reply {
    let req: SignIn = body(&bytes)?;
    let signed_in = app
        .desk
        .sign_in(req.instance_id.as_deref(), &req.username, &req.password)
        .await
        .map_err(desk_error)?;
    let user = &signed_in.user;
    Ok(Json(json!({
        "token": signed_in.token,
        "expiresAt": format_instant(signed_in.expires_at),
        "instanceId": signed_in.identity.instance_id,
        "userId": user.id,
        "username": user.username,
        "displayName": user.display_name,
    })))
}

async fn sign_out(State(app): State<ApiState>, Agent(me): Agent) -> Reply {
    app.desk.sign_out(&me).await.map_err(desk_error)?;
    Ok(Json(json!({})))
}

/// Everything the workspace shows: who the agent is, their status and the statuses they may
/// choose, their offers and chats (with a participant token for each chat), and where they may
/// transfer to.
async fn me(State(app): State<ApiState>, Agent(me): Agent) -> Reply {
    let w = app.desk.workspace(&me).await.map_err(desk_error)?;
    let (instance, user) = (w.instance, w.user);
    let profile = instance.routing_profile(&user.routing_profile);
    let mut statuses = vec![json!({ "name": "Available", "routable": true })];
    statuses.extend(
        instance
            .agent_statuses
            .iter()
            .map(|s| json!({ "id": s.id, "name": s.name, "routable": false })),
    );
    statuses.push(json!({ "name": "Offline", "routable": false }));
    Ok(Json(json!({
        "instanceId": me.instance_id,
        "userId": user.id,
        "username": user.username,
        "displayName": user.display_name,
        "supervisor": user.supervisor,
        "routingProfile": profile.map(|p| json!({
            "id": p.id, "name": p.name, "chatConcurrency": p.chat_concurrency,
        })),
        "status": w.status,
        "statuses": statuses,
        "offers": w.figures.offers,
        "contacts": w.contacts.iter().map(contact_entry).collect::<Vec<_>>(),
        "transferTargets": {
            "quickConnects": w.quick_connects.iter().map(|q| json!({"id": q.id, "name": q.name, "type": q.target.kind()})).collect::<Vec<_>>(),
            "queues": instance.queues.iter().map(|q| json!({"id": q.id, "name": q.name})).collect::<Vec<_>>(),
            "agents": instance.users.iter().filter(|u| u.id != me.user_id)
                .map(|u| json!({"id": u.id, "displayName": u.display_name})).collect::<Vec<_>>(),
        },
    })))
}

/// The supervisor view: live figures of every queue of the instance and every agent, from the
/// same routing state as GetCurrentMetricData and GetCurrentUserData. Supervisors only.
async fn overview(State(app): State<ApiState>, Agent(me): Agent) -> Reply {
    let view = app.desk.overview(&me).await.map_err(desk_error)?;
    let queues: Vec<Value> = view
        .instance
        .queues
        .iter()
        .zip(&view.queues)
        .map(|(q, f)| {
            json!({
                "id": q.id, "name": q.name,
                "contactsInQueue": f.contacts_in_queue,
                "oldestContactAgeSeconds": f.oldest_contact_age.unwrap_or(0) as f64 / 1000.0,
                "agentsOnline": f.agents_online,
                "agentsAvailable": f.agents_available,
                "agentsOnContact": f.agents_on_contact,
                "slotsActive": f.slots_active,
                "slotsAvailable": f.slots_available,
            })
        })
        .collect();
    let agents: Vec<Value> = view
        .agents
        .iter()
        .map(|(user, a, status)| {
            json!({
                "id": user.id,
                "displayName": user.display_name,
                "status": status,
                "connected": a.connected,
                "contacts": a.active.len() + a.after_work.len(),
                "offers": a.offers.len(),
                "slotsActive": a.offers.len() + a.active.len() + a.after_work.len(),
                "slots": a.slots,
            })
        })
        .collect();
    Ok(Json(json!({ "queues": queues, "agents": agents })))
}

/// One of the agent's chats, with what the workspace needs to open it.
fn contact_entry(c: &DeskContact) -> Value {
    let contact = c.contact.as_ref();
    let mut entry = json!({
        "contactId": c.contact_id,
        "state": c.state,
        "customerName": c.customer_name,
        "queueId": contact.and_then(|c| c.queue_id.clone()),
        "ended": contact.is_none_or(|c| c.is_ended()),
    });
    if let Some((id, token)) = &c.participant {
        entry["participantId"] = json!(id);
        entry["participantToken"] = json!(token);
    }
    entry
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
}

async fn set_status(State(app): State<ApiState>, Agent(me): Agent, Body(bytes): Body) -> Reply {
    let req: SetStatus = body(&bytes)?;
    let status = app
        .desk
        .choose_status(&me, &req.status)
        .await
        .map_err(desk_error)?;
    Ok(Json(json!({ "status": status })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Transfer {
    queue_id: Option<String>,
    agent_id: Option<String>,
    quick_connect_id: Option<String>,
}

async fn contact_action(
    State(app): State<ApiState>,
    Agent(me): Agent,
    Path((contact_id, action)): Path<(String, String)>,
    Body(bytes): Body,
) -> Reply {
    let action = match action.as_str() {
        "accept" => ContactAction::Accept,
        "reject" => ContactAction::Reject,
        "clear" => ContactAction::Clear,
        "end" => ContactAction::End,
        "transfer" => {
            let req: Transfer = body(&bytes)?;
            match (req.queue_id, req.agent_id, req.quick_connect_id) {
                (Some(queue), None, None) => ContactAction::Transfer(QueueKey::Queue(queue)),
                (None, Some(agent), None) => ContactAction::Transfer(QueueKey::Agent(agent)),
                (None, None, Some(quick)) => ContactAction::TransferThrough(quick),
                _ => {
                    return Err(ApiError::invalid_request(
                        "Give exactly one of queueId, agentId and quickConnectId",
                    ))
                }
            }
        }
        other => {
            return Err(ApiError::resource_not_found(format!(
                "No contact action '{other}': use accept, reject, end, clear or transfer"
            )))
        }
    };
    let next = app
        .desk
        .act(&me, &contact_id, action)
        .await
        .map_err(desk_error)?;
    Ok(Json(match next {
        Some(contact_id) => json!({ "contactId": contact_id }),
        None => json!({}),
    }))
}

#[derive(Deserialize)]
struct SocketParams {
    token: Option<String>,
}

/// How often the agent socket is pinged; browsers answer pings themselves.
const PING_EVERY: Duration = Duration::from_secs(30);

/// The agent socket: `GET /agent/api/socket?token=...` (browsers cannot set headers on a
/// WebSocket). While one is open the agent counts as connected and can be offered contacts.
async fn socket(
    State(app): State<ApiState>,
    Query(params): Query<SocketParams>,
    Upgrade(ws): Upgrade,
) -> Response {
    let Some(me) = params.token.and_then(|t| app.desk.identify(&t)) else {
        return ApiError::unauthorized("The sign-in has expired or ended; sign in again")
            .into_response();
    };
    let tasks = app.lifecycle.tasks.clone();
    ws.on_upgrade(move |socket| tasks.track_future(run_socket(app, me, socket)))
}

async fn run_socket(app: ApiState, me: AgentIdentity, mut socket: WebSocket) {
    let mut connection = app.desk.connect(me).await;
    if let Some(hello) = connection.hello.take() {
        let hello = Message::Text(hello.to_string().into());
        if socket.send(hello).await.is_err() {
            return;
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = app.lifecycle.shutdown.cancelled() => break,
            frame = connection.frames.recv() => {
                let Some(frame) = frame else { break };
                if socket.send(Message::Text(frame.text.into())).await.is_err() || frame.then_close {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
