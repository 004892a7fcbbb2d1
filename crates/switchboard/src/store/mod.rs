//! Persistence of contacts, participants, transcript items and receipts, behind the [`Store`]
//! trait so that the SQLite store (the embedded default) and a PostgreSQL store can serve the
//! same chat domain.
//!
//! Every write operation is one atomic unit: it either happens whole or not at all, and when it
//! returns `Ok` it is durably committed. The store, not the caller, gives each item its place:
//! the next per-contact sequence number and an `AbsoluteTime` that never goes backwards within a
//! contact, so that the order by time and the order by sequence agree.

mod idempotency;
pub mod postgres;
mod reads;
mod rows;
pub mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;

pub use self::idempotency::Replayed;
pub(crate) use self::idempotency::{admit_stream, departed_before, retried_stream};
pub use self::reads::Reads;
use time::OffsetDateTime;

use crate::model::{
    Contact, Item, NewItem, OutboxEntry, Participant, Receipt, ReceiptKind, StoredFlow,
    StoredHours, StoredQuickConnect, Stream,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("contact not found")]
    ContactNotFound,
    #[error("participant not found")]
    ParticipantNotFound,
    #[error("the contact has ended")]
    ContactEnded,
    #[error("the participant has left the contact")]
    ParticipantLeft,
    #[error("message not found in this contact")]
    MessageNotFound,
    #[error("contact attributes would exceed {0} bytes")]
    AttributesTooLarge(usize),
    #[error("the contact already has {0} active streaming endpoints")]
    StreamLimit(usize),
    /// The stream conflicts with one the contact has (named in the message).
    #[error("{0}")]
    StreamConflict(String),
    #[error("streaming configuration not found")]
    StreamNotFound,
    /// Another contact flow (or hours of operation) of the instance has that name.
    #[error("a contact flow named '{0}' exists")]
    FlowNameTaken(String),
    #[error("hours of operation named '{0}' exist")]
    HoursNameTaken(String),
    #[error("a quick connect named '{0}' exists")]
    QuickConnectNameTaken(String),
    /// A flow step was computed from a version of the run that is no longer the stored one:
    /// another step got there first, and this one must be computed again.
    #[error("the flow run has moved on")]
    RunMoved,
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A new chat: the contact, its customer and the items it starts with (participant.joined, the
/// initial message).
#[derive(Debug, Clone)]
pub struct NewContact {
    pub contact: Contact,
    pub customer: Participant,
    pub items: Vec<NewItem>,
    /// StartChatContact's idempotency token, unique per instance.
    pub client_token: Option<String>,
    /// ChatStreamingConfiguration: a stream started with the contact, so that it carries every
    /// item of the chat.
    pub stream: Option<NewStream>,
    /// The chat's flow run, written with it (version 1) when its flow is in the flow language.
    pub flow_run: Option<NewRun>,
}

/// A flow run as first written: the interpreter's state (JSON), and when it is due, if it is.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub state: String,
    pub wake_at: Option<OffsetDateTime>,
}

/// A chat's flow run as stored (see the migration that makes `flow_runs`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub chat_id: String,
    /// Grows by one with each step.
    pub version: i64,
    /// What the interpreter keeps between events (JSON).
    pub state: String,
    /// When the run waits until, if it waits for a time.
    pub wake_at: Option<OffsetDateTime>,
}

/// One step of a chat's flow run and everything it did, written whole or not at all: a step is
/// never half done, and never done twice.
#[derive(Debug, Clone)]
pub struct FlowStep {
    pub chat_id: String,
    /// The version the step was computed from; if the stored run has another, nothing is
    /// written and the step is refused with [`StoreError::RunMoved`].
    pub version: i64,
    pub state: String,
    pub wake_at: Option<OffsetDateTime>,
    /// Items the flow sent (its messages), in order.
    pub items: Vec<NewItem>,
    /// Attributes merged into the contact's, refused whole beyond `max_attribute_bytes`.
    pub attributes: BTreeMap<String, String>,
    pub max_attribute_bytes: usize,
    /// The queue the chat now waits in (TransferContactToQueue), since the step.
    pub enqueue: Option<String>,
    /// The chat is in no queue any more (its agent left and a flow has it again).
    pub leave_queue: bool,
    /// Ends the chat with this chat.ended item and disconnect reason, after the items.
    pub end: Option<(NewItem, String)>,
    /// The actions the step ran, for the flow log.
    pub log: Vec<FlowLogEntry>,
}

/// One action a chat's flow ran, and how it came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLogEntry {
    pub at: OffsetDateTime,
    pub flow_id: String,
    pub action: String,
    pub action_type: String,
    pub outcome: String,
}

/// How many streams a contact may have active at once (Amazon Connect's quota).
pub const MAX_ACTIVE_STREAMS: usize = 2;

#[derive(Debug, Clone)]
pub struct NewStream {
    pub stream: Stream,
    /// StartContactStreaming's idempotency token, unique per contact.
    pub client_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub contact: Contact,
    pub customer: Participant,
    pub items: Vec<Item>,
    /// The StreamingId of the stream started with the contact, if one was.
    pub stream_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub participant: Participant,
    pub joined: NewItem,
    pub client_token: Option<String>,
    /// For an AGENT participant: the user id, recorded as the agent who has the contact.
    pub agent_user_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Added {
    pub participant: Participant,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub contact_id: String,
    pub message_id: String,
    pub recipient_participant_id: String,
    pub kind: ReceiptKind,
    /// Id the MESSAGEMETADATA item pushed for this receipt will carry.
    pub event_id: String,
    pub client_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReceiptRecorded {
    /// Id and time of the receipt event (the earlier one on a repeated client token).
    pub event_id: String,
    pub at: OffsetDateTime,
    pub receipt: Receipt,
}

/// DisconnectParticipant: the participant leaves; when it is the customer the chat ends too.
#[derive(Debug, Clone)]
pub struct Departure {
    pub participant_id: String,
    pub left: NewItem,
    /// chat.ended, when the departure ends the chat.
    pub ended: Option<NewItem>,
    pub disconnect_reason: Option<String>,
    pub client_token: Option<String>,
    /// What the chat's flow run becomes with this departure (its version moved on), when it
    /// goes on in a flow: an agent leaving a chat whose flow named a disconnect flow. Written in
    /// the same step, so that the flow is due whichever node carries it out.
    pub run: Option<NewRun>,
}

/// UpdateContactAttributes' rule: `attributes` merged into the contact's (`current`, as stored:
/// JSON text), refused whole if the result would exceed `max_bytes`; the merged attributes as
/// JSON text to store. Shared by both stores.
pub(crate) fn merge_attributes(
    current: &str,
    attributes: BTreeMap<String, String>,
    max_bytes: usize,
) -> StoreResult<String> {
    let mut merged: BTreeMap<String, String> = serde_json::from_str(current)
        .map_err(|e| StoreError::Backend(format!("attributes: {e}")))?;
    merged.extend(attributes);
    let size: usize = merged.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > max_bytes {
        return Err(StoreError::AttributesTooLarge(max_bytes));
    }
    Ok(serde_json::to_string(&merged).expect("serialisable"))
}

/// Which slice of a transcript to read, in sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Items with `seq >= from`, ascending.
    Forward { from: i64, limit: usize },
    /// Items with `seq <= from`, descending.
    Backward { from: i64, limit: usize },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The reads every backend answers with the same queries ([`reads`]); the read methods
    /// below are theirs.
    fn reads(&self) -> &dyn Reads;

    /// The chat's current contact: its first one, or the last one a transfer made.
    async fn current_contact(&self, chat_id: &str) -> StoreResult<Option<Contact>> {
        self.reads().current_contact(chat_id).await
    }
    async fn contact(&self, contact_id: &str) -> StoreResult<Option<Contact>> {
        self.reads().contact(contact_id).await
    }
    async fn participant(&self, participant_id: &str) -> StoreResult<Option<Participant>> {
        self.reads().participant(participant_id).await
    }
    async fn participants(&self, contact_id: &str) -> StoreResult<Vec<Participant>> {
        self.reads().participants(contact_id).await
    }
    async fn items(&self, contact_id: &str, range: Range) -> StoreResult<Vec<Item>> {
        self.reads().items(contact_id, range).await
    }
    async fn item(&self, contact_id: &str, item_id: &str) -> StoreResult<Option<Item>> {
        self.reads().item(contact_id, item_id).await
    }
    /// Sequence number of the first item at or after `at` (forward) or last at or before (backward).
    async fn seq_at(
        &self,
        contact_id: &str,
        at: OffsetDateTime,
        forward: bool,
    ) -> StoreResult<Option<i64>> {
        self.reads().seq_at(contact_id, at, forward).await
    }
    /// Contacts not ended whose duration ran out at or before `now`.
    async fn expired_contacts(&self, now: OffsetDateTime) -> StoreResult<Vec<String>> {
        self.reads().expired_contacts(now).await
    }
    /// Open contacts of `instance_id` that have a queue, oldest first: routing rebuilds its
    /// queues and agents' chats from them at start.
    async fn routed_contacts(&self, instance_id: &str) -> StoreResult<Vec<Contact>> {
        self.reads().routed_contacts(instance_id).await
    }
    /// The user's AGENT participant on a contact, if they are still on it.
    async fn agent_participant(
        &self,
        contact_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Participant>> {
        self.reads().agent_participant(contact_id, user_id).await
    }
    /// Every agent's last recorded status.
    async fn presences(&self) -> StoreResult<Vec<(String, String, OffsetDateTime)>> {
        self.reads().presences().await
    }
    /// The chat's flow run, if its flow is in the flow language.
    async fn flow_run(&self, chat_id: &str) -> StoreResult<Option<StoredRun>> {
        self.reads().flow_run(chat_id).await
    }
    /// Flow runs of open chats that wait until `until` or earlier: chat id and when.
    async fn due_flow_runs(
        &self,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, OffsetDateTime)>> {
        self.reads().due_flow_runs(until).await
    }
    /// A contact flow made through the API.
    async fn contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<Option<StoredFlow>> {
        self.reads().contact_flow(instance_id, id).await
    }
    /// The instance's contact flows made through the API, by name.
    async fn contact_flows(&self, instance_id: &str) -> StoreResult<Vec<StoredFlow>> {
        self.reads().contact_flows(instance_id).await
    }
    /// Hours of operation made through the API.
    async fn hours_of_operation(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredHours>> {
        self.reads().hours_of_operation(instance_id, id).await
    }
    /// The instance's hours of operation made through the API, by name.
    async fn hours_of_operations(&self, instance_id: &str) -> StoreResult<Vec<StoredHours>> {
        self.reads().hours_of_operations(instance_id).await
    }
    /// A quick connect made through the API.
    async fn quick_connect(
        &self,
        instance_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredQuickConnect>> {
        self.reads().quick_connect(instance_id, id).await
    }
    /// The instance's quick connects made through the API, by name.
    async fn quick_connects(&self, instance_id: &str) -> StoreResult<Vec<StoredQuickConnect>> {
        self.reads().quick_connects(instance_id).await
    }
    /// The instance's quick connects associated with queues through the API, as (queue id,
    /// quick connect id), by queue.
    async fn queue_quick_connects(&self, instance_id: &str) -> StoreResult<Vec<(String, String)>> {
        self.reads().queue_quick_connects(instance_id).await
    }
    /// The chat's flow log, in the order the actions ran.
    async fn flow_log(&self, chat_id: &str) -> StoreResult<Vec<FlowLogEntry>> {
        self.reads().flow_log(chat_id).await
    }
    /// Every user's last sign-out.
    async fn sign_outs(&self) -> StoreResult<Vec<(String, OffsetDateTime)>> {
        self.reads().sign_outs().await
    }
    async fn stream(&self, stream_id: &str) -> StoreResult<Option<Stream>> {
        self.reads().stream(stream_id).await
    }
    /// Streams that are active or still have items to publish.
    async fn pending_streams(&self) -> StoreResult<Vec<Stream>> {
        self.reads().pending_streams().await
    }
    /// Ids of the streams with items waiting in their outbox.
    async fn backlogged_streams(&self) -> StoreResult<Vec<String>> {
        self.reads().backlogged_streams().await
    }
    /// The first `limit` items waiting in a stream's outbox, in order.
    async fn outbox(&self, stream_id: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.reads().outbox(stream_id, limit).await
    }
    /// Items waiting in all outboxes, and dead letters kept.
    async fn outbox_counts(&self) -> StoreResult<(i64, i64)> {
        self.reads().outbox_counts().await
    }

    async fn create_contact(&self, new: NewContact) -> StoreResult<Replayed<Created>>;
    async fn add_participant(&self, new: NewParticipant) -> StoreResult<Replayed<Added>>;
    /// Appends an item sent by a participant who is still on a contact that has not ended.
    async fn append_item(
        &self,
        contact_id: &str,
        item: NewItem,
        client_token: Option<String>,
    ) -> StoreResult<Replayed<Item>>;
    async fn record_receipt(&self, receipt: NewReceipt) -> StoreResult<Replayed<ReceiptRecorded>>;
    async fn depart(&self, departure: Departure) -> StoreResult<Replayed<Vec<Item>>>;
    /// Ends a contact that has not ended yet, appending chat.ended; `None` if it had already ended.
    async fn end_contact(
        &self,
        contact_id: &str,
        ended: NewItem,
        reason: Option<String>,
    ) -> StoreResult<Option<Item>>;
    /// Merges attributes into the contact's; refused whole if the result exceeds `max_bytes`.
    async fn update_attributes(
        &self,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
        max_bytes: usize,
    ) -> StoreResult<()>;

    async fn last_seq(&self, contact_id: &str) -> StoreResult<i64>;
    /// The last sequence number of each of these contacts (those that exist).
    async fn last_seqs(&self, contact_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        let mut found = Vec::with_capacity(contact_ids.len());
        for id in contact_ids {
            match self.last_seq(id).await {
                Ok(seq) => found.push((id.clone(), seq)),
                Err(StoreError::ContactNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
    async fn receipts(&self, message_ids: &[String]) -> StoreResult<Vec<Receipt>>;
    /// A named random secret, created on first use and the same ever after.
    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>>;
    /// The chat's current contact waits again, in `queue_id` (an agent's own queue is
    /// `agent/USER_ID`) since `at`, with no agent: its agent left and the flow requeues it.
    async fn requeue_contact(
        &self,
        chat_id: &str,
        queue_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// A transfer, as Amazon Connect records one: the chat's current contact `from` is handed
    /// on to a new contact `to`, which waits in `queue_id` since `at` with no agent and takes
    /// everything else from `from` (chat, customer, attributes, details, expiry); `from` records
    /// its successor and when. With `run` (a transfer flow) the new contact waits in no queue
    /// and the chat's flow run becomes `run` (made or replaced, its version moved on): the flow
    /// queues the chat. One step: all or nothing. `ContactNotFound` if `from` is not the current
    /// contact of an open chat.
    async fn transfer_contact(
        &self,
        from: &str,
        to: &str,
        queue_id: &str,
        at: OffsetDateTime,
        run: Option<NewRun>,
    ) -> StoreResult<Contact>;
    /// Writes one step of a chat's flow run (see [`FlowStep`]): the run's new state, its
    /// messages, attributes, queue, the chat's end and its log, all or nothing; the items
    /// written, in order. `ContactEnded` once the chat has ended.
    async fn flow_step(&self, step: FlowStep) -> StoreResult<Vec<Item>>;
    /// Writes a contact flow made through the API, new or changed (by instance and id);
    /// `FlowNameTaken` if another flow of the instance has its name.
    async fn put_contact_flow(&self, flow: StoredFlow) -> StoreResult<()>;
    /// Deletes a contact flow made through the API; false if there was none.
    async fn delete_contact_flow(&self, instance_id: &str, id: &str) -> StoreResult<bool>;
    /// Writes hours of operation made through the API, new or changed; `HoursNameTaken` if
    /// other hours of the instance have its name.
    async fn put_hours_of_operation(&self, hours: StoredHours) -> StoreResult<()>;
    /// Deletes hours of operation made through the API; false if there were none.
    async fn delete_hours_of_operation(&self, instance_id: &str, id: &str) -> StoreResult<bool>;
    /// Writes a quick connect made through the API, new or changed; `QuickConnectNameTaken` if
    /// another quick connect of the instance has its name.
    async fn put_quick_connect(&self, quick_connect: StoredQuickConnect) -> StoreResult<()>;
    /// Deletes a quick connect made through the API, and its associations with queues; false
    /// if there was none.
    async fn delete_quick_connect(&self, instance_id: &str, id: &str) -> StoreResult<bool>;
    /// Associates quick connects with a queue (AssociateQueueQuickConnects), or with `associate`
    /// false takes those associations away; associating twice or taking away what is not there
    /// changes nothing.
    async fn associate_quick_connects(
        &self,
        instance_id: &str,
        queue_id: &str,
        quick_connect_ids: Vec<String>,
        associate: bool,
    ) -> StoreResult<()>;
    /// Records that a user signed out at `at`: agent tokens issued before it are refused.
    async fn record_sign_out(&self, user_id: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// Records an agent's status (`presence` as the router encodes it) and since when.
    async fn record_presence(
        &self,
        user_id: &str,
        presence: &str,
        since: OffsetDateTime,
    ) -> StoreResult<()>;

    // ---- streaming --------------------------------------------------------------------------

    /// Starts a stream on a contact that has not ended. At most [`MAX_ACTIVE_STREAMS`] may be
    /// active, and not two to the same endpoint. A stream to an endpoint that has not streamed
    /// this contact before starts with the items written so far, so no endpoint misses the start
    /// of the chat; one to an endpoint that did (stopped, then started again) carries only what
    /// comes after it.
    async fn start_stream(&self, new: NewStream) -> StoreResult<Replayed<Stream>>;
    /// Stops a stream of the contact: nothing more is added to its outbox; what is there is
    /// still published. Stopping a stopped stream does nothing.
    async fn stop_stream(&self, contact_id: &str, stream_id: &str) -> StoreResult<Stream>;
    /// Adds an item that is not kept in the transcript (a typing event) to the outbox of the
    /// contact's active streams, if it has any.
    async fn stream_event(
        &self,
        contact_id: &str,
        item_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()>;
    /// The endpoint accepted the stream's items up to and including `through`.
    async fn outbox_published(&self, stream_id: &str, through: i64) -> StoreResult<()>;
    /// The endpoint refused this item for good: it moves to the dead letters.
    async fn outbox_dead_letter(&self, entry: &OutboxEntry, reason: &str) -> StoreResult<()>;
    /// Takes, or renews, the lease `name` for `node` until `until`: false while another node
    /// holds it and it has not run out. One node holds a lease at a time.
    async fn claim_lease(&self, name: &str, node: &str, until: OffsetDateTime)
        -> StoreResult<bool>;
    /// Gives the lease up, if `node` holds it.
    async fn release_lease(&self, name: &str, node: &str) -> StoreResult<()>;

    /// Answers once the store can be read and written (for readiness checks).
    async fn ping(&self) -> StoreResult<()>;
    /// Finishes pending writes and closes.
    async fn close(&self);
}
