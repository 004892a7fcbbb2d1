//! The rest-json input validation: the bodies of StartChatContact and GetTranscript (the two
//! with rules between members) read by the handlers' own readers, and the generic reader driven
//! through every accessor the handlers use, against any bytes. A reader may refuse; it must
//! never panic, and what it accepts must be within the limits it was given.
//!
//! Input: one byte choosing the reader, then the body.

#![no_main]

use awsproto::json::Input;
use awsproto::ApiError;
use libfuzzer_sys::fuzz_target;
use switchboard::api::connect::read_start_chat;
use switchboard::api::participant::read_transcript_query;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(chat) = read_start_chat(body) {
                assert!((1..=256).contains(&chat.display_name.chars().count()));
                assert!(chat.instance_id.chars().count() <= 100);
                if let Some(minutes) = chat.duration_minutes {
                    assert!((60..=10080).contains(&minutes));
                }
            }
        }
        1 => {
            if let Ok((_, query)) = read_transcript_query(body) {
                assert!(query.max_results.is_none_or(|n| n <= 100));
            }
        }
        _ => every_accessor(body),
    }
});

/// Every kind of member a model shape has, read from the body's top level.
fn every_accessor(body: &[u8]) {
    let Ok(mut i) = Input::parse(body, ApiError::validation) else {
        return;
    };
    if let Some(s) = i.string("S", 1, 8) {
        assert!((1..=8).contains(&s.chars().count()));
    }
    let _ = i.required_string("R", 0, 3);
    let _ = i.enumeration("E", &["A", "B"]);
    if let Some(n) = i.integer("N", -5, 5) {
        assert!((-5..=5).contains(&n));
    }
    let _ = i.boolean("B");
    if let Some(list) = i.string_list("L", (0, 3), (1, 4)) {
        assert!(list.len() <= 3);
    }
    let _ = i.enum_list("EL", (1, 2), &["X", "Y"]);
    if let Some(map) = i.string_map("M", (1, 4), (0, 4)) {
        assert!(map.keys().all(|k| (1..=4).contains(&k.chars().count())));
    }
    let _ = i.raw("Raw");
    let _ = i.object("O", |o| o.string("Inner", 1, 2));
    let _ = i.required_object("RO", |o| o.integer("I", 0, 1));
    let _ = i.object_list("OL", (0, 2), |o| o.enumeration("K", &["A"]));
    let _ = i.has("H");
    let _ = i.finish();
}
