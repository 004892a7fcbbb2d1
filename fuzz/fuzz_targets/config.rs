//! The TOML configuration (`switchboard check-config` and `serve --config`): any text is a valid
//! configuration or a clear error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
});
