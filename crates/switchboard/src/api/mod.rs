//! The HTTP edge of the two AWS services: routes, request extraction (body limit, SigV4 for
//! connect, the bearer token for the participant API) and the mapping of domain errors to each
//! service's modeled errors.

pub mod agent;
pub mod ccp;
pub mod connect;
pub mod connect_agents;
pub mod connect_flows;
pub mod connect_hours;
pub mod connect_quick_connects;
pub mod participant;
pub mod widget;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::chat::ChatService;
use crate::desk::AgentDesk;
use crate::lifecycle::Lifecycle;
use awsproto::extract::{read_body as read_limited, BodyLimit};
use awsproto::routes::model_operation;
use awsproto::sigv4::{Caller, RequestParts, Verifier};
use awsproto::ApiError;

/// What the API handlers read: the two domain doors, how SigV4 is checked, the body limit, and
/// the server's life.
#[derive(Clone)]
pub struct ApiState {
    pub chat: Arc<ChatService>,
    pub desk: Arc<AgentDesk>,
    pub verifier: Arc<Verifier>,
    pub max_body_bytes: usize,
    /// Requests and agent sockets run under its tracker; agent sockets watch its shutdown.
    pub lifecycle: Lifecycle,
}

pub fn router(state: ApiState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers(
            [
                "content-type",
                "x-amz-bearer",
                "authorization",
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-user-agent",
                "amz-sdk-invocation-id",
                "amz-sdk-request",
                "x-amz-security-token",
            ]
            .map(|h| h.parse().expect("header name")),
        )
        .expose_headers(
            ["x-amzn-requestid", "x-amzn-errortype"].map(|h| h.parse().expect("header name")),
        )
        .max_age(std::time::Duration::from_secs(600));
    // CORS answers preflights before routing (a preflight is an OPTIONS request no route has).
    // Browsers call the participant API directly (ChatJS); the connect API needs SigV4 keys, so
    // allowing browsers there grants nothing a key holder did not already have.
    Router::new()
        .merge(connect::routes())
        .merge(connect_agents::routes())
        .merge(connect_flows::routes())
        .merge(connect_hours::routes())
        .merge(connect_quick_connects::routes())
        .merge(participant::routes())
        // A method the AWS route does not take is an unknown operation, as AWS answers it.
        .method_not_allowed_fallback(unknown_route)
        .merge(agent::routes())
        .merge(ccp::routes())
        .route_layer(axum::middleware::from_fn(crate::observability::track))
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            state.lifecycle.tasks.clone(),
            run_to_completion,
        ))
        .layer(cors)
        .with_state(state)
}

/// Adds `x-amzn-RequestId` to every response, as AWS services do.
pub async fn request_id(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = uuid::Uuid::new_v4().to_string();
    // Log lines written while serving the request carry its id.
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// Runs each API request on its own task, to its end, even if the client hangs up.
///
/// The HTTP server drops a request's future when its connection closes. A handler dropped between
/// committing a write and pushing what it wrote to the chat's sockets would leave the item stored
/// but never delivered live (a socket only notices a missing item when a later one arrives), so
/// a request that was read is always carried through; only its answer goes nowhere. The task is
/// tracked, so a graceful shutdown waits for it before closing the store.
pub(crate) async fn run_to_completion(
    State(tasks): State<TaskTracker>,
    request: Request,
    next: Next,
) -> Response {
    use tracing::Instrument;
    match tasks.spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime is shutting down.
        Err(_) => ApiError::internal_server().into_response(),
    }
}

/// Any request no handler took: an operation of the models this server does not implement
/// (501), or nothing the models know (404). Never an HTML page.
pub(crate) async fn unknown_route(request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    match model_operation(&method, &path) {
        Some((service, operation)) => ApiError::not_implemented(service, operation).into_response(),
        None => ApiError::unknown_operation(&method, &path).into_response(),
    }
}

/// A route outside the two AWS APIs (the agent API, the sockets, health and metrics) asked with a
/// method it does not take: the JSON error shape, never an empty 405.
pub async fn method_not_allowed(request: Request) -> Response {
    ApiError::method_not_allowed(request.method().as_str(), request.uri().path()).into_response()
}

async fn read_body(
    request: Request,
    BodyLimit(limit): BodyLimit,
) -> Result<(axum::http::request::Parts, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    Ok((parts, read_limited(body, limit).await?))
}

impl FromRef<ApiState> for BodyLimit {
    fn from_ref(state: &ApiState) -> Self {
        BodyLimit(state.max_body_bytes)
    }
}

/// A connect request whose SigV4 signature verified.
pub struct Signed {
    pub body: Bytes,
    #[allow(dead_code)]
    pub caller: Caller,
}

impl FromRequest<ApiState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        let (parts, body) = read_body(request, BodyLimit::from_ref(state)).await?;
        let caller = state.verifier.verify(
            &RequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
            },
            state.chat.now(),
        )?;
        Ok(Signed { body, caller })
    }
}

/// A participant request: its bearer token (`X-Amz-Bearer`) and body. `Authorization` is
/// ignored: ChatJS signs with empty keys and botocore with whatever keys it has.
pub struct Bearer {
    pub token: String,
    pub body: Bytes,
}

impl FromRequest<ApiState> for Bearer {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        let (parts, body) = read_body(request, BodyLimit::from_ref(state)).await?;
        let token = parts
            .headers
            .get("x-amz-bearer")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty() && t.len() <= 1000)
            .ok_or_else(ApiError::access_denied)?
            .to_string();
        Ok(Bearer { token, body })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::routing::post;
    use tokio::sync::oneshot;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_request_runs_to_its_end_after_its_caller_went_away() {
        let (started, handler_started) = oneshot::channel::<()>();
        let (release, handler_released) = oneshot::channel::<()>();
        let (finished, handler_finished) = oneshot::channel::<()>();
        let steps = std::sync::Arc::new(Mutex::new(Some((started, handler_released, finished))));
        let handler = move || {
            let steps = steps.clone();
            async move {
                let (started, released, finished) = steps.lock().unwrap().take().unwrap();
                started.send(()).unwrap();
                released.await.unwrap();
                let _ = finished.send(());
            }
        };
        let tasks = TaskTracker::new();
        let app =
            Router::new()
                .route("/", post(handler))
                .layer(axum::middleware::from_fn_with_state(
                    tasks.clone(),
                    run_to_completion,
                ));
        let request = Request::post("/").body(Body::empty()).unwrap();
        let mut call = Box::pin(app.oneshot(request));

        // Poll the call until its handler has started, then drop it, as the HTTP server does
        // when the client hangs up.
        tokio::select! {
            _ = &mut call => panic!("the handler cannot finish before it is released"),
            started = handler_started => started.unwrap(),
        }
        drop(call);
        release.send(()).unwrap();
        handler_finished
            .await
            .expect("the handler was cancelled with its caller");
        tasks.close();
        tasks.wait().await;
    }
}
