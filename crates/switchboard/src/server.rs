//! Serving: binds the listener, builds the application behind it ([`crate::app`]), serves its
//! routes, and shuts down gracefully: stop accepting, close sockets with 1001, finish in-flight
//! requests and writes, close the store, exit.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;

pub use crate::app::{open_reads, open_store};

/// The base URL clients are told to use, and its WebSocket form. ChatJS accepts only `wss://`
/// or `ws://127.0.0.1:` URLs, so a loopback or wildcard bind is written as 127.0.0.1.
pub fn public_urls(config: &Config, bound: SocketAddr) -> (String, String) {
    let http = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = if bound.ip().is_loopback() || bound.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                match bound.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                }
            };
            format!("http://{host}:{}", bound.port())
        }
    };
    let ws = if let Some(rest) = http.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", http.trim_start_matches("http://"))
    };
    (http, ws)
}

/// A running server, before it serves: what `serve` needs and what callers may want to print.
pub struct Server {
    listener: TcpListener,
    app: App,
    /// Where this server listens.
    pub url: String,
    /// Where clients are told to reach it.
    pub public_url: String,
}

impl Server {
    /// Binds the listener, then builds the application behind it (the address bound decides
    /// where clients are told to connect).
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let bound = listener.local_addr()?;
        let (public_url, websocket_base) = public_urls(&config, bound);
        let app = App::build(config, websocket_base).await?;
        Ok(Self {
            listener,
            app,
            // The address actually bound: port 0 becomes the real port.
            url: format!("http://{}", display_addr(bound)),
            public_url,
        })
    }

    /// Serves until `stop` resolves, then shuts down gracefully.
    pub async fn serve(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            listener, app, url, ..
        } = self;
        let shutdown = app.lifecycle.shutdown.clone();
        println!("switchboard listening on {url}");
        use std::io::Write;
        let _ = std::io::stdout().flush();

        let signal = shutdown.clone();
        let (draining, drain) = (
            app.draining.clone(),
            Duration::from_secs(app.config.limits.drain_seconds),
        );
        // A front task: it is what begins the shutdown, and it ends if shutdown began otherwise.
        let begun = signal.clone();
        app.lifecycle.spawn(async move {
            let drained = async {
                stop.await;
                if !drain.is_zero() {
                    tracing::info!(
                        seconds = drain.as_secs(),
                        "draining: not ready, still serving"
                    );
                    draining.store(true, Ordering::Relaxed);
                    tokio::time::sleep(drain).await;
                }
                tracing::info!("shutting down: closing sockets, finishing in-flight requests");
            };
            tokio::select! {
                _ = begun.cancelled() => {}
                _ = drained => signal.cancel(),
            }
        });
        axum::serve(
            listener,
            app.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
        app.shut_down().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
