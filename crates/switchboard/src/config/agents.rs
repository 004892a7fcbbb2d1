//! The agent side of the configuration: the users who sign in to the agent workspace, the routing
//! profiles that say which queues an agent serves and how many chats at once, the custom agent
//! statuses, and the routing timers. Checked at start like the rest of the file, with messages
//! that name the offending key.

use std::collections::HashSet;

use serde::Deserialize;
use uuid::Uuid;

use super::{ConfigError, Instance};

/// A person who signs in to the agent workspace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Stable user id. When left out it is derived from the instance and the username, so it
    /// stays the same across restarts.
    #[serde(default)]
    pub id: String,
    pub username: String,
    /// The name customers see in the chat; the username when left out.
    #[serde(default)]
    pub display_name: String,
    /// An argon2 hash of the password, as printed by `switchboard user hash`.
    pub password_hash: String,
    /// Id of a routing profile of the same instance.
    pub routing_profile: String,
    /// Whether the workspace shows this user the supervisor view of queues and agents.
    #[serde(default)]
    pub supervisor: bool,
    /// Whether the user takes chats (the default). A user who only supervises sets it to
    /// false: they still sign in to the workspace's supervisor view, but are never offered a
    /// chat, cannot go Available, and a Streams CCP answers them `access_denied`.
    #[serde(default = "default_takes_chats")]
    pub takes_chats: bool,
}

fn default_takes_chats() -> bool {
    true
}

/// Which queues an agent serves, in what order, and how many chats at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingProfile {
    pub id: String,
    pub name: String,
    /// Chats an agent of this profile handles at once, 1 to 10 (Amazon's range).
    #[serde(default = "default_chat_concurrency")]
    pub chat_concurrency: u32,
    /// Offers are accepted on the agent's behalf as soon as they are made.
    #[serde(default)]
    pub auto_accept: bool,
    #[serde(default)]
    pub queues: Vec<ProfileQueue>,
}

/// One queue of a routing profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileQueue {
    /// Id of a queue of the same instance.
    pub queue: String,
    /// 1 (first) to 99: an agent is offered the oldest contact of the best-priority queue that
    /// has one ready.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Seconds a contact must have waited before agents of this profile are offered it, 0 to 9999.
    #[serde(default)]
    pub delay_seconds: u32,
}

/// A status an agent may choose besides the built-in `Available` and `Offline`, such as `Break`.
/// Agents in a custom status are not offered contacts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// Stable id; derived from the instance and the name when left out.
    #[serde(default)]
    pub id: String,
    pub name: String,
}

/// Routing timers, shared by every instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// How long an agent has to accept an offer before it counts as missed.
    pub offer_timeout_seconds: u32,
    /// How long a queued customer may have no open socket before the chat is ended.
    pub customer_gone_seconds: u32,
    /// In a cluster: how long the node routing an instance holds that right without renewing
    /// it, so how long routing waits after that node dies before another takes over.
    pub lease_seconds: u32,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            offer_timeout_seconds: 30,
            customer_gone_seconds: 120,
            lease_seconds: 10,
        }
    }
}

fn default_chat_concurrency() -> u32 {
    1
}
fn default_priority() -> u32 {
    1
}

/// Names the built-in statuses take; custom ones may not reuse them.
pub const BUILT_IN_STATUSES: [&str; 2] = ["Available", "Offline"];

/// Where derived ids come from: a fixed namespace, so the same names give the same ids anywhere.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b0e_93c4_4d1e_9a57_5b1e_0c3d_7a21);

/// A stable id for something named `name` of kind `kind` in instance `instance`.
pub fn derived_id(instance: &str, kind: &str, name: &str) -> String {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{instance}/{kind}/{name}").as_bytes(),
    )
    .to_string()
}

/// What kind of status an agent may choose, as Amazon Connect's AgentStatus types name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Available: offered chats.
    Routable,
    /// A configured status (Break, Lunch...): signed in, not offered chats.
    Custom,
    Offline,
}

impl StatusKind {
    /// The AgentStatus type of the Connect API.
    pub fn connect_type(self) -> &'static str {
        match self {
            StatusKind::Routable => "ROUTABLE",
            StatusKind::Custom => "CUSTOM",
            StatusKind::Offline => "OFFLINE",
        }
    }
}

/// One status an agent of an instance may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChoice {
    pub id: String,
    pub name: String,
    pub kind: StatusKind,
}

impl Instance {
    /// The id of a built-in status (`Available`, `Offline`) of this instance.
    pub fn built_in_status_id(&self, name: &str) -> String {
        derived_id(&self.id, "agent-status", name)
    }

    /// Every status an agent may choose, in the order agents see them: Available, the
    /// configured statuses, Offline.
    pub fn statuses(&self) -> Vec<StatusChoice> {
        let built_in = |name: &str, kind| StatusChoice {
            id: self.built_in_status_id(name),
            name: name.to_string(),
            kind,
        };
        let mut all = vec![built_in("Available", StatusKind::Routable)];
        all.extend(self.agent_statuses.iter().map(|s| StatusChoice {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: StatusKind::Custom,
        }));
        all.push(built_in("Offline", StatusKind::Offline));
        all
    }

    /// Fills in the ids left out of users and statuses, and display names left out of users.
    pub(super) fn derive_ids(&mut self) {
        for user in &mut self.users {
            if user.id.is_empty() {
                user.id = derived_id(&self.id, "user", &user.username);
            }
            if user.display_name.is_empty() {
                user.display_name = user.username.clone();
            }
        }
        for status in &mut self.agent_statuses {
            if status.id.is_empty() {
                status.id = derived_id(&self.id, "agent-status", &status.name);
            }
        }
        // A quick connect may name its user by username: it is kept by id.
        for quick in &mut self.quick_connects {
            if let Some(user) = &mut quick.user {
                if let Some(named) = self.users.iter().find(|u| u.username == *user) {
                    *user = named.id.clone();
                }
            }
        }
    }

    pub fn routing_profile(&self, id: &str) -> Option<&RoutingProfile> {
        self.routing_profiles.iter().find(|p| p.id == id)
    }

    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    /// Checks the agent side of one instance; `at` is its key path, such as `instances[0]`.
    pub(super) fn validate_agents(
        &self,
        at: &str,
        queue_ids: &HashSet<&String>,
    ) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| {
            Err(ConfigError(format!("invalid value for `{key}`: {why}")))
        };
        let mut profile_ids = HashSet::new();
        for (j, profile) in self.routing_profiles.iter().enumerate() {
            let at = format!("{at}.routing_profiles[{j}]");
            if profile.id.is_empty() || !profile_ids.insert(&profile.id) {
                return bad(
                    format!("{at}.id"),
                    format!("'{}' is empty or appears twice", profile.id),
                );
            }
            if !(1..=10).contains(&profile.chat_concurrency) {
                return bad(format!("{at}.chat_concurrency"), "must be 1 to 10".into());
            }
            let mut served = HashSet::new();
            for (k, entry) in profile.queues.iter().enumerate() {
                let at = format!("{at}.queues[{k}]");
                if !queue_ids.contains(&entry.queue) {
                    return bad(
                        format!("{at}.queue"),
                        format!("no queue with id '{}' in this instance", entry.queue),
                    );
                }
                if !served.insert(&entry.queue) {
                    return bad(
                        format!("{at}.queue"),
                        format!("'{}' appears twice in this profile", entry.queue),
                    );
                }
                if !(1..=99).contains(&entry.priority) {
                    return bad(format!("{at}.priority"), "must be 1 to 99".into());
                }
                if entry.delay_seconds > 9999 {
                    return bad(format!("{at}.delay_seconds"), "must be 0 to 9999".into());
                }
            }
        }
        let mut usernames = HashSet::new();
        let mut user_ids = HashSet::new();
        for (j, user) in self.users.iter().enumerate() {
            let at = format!("{at}.users[{j}]");
            let username_ok = (1..=100).contains(&user.username.len())
                && user
                    .username
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
            if !username_ok {
                return bad(
                    format!("{at}.username"),
                    format!(
                        "'{}' must be 1 to 100 letters, digits or _ - . @",
                        user.username
                    ),
                );
            }
            if !usernames.insert(&user.username) {
                return bad(
                    format!("{at}.username"),
                    format!("'{}' appears twice", user.username),
                );
            }
            if !user_ids.insert(&user.id) {
                return bad(format!("{at}.id"), format!("'{}' appears twice", user.id));
            }
            if user.display_name.chars().count() > 256 {
                return bad(
                    format!("{at}.display_name"),
                    "must be at most 256 characters".into(),
                );
            }
            if let Err(e) = argon2::PasswordHash::new(&user.password_hash) {
                return bad(
                    format!("{at}.password_hash"),
                    format!("not a password hash ({e}); make one with `switchboard user hash`"),
                );
            }
            if self.routing_profile(&user.routing_profile).is_none() {
                return bad(
                    format!("{at}.routing_profile"),
                    format!(
                        "no routing profile with id '{}' in this instance",
                        user.routing_profile
                    ),
                );
            }
        }
        let mut names = HashSet::new();
        for (j, status) in self.agent_statuses.iter().enumerate() {
            let at = format!("{at}.agent_statuses[{j}]");
            let reserved = BUILT_IN_STATUSES
                .iter()
                .any(|b| b.eq_ignore_ascii_case(&status.name));
            if status.name.trim().is_empty() || status.name.len() > 127 || reserved {
                return bad(
                    format!("{at}.name"),
                    format!(
                        "'{}' must be 1 to 127 characters and not a built-in status (Available, Offline)",
                        status.name
                    ),
                );
            }
            if !names.insert(status.name.to_lowercase()) {
                return bad(
                    format!("{at}.name"),
                    format!("'{}' appears twice", status.name),
                );
            }
        }
        Ok(())
    }
}

impl Routing {
    /// `lease_seconds`, as a duration.
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.lease_seconds))
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError(format!(
                "invalid value for `routing.{key}`: {why}"
            )))
        };
        if !(5..=3600).contains(&self.offer_timeout_seconds) {
            return bad("offer_timeout_seconds", "must be 5 to 3600");
        }
        if !(5..=86_400).contains(&self.customer_gone_seconds) {
            return bad("customer_gone_seconds", "must be 5 to 86400");
        }
        if !(2..=300).contains(&self.lease_seconds) {
            return bad("lease_seconds", "must be 2 to 300");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$zpQ1VJ4N6e0xVRaGQw8c3BfmyrTlUcZAVKuS0WmDmpA";

    fn with_agents(extra: &str) -> String {
        format!(
            r#"
            [[instances]]
            id = "i"
            [[instances.queues]]
            id = "q"
            name = "Q"
            [[instances.routing_profiles]]
            id = "p"
            name = "P"
            chat_concurrency = 3
            queues = [{{ queue = "q", priority = 2, delay_seconds = 5 }}]
            {extra}
            "#
        )
    }

    #[test]
    fn users_get_stable_ids_and_display_names() {
        let text = with_agents(&format!(
            "[[instances.users]]\nusername = \"ana\"\npassword_hash = \"{HASH}\"\nrouting_profile = \"p\"\n\
             [[instances.agent_statuses]]\nname = \"Break\""
        ));
        let a = Config::parse(&text).unwrap();
        let b = Config::parse(&text).unwrap();
        let user = &a.instances[0].users[0];
        assert_eq!(user.display_name, "ana");
        assert_eq!(user.id, b.instances[0].users[0].id);
        assert_eq!(
            uuid::Uuid::parse_str(&user.id).unwrap().get_version_num(),
            5
        );
        assert!(!a.instances[0].agent_statuses[0].id.is_empty());
        let profile = &a.instances[0].routing_profiles[0];
        assert_eq!(profile.chat_concurrency, 3);
        assert_eq!(profile.queues[0].priority, 2);
        assert!(!profile.auto_accept);
    }

    #[test]
    fn bad_agent_settings_name_their_key() {
        let cases = [
            (
                "[[instances.users]]\nusername = \"ana\"\npassword_hash = \"secret\"\nrouting_profile = \"p\"".to_string(),
                "instances[0].users[0].password_hash",
            ),
            (
                format!("[[instances.users]]\nusername = \"ana\"\npassword_hash = \"{HASH}\"\nrouting_profile = \"nope\""),
                "instances[0].users[0].routing_profile",
            ),
            (
                format!("[[instances.users]]\nusername = \"a b\"\npassword_hash = \"{HASH}\"\nrouting_profile = \"p\""),
                "instances[0].users[0].username",
            ),
            (
                "[[instances.agent_statuses]]\nname = \"available\"".to_string(),
                "instances[0].agent_statuses[0].name",
            ),
            (
                "[[instances.routing_profiles]]\nid = \"p2\"\nname = \"P2\"\nchat_concurrency = 11".to_string(),
                "instances[0].routing_profiles[1].chat_concurrency",
            ),
            (
                "[[instances.routing_profiles]]\nid = \"p2\"\nname = \"P2\"\nqueues = [{ queue = \"x\" }]".to_string(),
                "instances[0].routing_profiles[1].queues[0].queue",
            ),
            (
                "[[instances.routing_profiles]]\nid = \"p2\"\nname = \"P2\"\nqueues = [{ queue = \"q\", priority = 0 }]".to_string(),
                "instances[0].routing_profiles[1].queues[0].priority",
            ),
        ];
        for (extra, key) in cases {
            let err = Config::parse(&with_agents(&extra)).unwrap_err();
            assert!(err.0.contains(key), "expected {key} in: {}", err.0);
        }
        let err = Config::parse("[routing]\noffer_timeout_seconds = 1").unwrap_err();
        assert!(err.0.contains("routing.offer_timeout_seconds"), "{}", err.0);
    }
}
