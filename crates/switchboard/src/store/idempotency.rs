//! What a retried write means, as pure functions both stores call, and the one name for its
//! outcome: a write whose client token named an earlier write is a replay ([`Replayed`]): it
//! writes nothing and answers what the first attempt answered, or is refused when the retry asks
//! for something else. Whether a stream may start is decided here too, from the contact's
//! streams.

use std::ops::Deref;

use super::{NewStream, StoreError, StoreResult, MAX_ACTIVE_STREAMS};
use crate::model::{Item, Stream};

/// What an idempotent write gives back: what it wrote, or, when its client token named a write
/// made before, what that one made (`replayed`: nothing was written now, so the caller announces
/// nothing again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Replayed<T> {
    /// What this write wrote.
    pub fn new(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    /// What an earlier write with the same client token wrote.
    pub fn replay(value: T) -> Self {
        Self {
            value,
            replayed: true,
        }
    }

    /// Whether this write wrote something (it was not a replay).
    pub fn is_new(&self) -> bool {
        !self.replayed
    }
}

impl<T> Deref for Replayed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// StartContactStreaming retried with a ClientToken that started `earlier`: the same stream, or
/// a conflict when the retry names another endpoint. Shared by both stores.
pub(crate) fn retried_stream(earlier: Stream, new: &NewStream) -> StoreResult<Replayed<Stream>> {
    if earlier.endpoint_arn != new.stream.endpoint_arn {
        return Err(StoreError::StreamConflict(format!(
            "ClientToken was already used to stream this contact to {}",
            earlier.endpoint_arn
        )));
    }
    Ok(Replayed::replay(earlier))
}

/// Whether `new` may join the contact's streams (`streams`: every one it ever had): not the same
/// endpoint twice, at most [`MAX_ACTIVE_STREAMS`] active. `Ok(true)` when the endpoint is new to
/// the contact, so the stream starts with the transcript so far. Shared by both stores.
pub(crate) fn admit_stream(streams: &[Stream], new: &NewStream) -> StoreResult<bool> {
    let arn = &new.stream.endpoint_arn;
    let active: Vec<&Stream> = streams.iter().filter(|s| s.stopped_at.is_none()).collect();
    if let Some(same) = active.iter().find(|s| &s.endpoint_arn == arn) {
        return Err(StoreError::StreamConflict(format!(
            "The contact already streams to {} (StreamingId {})",
            same.endpoint_arn, same.id
        )));
    }
    if active.len() >= MAX_ACTIVE_STREAMS {
        return Err(StoreError::StreamLimit(MAX_ACTIVE_STREAMS));
    }
    Ok(!streams.iter().any(|s| &s.endpoint_arn == arn))
}

/// DisconnectParticipant for a participant who has already left, with the client token of the
/// departure that happened (`earlier_token`): a replay, with nothing to announce; otherwise the
/// participant has left. Shared by both stores.
pub(crate) fn departed_before(
    earlier_token: Option<&str>,
    client_token: Option<&str>,
) -> StoreResult<Replayed<Vec<Item>>> {
    match client_token {
        Some(token) if earlier_token == Some(token) => Ok(Replayed::replay(Vec::new())),
        _ => Err(StoreError::ParticipantLeft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_departure_repeated_with_its_client_token_is_a_replay_and_any_other_is_refused() {
        assert!(departed_before(Some("t"), Some("t")).unwrap().replayed);
        assert!(matches!(
            departed_before(Some("t"), Some("u")),
            Err(StoreError::ParticipantLeft)
        ));
        assert!(matches!(
            departed_before(None, None),
            Err(StoreError::ParticipantLeft)
        ));
        assert!(matches!(
            departed_before(Some("t"), None),
            Err(StoreError::ParticipantLeft)
        ));
    }
}
