//! The bearer credentials of the participant API: participant tokens, connection tokens and the
//! tokens inside WebSocket URLs.
//!
//! Tokens are self-describing and signed (HMAC-SHA256 with a secret kept in the store), so checking
//! one needs no lookup and minting one needs no write: CreateParticipantConnection can be called
//! on every reconnect without touching the disk, and every minted token stays valid until its own
//! expiry. Whether the participant is still on the contact is checked separately, against the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::clock::{from_millis, to_millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// From StartChatContact / CreateParticipant; mints connections for the participant's lifetime.
    Participant,
    /// From CreateParticipantConnection; authenticates the other participant operations.
    Connection,
    /// Inside a WebSocket URL; opens sockets for a short while.
    WebSocket,
    /// An agent's sign-in to the workspace (see `agent::auth`).
    Agent,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Participant => "p",
            TokenKind::Connection => "c",
            TokenKind::WebSocket => "w",
            TokenKind::Agent => "a",
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub kind: TokenKind,
    pub participant_id: String,
    pub contact_id: String,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Clone)]
pub struct Tokens {
    secret: Vec<u8>,
}

impl Tokens {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(payload);
        mac
    }

    pub fn mint(&self, claims: &Claims) -> String {
        let nonce: [u8; 12] = rand::random();
        let payload = format!(
            "v1|{}|{}|{}|{}|{}",
            claims.kind.tag(),
            claims.participant_id,
            claims.contact_id,
            claims.expires_at.map(to_millis).unwrap_or(0),
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claims of a token of `kind` that this server signed and that has not expired.
    pub fn verify(&self, token: &str, kind: TokenKind, now: OffsetDateTime) -> Option<Claims> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.split('|');
        let (Some("v1"), Some(tag), Some(participant_id), Some(contact_id), Some(expiry), Some(_)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if tag != kind.tag() {
            return None;
        }
        let expiry: i64 = expiry.parse().ok()?;
        let expires_at = (expiry != 0).then(|| from_millis(expiry));
        if expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        Some(Claims {
            kind,
            participant_id: participant_id.to_string(),
            contact_id: contact_id.to_string(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn claims(kind: TokenKind, expires_at: Option<OffsetDateTime>) -> Claims {
        Claims {
            kind,
            participant_id: "p1".into(),
            contact_id: "c1".into(),
            expires_at,
        }
    }

    #[test]
    fn round_trips_and_each_mint_is_distinct() {
        let tokens = Tokens::new(b"secret".to_vec());
        let now = OffsetDateTime::now_utc();
        let c = claims(TokenKind::Connection, Some(now + Duration::days(1)));
        let (a, b) = (tokens.mint(&c), tokens.mint(&c));
        assert_ne!(a, b);
        assert_eq!(
            tokens
                .verify(&a, TokenKind::Connection, now)
                .unwrap()
                .participant_id,
            "p1"
        );
        assert_eq!(
            tokens
                .verify(&b, TokenKind::Connection, now)
                .unwrap()
                .contact_id,
            "c1"
        );
    }

    #[test]
    fn rejects_wrong_kind_expired_foreign_and_tampered() {
        let tokens = Tokens::new(b"secret".to_vec());
        let now = OffsetDateTime::now_utc();
        let t = tokens.mint(&claims(
            TokenKind::Connection,
            Some(now + Duration::seconds(10)),
        ));
        assert!(tokens.verify(&t, TokenKind::Participant, now).is_none());
        assert!(tokens
            .verify(&t, TokenKind::Connection, now + Duration::seconds(11))
            .is_none());
        assert!(Tokens::new(b"other".to_vec())
            .verify(&t, TokenKind::Connection, now)
            .is_none());
        let mut tampered = t.clone();
        tampered.insert(3, 'x');
        assert!(tokens
            .verify(&tampered, TokenKind::Connection, now)
            .is_none());
        assert!(tokens
            .verify("garbage", TokenKind::Connection, now)
            .is_none());
    }

    #[test]
    fn participant_tokens_do_not_expire() {
        let tokens = Tokens::new(b"secret".to_vec());
        let t = tokens.mint(&claims(TokenKind::Participant, None));
        let far = OffsetDateTime::now_utc() + Duration::days(3650);
        assert!(tokens.verify(&t, TokenKind::Participant, far).is_some());
    }
}
