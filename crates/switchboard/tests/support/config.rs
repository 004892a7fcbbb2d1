//! The configuration every test server starts from, shared by the test tiers (the in-process
//! handler tests and the real-server integration tests include this file): one instance with one
//! queue and one flow, one access key.

pub const ACCESS_KEY: &str = "AKIDSWITCHBOARDTEST";
pub const SECRET_KEY: &str = "switchboard-test-secret";
pub const REGION: &str = "us-east-1";
pub const INSTANCE: &str = "inst-1";
pub const FLOW: &str = "flow-1";
pub const QUEUE: &str = "queue-1";

/// The test configuration on the store at `storage_url`.
pub fn config_text_for(storage_url: &str, extra: &str, instance_extra: &str) -> String {
    format!(
        r#"
region = "{REGION}"
storage = "{storage_url}"
{extra}

[[access_keys]]
id = "{ACCESS_KEY}"
secret = "{SECRET_KEY}"

[[instances]]
id = "{INSTANCE}"

[[instances.queues]]
id = "{QUEUE}"
name = "Support"

[[instances.contact_flows]]
id = "{FLOW}"
name = "Inbound chat"
queue = "{QUEUE}"

{instance_extra}
"#
    )
}
