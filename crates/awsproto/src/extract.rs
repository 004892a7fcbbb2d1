//! Request extractors whose rejections are [`ApiError`]s: the one place where what axum refuses
//! (an undecodable path segment, a query string that does not fit, a body over the limit, a
//! request that is not a WebSocket upgrade) becomes the AWS error shape instead of axum's plain
//! text. Handlers take these in place of axum's own extractors; a handler that must check
//! something else first (SigV4 before the path, say) takes `Result<Path<T>, ApiError>` and uses
//! the error when its turn comes.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::ApiError;

/// Path labels, percent-decoded; undecodable ones are an `InvalidRequestException`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The query string, decoded into `T`; a repeated or ill-typed parameter is an
/// `InvalidRequestException`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// A WebSocket upgrade request; anything else (no upgrade headers, no key, a version other than
/// 13, a method other than GET) is refused with the status axum chose and the AWS error shape.
pub struct Upgrade(pub WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Upgrade(
            WebSocketUpgrade::from_request_parts(parts, state).await?,
        ))
    }
}

/// How many body bytes a request may carry; taken from the state by [`Body`].
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// The whole request body, up to the state's [`BodyLimit`]; a larger one is a 413
/// `RequestEntityTooLargeException`, and a body that breaks off is an `InvalidRequestException`.
pub struct Body(pub Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let BodyLimit(limit) = BodyLimit::from_ref(state);
        read_body(request.into_body(), limit).await.map(Body)
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` reports the limit as an error somewhere in its source chain.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(error) = source {
            if error.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large(limit);
            }
            source = error.source();
        }
        ApiError::invalid_request(format!("The request body could not be read: {e}"))
    })
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(e) => ApiError::invalid_request(format!(
                "The request path is not valid: {}",
                e.body_text()
            )),
            // A route declared without the labels its handler reads: our bug, not the caller's.
            other => {
                tracing::error!(error = %other.body_text(), "path labels missing");
                ApiError::internal_server()
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::invalid_request(format!(
            "The query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(rejection: WebSocketUpgradeRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowedException",
            StatusCode::UPGRADE_REQUIRED => "UpgradeRequiredException",
            _ => "BadRequestException",
        };
        ApiError::new(
            status,
            code,
            format!(
                "This URL takes only WebSocket connections: {}",
                rejection.body_text()
            ),
        )
    }
}
