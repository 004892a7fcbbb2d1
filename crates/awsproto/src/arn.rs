//! Amazon Resource Names as text: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. Only the
//! syntax lives here; which ARNs a request may name (this server's region and account, a resource
//! of the instance asked about) is for the caller to decide.

/// The six fields of an ARN, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the fifth colon (`instance/ID/queue/ID`); it may itself hold colons.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// The ARN `text` spells, if it is one: six colon-separated fields starting with `arn`, with
    /// a partition, a service and a resource (region and account may be empty, as for global
    /// services). Nothing is percent-decoded or trimmed.
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut fields = text.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let arn = Arn {
            partition,
            service,
            region,
            account,
            resource,
        };
        let named = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        (prefix == "arn"
            && named(partition)
            && named(service)
            && (region.is_empty() || named(region))
            && account.bytes().all(|b| b.is_ascii_digit())
            && !resource.is_empty())
        .then_some(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_has_six_fields_and_the_resource_keeps_its_colons() {
        assert_eq!(
            Arn::parse("arn:aws:connect:us-east-1:123456789012:instance/abc/queue/q:1"),
            Some(Arn {
                partition: "aws",
                service: "connect",
                region: "us-east-1",
                account: "123456789012",
                resource: "instance/abc/queue/q:1",
            })
        );
        assert_eq!(
            Arn::parse("arn:aws:iam::123456789012:user/jo").map(|a| a.region),
            Some("")
        );
    }

    #[test]
    fn text_that_only_looks_like_an_arn_is_none() {
        for text in [
            "",
            "arn",
            "arn:aws:connect:us-east-1:123456789012",
            "arn:aws:connect:us-east-1:123456789012:",
            "not-an-arn-instance/abc",
            "ARN:aws:connect:us-east-1:123456789012:instance/abc",
            "arn::connect:us-east-1:123456789012:instance/abc",
            "arn:aws::us-east-1:123456789012:instance/abc",
            "arn:aws:connect:us-east-1:12345678901x:instance/abc",
            "arn:aws:connect:us east 1:123456789012:instance/abc",
        ] {
            assert_eq!(Arn::parse(text), None, "{text}");
        }
    }
}
