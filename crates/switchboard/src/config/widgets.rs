//! Chat widgets in the configuration: what lets a web page start a chat without AWS credentials
//! (Switchboard's replacement for the "start chat" Lambda of an Amazon Connect deployment).

use std::collections::HashSet;

use serde::Deserialize;

use super::{ConfigError, Instance};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    /// Public id, named by the page (`data-widget-id`); unique across the whole server.
    pub id: String,
    /// Id of a contact flow of the same instance: chats started by the widget run through it.
    pub contact_flow: String,
    /// Origins (`https://shop.example.com`) whose pages may start chats; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Longest display name a customer may give, 1 to 256 (Amazon's limit).
    #[serde(default = "default_display_name_max")]
    pub display_name_max: usize,
    /// The name used when the customer gives none; when left out a name is required.
    #[serde(default)]
    pub default_display_name: Option<String>,
    /// When set, a chat must carry a customer id and an HMAC-SHA256 of it under this secret
    /// (hex), computed by the site's backend: only signed-in customers of the site can chat, and
    /// the customer id reaches the agent as verified.
    #[serde(default)]
    pub identity_secret: Option<String>,
    /// Chats one client address may start per minute.
    #[serde(default = "default_chats_per_minute")]
    pub chats_per_minute: u32,
    /// A streaming endpoint (SNS topic or webhook ARN) every chat of this widget streams to
    /// from its start, as ChatStreamingConfiguration on StartChatContact would.
    #[serde(default)]
    pub streaming_endpoint: Option<String>,
}

fn default_display_name_max() -> usize {
    64
}
fn default_chats_per_minute() -> u32 {
    10
}

impl Widget {
    /// Whether a page of `origin` may use this widget.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/') == origin)
    }
}

impl Instance {
    /// Checks the instance's widgets; `ids` collects widget ids across instances.
    pub(super) fn validate_widgets<'a>(
        &'a self,
        at: &str,
        ids: &mut HashSet<&'a String>,
    ) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| {
            Err(ConfigError(format!("invalid value for `{key}`: {why}")))
        };
        for (j, w) in self.widgets.iter().enumerate() {
            let at = format!("{at}.widgets[{j}]");
            let id_ok = (1..=100).contains(&w.id.len())
                && w.id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !id_ok || !ids.insert(&w.id) {
                return bad(
                    format!("{at}.id"),
                    format!(
                        "'{}' must be 1 to 100 letters, digits, - or _, unique across instances",
                        w.id
                    ),
                );
            }
            if self.contact_flow(&w.contact_flow).is_none() {
                return bad(
                    format!("{at}.contact_flow"),
                    format!(
                        "no contact flow with id '{}' in this instance",
                        w.contact_flow
                    ),
                );
            }
            if w.allowed_origins.is_empty() {
                return bad(
                    format!("{at}.allowed_origins"),
                    "list at least one origin such as https://shop.example.com, or \"*\"".into(),
                );
            }
            for (k, origin) in w.allowed_origins.iter().enumerate() {
                if !super::is_origin(origin) {
                    return bad(
                        format!("{at}.allowed_origins[{k}]"),
                        format!("'{origin}' is not an origin such as https://shop.example.com"),
                    );
                }
            }
            if !(1..=256).contains(&w.display_name_max) {
                return bad(format!("{at}.display_name_max"), "must be 1 to 256".into());
            }
            if let Some(name) = &w.default_display_name {
                if name.trim().is_empty() || name.chars().count() > w.display_name_max {
                    return bad(
                        format!("{at}.default_display_name"),
                        "must be non-empty and within display_name_max".into(),
                    );
                }
            }
            if w.identity_secret.as_ref().is_some_and(|s| s.len() < 16) {
                return bad(
                    format!("{at}.identity_secret"),
                    "must be at least 16 characters".into(),
                );
            }
            if !(1..=10_000).contains(&w.chats_per_minute) {
                return bad(
                    format!("{at}.chats_per_minute"),
                    "must be 1 to 10000".into(),
                );
            }
        }
        Ok(())
    }
}
