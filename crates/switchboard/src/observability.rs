//! Metrics in the Prometheus text format at `GET /metrics`.
//!
//! Code anywhere records through the `metrics` macros; this module installs the one process-wide
//! recorder they report to, and adds, at each scrape, figures that are read rather than counted
//! (the streaming outbox backlog).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::server::AppState;

/// The process's recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only its own");
        }
        handle
    })
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(app): State<AppState>) -> impl IntoResponse {
    match app.chat.store().outbox_counts().await {
        Ok((backlog, dead_letters)) => {
            metrics::gauge!("switchboard_stream_backlog").set(backlog as f64);
            metrics::gauge!("switchboard_stream_dead_letters").set(dead_letters as f64);
        }
        Err(e) => tracing::warn!(error = %e, "reading the streaming backlog failed"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}
