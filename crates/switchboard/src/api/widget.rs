//! The public start-chat endpoint of a configured widget: what lets a web page start a chat
//! without AWS credentials, replacing the "start chat" Lambda of an Amazon Connect deployment.
//!
//! `POST /widget/{widgetId}/chat` with `{"DisplayName": "Jo"}` (plus `CustomerId` and
//! `CustomerIdSignature` when the widget verifies identities) answers what StartChatContact
//! answers. Only pages of the widget's allowed origins get CORS headers (other sites' pages cannot
//! read the answer, and a request that names a disallowed origin is refused), and each client
//! address may start a limited number of chats per minute.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ApiState;
use crate::chat::service::StartChat;
use crate::config::Widget;
use awsproto::extract::{Body, Path};
use awsproto::json::Input;
use awsproto::ApiError;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/widget/{widget_id}/chat",
            post(start_chat).options(preflight),
        )
        .layer(Extension(Arc::new(RateLimiter::default())))
}

/// Chats started per widget and client address in the current minute.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(String, IpAddr), (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// Counts one chat; false when the address has used up its allowance for this minute.
    fn admit(&self, widget: &str, address: IpAddr, per_minute: u32) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limiter lock");
        // Old windows go once the map grows, so many addresses cannot fill memory.
        if windows.len() > 50_000 {
            windows.retain(|_, (_, start)| now.duration_since(*start) < WINDOW);
        }
        let window = windows
            .entry((widget.to_string(), address))
            .or_insert((0, now));
        if now.duration_since(window.1) >= WINDOW {
            *window = (0, now);
        }
        if window.0 >= per_minute {
            return false;
        }
        window.0 += 1;
        true
    }
}

/// The widget and, for a browser request, the page's origin if the widget allows it.
fn widget_and_origin<'a>(
    app: &'a ApiState,
    widget_id: &str,
    headers: &HeaderMap,
) -> Result<(&'a crate::config::Instance, &'a Widget, Option<HeaderValue>), ApiError> {
    let (instance, widget) = app
        .chat
        .config()
        .widget(widget_id)
        .ok_or_else(|| ApiError::resource_not_found(format!("Widget {widget_id} not found")))?;
    let origin = headers.get("origin").cloned();
    if let Some(origin) = &origin {
        let allowed = origin.to_str().is_ok_and(|o| widget.allows_origin(o));
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "This widget may not be used from this site",
            ));
        }
    }
    Ok((instance, widget, origin))
}

fn with_cors(mut response: Response, origin: Option<HeaderValue>) -> Response {
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert("access-control-allow-origin", origin);
        headers.insert("vary", HeaderValue::from_static("Origin"));
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-amzn-requestid, x-amzn-errortype"),
        );
    }
    response
}

async fn preflight(
    State(app): State<ApiState>,
    Path(widget_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match widget_and_origin(&app, &widget_id, &headers) {
        Ok((_, _, origin)) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("content-type"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
            with_cors(response, origin)
        }
        Err(e) => e.into_response(),
    }
}

async fn start_chat(
    State(app): State<ApiState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(widget_id): Path<String>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Response {
    let origin = headers.get("origin").cloned();
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = app.chat.config().client_address(peer.ip(), &forwarded);
    // A body over the limit is answered after the origin check, with the CORS headers, so the
    // page can read why.
    let body = body.map(|Body(bytes)| bytes);
    let result = start(&app, &limiter, client, &widget_id, &headers, body).await;
    let allowed_origin = match &result {
        // A refused origin gets no CORS headers: its page cannot even read the refusal.
        Err(e) if e.code == "AccessDeniedException" && origin.is_some() => None,
        _ if app.chat.config().widget(&widget_id).is_some() => origin,
        _ => None,
    };
    let response = match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    };
    with_cors(response, allowed_origin)
}

async fn start(
    app: &ApiState,
    limiter: &RateLimiter,
    address: IpAddr,
    widget_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let (instance, widget, _) = widget_and_origin(app, widget_id, headers)?;
    let WidgetStart {
        display_name,
        customer_id,
    } = read_start(&body?, widget)?;
    if !limiter.admit(&widget.id, address, widget.chats_per_minute) {
        return Err(ApiError::throttling(
            "Too many chats started from this address; try again in a minute",
        ));
    }
    let started = app
        .chat
        .start_chat(StartChat {
            instance_id: instance.id.clone(),
            contact_flow_id: widget.contact_flow.clone(),
            display_name,
            customer_id,
            // The widget renders Markdown (safely), so agents may use it.
            supported_content_types: Some(vec!["text/plain".into(), "text/markdown".into()]),
            streaming_endpoint: widget.streaming_endpoint.clone(),
            ..StartChat::default()
        })
        .await
        .map_err(super::connect::connect_error)?;
    Ok(super::connect::started_chat_output(started))
}

/// What a page asks of a widget's start-chat endpoint, once read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetStart {
    pub display_name: String,
    /// Only when the site signed it, for a widget that verifies identities.
    pub customer_id: Option<String>,
}

/// The start-chat body for `widget`: the display name (or the widget's default) and, for a
/// widget that verifies identities, a customer id with the site's valid signature. No I/O: the
/// fuzz target feeds it arbitrary bytes.
pub fn read_start(body: &[u8], widget: &Widget) -> Result<WidgetStart, ApiError> {
    let mut i = Input::parse(body, ApiError::invalid_request)?;
    let display_name = i.string("DisplayName", 1, widget.display_name_max);
    let customer_id = i.string("CustomerId", 1, 128);
    let signature = i.string("CustomerIdSignature", 1, 128);
    i.finish()?;
    let display_name = display_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .or_else(|| widget.default_display_name.clone())
        .ok_or_else(|| ApiError::invalid_request("DisplayName is required"))?;
    if let Some(secret) = &widget.identity_secret {
        let verified = match (&customer_id, &signature) {
            (Some(id), Some(signature)) => signed(secret, id, signature),
            _ => false,
        };
        if !verified {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "This widget needs a CustomerId signed by the site (CustomerIdSignature)",
            ));
        }
    }
    Ok(WidgetStart {
        display_name,
        // An unverified customer id is the page's word only: it is not passed on as one.
        customer_id: widget.identity_secret.as_ref().and(customer_id),
    })
}

/// Whether `signature` is the hex HMAC-SHA256 of `customer_id` under `secret` (checked in
/// constant time).
fn signed(secret: &str, customer_id: &str, signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(customer_id.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_counts_per_widget_and_address() {
        let limiter = RateLimiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.admit("w", a, 2));
        assert!(limiter.admit("w", a, 2));
        assert!(!limiter.admit("w", a, 2));
        assert!(limiter.admit("w", b, 2));
        assert!(limiter.admit("other", a, 2));
    }

    #[test]
    fn only_the_sites_signature_verifies() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"a secret of the site").unwrap();
        mac.update(b"customer-42");
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(signed("a secret of the site", "customer-42", &good));
        assert!(!signed("a secret of the site", "customer-43", &good));
        assert!(!signed("another secret", "customer-42", &good));
        assert!(!signed("a secret of the site", "customer-42", "not hex"));
    }
}
