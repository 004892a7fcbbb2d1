//! Functions flows call with InvokeLambdaFunction that are not AWS Lambda: HTTP endpoints a team
//! runs itself, named by `arn:switchboard:function:REGION:ACCOUNT:NAME`; and bots of the same
//! shape, named by `arn:switchboard:bot:REGION:ACCOUNT:NAME` (docs/flows.md).

use std::collections::HashSet;

use serde::Deserialize;

use super::ConfigError;

/// Where flows reach an AWS service (Lambda, Lex V2): another endpoint than AWS's, and keys;
/// without keys, AWS's default credential chain.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsService {
    /// Another endpoint than AWS's (a local stand-in).
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Lex V2 only: the bots' locale (Amazon Connect's default, `en_US`, when not given).
    pub locale_id: Option<String>,
}

impl AwsService {
    /// The endpoint and keys, as the SDK clients take them.
    pub fn access(&self) -> crate::aws::Access<'_> {
        crate::aws::Access {
            endpoint_url: self.endpoint_url.as_deref(),
            keys: self
                .access_key_id
                .as_deref()
                .zip(self.secret_access_key.as_deref()),
        }
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let bad = |member: &str, why: &str| {
            Err(ConfigError(format!(
                "invalid value for `{key}.{member}`: {why}"
            )))
        };
        if let Some(url) = &self.endpoint_url {
            if reqwest::Url::parse(url).is_err() {
                return bad(
                    "endpoint_url",
                    "must be a URL such as http://127.0.0.1:5000",
                );
            }
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad(
                "access_key_id",
                "give both access_key_id and secret_access_key, or neither",
            );
        }
        Ok(())
    }
}

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
