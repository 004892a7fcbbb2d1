//! What operators watch: Prometheus metrics at `GET /metrics`, liveness at `GET /healthz` and
//! readiness at `GET /readyz`, and the per-request accounting behind the metrics.
//!
//! Code anywhere records through the `metrics` macros; this module installs the one process-wide
//! recorder they report to, and adds, at each scrape, figures that are read rather than counted
//! (open sockets, queue depth, the streaming outbox backlog).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::agent::hub::AgentHub;
use crate::bus::Bus;
use crate::config::Config;
use crate::desk::AgentDesk;
use crate::gateway::SocketRegistry;
use crate::store::Store;
use tokio_util::sync::CancellationToken;

const REQUEST_SECONDS: &str = "switchboard_request_duration_seconds";

/// The process's recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_SECONDS.into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only its own");
        }
        handle
    })
}

/// What the operators' endpoints read: the ports' health, and the figures shown at a scrape.
#[derive(Clone)]
pub struct ObservabilityState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub desk: Arc<AgentDesk>,
    pub sockets: Arc<SocketRegistry>,
    pub agents: Arc<AgentHub>,
    pub shutdown: CancellationToken,
    /// Set on SIGTERM: the node still serves, but `/readyz` tells load balancers to stop
    /// sending it clients (`limits.drain_seconds`).
    pub draining: Arc<AtomicBool>,
}

pub fn routes(state: ObservabilityState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Counts a routed request by operation and status, and times it. Installed as a route layer,
/// so the route is known.
pub async fn track(request: Request, next: Next) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| operation_name(request.method(), path.as_str()))
        .unwrap_or(SharedString::const_str("unmatched"));
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_requests_total", "operation" => operation.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The AWS operation name of a route (`SendMessage`), or the route itself for Switchboard's own
/// endpoints (`POST /agent/api/sign-in`). Worked out once per route.
fn operation_name(method: &Method, route: &str) -> SharedString {
    // By route, then method: a lookup borrows the route, so a request allocates nothing here.
    type Names = HashMap<String, Vec<(Method, SharedString)>>;
    static NAMES: OnceLock<RwLock<Names>> = OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    let known = names
        .read()
        .expect("names lock")
        .get(route)
        .and_then(|methods| {
            methods
                .iter()
                .find(|(m, _)| m == method)
                .map(|(_, name)| name.clone())
        });
    if let Some(name) = known {
        return name;
    }
    let name = match awsproto::routes::model_operation(method.as_str(), route) {
        Some((_, operation)) => SharedString::const_str(operation),
        None => SharedString::from(format!("{method} {route}")),
    };
    names
        .write()
        .expect("names lock")
        .entry(route.to_string())
        .or_default()
        .push((method.clone(), name.clone()));
    name
}

async fn render(State(app): State<ObservabilityState>) -> impl IntoResponse {
    match app.store.outbox_counts().await {
        Ok((backlog, dead_letters)) => {
            metrics::gauge!("switchboard_stream_backlog").set(backlog as f64);
            metrics::gauge!("switchboard_stream_dead_letters").set(dead_letters as f64);
        }
        Err(e) => tracing::warn!(error = %e, "reading the streaming backlog failed"),
    }
    metrics::gauge!("switchboard_open_sockets", "kind" => "participant")
        .set(app.sockets.open_sockets() as f64);
    metrics::gauge!("switchboard_open_sockets", "kind" => "agent")
        .set(app.agents.open_sockets() as f64);
    for instance in &app.config.instances {
        let queues: Vec<Vec<String>> = instance.queues.iter().map(|q| vec![q.id.clone()]).collect();
        let figures = app.desk.queue_figures(&instance.id, queues).await;
        for (queue, figures) in instance.queues.iter().zip(figures) {
            metrics::gauge!(
                "switchboard_queue_contacts",
                "instance" => instance.id.clone(),
                "queue" => queue.id.clone()
            )
            .set(figures.contacts_in_queue as f64);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

/// The process is up and answering.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Whether this node should get traffic: its store answers (a read and a write round trip) and
/// it is not shutting down. A load balancer takes a node out on 503.
async fn readyz(State(app): State<ObservabilityState>) -> impl IntoResponse {
    let store = app.store.ping().await;
    let bus = app.bus.state();
    let draining = app.draining.load(Ordering::Relaxed) || app.shutdown.is_cancelled();
    let ready = store.is_ok() && bus.is_ok() && !draining;
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "store": match &store { Ok(()) => "ok".to_string(), Err(e) => e.to_string() },
        "bus": match bus { Ok(kind) => kind.to_string(), Err(why) => why },
        "draining": draining,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
