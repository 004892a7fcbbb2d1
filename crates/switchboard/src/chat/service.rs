//! The chat service: what it holds and depends on, the records its operations take and give,
//! and what every operation shares (instances, contacts, sessions). The operations themselves
//! live by family beside it: `connect.rs` (the Connect API), `participant.rs` (the participant
//! API), `transcript.rs`, and `fanout.rs` (getting committed items to sockets and streams).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::Value;
use time::OffsetDateTime;

use super::arns::{Arns, Refusal};
use super::caches::{RecentAnswers, SessionCache};
use super::catalog::ReadFlows;
use super::tokens::{Claims, TokenKind, Tokens};
use super::{ChatError, RoutingHook, StreamHook};
use crate::bus::Bus;
use crate::clock::SharedClock;
use crate::config::{Config, Instance};
use crate::flows::bots::Bots;
use crate::flows::functions::Functions;
use crate::model::*;
use crate::store::Store;

pub struct ChatService {
    /// The service itself, for the work it leaves running (a flow's function calls).
    pub(super) me: Weak<ChatService>,
    pub(super) config: Arc<Config>,
    pub(super) arns: Arns,
    pub(super) store: Arc<dyn Store>,
    pub(super) bus: Arc<dyn Bus>,
    pub(super) clock: SharedClock,
    pub(super) tokens: Tokens,
    pub(super) routing: Arc<dyn RoutingHook>,
    pub(super) streams: Arc<dyn StreamHook>,
    /// The functions flows call.
    pub(super) functions: Arc<Functions>,
    /// The bots flows hand chats to.
    pub(super) bots: Arc<Bots>,
    /// `ws://HOST:PORT` or `wss://...`: where WebSocket URLs point.
    pub(super) websocket_base: String,
    /// Participants on open chats, by participant id: spares every participant call two reads.
    pub(super) sessions: SessionCache,
    /// Contents of flows made through the API, read once per change.
    pub(super) read_flows: ReadFlows,
    /// Answers to recent typing events by ClientToken (typing is not stored, retries still
    /// deserve the same answer).
    pub(super) recent_typing: RecentAnswers,
}

/// What the chat service depends on (see [`crate::chat`]).
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub clock: SharedClock,
    pub routing: Arc<dyn RoutingHook>,
    pub streams: Arc<dyn StreamHook>,
    pub functions: Arc<Functions>,
    pub bots: Arc<Bots>,
}

/// StartChatContact after shape validation.
#[derive(Debug, Clone, Default)]
pub struct StartChat {
    pub instance_id: String,
    pub contact_flow_id: String,
    pub display_name: String,
    pub attributes: BTreeMap<String, String>,
    pub initial_message: Option<(String, String)>,
    pub client_token: Option<String>,
    pub duration_minutes: Option<i64>,
    pub supported_content_types: Option<Vec<String>>,
    pub customer_id: Option<String>,
    pub related_contact_id: Option<String>,
    pub persistent_chat_source: Option<String>,
    pub segment_attributes: Option<Value>,
    pub disconnect_on_customer_exit: Option<Vec<String>>,
    pub participant_configuration: Option<Value>,
    pub connection_types: Vec<String>,
    /// ChatStreamingConfiguration's StreamingEndpointArn.
    pub streaming_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub websocket: Option<(String, OffsetDateTime)>,
    pub credentials: Option<(String, OffsetDateTime)>,
}

#[derive(Debug, Clone)]
pub struct StartedChat {
    pub contact_id: String,
    pub participant_id: String,
    pub participant_token: String,
    pub continued_from: Option<String>,
    pub connection: Connection,
    /// The StreamingId, when the chat started with ChatStreamingConfiguration.
    pub streaming_id: Option<String>,
}

/// A participant authenticated by a connection token, on a chat that has not ended.
#[derive(Debug, Clone)]
pub struct Session {
    pub participant: Participant,
    /// Shared by the sessions of all participants of the chat.
    pub contact: Arc<Contact>,
}

impl ChatService {
    pub fn new(
        config: Arc<Config>,
        ports: Ports,
        tokens: Tokens,
        websocket_base: String,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            functions: ports.functions,
            bots: ports.bots,
            arns: Arns::new(&config.region, &config.account_id),
            config,
            store: ports.store,
            bus: ports.bus,
            clock: ports.clock,
            tokens,
            routing: ports.routing,
            streams: ports.streams,
            websocket_base,
            recent_typing: RecentAnswers::default(),
            sessions: SessionCache::default(),
            read_flows: ReadFlows::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Accepts an instance id or an instance ARN of this server's region and account (see
    /// [`Arns`]); returns the configured instance.
    pub fn resolve_instance(&self, instance: &str) -> Result<&Instance, ChatError> {
        let id = self.arns.instance_id(instance).map_err(|refusal| {
            let why = self.arns.explain(refusal, "InstanceId", instance);
            match refusal {
                Refusal::Elsewhere => ChatError::Denied(why),
                Refusal::Malformed | Refusal::OtherInstance => ChatError::Invalid(why),
            }
        })?;
        self.config
            .instance(id)
            .ok_or_else(|| ChatError::NotFound(format!("Instance {instance} not found")))
    }

    /// How this server writes and reads ARNs.
    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    pub fn instance_arn(&self, instance_id: &str) -> String {
        self.arns.instance(instance_id)
    }

    /// A contact of this instance.
    pub async fn contact(&self, instance: &str, contact_id: &str) -> Result<Contact, ChatError> {
        let instance = self.resolve_instance(instance)?;
        match self.store.contact(contact_id).await? {
            Some(c) if c.instance_id == instance.id => Ok(c),
            _ => Err(ChatError::ContactNotFound),
        }
    }

    /// A contact by id, of whichever instance, if it exists.
    pub async fn find_contact(&self, contact_id: &str) -> Result<Option<Contact>, ChatError> {
        Ok(self.store.contact(contact_id).await?)
    }

    /// The display name of the contact's customer.
    pub async fn customer_name(&self, contact: &Contact) -> Result<Option<String>, ChatError> {
        Ok(self
            .store
            .participant(&contact.customer_participant_id)
            .await?
            .map(|p| p.display_name))
    }

    /// The user's AGENT participant on a contact's chat, while they are on it.
    pub async fn agent_participant(
        &self,
        contact_id: &str,
        user_id: &str,
    ) -> Result<Option<Participant>, ChatError> {
        let Some(contact) = self.store.contact(contact_id).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .agent_participant(contact.chat_id(), user_id)
            .await?)
    }

    /// A participant token for a participant of an open chat (an agent reopening their chats).
    pub fn participant_token(&self, participant: &Participant) -> String {
        self.tokens.mint(&Claims {
            kind: TokenKind::Participant,
            participant_id: participant.id.clone(),
            contact_id: participant.contact_id.clone(),
            expires_at: None,
        })
    }

    /// Where the session's chat stands in its queue: the queue, the place (1 for the head) and
    /// the queue's length; `None` once an agent has it, or when it waits in no queue.
    pub async fn queue_position(&self, session: &Session) -> Option<(String, usize, usize)> {
        let contact = &session.contact;
        let queue = contact.queue_id.clone()?;
        let (position, length) = self
            .routing
            .queue_position(&contact.instance_id, &contact.id)
            .await?;
        Some((queue, position, length))
    }

    /// Tells routing how many sockets a customer has open: a queued customer with none for too
    /// long has gone, and their chat is ended.
    pub fn customer_sockets(&self, session: &Session, open: usize) {
        if session.participant.role == Role::Customer {
            self.routing
                .customer_sockets(&session.contact.instance_id, &session.contact.id, open);
        }
    }
}

/// Ids are UUIDv7: unique, and ordered by creation like Amazon's.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(super) fn event(content_type: &str, sender: Option<Sender>) -> NewItem {
    NewItem {
        id: new_id(),
        item_type: ItemType::Event,
        content_type: content_type.to_string(),
        content: None,
        sender,
    }
}
