//! Fan-out of what a chat commits: items go to the bus (for the contact's sockets, on this node
//! and others) in sequence order, the streams are told there is something to publish, and a node
//! whose sockets may have missed items over a lossy carrier catches them up from the store.
//!
//! Items leave here as their JSON text as participants read it (with the chat's contact ids);
//! wrapping that in a socket protocol's frame is the gateway's business.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::service::ChatService;
use super::ChatError;
use crate::bus::{Closing, Delivery};
use crate::model::*;
use crate::store::Range;

/// The item as participants read it on a socket: its fields, and the chat's contact ids, which
/// ChatJS uses to route it to the right session.
pub fn item_text(contact: &Contact, item: &Item) -> String {
    fields_text(contact, item.wire_fields())
}

fn fields_text(contact: &Contact, fields: Map<String, Value>) -> String {
    Value::Object(with_contact_ids(
        fields,
        &contact.initial_contact_id,
        &contact.id,
    ))
    .to_string()
}

impl ChatService {
    /// Committed items as sockets receive them, each with what it closes.
    pub(super) fn deliveries<'a>(
        &'a self,
        contact: &'a Contact,
        items: &'a [Item],
    ) -> impl Iterator<Item = Delivery> + 'a {
        // When the chat ends in the same step, the leaver's sockets stay open for chat.ended:
        // ChatJS only tears down on chat.ended.
        let chat_ends = items.iter().any(|i| i.content_type == CHAT_ENDED);
        items.iter().map(move |item| {
            let closing = match item.content_type.as_str() {
                CHAT_ENDED => Some(Closing::Chat),
                PARTICIPANT_LEFT if !chat_ends => item
                    .sender
                    .as_ref()
                    .map(|s| Closing::Participant(s.participant_id.clone())),
                _ => None,
            };
            Delivery::new(
                contact.chat_id().to_string(),
                Some(item.seq),
                item_text(contact, item),
                closing,
            )
        })
    }

    /// Pushes committed items to the contact's sockets, in order.
    pub(super) fn publish_items(&self, contact: &Contact, items: &[Item]) {
        for delivery in self.deliveries(contact, items) {
            self.bus.publish(delivery);
        }
        if !items.is_empty() {
            self.streams.written(contact.chat_id());
        }
    }

    /// Pushes an item that is not kept (typing, a receipt) to the contact's sockets.
    pub(super) fn publish_ephemeral(&self, contact: &Contact, fields: Map<String, Value>) {
        self.bus.publish(Delivery::new(
            contact.chat_id().to_string(),
            None,
            fields_text(contact, fields),
            None,
        ));
        self.streams.written(contact.chat_id());
    }

    /// Starts watching a chat's items (`chat_id`: its first contact's id) for one socket: the deliveries to come, and the
    /// sequence number of the last item already committed. Subscribing comes first, then
    /// reading where the transcript stands, so nothing committed in between is missed (anything
    /// older is recognised by its sequence number).
    pub async fn watch(
        &self,
        contact_id: &str,
    ) -> Result<(broadcast::Receiver<Arc<Delivery>>, i64), ChatError> {
        let receiver = self.bus.subscribe(contact_id);
        let last = self.store.last_seq(contact_id).await?;
        self.bus.saw(contact_id, last);
        Ok((receiver, last))
    }

    /// The items with sequence numbers `from` up to (not including) `until`, in order, for a
    /// socket that noticed it missed them.
    pub async fn missed_items(
        &self,
        contact_id: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<Item>, ChatError> {
        let limit = (until - from).max(0) as usize;
        Ok(self
            .store
            .items(contact_id, Range::Forward { from, limit })
            .await?)
    }

    /// An item another node committed to a chat. A transfer there gave the chat a new
    /// contact: this node's sessions of the chat load it again, so that what they send from
    /// now on names it. (The item's text is only searched, not parsed: this runs for every
    /// item that crosses nodes.)
    pub fn committed_elsewhere(&self, chat_id: &str, item: &str) {
        if item.contains(TRANSFER_SUCCEEDED) {
            self.sessions.forget_contact(chat_id);
        }
    }

    /// Whether items may come from other nodes over a carrier that can lose them: then this
    /// node's sockets need [`ChatService::catch_up_sockets`] now and then.
    pub fn needs_catching_up(&self) -> bool {
        self.bus.crosses_nodes()
    }

    /// For the contacts this node's sockets watch, compares the last item they got with the
    /// last one in the store (one query for all of them) and hands what is missing to this
    /// node's sockets. Returns how many contacts were behind.
    pub async fn catch_up_sockets(&self) -> Result<usize, ChatError> {
        let watched = self.bus.watched();
        if watched.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = watched.iter().map(|(id, _)| id.clone()).collect();
        let last = self.store.last_seqs(&ids).await?;
        let seen: HashMap<&str, i64> = watched
            .iter()
            .map(|(id, seq)| (id.as_str(), *seq))
            .collect();
        let mut behind = 0;
        for (contact_id, stored) in &last {
            let Some(&seen) = seen.get(contact_id.as_str()) else {
                continue;
            };
            if *stored <= seen {
                continue;
            }
            let Some(contact) = self.store.current_contact(contact_id).await? else {
                continue;
            };
            let missed = self.missed_items(contact_id, seen + 1, *stored + 1).await?;
            tracing::info!(contact = %contact_id, items = missed.len(), "sockets caught up from the store");
            for delivery in self.deliveries(&contact, &missed) {
                self.bus.deliver_here(delivery);
            }
            behind += 1;
        }
        Ok(behind)
    }
}
