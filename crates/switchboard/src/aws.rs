//! How Switchboard configures its AWS SDK clients (SNS for streaming; Lambda and Lex V2 for
//! flows): a region, optionally another endpoint (a local stand-in such as moto) and keys from
//! the configuration, and otherwise AWS's default credential chain, asked on first use. The
//! callers retry (or take an error branch) on their own, so the SDK does not.

use std::time::Duration;

/// An AWS service's endpoint and keys, when the configuration gives them.
#[derive(Debug, Clone, Default)]
pub struct Access<'a> {
    pub endpoint_url: Option<&'a str>,
    /// Access key id and secret.
    pub keys: Option<(&'a str, &'a str)>,
}

/// The SDK configuration for a client of `region`, each call bounded by `timeout`.
pub async fn sdk_config(
    access: Access<'_>,
    region: &str,
    timeout: Duration,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .build(),
        );
    if let Some(url) = access.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((id, secret)) = access.keys {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id,
            secret,
            None,
            None,
            "switchboard-config",
        ));
    }
    loader.load().await
}
