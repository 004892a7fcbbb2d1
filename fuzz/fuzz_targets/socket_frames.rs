//! What a participant sends on its WebSocket: any text is read as one frame (or refused) without
//! panicking. (The agent socket reads nothing a client sends: it only pushes.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::gateway::frame::{parse, ClientFrame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let ClientFrame::Subscription { topics, .. } = parse(text) {
        assert!(topics.len() <= text.len());
    }
});
