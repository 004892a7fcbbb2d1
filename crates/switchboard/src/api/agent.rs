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

use crate::agent::auth::{AgentIdentity, SignInError};
use crate::awsproto::extract::{Body, Path, Query, Upgrade};
use crate::awsproto::ApiError;
use crate::chat::ChatError;
use crate::clock::format_instant;
use crate::routing::effects::presence_name;
use crate::routing::engine::{Presence, QueueKey, RoutingError};
use crate::routing::router::AgentAction;
use crate::server::AppState;

type Reply = Result<Json<Value>, ApiError>;

pub fn routes() -> Router<AppState> {
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

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("Sign in first: send Authorization: Bearer <token>")
            })?;
        app.agent_auth
            .verify(token.trim(), app.chat.now())
            .map(Agent)
            .ok_or_else(|| {
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
        ChatError::Conflict(m) => ApiError::conflict(m),
        ChatError::LimitExceeded(m) => ApiError::limit_exceeded(m),
        ChatError::Internal(why) => {
            tracing::error!(error = %why, "agent operation failed");
            ApiError::internal_service()
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    instance_id: Option<String>,
    username: String,
    password: String,
}

async fn sign_in(State(app): State<AppState>, Body(bytes): Body) -> Reply {
    let req: SignIn = body(&bytes)?;
    let (identity, user, token, expires_at) = app
        .agent_auth
        .sign_in(
            &app.config,
            req.instance_id.as_deref(),
            &req.username,
            &req.password,
            app.chat.now(),
        )
        .await
        .map_err(|e| match e {
            SignInError::BadCredentials => ApiError::unauthorized(e.to_string()),
            SignInError::AmbiguousUser => ApiError::invalid_request(e.to_string()),
            SignInError::TooManyFailures(_) => ApiError::throttling(e.to_string()),
        })?;
    tracing::info!(user_id = %identity.user_id, "agent signed in");
    Ok(Json(json!({
        "token": token,
        "expiresAt": format_instant(expires_at),
        "instanceId": identity.instance_id,
        "userId": user.id,
        "username": user.username,
        "displayName": user.display_name,
    })))
}

async fn sign_out(State(app): State<AppState>, Agent(me): Agent) -> Reply {
    // Signing out is going Offline first: no offers to someone who has left.
    let _ = app
        .router
        .set_presence(&me.instance_id, &me.user_id, Presence::Offline)
        .await;
    app.agent_auth
        .sign_out(&me.user_id, app.chat.now())
        .await
        .map_err(|e| chat_error(e.into()))?;
    app.agents
        .send_last(&me.user_id, &json!({ "type": "signed-out" }));
    Ok(Json(json!({})))
}

/// Everything the workspace shows: who the agent is, their status and the statuses they may
/// choose, their offers and chats (with a participant token for each chat), and where they may
/// transfer to.
async fn me(State(app): State<AppState>, Agent(me): Agent) -> Reply {
    let instance = app
        .config
        .instance(&me.instance_id)
        .ok_or_else(|| ApiError::resource_not_found("Instance not found"))?;
    let user = instance
        .users
        .iter()
        .find(|u| u.id == me.user_id)
        .ok_or_else(|| ApiError::resource_not_found("User not found"))?;
    let figures = app
        .router
        .agent(&me.instance_id, &me.user_id)
        .await
        .ok_or_else(|| ApiError::resource_not_found("User not found"))?;
    let profile = instance.routing_profile(&user.routing_profile);
    let mut contacts = Vec::new();
    for (state, ids) in [
        ("CONNECTED", &figures.active),
        ("AFTER_CONTACT_WORK", &figures.after_work),
    ] {
        for contact_id in ids {
            contacts.push(contact_entry(&app, &me, contact_id, state).await?);
        }
    }
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
        "status": presence_name(&app.chat, &me.instance_id, &figures.presence),
        "statuses": statuses,
        "offers": figures.offers,
        "contacts": contacts,
        "transferTargets": {
            "queues": instance.queues.iter().map(|q| json!({"id": q.id, "name": q.name})).collect::<Vec<_>>(),
            "agents": instance.users.iter().filter(|u| u.id != me.user_id)
                .map(|u| json!({"id": u.id, "displayName": u.display_name})).collect::<Vec<_>>(),
        },
    })))
}

/// The supervisor view: live figures of every queue of the instance and every agent, from the
/// same routing state as GetCurrentMetricData and GetCurrentUserData. Supervisors only.
async fn overview(State(app): State<AppState>, Agent(me): Agent) -> Reply {
    let instance = app
        .config
        .instance(&me.instance_id)
        .ok_or_else(|| ApiError::resource_not_found("Instance not found"))?;
    let is_supervisor = instance
        .users
        .iter()
        .any(|u| u.id == me.user_id && u.supervisor);
    if !is_supervisor {
        return Err(ApiError::access_denied());
    }
    let groups = instance.queues.iter().map(|q| vec![q.id.clone()]).collect();
    let figures = app.router.figures(&instance.id, groups).await;
    let queues: Vec<Value> = instance
        .queues
        .iter()
        .zip(&figures)
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
    let mut agents = Vec::new();
    for user in &instance.users {
        if let Some(a) = app.router.agent(&instance.id, &user.id).await {
            agents.push(json!({
                "id": user.id,
                "displayName": user.display_name,
                "status": presence_name(&app.chat, &instance.id, &a.presence),
                "connected": a.connected,
                "contacts": a.active.len() + a.after_work.len(),
                "offers": a.offers.len(),
                "slotsActive": a.offers.len() + a.active.len() + a.after_work.len(),
                "slots": a.slots,
            }));
        }
    }
    Ok(Json(json!({ "queues": queues, "agents": agents })))
}

/// One of the agent's chats, with what the workspace needs to open it.
async fn contact_entry(
    app: &AppState,
    me: &AgentIdentity,
    contact_id: &str,
    state: &str,
) -> Result<Value, ApiError> {
    let store = app.chat.store();
    let contact = store
        .contact(contact_id)
        .await
        .map_err(|e| chat_error(e.into()))?;
    let customer = match &contact {
        Some(c) => store
            .participant(&c.customer_participant_id)
            .await
            .map_err(|e| chat_error(e.into()))?
            .map(|p| p.display_name),
        None => None,
    };
    let participant = store
        .agent_participant(contact_id, &me.user_id)
        .await
        .map_err(|e| chat_error(e.into()))?;
    let mut entry = json!({
        "contactId": contact_id,
        "state": state,
        "customerName": customer,
        "queueId": contact.as_ref().and_then(|c| c.queue_id.clone()),
        "ended": contact.as_ref().is_none_or(|c| c.is_ended()),
    });
    if let Some(p) = participant {
        entry["participantId"] = json!(p.id);
        entry["participantToken"] = json!(app.chat.participant_token(&p));
    }
    Ok(entry)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
}

async fn set_status(State(app): State<AppState>, Agent(me): Agent, Body(bytes): Body) -> Reply {
    let req: SetStatus = body(&bytes)?;
    let instance = app
        .config
        .instance(&me.instance_id)
        .ok_or_else(|| ApiError::resource_not_found("Instance not found"))?;
    let presence = match req.status.as_str() {
        "Available" => Presence::Available,
        "Offline" => Presence::Offline,
        name => Presence::Custom(
            instance
                .agent_statuses
                .iter()
                .find(|s| s.name == name || s.id == name)
                .map(|s| s.id.clone())
                .ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "'{name}' is not a status: choose Available, Offline or one of the configured statuses"
                    ))
                })?,
        ),
    };
    app.router
        .set_presence(&me.instance_id, &me.user_id, presence.clone())
        .await
        .map_err(routing_error)?;
    let status = presence_name(&app.chat, &me.instance_id, &presence);
    app.agents
        .send(&me.user_id, &json!({ "type": "status", "status": status }));
    Ok(Json(json!({ "status": status })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Transfer {
    queue_id: Option<String>,
    agent_id: Option<String>,
}

async fn contact_action(
    State(app): State<AppState>,
    Agent(me): Agent,
    Path((contact_id, action)): Path<(String, String)>,
    Body(bytes): Body,
) -> Reply {
    let action = match action.as_str() {
        "accept" => AgentAction::Accept,
        "reject" => AgentAction::Reject,
        "clear" => AgentAction::ClearAfterWork,
        "end" => return end_contact(&app, &me, &contact_id).await,
        "transfer" => return transfer(&app, &me, &contact_id, &bytes).await,
        other => {
            return Err(ApiError::resource_not_found(format!(
                "No contact action '{other}': use accept, reject, end, clear or transfer"
            )))
        }
    };
    app.router
        .act(&me.instance_id, &me.user_id, &contact_id, action)
        .await
        .map_err(routing_error)?;
    Ok(Json(json!({})))
}

/// The agent's AGENT participant on a contact they have, as a session to act with.
async fn agent_session(
    app: &AppState,
    me: &AgentIdentity,
    contact_id: &str,
) -> Result<crate::chat::service::Session, ApiError> {
    let figures = app.router.agent(&me.instance_id, &me.user_id).await;
    if !figures.is_some_and(|f| f.active.iter().any(|c| c == contact_id)) {
        return Err(ApiError::conflict("You do not have that contact"));
    }
    let participant = app
        .chat
        .store()
        .agent_participant(contact_id, &me.user_id)
        .await
        .map_err(|e| chat_error(e.into()))?
        .ok_or_else(|| ApiError::conflict("You are not on that chat"))?;
    app.chat.session_of(participant).await.map_err(chat_error)
}

/// The agent leaves; as in Amazon Connect's default flow, that ends the chat. The agent goes
/// into After Contact Work for it.
async fn end_contact(app: &AppState, me: &AgentIdentity, contact_id: &str) -> Reply {
    let session = agent_session(app, me, contact_id).await?;
    app.chat
        .disconnect(&session, None)
        .await
        .map_err(chat_error)?;
    Ok(Json(json!({})))
}

async fn transfer(app: &AppState, me: &AgentIdentity, contact_id: &str, bytes: &Bytes) -> Reply {
    let req: Transfer = body(bytes)?;
    let to = match (req.queue_id, req.agent_id) {
        (Some(queue), None) => QueueKey::Queue(queue),
        (None, Some(agent)) => QueueKey::Agent(agent),
        _ => {
            return Err(ApiError::invalid_request(
                "Give exactly one of queueId and agentId",
            ))
        }
    };
    let session = agent_session(app, me, contact_id).await?;
    let result = app
        .router
        .transfer(&me.instance_id, &me.user_id, contact_id, to.clone())
        .await;
    if result.is_ok() {
        // Kept, so that a restart finds the chat waiting there rather than with this agent.
        app.chat
            .store()
            .requeue_contact(contact_id, &to.encode(), app.chat.now())
            .await
            .map_err(|e| chat_error(e.into()))?;
    }
    app.chat
        .transferred(&session, result.is_ok())
        .await
        .map_err(chat_error)?;
    result.map_err(routing_error)?;
    Ok(Json(json!({})))
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
    State(app): State<AppState>,
    Query(params): Query<SocketParams>,
    Upgrade(ws): Upgrade,
) -> Response {
    let identity = params
        .token
        .and_then(|t| app.agent_auth.verify(&t, app.chat.now()));
    let Some(me) = identity else {
        return ApiError::unauthorized("The sign-in has expired or ended; sign in again")
            .into_response();
    };
    let tasks = app.tasks.clone();
    ws.on_upgrade(move |socket| tasks.track_future(run_socket(app, me, socket)))
}

async fn run_socket(app: AppState, me: AgentIdentity, mut socket: WebSocket) {
    let (id, mut frames) = app.agents.attach(&me.user_id);
    app.router
        .agent_connection(&me.instance_id, &me.user_id, true);
    // The state as of now: every event after this one is news to the client, so a workspace
    // that (re)connects knows where it stands without racing a separate request.
    if let Some(figures) = app.router.agent(&me.instance_id, &me.user_id).await {
        let hello = json!({
            "type": "hello",
            "status": presence_name(&app.chat, &me.instance_id, &figures.presence),
            "offers": figures.offers,
            "contacts": figures.active,
            "afterContactWork": figures.after_work,
        });
        if socket
            .send(Message::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            app.agents.detach(&me.user_id, id);
            app.router
                .agent_connection(&me.instance_id, &me.user_id, false);
            return;
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => break,
            frame = frames.recv() => {
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
    app.agents.detach(&me.user_id, id);
    app.router
        .agent_connection(&me.instance_id, &me.user_id, false);
}
