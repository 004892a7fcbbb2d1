//! The chat service's two memories: sessions of participants on open chats (so that
//! authenticating a participant call costs no read), and recent answers to typing events by
//! ClientToken (typing is never stored, yet a retry deserves the first answer). Both are bounded.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::service::Session;
use crate::model::Contact;

/// A participant's ClientToken.
type TokenKey = (String, String);
/// An event's Id and time.
type EventAnswer = (String, OffsetDateTime);

/// A bounded memory of recent answers by key, forgotten after [`RecentAnswers::KEEP`].
#[derive(Default)]
pub(super) struct RecentAnswers {
    /// Answer and when it was given.
    entries: std::sync::Mutex<std::collections::HashMap<TokenKey, (EventAnswer, OffsetDateTime)>>,
}

impl RecentAnswers {
    const KEEP: Duration = Duration::minutes(5);
    const MAX_ENTRIES: usize = 100_000;

    pub(super) fn get(&self, key: &TokenKey, now: OffsetDateTime) -> Option<EventAnswer> {
        let entries = self.entries.lock().expect("recent answers lock");
        entries
            .get(key)
            .filter(|(_, at)| now - *at < Self::KEEP)
            .map(|(answer, _)| answer.clone())
    }

    pub(super) fn remember(&self, key: TokenKey, answer: EventAnswer, now: OffsetDateTime) {
        let mut entries = self.entries.lock().expect("recent answers lock");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, at)| now - *at < Self::KEEP);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (answer, now));
    }
}

/// Sessions of participants on open chats, and the contacts they share. Entries go when their
/// participant leaves or their chat ends (through this service); the store still refuses writes
/// to ended chats on its own.
#[derive(Default)]
pub(super) struct SessionCache {
    entries: std::sync::Mutex<SessionEntries>,
}

#[derive(Default)]
struct SessionEntries {
    by_participant: std::collections::HashMap<String, Arc<Session>>,
    contacts: std::collections::HashMap<String, CachedContact>,
}

/// A cached contact and the participants whose sessions share it, so that forgetting a chat
/// touches only its own entries.
struct CachedContact {
    contact: Arc<Contact>,
    participant_ids: Vec<String>,
}

impl SessionCache {
    const MAX_ENTRIES: usize = 200_000;

    pub(super) fn get(&self, participant_id: &str) -> Option<Arc<Session>> {
        self.entries
            .lock()
            .expect("sessions")
            .by_participant
            .get(participant_id)
            .cloned()
    }

    /// The contact the sessions of a chat share (`chat_id`: the chat's first contact's id).
    pub(super) fn contact(&self, chat_id: &str) -> Option<Arc<Contact>> {
        self.entries
            .lock()
            .expect("sessions")
            .contacts
            .get(chat_id)
            .map(|c| c.contact.clone())
    }

    pub(super) fn insert(&self, session: Arc<Session>) {
        let mut entries = self.entries.lock().expect("sessions");
        if entries.by_participant.len() >= Self::MAX_ENTRIES {
            entries.by_participant.clear();
            entries.contacts.clear();
        }
        let participant_id = session.participant.id.clone();
        // By chat: a transfer changes the session's contact, not the chat it belongs to.
        let cached = entries
            .contacts
            .entry(session.contact.chat_id().to_string())
            .or_insert_with(|| CachedContact {
                contact: session.contact.clone(),
                participant_ids: Vec::new(),
            });
        if !cached.participant_ids.contains(&participant_id) {
            cached.participant_ids.push(participant_id.clone());
        }
        entries.by_participant.insert(participant_id, session);
    }

    pub(super) fn forget_participant(&self, participant_id: &str) {
        self.entries
            .lock()
            .expect("sessions")
            .by_participant
            .remove(participant_id);
    }

    /// Forgets a chat's sessions (`chat_id`: the chat's first contact's id).
    pub(super) fn forget_contact(&self, chat_id: &str) {
        let mut entries = self.entries.lock().expect("sessions");
        if let Some(cached) = entries.contacts.remove(chat_id) {
            for participant_id in &cached.participant_ids {
                entries.by_participant.remove(participant_id);
            }
        }
    }
}
