//! GetTranscript: paging through a contact's items by their per-contact sequence.
//!
//! A start position (an item Id, a time, or "the n-th most recent") becomes a sequence number;
//! the scan direction decides which way pages go from there, and the sort order only decides how
//! one page is listed. The NextToken carries the next sequence number and direction, bound to the
//! contact it was issued for, so pages neither skip nor repeat items however many arrive meanwhile.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::service::{ChatService, Session};
use super::ChatError;
use crate::clock::parse_instant;
use crate::model::{Item, ItemType, Receipt};
use crate::store::Range;

pub const DEFAULT_MAX_RESULTS: usize = 10;

#[derive(Debug, Clone, Default)]
pub enum StartPosition {
    #[default]
    None,
    Id(String),
    AbsoluteTime(String),
    MostRecent(i64),
}

#[derive(Debug, Clone, Default)]
pub struct TranscriptQuery {
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
    /// `Some(true)` for FORWARD.
    pub forward: Option<bool>,
    /// `Some(true)` for ASCENDING.
    pub ascending: Option<bool>,
    pub start: StartPosition,
}

#[derive(Debug, Clone)]
pub struct TranscriptPage {
    pub initial_contact_id: String,
    pub items: Vec<Value>,
    pub next_token: Option<String>,
}

fn encode_token(contact_id: &str, forward: bool, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "t1|{contact_id}|{}|{seq}",
        if forward { "f" } else { "b" }
    ))
}

/// The direction and next sequence number a NextToken carries, if it is one issued for this
/// contact.
pub fn decode_token(token: &str, contact_id: &str) -> Option<(bool, i64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = text.split('|');
    let (Some("t1"), Some(contact), Some(direction), Some(seq), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if contact != contact_id {
        return None;
    }
    let forward = match direction {
        "f" => true,
        "b" => false,
        _ => return None,
    };
    Some((forward, seq.parse().ok()?))
}

impl ChatService {
    /// GetTranscript. `contact_id`, when the caller names one, must be a contact of the
    /// session's chat (any of them, through transfers): the chat has one transcript.
    pub async fn get_transcript(
        &self,
        session: &Session,
        contact_id: Option<&str>,
        q: TranscriptQuery,
    ) -> Result<TranscriptPage, ChatError> {
        let contact = &session.contact;
        if let Some(id) = contact_id.filter(|id| *id != contact.id && *id != contact.chat_id()) {
            let of_chat = self.store.contact(id).await?;
            if of_chat.is_none_or(|c| c.chat_id() != contact.chat_id()) {
                return Err(ChatError::Invalid(format!(
                    "ContactId {id} is not part of this chat"
                )));
            }
        }
        let max = q.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        let store = &self.store;

        let (forward, from) = if let Some(token) = &q.next_token {
            decode_token(token, contact.chat_id())
                .ok_or_else(|| ChatError::Invalid("NextToken is not valid for this chat".into()))?
        } else {
            let has_start = !matches!(q.start, StartPosition::None);
            let forward = q.forward.unwrap_or(has_start);
            let last = store.last_seq(contact.chat_id()).await?;
            let from = match &q.start {
                // Without a position the scan starts now: backward covers everything, forward
                // only what is yet to come.
                StartPosition::None => {
                    if forward {
                        last + 1
                    } else {
                        last
                    }
                }
                StartPosition::Id(id) => {
                    store
                        .item(contact.chat_id(), id)
                        .await?
                        .ok_or_else(|| {
                            ChatError::Invalid(format!(
                                "StartPosition.Id {id} is not an item of this chat"
                            ))
                        })?
                        .seq
                }
                StartPosition::AbsoluteTime(text) => {
                    let at = parse_instant(text).ok_or_else(|| {
                        ChatError::Invalid(format!(
                            "StartPosition.AbsoluteTime '{text}' is not an ISO-8601 time"
                        ))
                    })?;
                    match store.seq_at(contact.chat_id(), at, forward).await? {
                        Some(seq) => seq,
                        None if forward => last + 1,
                        None => 0,
                    }
                }
                StartPosition::MostRecent(n) => (last - n + 1).max(1),
            };
            (forward, from)
        };

        // One extra item tells whether another page follows.
        let range = if forward {
            Range::Forward {
                from,
                limit: max + 1,
            }
        } else {
            Range::Backward {
                from,
                limit: max + 1,
            }
        };
        let mut items = store.items(contact.chat_id(), range).await?;
        // A page of 0 items has nowhere to continue from.
        let next_token = if items.len() > max && max > 0 {
            items.truncate(max);
            let next = match items.last() {
                Some(last) if forward => last.seq + 1,
                Some(last) => last.seq - 1,
                None => from,
            };
            Some(encode_token(contact.chat_id(), forward, next))
        } else {
            None
        };

        let ascending = q.ascending.unwrap_or(false);
        if ascending != forward {
            items.reverse();
        }
        let receipts = self.receipts_by_message(&items).await?;
        let items = items
            .iter()
            .map(|item| transcript_item(item, &contact.id, receipts.get(&item.id)))
            .collect();
        Ok(TranscriptPage {
            initial_contact_id: contact.initial_contact_id.clone(),
            items,
            next_token,
        })
    }

    async fn receipts_by_message(
        &self,
        items: &[Item],
    ) -> Result<HashMap<String, Vec<Receipt>>, ChatError> {
        let ids: Vec<String> = items
            .iter()
            .filter(|i| i.item_type == ItemType::Message)
            .map(|i| i.id.clone())
            .collect();
        let mut by_message: HashMap<String, Vec<Receipt>> = HashMap::new();
        for receipt in self.store.receipts(&ids).await? {
            by_message
                .entry(receipt.message_id.clone())
                .or_default()
                .push(receipt);
        }
        Ok(by_message)
    }
}

fn transcript_item(item: &Item, contact_id: &str, receipts: Option<&Vec<Receipt>>) -> Value {
    let mut fields = item.wire_fields();
    fields.insert("ContactId".into(), json!(contact_id));
    if let Some(receipts) = receipts {
        fields.insert(
            "MessageMetadata".into(),
            json!({
                "MessageId": item.id,
                "Receipts": receipts.iter().map(Receipt::to_wire).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_token_is_bound_to_its_contact() {
        let token = encode_token("c1", true, 7);
        assert_eq!(decode_token(&token, "c1"), Some((true, 7)));
        assert_eq!(decode_token(&token, "c2"), None);
        assert_eq!(decode_token("bogus", "c1"), None);
    }
}
