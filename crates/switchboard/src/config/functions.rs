//! Functions flows call with InvokeLambdaFunction that are not AWS Lambda: HTTP endpoints a team
//! runs itself, named by `arn:switchboard:function:REGION:ACCOUNT:NAME`; and bots of the same
//! shape, named by `arn:switchboard:bot:REGION:ACCOUNT:NAME` (docs/flows.md).

use std::collections::HashSet;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// The NAME of its ARN.
    pub name: String,
    /// Where the event is POSTed.
    pub url: String,
    /// Key of the HMAC-SHA256 signature sent with each call, as webhooks carry it.
    pub secret: String,
}

/// Checks the functions (or bots: `key` names the list).
pub(super) fn validate(key: &str, functions: &[Function]) -> Result<(), ConfigError> {
    let bad =
        |key: String, why: &str| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
    let mut names = HashSet::new();
    for (i, f) in functions.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let name_ok = (1..=64).contains(&f.name.len())
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !name_ok || !names.insert(&f.name) {
            return bad(
                format!("{at}.name"),
                "must be 1 to 64 letters, digits, - or _, and unique",
            );
        }
        if !(f.url.starts_with("http://") || f.url.starts_with("https://"))
            || reqwest::Url::parse(&f.url).is_err()
        {
            return bad(format!("{at}.url"), "must be an http:// or https:// URL");
        }
        if f.secret.len() < 16 {
            return bad(format!("{at}.secret"), "must be at least 16 characters");
        }
    }
    Ok(())
}
