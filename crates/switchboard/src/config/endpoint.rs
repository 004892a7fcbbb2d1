//! Streaming endpoint ARNs: which kinds this configuration accepts, and the rules
//! StartContactStreaming (and a flow's streaming block) apply to them before a stream exists. They
//! live with the configuration because every rule but the syntax is a fact of it: the region, the
//! account, the webhooks configured.
//!
//! - `arn:aws:sns:REGION:ACCOUNT:TOPIC`: a standard Amazon SNS topic in the instance's region
//!   (it may belong to another account). FIFO topics are refused, as Amazon Connect refuses them.
//! - `arn:switchboard:webhook:REGION:ACCOUNT:NAME`: a webhook configured under
//!   `[[streaming.webhooks]]`, in the server's own region and account.

use awsproto::arn::Arn;

use super::Config;

/// Where a stream's items go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    SnsTopic { arn: String },
    Webhook { name: String },
}

impl Endpoint {
    /// The label used in metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::SnsTopic { .. } => "sns",
            Endpoint::Webhook { .. } => "webhook",
        }
    }
}

/// Parses and checks an endpoint ARN against the server's configuration; the error is the
/// message of an InvalidRequestException.
pub fn parse(arn: &str, config: &Config) -> Result<Endpoint, String> {
    if !arn.starts_with("arn:") {
        return Err(format!("'{arn}' is not an ARN"));
    }
    let Some(Arn {
        partition,
        service,
        region,
        account,
        resource,
    }) = Arn::parse(arn)
    else {
        return Err(format!(
            "'{arn}' is not an ARN of an SNS topic (arn:aws:sns:REGION:ACCOUNT:TOPIC) \
             or of a webhook (arn:switchboard:webhook:REGION:ACCOUNT:NAME)"
        ));
    };
    let same_region = || {
        if region == config.region {
            Ok(())
        } else {
            Err(format!(
                "The streaming endpoint must be in the instance's region {}, not '{region}'",
                config.region
            ))
        }
    };
    match (partition, service) {
        (p, "sns") if p.starts_with("aws") => {
            same_region()?;
            if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("'{account}' in '{arn}' is not an account id"));
            }
            if resource.ends_with(".fifo") {
                return Err(
                    "Only standard SNS topics can receive chat streaming; FIFO topics are not supported"
                        .into(),
                );
            }
            let name_ok = (1..=256).contains(&resource.len())
                && resource
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !name_ok {
                return Err(format!("'{resource}' is not an SNS topic name"));
            }
            Ok(Endpoint::SnsTopic {
                arn: arn.to_string(),
            })
        }
        ("switchboard", "webhook") => {
            same_region()?;
            if account != config.account_id {
                return Err(format!(
                    "A webhook ARN must name this server's account {}, not '{account}'",
                    config.account_id
                ));
            }
            if config.streaming.webhook(resource).is_none() {
                return Err(format!(
                    "No webhook named '{resource}' is configured under [[streaming.webhooks]]"
                ));
            }
            Ok(Endpoint::Webhook {
                name: resource.to_string(),
            })
        }
        _ => Err(format!(
            "'{arn}' names neither an SNS topic (arn:aws:sns:...) nor a webhook \
             (arn:switchboard:webhook:...)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            r#"
            region = "us-west-2"
            account_id = "123456789012"
            [[streaming.webhooks]]
            name = "crm"
            url = "http://127.0.0.1:9/hook"
            secret = "0123456789abcdef"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn accepts_standard_topics_of_any_account_in_the_region() {
        let c = config();
        assert_eq!(
            parse("arn:aws:sns:us-west-2:999999999999:chat-stream", &c),
            Ok(Endpoint::SnsTopic {
                arn: "arn:aws:sns:us-west-2:999999999999:chat-stream".into()
            })
        );
    }

    #[test]
    fn refuses_fifo_topics_other_regions_and_malformed_arns() {
        let c = config();
        let fifo = parse("arn:aws:sns:us-west-2:123456789012:chat.fifo", &c).unwrap_err();
        assert!(fifo.contains("FIFO"), "{fifo}");
        let region = parse("arn:aws:sns:eu-west-1:123456789012:chat", &c).unwrap_err();
        assert!(region.contains("us-west-2"), "{region}");
        assert!(parse("arn:aws:sns:us-west-2:123:chat", &c).is_err());
        assert!(parse("arn:aws:sqs:us-west-2:123456789012:chat", &c).is_err());
        assert!(parse("not-an-arn", &c).is_err());
        assert!(parse("arn:aws:sns:us-west-2:123456789012:bad/name", &c).is_err());
    }

    #[test]
    fn webhooks_must_be_configured_and_in_this_account() {
        let c = config();
        assert_eq!(
            parse("arn:switchboard:webhook:us-west-2:123456789012:crm", &c),
            Ok(Endpoint::Webhook { name: "crm".into() })
        );
        assert!(parse("arn:switchboard:webhook:us-west-2:123456789012:other", &c).is_err());
        assert!(parse("arn:switchboard:webhook:us-west-2:210987654321:crm", &c).is_err());
        assert!(parse("arn:switchboard:webhook:us-east-1:123456789012:crm", &c).is_err());
    }
}
