//! Assembles the server: opens the store, wires the chat service to its ports, binds the
//! listener, serves the APIs and the WebSocket gateway, runs background duties (ending chats whose
//! duration ran out), and shuts down gracefully: stop accepting, close sockets with 1001, finish
//! in-flight requests and writes, exit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::auth::AgentAuth;
use crate::agent::hub::AgentHub;
use crate::awsproto::sigv4::{SecretKey, UriRules, Verifier};
use crate::bus::nats::NatsBus;
use crate::bus::{Bus, LocalBus};
use crate::chat::service::Ports;
use crate::chat::tokens::Tokens;
use crate::chat::ChatService;
use crate::clock::{SharedClock, SystemClock};
use crate::cluster::{Cluster, Notice};
use crate::config::Config;
use crate::gateway::SocketRegistry;
use crate::routing::remote::Remote;
use crate::routing::{effects, ownership, Router as RoutingRouter};
use crate::store::postgres::{PoolSettings, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::streaming::Dispatcher;
use crate::{api, gateway, observability};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub chat: Arc<ChatService>,
    pub verifier: Arc<Verifier>,
    pub sockets: Arc<SocketRegistry>,
    /// Routing: queues, agents' statuses and offers.
    pub router: Arc<RoutingRouter>,
    /// Agents' open workspace sockets.
    pub agents: Arc<AgentHub>,
    pub agent_auth: Arc<AgentAuth>,
    /// Cancelled when the server starts shutting down; sockets watch it.
    pub shutdown: CancellationToken,
    /// Socket tasks, so shutdown can wait for them to send their close frames.
    pub tasks: TaskTracker,
    /// Whether the store answered its last health check (for the sockets' deep ping).
    pub store_healthy: Arc<AtomicBool>,
    /// Set on SIGTERM: the node still serves, but `/readyz` tells load balancers to stop
    /// sending it clients (`limits.drain_seconds`).
    pub draining: Arc<AtomicBool>,
}

pub fn app(state: AppState) -> Router {
    api::router(state.clone())
        .merge(gateway::routes().with_state(state.clone()))
        .merge(crate::web::routes().with_state(state.clone()))
        .merge(observability::routes().with_state(state.clone()))
        .merge(
            // Outside the APIs' CORS layer: a widget answers only its own allowed origins.
            api::widget::routes()
                .layer(axum::middleware::from_fn_with_state(
                    state.tasks.clone(),
                    api::run_to_completion,
                ))
                .with_state(state),
        )
        // Every route that has not chosen its own answer to a wrong method gets the JSON error.
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn(api::request_id))
}

/// Opens the store the configuration names, applying migrations it lacks.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(config, Arc::new(SystemClock)).await
}

async fn open_store_with(config: &Config, clock: SharedClock) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(url) = config.postgres_url() {
        let settings = PoolSettings {
            max_connections: config.postgres.max_connections,
            acquire_timeout: Duration::from_secs(config.postgres.acquire_timeout_seconds),
            statement_timeout: Duration::from_millis(config.postgres.statement_timeout_ms),
        };
        return Ok(Arc::new(
            PostgresStore::open(url, &settings, clock)
                .await
                .context("opening the PostgreSQL store")?,
        ));
    }
    let path = config
        .sqlite_path()
        .context("storage must be sqlite://PATH or postgres://...")?;
    Ok(Arc::new(
        SqliteStore::open(Path::new(path), clock)
            .await
            .with_context(|| format!("opening the store at {path}"))?,
    ))
}

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
    state: AppState,
    store: Arc<dyn Store>,
    /// Where this server listens.
    pub url: String,
    /// Where clients are told to reach it.
    pub public_url: String,
}

impl Server {
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        observability::prometheus();
        let config = Arc::new(config);
        let clock: SharedClock = Arc::new(SystemClock);
        let store = open_store_with(&config, clock.clone()).await?;
        let secret = store.secret("token-signing-key").await?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let bound = listener.local_addr()?;
        let (public_url, websocket_base) = public_urls(&config, bound);
        let cluster = match &config.bus {
            Some(url) => {
                // Nodes on one store form one cluster, whatever else shares the NATS server.
                let name = hex::encode(&store.secret("cluster-name").await?[..6]);
                Some(
                    Cluster::connect(url, &name)
                        .await
                        .with_context(|| format!("connecting to NATS at {url}"))?,
                )
            }
            None => None,
        };
        let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
        let streaming = Arc::new(
            Dispatcher::start(
                store.clone(),
                config.clone(),
                clock.clone(),
                shutdown.clone(),
                tasks.clone(),
            )
            .await?,
        );
        let bus: Arc<dyn Bus> = match &cluster {
            Some(cluster) => Arc::new(
                NatsBus::start(cluster, config.limits.socket_queue, streaming.clone()).await?,
            ),
            None => Arc::new(LocalBus::new(config.limits.socket_queue)),
        };
        let (routed, decisions) = tokio::sync::mpsc::unbounded_channel();
        let remote = cluster.as_ref().map(|cluster| {
            // Long enough for another node to take over from one that died.
            Remote::start(
                cluster.clone(),
                config.routing.lease() * 2 + crate::cluster::REQUEST_TIMEOUT,
            )
        });
        let router =
            RoutingRouter::start(config.clone(), store.clone(), clock.clone(), routed, remote)
                .await?;
        if cluster.is_some() {
            tasks.spawn(ownership::keep(router.clone(), shutdown.clone()));
        }
        let tokens = Tokens::new(secret);
        let agent_auth =
            Arc::new(AgentAuth::load(tokens.clone(), store.clone(), cluster.clone()).await?);
        let ports = Ports {
            store: store.clone(),
            bus,
            clock,
            routing: router.clone(),
            streams: streaming,
        };
        let chat = Arc::new(ChatService::new(
            config.clone(),
            ports,
            tokens,
            websocket_base,
        ));
        let agents = Arc::new(match &cluster {
            Some(cluster) => AgentHub::clustered(cluster.clone()),
            None => AgentHub::default(),
        });
        if let Some(cluster) = &cluster {
            let notices = cluster.notices().await?;
            tokio::spawn(follow_notices(notices, agents.clone(), agent_auth.clone()));
        }
        if chat.bus().crosses_nodes() {
            let every = Duration::from_secs(config.limits.catch_up_seconds);
            tokio::spawn(gateway::catch_up::run(
                chat.clone(),
                every,
                shutdown.clone(),
            ));
        }
        tokio::spawn(effects::carry_out(
            decisions,
            chat.clone(),
            router.clone(),
            agents.clone(),
        ));
        let verifier = Arc::new(Verifier {
            service: "connect".into(),
            region: config.region.clone(),
            keys: config
                .access_keys
                .iter()
                .map(|k| (k.id.clone(), SecretKey::new(k.secret.clone())))
                .collect::<HashMap<_, _>>(),
            max_skew: time::Duration::minutes(config.limits.signature_skew_minutes),
            uri_rules: UriRules::AWS_DEFAULT,
        });
        let state = AppState {
            sockets: SocketRegistry::new(config.limits.sockets_per_participant),
            router,
            agents,
            agent_auth,
            config,
            chat,
            verifier,
            shutdown,
            tasks,
            store_healthy: Arc::new(AtomicBool::new(true)),
            draining: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self {
            listener,
            state,
            store,
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
            listener,
            state,
            store,
            url,
            ..
        } = self;
        let shutdown = state.shutdown.clone();
        let tasks = state.tasks.clone();
        let sweeper = tokio::spawn(background_duties(state.clone()));
        println!("switchboard listening on {url}");
        use std::io::Write;
        let _ = std::io::stdout().flush();

        let signal = shutdown.clone();
        let (draining, drain) = (
            state.draining.clone(),
            Duration::from_secs(state.config.limits.drain_seconds),
        );
        tokio::spawn(async move {
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
            signal.cancel();
        });
        axum::serve(
            listener,
            app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
        tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), tasks.wait()).await;
        let _ = sweeper.await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Carries out what other nodes announce: frames for agents' sockets here, sign-outs and
/// sign-in attempts.
async fn follow_notices(
    notices: impl futures::Stream<Item = Notice>,
    agents: Arc<AgentHub>,
    auth: Arc<AgentAuth>,
) {
    futures::pin_mut!(notices);
    while let Some(notice) = futures::StreamExt::next(&mut notices).await {
        match notice {
            Notice::AgentFrame {
                user,
                text,
                then_close,
            } => agents.deliver(&user, text, then_close),
            Notice::SignedOut { user, at_ms } => auth.signed_out_elsewhere(&user, at_ms),
            Notice::SignInAttempt { username, at_ms } => auth.attempted_elsewhere(&username, at_ms),
            Notice::SignedIn { username } => auth.signed_in_elsewhere(&username),
        }
    }
}

fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Once a second: end chats whose ChatDurationInMinutes ran out, and check that the store answers.
async fn background_duties(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let ended = state.chat.end_expired_chats().await;
                if let Err(e) = &ended {
                    tracing::warn!(error = %e, "ending expired chats failed");
                }
                let healthy = ended.is_ok();
                if state.store_healthy.swap(healthy, Ordering::Relaxed) != healthy {
                    tracing::warn!(healthy, "store health changed");
                }
            }
        }
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
