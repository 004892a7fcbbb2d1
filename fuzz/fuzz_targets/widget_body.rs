//! The body a web page posts to a widget's start-chat endpoint, for a widget that verifies
//! customer identities and one that does not: any bytes are refused or read within the limits.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard::api::widget::read_start;
use switchboard::config::Config;

const CONFIG: &str = r#"
[[access_keys]]
id = "AKIDFUZZ"
secret = "fuzz-secret"

[[instances]]
id = "inst-1"

[[instances.queues]]
id = "q-1"
name = "Queue"

[[instances.contact_flows]]
id = "flow-1"
name = "Flow"
queue = "q-1"

[[instances.widgets]]
id = "open"
contact_flow = "flow-1"
allowed_origins = ["*"]

[[instances.widgets]]
id = "verified"
contact_flow = "flow-1"
allowed_origins = ["*"]
identity_secret = "the site's secret"
"#;

fn config() -> &'static Config {
    static CONFIG_ONCE: OnceLock<Config> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| Config::parse(CONFIG).expect("the fuzz configuration is valid"))
}

fuzz_target!(|data: &[u8]| {
    for id in ["open", "verified"] {
        let (_, widget) = config().widget(id).expect("configured");
        if let Ok(start) = read_start(data, widget) {
            assert!(!start.display_name.trim().is_empty());
            assert!(start.display_name.chars().count() <= widget.display_name_max);
            if widget.identity_secret.is_none() {
                assert!(start.customer_id.is_none());
            }
        }
    }
});
