//! Agent sign-in: a username and password checked against the configured argon2 hash give a
//! signed bearer token (no cookies, so the workspace also works embedded in another site's page).
//! Tokens need no lookup to check; signing out records the time, and tokens issued before a
//! user's last sign-out are refused from then on (on every device), across restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use super::password;
use crate::chat::tokens::{Claims, TokenKind, Tokens};
use crate::clock::{from_millis, to_millis};
use crate::cluster::{Cluster, Notice};
use crate::config::{Config, User};
use crate::store::{Store, StoreError};

/// How long a sign-in lasts.
pub const AGENT_TOKEN_LIFETIME: Duration = Duration::hours(12);

/// Who a valid agent token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub instance_id: String,
    pub user_id: String,
}

/// Failed sign-ins allowed per username within [`FAILURE_WINDOW`] before further attempts are
/// refused until the window has passed: password guessing gets a handful of tries per window.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::minutes(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the username or password is wrong")]
    BadCredentials,
    #[error("several instances have a user of that name; say which instance")]
    AmbiguousUser,
    #[error("too many failed sign-ins for this user; try again in {0} seconds")]
    TooManyFailures(i64),
}

pub struct AgentAuth {
    tokens: Tokens,
    store: Arc<dyn Store>,
    sign_outs: Mutex<HashMap<String, OffsetDateTime>>,
    /// Recent failed sign-ins by username: how many, since when.
    failures: Mutex<HashMap<String, (u32, OffsetDateTime)>>,
    /// The other nodes, told of sign-outs, in a cluster.
    cluster: Option<Arc<Cluster>>,
}

impl AgentAuth {
    /// Loads every user's last sign-out from the store.
    pub async fn load(
        tokens: Tokens,
        store: Arc<dyn Store>,
        cluster: Option<Arc<Cluster>>,
    ) -> Result<Self, StoreError> {
        let sign_outs = store.sign_outs().await?.into_iter().collect();
        Ok(Self {
            tokens,
            store,
            sign_outs: Mutex::new(sign_outs),
            failures: Mutex::new(HashMap::new()),
            cluster,
        })
    }

    /// Checks the password (on a blocking thread: argon2 is deliberately slow) and mints a token.
    pub async fn sign_in(
        &self,
        config: &Config,
        instance_id: Option<&str>,
        username: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<(AgentIdentity, User, String, OffsetDateTime), SignInError> {
        // Counted before the (slow) check, so parallel guesses cannot all pass the limit; a
        // successful sign-in clears the count.
        self.count_attempt(username, now)?;
        let mut found = config
            .instances
            .iter()
            .filter(|i| instance_id.is_none_or(|id| i.id == id))
            .filter_map(|i| {
                i.user_by_username(username)
                    .map(|u| (i.id.clone(), u.clone()))
            });
        let candidate = found.next();
        if found.next().is_some() {
            return Err(SignInError::AmbiguousUser);
        }
        // An unknown user costs the same time as a wrong password, so timing tells nothing.
        let stored = candidate
            .as_ref()
            .map(|(_, u)| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
            .await
            .unwrap_or(false);
        let Some((instance_id, user)) = candidate.filter(|_| matches) else {
            return Err(SignInError::BadCredentials);
        };
        self.failures
            .lock()
            .expect("failures lock")
            .remove(&username.to_lowercase());
        if let Some(cluster) = &self.cluster {
            cluster.notify(Notice::SignedIn {
                username: username.to_lowercase(),
            });
        }
        let expires_at = now + AGENT_TOKEN_LIFETIME;
        let token = self.tokens.mint(&Claims {
            kind: TokenKind::Agent,
            participant_id: user.id.clone(),
            contact_id: instance_id.clone(),
            expires_at: Some(expires_at),
        });
        let identity = AgentIdentity {
            instance_id,
            user_id: user.id.clone(),
        };
        Ok((identity, user, token, expires_at))
    }

    /// Counts a sign-in attempt for the username, or refuses it when the username has used up
    /// its attempts within the window.
    fn count_attempt(&self, username: &str, now: OffsetDateTime) -> Result<(), SignInError> {
        let username = username.to_lowercase();
        let mut failures = self.failures.lock().expect("failures lock");
        let entry = current_window(&mut failures, &username, now);
        if entry.0 >= MAX_FAILURES {
            let wait = (entry.1 + FAILURE_WINDOW - now).whole_seconds().max(1);
            return Err(SignInError::TooManyFailures(wait));
        }
        entry.0 += 1;
        if let Some(cluster) = &self.cluster {
            cluster.notify(Notice::SignInAttempt {
                username,
                at_ms: to_millis(now),
            });
        }
        Ok(())
    }

    /// A sign-in attempt another node counted.
    pub fn attempted_elsewhere(&self, username: &str, at_ms: i64) {
        let mut failures = self.failures.lock().expect("failures lock");
        current_window(&mut failures, username, from_millis(at_ms)).0 += 1;
    }

    /// A sign-in another node let through.
    pub fn signed_in_elsewhere(&self, username: &str) {
        self.failures
            .lock()
            .expect("failures lock")
            .remove(username);
    }

    /// The agent a token belongs to, if it is genuine, unexpired and not signed out.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<AgentIdentity> {
        let claims = self.tokens.verify(token, TokenKind::Agent, now)?;
        let issued_at = claims.expires_at? - AGENT_TOKEN_LIFETIME;
        let signed_out = self
            .sign_outs
            .lock()
            .expect("sign-outs lock")
            .get(&claims.participant_id)
            .copied();
        if signed_out.is_some_and(|at| issued_at <= at) {
            return None;
        }
        Some(AgentIdentity {
            instance_id: claims.contact_id,
            user_id: claims.participant_id,
        })
    }

    /// Ends every current sign-in of the user.
    pub async fn sign_out(&self, user_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        self.store.record_sign_out(user_id, now).await?;
        self.signed_out(user_id, now);
        if let Some(cluster) = &self.cluster {
            cluster.notify(Notice::SignedOut {
                user: user_id.to_string(),
                at_ms: to_millis(now),
            });
        }
        Ok(())
    }

    /// The user signed out at `at` (here, or on another node).
    pub fn signed_out(&self, user_id: &str, at: OffsetDateTime) {
        let mut sign_outs = self.sign_outs.lock().expect("sign-outs lock");
        let last = sign_outs.entry(user_id.to_string()).or_insert(at);
        *last = (*last).max(at);
    }

    /// A sign-out another node announced.
    pub fn signed_out_elsewhere(&self, user_id: &str, at_ms: i64) {
        self.signed_out(user_id, from_millis(at_ms));
    }
}

/// The username's attempts in the window that holds `now` (a new window once the last ran out).
fn current_window<'a>(
    failures: &'a mut HashMap<String, (u32, OffsetDateTime)>,
    username: &str,
    now: OffsetDateTime,
) -> &'a mut (u32, OffsetDateTime) {
    // Old entries go once the map grows, so guessing many usernames cannot fill memory.
    if failures.len() > 10_000 {
        failures.retain(|_, (_, since)| now < *since + FAILURE_WINDOW);
    }
    let entry = failures.entry(username.to_string()).or_insert((0, now));
    if now >= entry.1 + FAILURE_WINDOW {
        *entry = (0, now);
    }
    entry
}

/// A real hash of a random password, checked when the username is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| password::hash(&uuid::Uuid::new_v4().to_string()))
}
