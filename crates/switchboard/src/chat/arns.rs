//! The ARNs of an instance and its resources: how Switchboard writes them, and how it reads a
//! reference that may be an id or an ARN, as Amazon Connect accepts wherever a member is "the
//! identifier or the ARN" (`InstanceId`, queue, user and routing-profile references).
//!
//! Rules for a reference:
//! - text that does not start with `arn:` is an id, looked up as it is;
//! - an ARN must be well formed and of this kind:
//!   `arn:aws:connect:REGION:ACCOUNT:instance/ID` for an instance,
//!   `arn:aws:connect:REGION:ACCOUNT:instance/ID/KIND/ID` for a resource in one;
//!   anything else is [`Refusal::Malformed`] (Amazon: "Invalid input for field ...");
//! - its region and account must be this server's, or it is [`Refusal::Elsewhere`] (Amazon
//!   refuses access to another account's or region's resources);
//! - a resource's ARN must be in the instance the request is about, or it is
//!   [`Refusal::OtherInstance`].

use awsproto::arn::Arn;

/// The partition every ARN of this server is in.
const PARTITION: &str = "aws";
const SERVICE: &str = "connect";

/// Writes and reads the ARNs of one server's region and account.
#[derive(Debug, Clone)]
pub struct Arns {
    region: String,
    account: String,
}

/// Why a reference names nothing this server can look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Starts like an ARN but is not an ARN of the kind asked for.
    Malformed,
    /// An ARN of another region or account.
    Elsewhere,
    /// The ARN of a resource in another instance than the request's.
    OtherInstance,
}

impl Arns {
    pub fn new(region: &str, account: &str) -> Self {
        Self {
            region: region.to_string(),
            account: account.to_string(),
        }
    }

    pub fn instance(&self, instance_id: &str) -> String {
        format!(
            "arn:{PARTITION}:{SERVICE}:{}:{}:instance/{instance_id}",
            self.region, self.account
        )
    }

    /// A resource of an instance: `kind` is `queue`, `agent`, `routing-profile`, `agent-state`...
    pub fn resource(&self, instance_id: &str, kind: &str, id: &str) -> String {
        format!("{}/{kind}/{id}", self.instance(instance_id))
    }

    /// The instance id an id-or-ARN reference names.
    pub fn instance_id<'r>(&self, reference: &'r str) -> Result<&'r str, Refusal> {
        let Some(resource) = self.resource_part(reference)? else {
            return Ok(reference);
        };
        match resource.strip_prefix("instance/") {
            Some(id) if is_id(id) => Ok(id),
            _ => Err(Refusal::Malformed),
        }
    }

    /// The id of a resource of `kind` in `instance_id` that an id-or-ARN reference names.
    pub fn resource_id<'r>(
        &self,
        instance_id: &str,
        kind: &str,
        reference: &'r str,
    ) -> Result<&'r str, Refusal> {
        let Some(resource) = self.resource_part(reference)? else {
            return Ok(reference);
        };
        let (instance, rest) = resource
            .strip_prefix("instance/")
            .and_then(|r| r.split_once('/'))
            .ok_or(Refusal::Malformed)?;
        let id = rest
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|id| is_id(instance) && is_id(id))
            .ok_or(Refusal::Malformed)?;
        if instance != instance_id {
            return Err(Refusal::OtherInstance);
        }
        Ok(id)
    }

    /// None for an id; the resource part of an ARN of this server's.
    fn resource_part<'r>(&self, reference: &'r str) -> Result<Option<&'r str>, Refusal> {
        if !reference.starts_with("arn:") {
            return Ok(None);
        }
        let arn = Arn::parse(reference).ok_or(Refusal::Malformed)?;
        if arn.partition != PARTITION || arn.service != SERVICE {
            return Err(Refusal::Malformed);
        }
        if arn.region != self.region || arn.account != self.account {
            return Err(Refusal::Elsewhere);
        }
        Ok(Some(arn.resource))
    }

    /// What to tell a caller whose reference in `field` was refused.
    pub fn explain(&self, refusal: Refusal, field: &str, reference: &str) -> String {
        match refusal {
            Refusal::Malformed => format!(
                "Invalid input for field {field}: '{reference}' is neither an id nor an ARN of the \
                 form arn:{PARTITION}:{SERVICE}:REGION:ACCOUNT:instance/ID..."
            ),
            Refusal::Elsewhere => format!(
                "{reference} is not in this server's region and account ({}, {}); {field} \
                 cannot name another account's or region's resources",
                self.region, self.account
            ),
            Refusal::OtherInstance => format!(
                "{reference} belongs to another instance than the one this request is about"
            ),
        }
    }
}

/// One path segment of an ARN's resource: not empty, no further `/`.
fn is_id(text: &str) -> bool {
    !text.is_empty() && !text.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns() -> Arns {
        Arns::new("us-east-1", "123456789012")
    }

    #[test]
    fn an_id_is_taken_as_it_is() {
        assert_eq!(arns().instance_id("inst-1"), Ok("inst-1"));
        // Not an ARN, so an id (that no instance has): never a way to smuggle one in.
        assert_eq!(
            arns().instance_id("not-an-arn-instance/inst-1"),
            Ok("not-an-arn-instance/inst-1")
        );
        assert_eq!(arns().resource_id("inst-1", "queue", "q-1"), Ok("q-1"));
    }

    #[test]
    fn an_arn_of_this_server_names_its_id() {
        let a = arns();
        assert_eq!(a.instance_id(&a.instance("inst-1")), Ok("inst-1"));
        assert_eq!(
            a.resource_id("inst-1", "queue", &a.resource("inst-1", "queue", "q-1")),
            Ok("q-1")
        );
    }

    #[test]
    fn an_arn_of_another_region_or_account_is_elsewhere() {
        let a = arns();
        for arn in [
            "arn:aws:connect:us-west-2:123456789012:instance/inst-1",
            "arn:aws:connect:us-east-1:999999999999:instance/inst-1",
        ] {
            assert_eq!(a.instance_id(arn), Err(Refusal::Elsewhere), "{arn}");
        }
        assert_eq!(
            a.resource_id(
                "inst-1",
                "queue",
                "arn:aws:connect:us-west-2:999999999999:instance/inst-1/queue/q-1"
            ),
            Err(Refusal::Elsewhere)
        );
    }

    #[test]
    fn an_arn_of_another_kind_or_shape_is_malformed() {
        let a = arns();
        for arn in [
            "arn:aws:sns:us-east-1:123456789012:instance/inst-1",
            "arn:aws-cn:connect:us-east-1:123456789012:instance/inst-1",
            "arn:aws:connect:us-east-1:123456789012:instance/",
            "arn:aws:connect:us-east-1:123456789012:instance/inst-1/queue/q-1",
            "arn:aws:connect:us-east-1:123456789012:queue/inst-1",
            "arn:aws:connect:us-east-1:123456789012",
            "arn:",
        ] {
            assert_eq!(a.instance_id(arn), Err(Refusal::Malformed), "{arn}");
        }
        for arn in [
            "arn:aws:connect:us-east-1:123456789012:instance/inst-1",
            "arn:aws:connect:us-east-1:123456789012:instance/inst-1/agent/q-1",
            "arn:aws:connect:us-east-1:123456789012:instance/inst-1/queue/",
            "arn:aws:connect:us-east-1:123456789012:instance/inst-1/queue/q-1/x",
            "arn:aws:connect:us-east-1:123456789012:instance//queue/q-1",
        ] {
            assert_eq!(
                a.resource_id("inst-1", "queue", arn),
                Err(Refusal::Malformed),
                "{arn}"
            );
        }
    }

    #[test]
    fn a_resource_of_another_instance_is_refused() {
        let a = arns();
        let other = a.resource("inst-2", "queue", "q-1");
        assert_eq!(
            a.resource_id("inst-1", "queue", &other),
            Err(Refusal::OtherInstance)
        );
    }
}
