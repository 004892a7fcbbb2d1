//! The application: every part of a node, built and wired once by [`App::build`], and the route
//! table that serves them ([`App::router`]). `Server::bind` builds one behind a listener; a test
//! builds one without a socket and drives its router in-process.
//!
//! This is the wiring, and the only module that knows every part: the edges (`api`, `gateway`,
//! `web`, `observability`) are each handed only the state they read, and none of them imports
//! this module.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use anyhow::Context;
use axum::Router;

use crate::agent::auth::AgentAuth;
use crate::agent::hub::AgentHub;
use crate::api::ApiState;
use crate::bus::nats::NatsBus;
use crate::bus::{Bus, LocalBus};
use crate::chat::service::Ports;
use crate::chat::tokens::Tokens;
use crate::chat::{ChatService, StreamHook};
use crate::clock::{SharedClock, SystemClock};
use crate::cluster::{Cluster, Notice};
use crate::config::Config;
use crate::desk::AgentDesk;
use crate::flows::bots::Bots;
use crate::flows::functions::Functions;
use crate::gateway::{GatewayState, SocketRegistry};
use crate::lifecycle::Lifecycle;
use crate::observability::ObservabilityState;
use crate::routing::remote::Remote;
use crate::routing::{effects, ownership, Router as RoutingRouter};
use crate::store::postgres::{PoolSettings, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{Reads, Store};
use crate::streaming::Dispatcher;
use crate::{api, gateway, observability, web};
use awsproto::sigv4::{SecretKey, UriRules, Verifier};

/// Every part of a running node.
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    /// The door of the chat domain: customers, bots and agents as chat participants.
    pub chat: Arc<ChatService>,
    /// The door of the agent side: sign-in, statuses, offers, transfers.
    pub desk: Arc<AgentDesk>,
    pub verifier: Arc<Verifier>,
    /// Participants' open sockets.
    pub sockets: Arc<SocketRegistry>,
    /// Agents' open workspace sockets.
    pub agents: Arc<AgentHub>,
    pub lifecycle: Lifecycle,
    /// Whether the store answered its last health check (for the sockets' deep ping).
    pub store_healthy: Arc<AtomicBool>,
    /// Set on SIGTERM: the node still serves, but `/readyz` tells load balancers to stop
    /// sending it clients (`limits.drain_seconds`).
    pub draining: Arc<AtomicBool>,
}

/// Opens the store the configuration names, applying migrations it lacks.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(config, Arc::new(SystemClock)).await
}

/// Reads of the configured store while a server runs on it (`switchboard flow trace`).
pub async fn open_reads(config: &Config) -> anyhow::Result<Box<dyn Reads>> {
    if let Some(url) = config.postgres_url() {
        return PostgresStore::open_reads(url).await;
    }
    let path = config
        .sqlite_path()
        .context("storage must be sqlite://PATH or postgres://...")?;
    crate::store::sqlite::open_reads(Path::new(path)).await
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

impl App {
    /// Opens the store, joins the cluster if one is configured, and starts every part: the
    /// streams' dispatcher, the bus, the router and what carries its decisions out, the chat
    /// service and the agent desk. `websocket_base` (`ws://HOST:PORT` or `wss://...`) is where
    /// the WebSocket URLs handed to participants point.
    pub async fn build(config: Config, websocket_base: String) -> anyhow::Result<Self> {
        observability::prometheus();
        let config = Arc::new(config);
        let clock: SharedClock = Arc::new(SystemClock);
        let store = open_store_with(&config, clock.clone()).await?;
        let secret = store.secret("token-signing-key").await?;
        let lifecycle = Lifecycle::new();
        let cluster = match &config.bus {
            Some(url) => {
                // Nodes on one store form one cluster, whatever else shares the NATS server.
                let name = hex::encode(&store.secret("cluster-name").await?[..6]);
                Some(
                    Cluster::connect(url, &name, &lifecycle)
                        .await
                        .with_context(|| format!("connecting to NATS at {url}"))?,
                )
            }
            None => None,
        };
        let streaming = Arc::new(
            Dispatcher::start(
                store.clone(),
                config.clone(),
                clock.clone(),
                lifecycle.shutdown.clone(),
                lifecycle.tasks.clone(),
            )
            .await?,
        );
        // The chat service, once built: what the bus hears from other nodes concerns it too. Weak,
        // since the service holds the bus.
        let chat_slot: Arc<OnceLock<Weak<ChatService>>> = Arc::default();
        let bus: Arc<dyn Bus> = match &cluster {
            Some(cluster) => Arc::new(
                NatsBus::start(
                    cluster,
                    config.limits.socket_queue,
                    {
                        let (streaming, chat) = (streaming.clone(), chat_slot.clone());
                        Arc::new(move |chat_id: &str, item: &str| {
                            // Items written on other nodes wake this node's stream workers too.
                            streaming.written(chat_id);
                            if let Some(chat) = chat.get().and_then(Weak::upgrade) {
                                chat.committed_elsewhere(chat_id, item);
                            }
                        })
                    },
                    &lifecycle,
                )
                .await?,
            ),
            None => Arc::new(LocalBus::new(config.limits.socket_queue)),
        };
        // Unbounded: the router's tasks must never wait on what carries their decisions out
        // (that would stall every queue of the instance), and each decision answers a request
        // or a timer the router already bounds.
        let (routed, decisions) = tokio::sync::mpsc::unbounded_channel();
        let remote = cluster.as_ref().map(|cluster| {
            // Long enough for another node to take over from one that died.
            Remote::start(
                cluster.clone(),
                config.routing.lease() * 2 + crate::cluster::REQUEST_TIMEOUT,
                lifecycle.clone(),
            )
        });
        let router = RoutingRouter::start(
            config.clone(),
            store.clone(),
            clock.clone(),
            routed,
            remote,
            lifecycle.clone(),
        )
        .await?;
        if cluster.is_some() {
            lifecycle.spawn(ownership::keep(router.clone(), lifecycle.shutdown.clone()));
        }
        let tokens = Tokens::new(secret);
        let agent_auth =
            Arc::new(AgentAuth::load(tokens.clone(), store.clone(), cluster.clone()).await?);
        let ports = Ports {
            store: store.clone(),
            bus: bus.clone(),
            clock,
            routing: router.clone(),
            streams: streaming,
            functions: Arc::new(Functions::new(&config)?),
            bots: Arc::new(Bots::new(&config)?),
        };
        let chat = ChatService::new(config.clone(), ports, tokens, websocket_base);
        let _ = chat_slot.set(Arc::downgrade(&chat));
        let agents = Arc::new(match &cluster {
            Some(cluster) => AgentHub::clustered(cluster.clone()),
            None => AgentHub::default(),
        });
        if let Some(cluster) = &cluster {
            let notices = cluster.notices().await?;
            lifecycle.spawn_background(follow_notices(notices, agents.clone(), agent_auth.clone()));
        }
        if chat.needs_catching_up() {
            let every = Duration::from_secs(config.limits.catch_up_seconds);
            lifecycle.spawn(gateway::catch_up::run(
                chat.clone(),
                every,
                lifecycle.shutdown.clone(),
            ));
        }
        lifecycle.spawn_background(effects::carry_out(
            decisions,
            chat.clone(),
            router.clone(),
            agents.clone(),
        ));
        let desk = Arc::new(AgentDesk::new(
            config.clone(),
            chat.clone(),
            router,
            agents.clone(),
            agent_auth,
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
        let app = Self {
            sockets: SocketRegistry::new(config.limits.sockets_per_participant),
            config,
            store,
            bus,
            chat,
            desk,
            verifier,
            agents,
            lifecycle,
            store_healthy: Arc::new(AtomicBool::new(true)),
            draining: Arc::new(AtomicBool::new(false)),
        };
        app.lifecycle.spawn(background_duties(
            app.chat.clone(),
            app.store_healthy.clone(),
            app.lifecycle.clone(),
        ));
        Ok(app)
    }

    /// Every route of the node, each edge with the state it reads.
    pub fn router(&self) -> Router {
        let api = ApiState {
            chat: self.chat.clone(),
            desk: self.desk.clone(),
            verifier: self.verifier.clone(),
            max_body_bytes: self.config.limits.max_body_bytes,
            lifecycle: self.lifecycle.clone(),
        };
        let gateway = GatewayState {
            chat: self.chat.clone(),
            sockets: self.sockets.clone(),
            sockets_per_participant: self.config.limits.sockets_per_participant,
            socket_lifetime: Duration::from_secs(self.config.limits.socket_lifetime_seconds),
            store_healthy: self.store_healthy.clone(),
            lifecycle: self.lifecycle.clone(),
        };
        let observability = ObservabilityState {
            config: self.config.clone(),
            store: self.store.clone(),
            bus: self.bus.clone(),
            desk: self.desk.clone(),
            sockets: self.sockets.clone(),
            agents: self.agents.clone(),
            shutdown: self.lifecycle.shutdown.clone(),
            draining: self.draining.clone(),
        };
        api::router(api.clone())
            .merge(gateway::routes(gateway))
            .merge(web::routes(
                self.config.demo_page,
                &self.config.ccp.approved_origins,
            ))
            .merge(observability::routes(observability))
            .merge(
                // Outside the APIs' CORS layer: a widget answers only its own allowed origins.
                api::widget::routes()
                    .layer(axum::middleware::from_fn_with_state(
                        self.lifecycle.tasks.clone(),
                        api::run_to_completion,
                    ))
                    .with_state(api),
            )
            // Every route that has not chosen its own answer to a wrong method gets the JSON
            // error.
            .method_not_allowed_fallback(api::method_not_allowed)
            .layer(axum::middleware::from_fn(api::request_id))
    }

    /// Shuts down after serving has stopped: the front finishes (sockets send their close
    /// frames, requests run to their end), then the background (routers, the bus, routing's
    /// effects), then the store closes (see [`Lifecycle`]).
    pub async fn shut_down(self) {
        if !self.lifecycle.finish(Duration::from_secs(10)).await {
            tracing::warn!("some tasks had not finished after 10 seconds; closing anyway");
        }
        self.store.close().await;
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

/// Once a second: end chats whose ChatDurationInMinutes ran out, move on the flows whose time
/// came, and check that the store answers.
async fn background_duties(chat: Arc<ChatService>, healthy: Arc<AtomicBool>, life: Lifecycle) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = life.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let ended = chat.end_expired_chats().await;
                if let Err(e) = &ended {
                    tracing::warn!(error = %e, "ending expired chats failed");
                }
                let woken = chat.wake_due_flows().await;
                if let Err(e) = &woken {
                    tracing::warn!(error = %e, "waking flows failed");
                }
                let ok = ended.is_ok() && woken.is_ok();
                if healthy.swap(ok, Ordering::Relaxed) != ok {
                    tracing::warn!(healthy = ok, "store health changed");
                }
            }
        }
    }
}
