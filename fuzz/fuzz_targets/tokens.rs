//! Tokens a client hands back: participant, connection and agent tokens, GetTranscript's and the
//! List operations' NextTokens. Any text must be refused or read without panicking; a token this
//! server minted must read back as the claims it was minted with.
//!
//! Input: one byte choosing what is read, then the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::api::connect_agents::decode_list_token;
use switchboard::chat::tokens::{Claims, TokenKind, Tokens};
use switchboard::chat::transcript::decode_token;
use time::macros::datetime;

const KINDS: [TokenKind; 4] = [
    TokenKind::Participant,
    TokenKind::Connection,
    TokenKind::WebSocket,
    TokenKind::Agent,
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let tokens = Tokens::new(b"fuzz-signing-key".to_vec());
    let now = datetime!(2026-11-30 12:00 UTC);
    match which % 4 {
        0 => {
            for kind in KINDS {
                assert!(
                    tokens.verify(&text, kind, now).is_none(),
                    "a forged token verified"
                );
            }
        }
        1 => {
            let _ = decode_token(&text, "contact-1");
        }
        2 => {
            if let Some(offset) = decode_list_token(&text, 50) {
                assert!(offset <= 50);
            }
        }
        _ => {
            // Claims of any text (the server never puts `|` in an id) survive a round trip.
            let mut parts = text.splitn(2, '\u{1}');
            let participant_id = parts.next().unwrap_or_default().replace('|', "");
            let contact_id = parts.next().unwrap_or_default().replace('|', "");
            let kind = KINDS[usize::from(which / 4) % KINDS.len()];
            let claims = Claims {
                kind,
                participant_id,
                contact_id,
                expires_at: None,
            };
            let token = tokens.mint(&claims);
            assert_eq!(tokens.verify(&token, kind, now), Some(claims));
        }
    }
});
