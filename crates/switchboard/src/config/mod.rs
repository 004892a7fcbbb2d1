//! The TOML configuration: what it may contain, its defaults, and the checks that make a bad file
//! fail at start with a message naming the key. Every key is documented in docs/configuration.md.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

mod agents;
pub mod endpoint;
mod flows;
pub mod functions;
pub mod hours;
mod quick_connects;
mod streaming;
mod widgets;
pub use agents::{
    derived_id, AgentStatus, ProfileQueue, Routing, RoutingProfile, StatusChoice, StatusKind, User,
    BUILT_IN_STATUSES,
};
pub use functions::{AwsService, Function};
pub use hours::{HoursOfOperation, OpenRange};
pub use quick_connects::QuickConnect;
pub use streaming::{Sns, Streaming, Webhook};
pub use widgets::Widget;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds to.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Base URL clients reach the server at; WebSocket URLs are derived from it.
    pub public_url: Option<String>,
    /// The AWS region the server answers as (SigV4 credential scope, ARNs).
    #[serde(default = "default_region")]
    pub region: String,
    /// The twelve-digit account id used in ARNs.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// Where data is kept: `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`.
    #[serde(default = "default_storage")]
    pub storage: String,
    /// The PostgreSQL connection pool, when `storage` is a PostgreSQL URL.
    #[serde(default)]
    pub postgres: Postgres,
    /// `nats://HOST:PORT`: the NATS server that carries items between the nodes sharing a
    /// PostgreSQL store. Without it, the node serves alone.
    #[serde(default)]
    pub bus: Option<String>,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    #[serde(default)]
    pub instances: Vec<Instance>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub routing: Routing,
    /// Where chats can stream to, and how deliveries are retried.
    #[serde(default)]
    pub streaming: Streaming,
    /// Addresses of reverse proxies in front of the server: for requests from them the client's
    /// address is taken from `X-Forwarded-For` (for per-address limits).
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The CCP that Amazon Connect Streams desktops embed (docs/streams.md).
    #[serde(default)]
    pub ccp: Ccp,
    /// HTTP functions flows call (InvokeLambdaFunction with `arn:switchboard:function:...`).
    #[serde(default)]
    pub functions: Vec<Function>,
    /// HTTP bots flows hand chats to (ConnectParticipantWithLexBot with an
    /// `arn:switchboard:bot:...` alias ARN); the same keys as functions.
    #[serde(default)]
    pub bots: Vec<Function>,
    /// AWS Lambda, for InvokeLambdaFunction with an `arn:aws:lambda:...` ARN.
    #[serde(default)]
    pub lambda: AwsService,
    /// Amazon Lex V2, for ConnectParticipantWithLexBot with an `arn:aws:lex:...` alias ARN.
    #[serde(default)]
    pub lex: AwsService,
    /// Set by the demo configuration only: `/` serves the demo shop page.
    #[serde(skip)]
    pub demo_page: bool,
}

/// Which sites may embed the CCP at `/ccp-v2/`, as Amazon Connect's approved origins decide
/// which sites may embed its CCP: the CCP hands the page around it the agent's chats.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ccp {
    /// Origins such as `https://crm.example.com` (`*` in the host or port as in a
    /// Content-Security-Policy, or `"*"` for any site). None: only this server's own pages.
    #[serde(default)]
    pub approved_origins: Vec<String>,
}

/// Whether `text` is an origin a configuration may list: `*`, or `http(s)://HOST[:PORT]`
/// with nothing after it (a trailing `/` is allowed). The host may use `*` wildcards as a
/// Content-Security-Policy source does; nothing that could end or extend a header is accepted.
pub(crate) fn is_origin(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.strip_suffix('/').unwrap_or(rest);
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']'))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: String,
    #[serde(default)]
    pub contact_flows: Vec<ContactFlow>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub routing_profiles: Vec<RoutingProfile>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub agent_statuses: Vec<AgentStatus>,
    #[serde(default)]
    pub widgets: Vec<Widget>,
    /// When queues are open (CheckHoursOfOperation in flows).
    #[serde(default)]
    pub hours_of_operation: Vec<HoursOfOperation>,
    /// Where agents transfer chats to, with the flow run on the way.
    #[serde(default)]
    pub quick_connects: Vec<QuickConnect>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactFlow {
    pub id: String,
    pub name: String,
    /// A flow that sends every chat to this queue (the flow "transfer to queue"). A flow gives
    /// either this or its content.
    #[serde(default)]
    pub queue: Option<String>,
    /// The flow in the Amazon Connect flow language: JSON as `CreateContactFlow` carries it.
    #[serde(default)]
    pub content: Option<String>,
    /// Or the path of a file holding that JSON, relative to the configuration file.
    #[serde(default)]
    pub file: Option<std::path::PathBuf>,
    /// What happens when the agent leaves a chat (ends it in the workspace or disconnects).
    #[serde(default)]
    pub after_agent_leaves: AfterAgentLeaves,
    /// The content, read and validated as publishing does (set while the configuration loads).
    #[serde(skip)]
    pub flow: Option<std::sync::Arc<crate::flows::Flow>>,
}

/// What a flow does when the agent leaves a chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterAgentLeaves {
    /// The chat ends (Amazon Connect's default flow): participant.left, then chat.ended.
    #[default]
    EndChat,
    /// The customer waits in the flow's queue again for the next agent.
    BackToQueue,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub id: String,
    pub name: String,
    /// Contacts the queue holds at most (waiting or being offered); StartChatContact beyond it is
    /// refused with LimitExceededException. No limit when left out.
    #[serde(default)]
    pub max_contacts: Option<u32>,
    /// The id of the instance's hours of operation this queue keeps.
    #[serde(default)]
    pub hours: Option<String>,
    /// The quick connects (ids of the instance's configured ones) the agents serving this queue
    /// see, as AssociateQueueQuickConnects associates them.
    #[serde(default)]
    pub quick_connects: Vec<String>,
}

/// Protective limits. The defaults follow Amazon Connect's published quotas where one exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Open WebSockets per participant (Amazon: 5).
    pub sockets_per_participant: usize,
    /// Items buffered for one socket before it is closed as too slow.
    pub socket_queue: usize,
    /// How long a participant WebSocket may stay open before the server closes it (1001) and the
    /// client reconnects, as Amazon's WebSocket endpoints do after two hours.
    pub socket_lifetime_seconds: u64,
    /// How long a connection token from CreateParticipantConnection is valid (Amazon: a day).
    /// Clients fetch a new one before it runs out; ChatJS does so a minute ahead.
    pub connection_token_seconds: i64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Allowed difference between a SigV4 request's date and the server clock, in minutes.
    pub signature_skew_minutes: i64,
    /// On SIGTERM, how long the node keeps serving while `/readyz` answers 503, so that a load
    /// balancer stops sending it new clients before its sockets are closed.
    pub drain_seconds: u64,
    /// With a bus: how often the node checks the store for items of the chats its sockets watch
    /// that NATS did not bring (a node can die between committing an item and publishing it).
    pub catch_up_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sockets_per_participant: 5,
            socket_queue: 32,
            socket_lifetime_seconds: 7200,
            connection_token_seconds: 86_400,
            max_body_bytes: 256 * 1024,
            signature_skew_minutes: 15,
            drain_seconds: 0,
            catch_up_seconds: 10,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_account_id() -> String {
    "123456789012".into()
}
/// The `[postgres]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    /// Connections this node keeps open at most.
    pub max_connections: u32,
    /// Longest wait for a free connection before a request fails.
    pub acquire_timeout_seconds: u64,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout_ms: u64,
}

impl Default for Postgres {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_seconds: 10,
            statement_timeout_ms: 10_000,
        }
    }
}

impl Postgres {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError(format!(
                "invalid value for `postgres.{key}`: {why}"
            )))
        };
        if !(1..=1000).contains(&self.max_connections) {
            return bad("max_connections", "must be 1 to 1000");
        }
        if !(1..=600).contains(&self.acquire_timeout_seconds) {
            return bad("acquire_timeout_seconds", "must be 1 to 600");
        }
        if !(100..=3_600_000).contains(&self.statement_timeout_ms) {
            return bad("statement_timeout_ms", "must be 100 to 3600000");
        }
        Ok(())
    }
}

fn default_storage() -> String {
    "sqlite://switchboard-data/switchboard.db".into()
}

/// A configuration that failed to load, with a message that names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, base)
            .map_err(|ConfigError(m)| ConfigError(format!("{}: {m}", path.display())))
    }

    /// Reads a configuration whose flow files are relative to the working directory.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_in(text, Path::new("."))
    }

    /// Reads a configuration whose flow files are relative to `base`.
    pub fn parse_in(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        for (i, instance) in config.instances.iter_mut().enumerate() {
            instance.derive_ids();
            instance.load_flows(&format!("instances[{i}]"), base)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks that serde cannot express: formats, references between sections, uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |key: &str, why: String| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
        if self.listen.parse::<SocketAddr>().is_err() {
            return bad(
                "listen",
                format!("'{}' is not an address such as 127.0.0.1:8080", self.listen),
            );
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(
                    "public_url",
                    format!("'{url}' must start with http:// or https://"),
                );
            }
        }
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad(
                "region",
                format!("'{}' is not a region name such as us-east-1", self.region),
            );
        }
        if self.account_id.len() != 12 || !self.account_id.chars().all(|c| c.is_ascii_digit()) {
            return bad(
                "account_id",
                format!("'{}' must be twelve digits", self.account_id),
            );
        }
        if self.sqlite_path().is_none() && self.postgres_url().is_none() {
            return bad(
                "storage",
                format!(
                    "'{}' must be sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
                    self.storage
                ),
            );
        }
        self.postgres.validate()?;
        if let Some(bus) = &self.bus {
            if !bus.starts_with("nats://") {
                return bad(
                    "bus",
                    format!("'{bus}' must be of the form nats://HOST:PORT"),
                );
            }
            if self.postgres_url().is_none() {
                return bad(
                    "bus",
                    "joins nodes that share one store: set storage to a postgres:// URL".into(),
                );
            }
        }
        for (k, origin) in self.ccp.approved_origins.iter().enumerate() {
            if !is_origin(origin) {
                return bad(
                    &format!("ccp.approved_origins[{k}]"),
                    format!(
                        "'{origin}' is not an origin such as https://crm.example.com, or \"*\""
                    ),
                );
            }
        }
        functions::validate("functions", &self.functions)?;
        functions::validate("bots", &self.bots)?;
        self.lambda.validate("lambda")?;
        self.lex.validate("lex")?;
        let mut key_ids = HashSet::new();
        for (i, key) in self.access_keys.iter().enumerate() {
            if key.id.is_empty() || key.id.contains('/') {
                return bad(
                    &format!("access_keys[{i}].id"),
                    "must be non-empty and contain no '/'".into(),
                );
            }
            if key.secret.is_empty() {
                return bad(
                    &format!("access_keys[{i}].secret"),
                    "must not be empty".into(),
                );
            }
            if !key_ids.insert(&key.id) {
                return bad(
                    &format!("access_keys[{i}].id"),
                    format!("'{}' appears twice", key.id),
                );
            }
        }
        let mut instance_ids = HashSet::new();
        let mut widget_ids = HashSet::new();
        for (i, instance) in self.instances.iter().enumerate() {
            let at = format!("instances[{i}]");
            if instance.id.is_empty() || instance.id.len() > 100 || instance.id.contains('/') {
                return bad(
                    &format!("{at}.id"),
                    "must be 1 to 100 characters without '/'".into(),
                );
            }
            if !instance_ids.insert(&instance.id) {
                return bad(
                    &format!("{at}.id"),
                    format!("'{}' appears twice", instance.id),
                );
            }
            let mut queue_ids = HashSet::new();
            for (j, queue) in instance.queues.iter().enumerate() {
                if queue.id.is_empty() || !queue_ids.insert(&queue.id) {
                    return bad(
                        &format!("{at}.queues[{j}].id"),
                        format!("'{}' is empty or appears twice", queue.id),
                    );
                }
                if queue.max_contacts == Some(0) {
                    return bad(
                        &format!("{at}.queues[{j}].max_contacts"),
                        "must be at least 1 (leave it out for no limit)".into(),
                    );
                }
            }
            let mut flow_ids = HashSet::new();
            for (j, flow) in instance.contact_flows.iter().enumerate() {
                if flow.id.is_empty() || flow.id.len() > 500 || !flow_ids.insert(&flow.id) {
                    return bad(
                        &format!("{at}.contact_flows[{j}].id"),
                        format!("'{}' is empty, too long or appears twice", flow.id),
                    );
                }
                if let Some(queue) = flow.queue.as_ref().filter(|q| !queue_ids.contains(q)) {
                    return bad(
                        &format!("{at}.contact_flows[{j}].queue"),
                        format!("no queue with id '{queue}' in this instance"),
                    );
                }
            }
            instance.validate_agents(&at, &queue_ids)?;
            instance.validate_widgets(&at, &mut widget_ids)?;
            instance.validate_hours(&at)?;
            instance.validate_quick_connects(&at)?;
        }
        self.routing.validate()?;
        self.streaming.validate()?;
        for (i, instance) in self.instances.iter().enumerate() {
            for (j, widget) in instance.widgets.iter().enumerate() {
                if let Some(arn) = &widget.streaming_endpoint {
                    if let Err(why) = endpoint::parse(arn, self) {
                        return bad(
                            &format!("instances[{i}].widgets[{j}].streaming_endpoint"),
                            why,
                        );
                    }
                }
            }
        }
        let limits = &self.limits;
        if !(1..=100).contains(&limits.sockets_per_participant) {
            return bad("limits.sockets_per_participant", "must be 1 to 100".into());
        }
        if !(8..=1_000_000).contains(&limits.socket_queue) {
            return bad("limits.socket_queue", "must be 8 to 1000000".into());
        }
        if !(65..=604_800).contains(&limits.connection_token_seconds) {
            return bad(
                "limits.connection_token_seconds",
                "must be 65 to 604800".into(),
            );
        }
        if !(5..=86_400).contains(&limits.socket_lifetime_seconds) {
            return bad(
                "limits.socket_lifetime_seconds",
                "must be 5 to 86400".into(),
            );
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&limits.max_body_bytes) {
            return bad("limits.max_body_bytes", "must be 65536 to 67108864".into());
        }
        if !(1..=24 * 60).contains(&limits.signature_skew_minutes) {
            return bad("limits.signature_skew_minutes", "must be 1 to 1440".into());
        }
        if limits.drain_seconds > 3600 {
            return bad("limits.drain_seconds", "must be 0 to 3600".into());
        }
        if !(1..=300).contains(&limits.catch_up_seconds) {
            return bad("limits.catch_up_seconds", "must be 1 to 300".into());
        }
        Ok(())
    }

    /// The connection URL of `storage = "postgres://..."` (or `postgresql://`).
    pub fn postgres_url(&self) -> Option<&str> {
        (self.storage.starts_with("postgres://") || self.storage.starts_with("postgresql://"))
            .then_some(self.storage.as_str())
    }

    /// The SQLite file of `storage = "sqlite://PATH"`.
    pub fn sqlite_path(&self) -> Option<&str> {
        self.storage
            .strip_prefix("sqlite://")
            .filter(|p| !p.is_empty())
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the first address
    /// from the right of `X-Forwarded-For` (all its header lines, in order) that is not a trusted
    /// proxy. An entry that is not an address ends the walk (what lies left of it was written by
    /// someone untrusted), and the last trusted hop is used.
    pub fn client_address(
        &self,
        peer: std::net::IpAddr,
        forwarded_for: &[&str],
    ) -> std::net::IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.iter().rev().flat_map(|line| line.rsplit(',')) {
            let Ok(address) = hop.trim().parse::<std::net::IpAddr>() else {
                return client;
            };
            client = address;
            if !self.trusted_proxies.contains(&address) {
                return address;
            }
        }
        client
    }

    /// A widget by its public id, with its instance.
    pub fn widget(&self, id: &str) -> Option<(&Instance, &Widget)> {
        self.instances
            .iter()
            .find_map(|i| i.widgets.iter().find(|w| w.id == id).map(|w| (i, w)))
    }
}

impl Instance {
    pub fn contact_flow(&self, id: &str) -> Option<&ContactFlow> {
        self.contact_flows.iter().find(|f| f.id == id)
    }

    pub fn queue(&self, id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.0.contains("listn"), "{}", err.0);
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::parse("listen = \"nowhere\"").unwrap_err();
        assert!(err.0.contains("`listen`"), "{}", err.0);
        let err = Config::parse("storage = \"mysql://x\"").unwrap_err();
        assert!(err.0.contains("`storage`"), "{}", err.0);
    }

    #[test]
    fn flow_must_name_a_queue_of_its_instance() {
        let err = Config::parse(
            r#"
            [[instances]]
            id = "i"
            [[instances.contact_flows]]
            id = "f"
            name = "F"
            queue = "missing"
            "#,
        )
        .unwrap_err();
        assert!(
            err.0.contains("instances[0].contact_flows[0].queue"),
            "{}",
            err.0
        );
    }

    #[test]
    fn a_trusted_proxy_passes_on_the_client_address() {
        let config = Config::parse("trusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]").unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let via = |peer: &str, lines: &[&str]| config.client_address(ip(peer), lines);
        assert_eq!(via("10.0.0.1", &["203.0.113.7"]), ip("203.0.113.7"));
        // Hops are read from the right; a client cannot hide behind a forged leftmost entry.
        assert_eq!(
            via("10.0.0.1", &["1.2.3.4, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // A proxy that adds its own header line: the client's forged line comes first.
        assert_eq!(
            via("10.0.0.1", &["1.2.3.4", "203.0.113.7"]),
            ip("203.0.113.7")
        );
        // Garbage ends the walk at the last trusted hop, never at what lies left of it.
        assert_eq!(via("10.0.0.1", &["1.2.3.4, junk"]), ip("10.0.0.1"));
        assert_eq!(via("192.0.2.9", &["203.0.113.7"]), ip("192.0.2.9"));
        assert_eq!(via("10.0.0.1", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn an_approved_origin_is_an_origin_and_nothing_that_could_extend_a_header() {
        let ok = Config::parse(
            "[ccp]\napproved_origins = [\"https://crm.example.com\", \"http://localhost:*\", \"*\"]",
        );
        assert!(ok.is_ok(), "{ok:?}");
        for bad in [
            "crm.example.com",
            "https://crm.example.com/app",
            "https://a.example; script-src *",
            "https://",
            "ftp://x.example",
        ] {
            let err = Config::parse(&format!("[ccp]\napproved_origins = [\"{bad}\"]")).unwrap_err();
            assert!(
                err.0.contains("ccp.approved_origins[0]"),
                "{bad}: {}",
                err.0
            );
        }
    }

    #[test]
    fn hours_of_operation_name_a_real_time_zone_and_queues_name_real_hours() {
        let instance = |zone: &str, queue_hours: &str| {
            format!(
                r#"
                [[instances]]
                id = "i"
                [[instances.hours_of_operation]]
                id = "office"
                name = "Office"
                time_zone = "{zone}"
                config = [{{ day = "MONDAY", start = "09:00", end = "17:00" }}]
                [[instances.queues]]
                id = "q"
                name = "Q"
                hours = "{queue_hours}"
                "#
            )
        };
        let config = Config::parse(&instance("Europe/Berlin", "office")).unwrap();
        assert!(config.instances[0].hours("office").is_some());
        let err = Config::parse(&instance("Mars/Olympus", "office")).unwrap_err();
        assert!(
            err.0.contains("hours_of_operation[0].time_zone"),
            "{}",
            err.0
        );
        let err = Config::parse(&instance("UTC", "nights")).unwrap_err();
        assert!(err.0.contains("queues[0].hours"), "{}", err.0);
        let bad_time = instance("UTC", "office").replace("17:00", "5pm");
        let err = Config::parse(&bad_time).unwrap_err();
        assert!(err.0.contains("config[0].end"), "{}", err.0);
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::parse("").unwrap();
        assert_eq!(
            config.sqlite_path(),
            Some("switchboard-data/switchboard.db")
        );
        assert_eq!(config.limits.sockets_per_participant, 5);
    }
}
