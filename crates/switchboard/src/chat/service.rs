//! The operations of a chat, from start to end, as the Connect and participant APIs expose them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::arns::{Arns, Refusal};
use super::model::*;
use super::tokens::{Claims, TokenKind, Tokens};
use super::{ChatError, RoutingHook, StreamHook};
use crate::bus::{Bus, Closing, Delivery};
use crate::clock::{format_instant, SharedClock};
use crate::config::Config;
use crate::store::{
    Departure, NewContact, NewParticipant, NewReceipt, NewStream, Store, StoreError,
};

/// A WebSocket URL must be opened within this time (Amazon: 100 seconds). Connection tokens
/// live `limits.connection_token_seconds`.
pub const WEBSOCKET_URL_LIFETIME: Duration = Duration::seconds(100);
/// Largest message content, in UTF-8 bytes.
pub const MAX_CONTENT_BYTES: usize = 16_384;
/// Largest total size of a contact's attributes, in UTF-8 bytes.
pub const MAX_ATTRIBUTE_BYTES: usize = 32_768;
pub const DEFAULT_CHAT_DURATION_MINUTES: i64 = 1500;

pub struct ChatService {
    config: Arc<Config>,
    arns: Arns,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    tokens: Tokens,
    routing: Arc<dyn RoutingHook>,
    streams: Arc<dyn StreamHook>,
    /// `ws://HOST:PORT` or `wss://...`: where WebSocket URLs point.
    websocket_base: String,
    /// Participants on open chats, by participant id: spares every participant call two reads.
    sessions: SessionCache,
    /// Answers to recent typing events by ClientToken (typing is not stored, retries still
    /// deserve the same answer).
    recent_typing: RecentAnswers,
}

/// What the chat service depends on (see [`crate::chat`]).
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub clock: SharedClock,
    pub routing: Arc<dyn RoutingHook>,
    pub streams: Arc<dyn StreamHook>,
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
    pub fn new(config: Arc<Config>, ports: Ports, tokens: Tokens, websocket_base: String) -> Self {
        Self {
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
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn routing(&self) -> &Arc<dyn RoutingHook> {
        &self.routing
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Accepts an instance id or an instance ARN of this server's region and account (see
    /// [`Arns`]); returns the id of a configured instance.
    pub fn resolve_instance(&self, instance: &str) -> Result<String, ChatError> {
        let id = self.arns.instance_id(instance).map_err(|refusal| {
            let why = self.arns.explain(refusal, "InstanceId", instance);
            match refusal {
                Refusal::Elsewhere => ChatError::Denied(why),
                Refusal::Malformed | Refusal::OtherInstance => ChatError::Invalid(why),
            }
        })?;
        self.config
            .instance(id)
            .map(|i| i.id.clone())
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
        let instance_id = self.resolve_instance(instance)?;
        match self.store.contact(contact_id).await? {
            Some(c) if c.instance_id == instance_id => Ok(c),
            _ => Err(ChatError::ContactNotFound),
        }
    }

    // ---- Connect API ----------------------------------------------------------------------

    pub async fn start_chat(&self, req: StartChat) -> Result<StartedChat, ChatError> {
        let instance_id = self.resolve_instance(&req.instance_id)?;
        let instance = self.config.instance(&instance_id).expect("resolved");
        let flow = instance.contact_flow(&req.contact_flow_id).ok_or_else(|| {
            ChatError::NotFound(format!("Contact flow {} not found", req.contact_flow_id))
        })?;

        let supported = req
            .supported_content_types
            .clone()
            .unwrap_or_else(|| vec!["text/plain".to_string()]);
        if let Some(bad) = supported
            .iter()
            .find(|t| !SUPPORTED_MESSAGING_TYPES.contains(&t.as_str()))
        {
            return Err(ChatError::Invalid(format!(
                "SupportedMessagingContentTypes: '{bad}' is not a supported content type"
            )));
        }
        if !supported.iter().any(|t| t == "text/plain") {
            return Err(ChatError::Invalid(
                "SupportedMessagingContentTypes must include text/plain".into(),
            ));
        }
        if let Some((content_type, content)) = &req.initial_message {
            check_message(content_type, content, &supported)?;
        }
        check_attributes(&req.attributes)?;
        if let Some(arn) = &req.streaming_endpoint {
            crate::streaming::endpoint::parse(arn, &self.config).map_err(ChatError::Invalid)?;
        }

        let mut continued_from = None;
        if let Some(source) = &req.persistent_chat_source {
            match self.store.contact(source).await? {
                Some(c) if c.instance_id == instance_id && c.is_ended() => {
                    continued_from = Some(c.id)
                }
                Some(c) if c.instance_id == instance_id => {
                    return Err(ChatError::Invalid(format!(
                        "Contact {source} has not ended; only ended chats can be continued"
                    )))
                }
                _ => return Err(ChatError::NotFound(format!("Contact {source} not found"))),
            }
        }

        let now = self.now();
        let contact_id = new_id();
        let customer_id = new_id();
        let duration = req
            .duration_minutes
            .unwrap_or(DEFAULT_CHAT_DURATION_MINUTES);
        let contact = Contact {
            id: contact_id.clone(),
            instance_id: instance_id.clone(),
            initial_contact_id: contact_id.clone(),
            contact_flow_id: flow.id.clone(),
            queue_id: Some(flow.queue.clone()),
            customer_participant_id: customer_id.clone(),
            attributes: req.attributes.clone(),
            details: ContactDetails {
                supported_messaging_content_types: supported,
                customer_id: req.customer_id.clone(),
                related_contact_id: req.related_contact_id.clone().or(continued_from.clone()),
                segment_attributes: req.segment_attributes.clone(),
                disconnect_on_customer_exit: req.disconnect_on_customer_exit.clone(),
                participant_configuration: req.participant_configuration.clone(),
            },
            duration_minutes: duration,
            initiated_at: now,
            enqueued_at: Some(now),
            expires_at: now + Duration::minutes(duration),
            ended_at: None,
            disconnect_reason: None,
            updated_at: now,
            agent: None,
        };
        let customer = Participant {
            id: customer_id,
            contact_id: contact_id.clone(),
            role: Role::Customer,
            display_name: req.display_name.clone(),
            joined_at: now,
            left_at: None,
        };
        let sender = Sender::of(&customer);
        let mut items = vec![event(PARTICIPANT_JOINED, Some(sender.clone()))];
        if let Some((content_type, content)) = req.initial_message.clone() {
            items.push(NewItem {
                id: new_id(),
                item_type: ItemType::Message,
                content_type,
                content: Some(content),
                sender: Some(sender),
            });
        }
        let stream = req.streaming_endpoint.as_ref().map(|arn| NewStream {
            stream: Stream {
                id: new_id(),
                contact_id: contact_id.clone(),
                instance_id: instance_id.clone(),
                endpoint_arn: arn.clone(),
                started_at: now,
                stopped_at: None,
            },
            client_token: None,
        });
        self.routing.admit(&contact).await?;
        let admitted = contact.clone();
        let created = self
            .store
            .create_contact(NewContact {
                contact,
                customer,
                items,
                client_token: req.client_token.clone(),
                stream: stream.clone(),
            })
            .await;
        let new = created.as_ref().is_ok_and(|c| !c.existing);
        self.routing.admitted(&admitted, new);
        let created = created?;
        if let (Some(stream), true) = (&stream, new) {
            self.streams.started(&stream.stream);
        }
        self.publish_items(&created.contact, &created.items);
        if new {
            tracing::info!(contact_id = %created.contact.id, instance_id = %instance_id, "chat started");
        }

        let participant_token = self.tokens.mint(&Claims {
            kind: TokenKind::Participant,
            participant_id: created.customer.id.clone(),
            contact_id: created.contact.id.clone(),
            expires_at: None,
        });
        let connection = if created.contact.is_ended() {
            Connection {
                websocket: None,
                credentials: None,
            }
        } else {
            let wants = |t: &str| req.connection_types.iter().any(|c| c == t);
            self.connection(
                &created.customer,
                wants("WEBSOCKET"),
                wants("CONNECTION_CREDENTIALS"),
            )
        };
        Ok(StartedChat {
            contact_id: created.contact.id,
            participant_id: created.customer.id,
            participant_token,
            continued_from,
            connection,
            streaming_id: created.stream_id,
        })
    }

    /// StartContactStreaming: returns the StreamingId.
    pub async fn start_streaming(
        &self,
        instance: &str,
        contact_id: &str,
        endpoint_arn: &str,
        client_token: Option<String>,
    ) -> Result<String, ChatError> {
        let contact = self.contact(instance, contact_id).await?;
        crate::streaming::endpoint::parse(endpoint_arn, &self.config)
            .map_err(ChatError::Invalid)?;
        let started = self
            .store
            .start_stream(NewStream {
                stream: Stream {
                    id: new_id(),
                    contact_id: contact.id.clone(),
                    instance_id: contact.instance_id.clone(),
                    endpoint_arn: endpoint_arn.to_string(),
                    started_at: self.now(),
                    stopped_at: None,
                },
                client_token,
            })
            .await
            .map_err(|e| match e {
                StoreError::ContactEnded => {
                    ChatError::Invalid(format!("Contact {contact_id} has ended"))
                }
                other => other.into(),
            })?;
        if !started.existing {
            tracing::info!(contact_id = %contact.id, stream_id = %started.stream.id, endpoint = %endpoint_arn, "streaming started");
        }
        // Also on a retry: the first attempt may have failed between the commit and this.
        if started.stream.stopped_at.is_none() {
            self.streams.started(&started.stream);
        }
        Ok(started.stream.id)
    }

    /// StopContactStreaming: the endpoint gets what was committed before, and nothing after.
    pub async fn stop_streaming(
        &self,
        instance: &str,
        contact_id: &str,
        streaming_id: &str,
    ) -> Result<(), ChatError> {
        let contact = self.contact(instance, contact_id).await?;
        let stream = self.store.stop_stream(&contact.id, streaming_id).await?;
        tracing::info!(contact_id = %contact.id, stream_id = %stream.id, "streaming stopped");
        // Its worker finishes once it has published what the stream owed.
        self.streams.written(&contact.id);
        Ok(())
    }

    pub async fn stop_contact(
        &self,
        instance: &str,
        contact_id: &str,
        reason: Option<String>,
    ) -> Result<(), ChatError> {
        let contact = self.contact(instance, contact_id).await?;
        self.end_chat(&contact.id, reason).await
    }

    /// Ends a chat (StopContact, duration expiry): chat.ended is stored and pushed, sockets close.
    pub async fn end_chat(
        &self,
        contact_id: &str,
        reason: Option<String>,
    ) -> Result<(), ChatError> {
        if let Some(item) = self
            .store
            .end_contact(contact_id, event(CHAT_ENDED, None), reason)
            .await?
        {
            self.sessions.forget_contact(contact_id);
            // Before anything else can fail: chat.ended is in the streams' outboxes.
            self.streams.written(contact_id);
            if let Some(contact) = self.store.contact(contact_id).await? {
                self.publish_items(&contact, &[item]);
                self.routing.contact_ended(&contact.instance_id, contact_id);
            }
            tracing::info!(%contact_id, "chat ended");
        }
        Ok(())
    }

    pub async fn update_attributes(
        &self,
        instance: &str,
        contact_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), ChatError> {
        check_attributes(&attributes)?;
        let contact = self.contact(instance, contact_id).await?;
        Ok(self
            .store
            .update_attributes(&contact.id, attributes, MAX_ATTRIBUTE_BYTES)
            .await?)
    }

    /// CreateParticipant: adds a custom bot to a chat; returns the participant and its token.
    pub async fn create_participant(
        &self,
        instance: &str,
        contact_id: &str,
        role: Role,
        display_name: String,
        client_token: Option<String>,
    ) -> Result<(Participant, String), ChatError> {
        if role != Role::CustomBot {
            return Err(ChatError::Invalid(format!(
                "ParticipantRole {} cannot be added to a chat; only CUSTOM_BOT can",
                role.as_str()
            )));
        }
        let contact = self.contact(instance, contact_id).await?;
        self.add_participant(&contact, role, display_name, client_token, None)
            .await
    }

    /// Adds the agent who accepted the chat as its AGENT participant (participant.joined with
    /// the agent's display name is pushed to the chat) and records them as the contact's agent.
    pub async fn add_agent(
        &self,
        contact_id: &str,
        user_id: &str,
        display_name: &str,
    ) -> Result<(Participant, String), ChatError> {
        let contact = self
            .store
            .contact(contact_id)
            .await?
            .ok_or(ChatError::ContactNotFound)?;
        self.add_participant(
            &contact,
            Role::Agent,
            display_name.to_string(),
            None,
            Some(user_id.to_string()),
        )
        .await
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

    async fn add_participant(
        &self,
        contact: &Contact,
        role: Role,
        display_name: String,
        client_token: Option<String>,
        agent_user_id: Option<String>,
    ) -> Result<(Participant, String), ChatError> {
        let contact_id = &contact.id;
        if contact.is_ended() {
            return Err(ChatError::Invalid(format!(
                "Contact {contact_id} has ended"
            )));
        }
        let participant = Participant {
            id: new_id(),
            contact_id: contact.id.clone(),
            role,
            display_name,
            joined_at: self.now(),
            left_at: None,
        };
        let joined = event(PARTICIPANT_JOINED, Some(Sender::of(&participant)));
        let added = self
            .store
            .add_participant(NewParticipant {
                participant,
                joined,
                client_token,
                agent_user_id,
            })
            .await
            .map_err(|e| match ChatError::from(e) {
                ChatError::AccessDenied => {
                    ChatError::Invalid(format!("Contact {contact_id} has ended"))
                }
                other => other,
            })?;
        self.publish_items(contact, &added.items);
        let token = self.participant_token(&added.participant);
        Ok((added.participant, token))
    }

    // ---- participant API ------------------------------------------------------------------

    /// Mints what CreateParticipantConnection hands out.
    fn connection(
        &self,
        participant: &Participant,
        websocket: bool,
        credentials: bool,
    ) -> Connection {
        let now = self.now();
        let claims = |kind, expires_at| Claims {
            kind,
            participant_id: participant.id.clone(),
            contact_id: participant.contact_id.clone(),
            expires_at: Some(expires_at),
        };
        Connection {
            websocket: websocket.then(|| {
                let expiry = now + WEBSOCKET_URL_LIFETIME;
                let token = self.tokens.mint(&claims(TokenKind::WebSocket, expiry));
                (
                    format!("{}/ws/v1/chat?token={token}", self.websocket_base),
                    expiry,
                )
            }),
            credentials: credentials.then(|| {
                let expiry = now + Duration::seconds(self.config.limits.connection_token_seconds);
                (
                    self.tokens.mint(&claims(TokenKind::Connection, expiry)),
                    expiry,
                )
            }),
        }
    }

    /// A participant still on a chat that has not ended, from a token of `kind`.
    async fn participant_by_token(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<Arc<Session>, ChatError> {
        let claims = self
            .tokens
            .verify(token, kind, self.now())
            .ok_or(ChatError::AccessDenied)?;
        if let Some(session) = self.sessions.get(&claims.participant_id) {
            return Ok(session);
        }
        let participant = self
            .store
            .participant(&claims.participant_id)
            .await?
            .ok_or(ChatError::AccessDenied)?;
        let contact = match self.sessions.contact(&participant.contact_id) {
            Some(contact) => contact,
            None => Arc::new(
                self.store
                    .contact(&participant.contact_id)
                    .await?
                    .ok_or(ChatError::AccessDenied)?,
            ),
        };
        if participant.has_left() || contact.is_ended() {
            return Err(ChatError::AccessDenied);
        }
        let session = Arc::new(Session {
            participant,
            contact,
        });
        self.sessions.insert(session.clone());
        Ok(session)
    }

    pub async fn create_connection(
        &self,
        participant_token: &str,
        types: &[String],
    ) -> Result<Connection, ChatError> {
        let session = self
            .participant_by_token(participant_token, TokenKind::Participant)
            .await?;
        let wants = |t: &str| types.iter().any(|c| c == t);
        Ok(self.connection(
            &session.participant,
            wants("WEBSOCKET"),
            wants("CONNECTION_CREDENTIALS"),
        ))
    }

    pub async fn authenticate(&self, connection_token: &str) -> Result<Arc<Session>, ChatError> {
        self.participant_by_token(connection_token, TokenKind::Connection)
            .await
    }

    /// The participant a WebSocket URL was minted for.
    pub async fn authenticate_websocket(&self, token: &str) -> Result<Arc<Session>, ChatError> {
        self.participant_by_token(token, TokenKind::WebSocket).await
    }

    pub async fn send_message(
        &self,
        session: &Session,
        content_type: String,
        content: String,
        client_token: Option<String>,
    ) -> Result<Item, ChatError> {
        check_message(
            &content_type,
            &content,
            &session.contact.details.supported_messaging_content_types,
        )?;
        let item = NewItem {
            id: new_id(),
            item_type: ItemType::Message,
            content_type,
            content: Some(content),
            sender: Some(Sender::of(&session.participant)),
        };
        let appended = self
            .store
            .append_item(&session.contact.id, item, client_token)
            .await?;
        if !appended.existing {
            self.publish_items(&session.contact, std::slice::from_ref(&appended.item));
        }
        Ok(appended.item)
    }

    /// SendEvent; returns the event's Id and time.
    pub async fn send_event(
        &self,
        session: &Session,
        content_type: &str,
        content: Option<String>,
        client_token: Option<String>,
    ) -> Result<(String, OffsetDateTime), ChatError> {
        match content_type {
            TYPING => {
                // Typing is pushed but never stored; a retry with the same ClientToken gets the
                // first answer from a short-lived memory instead of a second push.
                let key = client_token.map(|t| (session.participant.id.clone(), t));
                if let Some(earlier) = key
                    .as_ref()
                    .and_then(|k| self.recent_typing.get(k, self.now()))
                {
                    return Ok(earlier);
                }
                let id = new_id();
                let at = self.now();
                let mut fields = serde_json::Map::new();
                fields.insert("AbsoluteTime".into(), json!(format_instant(at)));
                if let Some(content) = &content {
                    fields.insert("Content".into(), json!(content));
                }
                fields.insert("ContentType".into(), json!(TYPING));
                fields.insert("Id".into(), json!(id));
                fields.insert("Type".into(), json!("EVENT"));
                let p = &session.participant;
                fields.insert("ParticipantId".into(), json!(p.id));
                fields.insert("DisplayName".into(), json!(p.display_name));
                fields.insert("ParticipantRole".into(), json!(p.role.as_str()));
                if self.streams.streams(&session.contact.id) {
                    // Acknowledged typing reaches the streams, even though it is not kept.
                    self.store
                        .stream_event(&session.contact.id, &id, fields.clone())
                        .await?;
                }
                if let Some(key) = key {
                    self.recent_typing.remember(key, (id.clone(), at), at);
                }
                self.publish_ephemeral(&session.contact, fields);
                Ok((id, at))
            }
            MESSAGE_DELIVERED | MESSAGE_READ => {
                let message_id = receipt_message_id(content.as_deref())?;
                let kind = if content_type == MESSAGE_READ {
                    ReceiptKind::Read
                } else {
                    ReceiptKind::Delivered
                };
                let recorded = self
                    .store
                    .record_receipt(NewReceipt {
                        contact_id: session.contact.id.clone(),
                        message_id: message_id.clone(),
                        recipient_participant_id: session.participant.id.clone(),
                        kind,
                        event_id: new_id(),
                        client_token,
                    })
                    .await?;
                if !recorded.existing {
                    let fields = receipt_event_fields(
                        &recorded.event_id,
                        recorded.at,
                        &message_id,
                        &recorded.receipt,
                    );
                    self.publish_ephemeral(&session.contact, fields);
                }
                Ok((recorded.event_id, recorded.at))
            }
            CONNECTION_ACKNOWLEDGED => Ok((new_id(), self.now())),
            other => Err(ChatError::Invalid(format!(
                "ContentType '{other}' is not a supported event type"
            ))),
        }
    }

    /// DisconnectParticipant. The customer leaving ends the chat. The agent leaving ends it too
    /// (as in Amazon Connect's default flow: the customer sees participant.left, then
    /// chat.ended), unless the contact's flow sends the customer back to its queue. A bot
    /// leaving does not end it.
    pub async fn disconnect(
        &self,
        session: &Session,
        client_token: Option<String>,
    ) -> Result<(), ChatError> {
        let participant = &session.participant;
        let back_to = match participant.role {
            Role::Agent => self.queue_after_agent_leaves(&session.contact),
            _ => None,
        };
        let reason = match participant.role {
            Role::Customer => Some("CUSTOMER_DISCONNECT"),
            Role::Agent if back_to.is_none() => Some("AGENT_DISCONNECT"),
            _ => None,
        };
        let departed = self
            .store
            .depart(Departure {
                participant_id: participant.id.clone(),
                left: event(PARTICIPANT_LEFT, Some(Sender::of(participant))),
                ended: reason.map(|_| event(CHAT_ENDED, None)),
                disconnect_reason: reason.map(str::to_string),
                client_token,
            })
            .await?;
        self.sessions.forget_participant(&participant.id);
        if reason.is_some() {
            self.sessions.forget_contact(&session.contact.id);
        }
        self.publish_items(&session.contact, &departed.items);
        if reason.is_some() && !departed.existing {
            self.routing
                .contact_ended(&session.contact.instance_id, &session.contact.id);
            tracing::info!(contact_id = %session.contact.id, role = participant.role.as_str(), "participant left; chat ended");
        }
        if let (Some(queue), false) = (back_to, departed.existing) {
            // The cached contact may predate the agent: the store knows who has it now.
            let current = self.store.contact(&session.contact.id).await?;
            if let Some((agent, _)) = current.and_then(|c| c.agent) {
                // Kept, so that a restart finds the chat waiting rather than with this agent.
                self.store
                    .requeue_contact(&session.contact.id, &queue, self.now())
                    .await?;
                self.routing.agent_left(
                    &session.contact.instance_id,
                    &session.contact.id,
                    &agent,
                    &queue,
                );
                tracing::info!(contact_id = %session.contact.id, "agent left; chat back in its queue");
            }
        }
        Ok(())
    }

    /// The queue the contact's flow sends it back to when its agent leaves, if it does.
    fn queue_after_agent_leaves(&self, contact: &Contact) -> Option<String> {
        let flow = self
            .config
            .instance(&contact.instance_id)?
            .contact_flow(&contact.contact_flow_id)?;
        (flow.after_agent_leaves == crate::config::AfterAgentLeaves::BackToQueue)
            .then(|| flow.queue.clone())
    }

    /// The session of a participant found by id (an agent acting from the workspace rather than
    /// through a connection token).
    pub async fn session_of(&self, participant: Participant) -> Result<Session, ChatError> {
        let contact = self
            .store
            .contact(&participant.contact_id)
            .await?
            .ok_or(ChatError::ContactNotFound)?;
        if participant.has_left() || contact.is_ended() {
            return Err(ChatError::AccessDenied);
        }
        Ok(Session {
            participant,
            contact: Arc::new(contact),
        })
    }

    /// Records the outcome of an agent's transfer in the chat: transfer.succeeded, then the
    /// agent leaving (the chat goes on and waits for the next agent); or transfer.failed.
    pub async fn transferred(&self, session: &Session, succeeded: bool) -> Result<(), ChatError> {
        let contact = &session.contact;
        let outcome = if succeeded {
            TRANSFER_SUCCEEDED
        } else {
            TRANSFER_FAILED
        };
        let appended = self
            .store
            .append_item(&contact.id, event(outcome, None), None)
            .await?;
        self.publish_items(contact, std::slice::from_ref(&appended.item));
        if succeeded {
            let participant = &session.participant;
            let departed = self
                .store
                .depart(Departure {
                    participant_id: participant.id.clone(),
                    left: event(PARTICIPANT_LEFT, Some(Sender::of(participant))),
                    ended: None,
                    disconnect_reason: None,
                    client_token: None,
                })
                .await?;
            self.sessions.forget_participant(&participant.id);
            self.publish_items(contact, &departed.items);
        }
        Ok(())
    }

    /// Ends every chat whose duration has run out. Returns how many ended.
    pub async fn end_expired_chats(&self) -> Result<usize, ChatError> {
        let expired = self.store.expired_contacts(self.now()).await?;
        for contact_id in &expired {
            self.end_chat(contact_id, None).await?;
        }
        Ok(expired.len())
    }

    // ---- fan-out --------------------------------------------------------------------------

    /// Committed items as sockets receive them: rendered, each with what it closes.
    pub fn deliveries<'a>(
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
            Delivery {
                contact_id: contact.id.clone(),
                seq: Some(item.seq),
                frame: self.item_frame(contact, item).into(),
                closing,
            }
        })
    }

    /// Pushes committed items to the contact's sockets, in order.
    pub fn publish_items(&self, contact: &Contact, items: &[Item]) {
        for delivery in self.deliveries(contact, items) {
            self.bus.publish(delivery);
        }
        if !items.is_empty() {
            self.streams.written(&contact.id);
        }
    }

    fn publish_ephemeral(&self, contact: &Contact, fields: serde_json::Map<String, Value>) {
        self.bus.publish(Delivery {
            contact_id: contact.id.clone(),
            seq: None,
            frame: socket_frame(contact, fields).into(),
            closing: None,
        });
        self.streams.written(&contact.id);
    }

    /// The frame that carries a stored item to a socket.
    pub fn item_frame(&self, contact: &Contact, item: &Item) -> String {
        socket_frame(contact, item.wire_fields())
    }
}

/// An item's fields as a socket frame: socket copies also name the chat's contacts, which ChatJS
/// uses to route them to the right session.
fn socket_frame(contact: &Contact, fields: serde_json::Map<String, Value>) -> String {
    let fields = with_contact_ids(fields, &contact.initial_contact_id, &contact.id);
    chat_frame(&Value::Object(fields))
}

/// `{"topic":"aws/chat","contentType":"application/json","content":"<item JSON as a string>"}`.
pub fn chat_frame(item: &Value) -> String {
    json!({
        "topic": "aws/chat",
        "contentType": "application/json",
        "content": item.to_string(),
    })
    .to_string()
}

/// Ids are UUIDv7: unique, and ordered by creation like Amazon's.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn event(content_type: &str, sender: Option<Sender>) -> NewItem {
    NewItem {
        id: new_id(),
        item_type: ItemType::Event,
        content_type: content_type.to_string(),
        content: None,
        sender,
    }
}

fn check_message(content_type: &str, content: &str, supported: &[String]) -> Result<(), ChatError> {
    let allowed = SENDABLE_MESSAGE_TYPES.contains(&content_type)
        && supported.iter().any(|t| t == content_type);
    if !allowed {
        return Err(ChatError::Invalid(format!(
            "ContentType '{content_type}' is not supported for this chat; supported: {}",
            supported
                .iter()
                .filter(|t| SENDABLE_MESSAGE_TYPES.contains(&t.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ChatError::Invalid(format!(
            "Content is {} bytes; the limit is {MAX_CONTENT_BYTES} bytes",
            content.len()
        )));
    }
    if content_type == "application/json" || content_type.ends_with("interactive.response") {
        serde_json::from_str::<Value>(content).map_err(|_| {
            ChatError::Invalid(format!(
                "Content must be valid JSON for ContentType {content_type}"
            ))
        })?;
    }
    Ok(())
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), ChatError> {
    let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ATTRIBUTE_BYTES {
        return Err(ChatError::Invalid(format!(
            "Attributes total {size} bytes; the limit is {MAX_ATTRIBUTE_BYTES} bytes"
        )));
    }
    if let Some(bad) = attributes.keys().find(|k| {
        !k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(ChatError::Invalid(format!(
            "Attribute name '{bad}' may contain only letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

fn receipt_message_id(content: Option<&str>) -> Result<String, ChatError> {
    let invalid = || {
        ChatError::Invalid(
            r#"Content must be JSON of the form {"messageId": "<Id of a message>"}"#.into(),
        )
    };
    let value: Value = serde_json::from_str(content.ok_or_else(invalid)?).map_err(|_| invalid())?;
    match value.get("messageId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 256 => Ok(id.to_string()),
        _ => Err(invalid()),
    }
}

impl ChatService {
    /// DisconnectParticipant retried with the ClientToken of a disconnect that already happened:
    /// answers success without doing anything again; otherwise access is denied.
    pub async fn retry_disconnect(
        &self,
        connection_token: &str,
        client_token: Option<String>,
    ) -> Result<(), ChatError> {
        let claims = self
            .tokens
            .verify(connection_token, TokenKind::Connection, self.now())
            .ok_or(ChatError::AccessDenied)?;
        let participant = self
            .store
            .participant(&claims.participant_id)
            .await?
            .ok_or(ChatError::AccessDenied)?;
        if !participant.has_left() {
            return Err(ChatError::AccessDenied);
        }
        let departed = self
            .store
            .depart(Departure {
                participant_id: participant.id.clone(),
                left: event(PARTICIPANT_LEFT, Some(Sender::of(&participant))),
                ended: None,
                disconnect_reason: None,
                client_token,
            })
            .await?;
        if departed.existing {
            Ok(())
        } else {
            Err(ChatError::AccessDenied)
        }
    }
}

/// A participant's ClientToken.
type TokenKey = (String, String);
/// An event's Id and time.
type EventAnswer = (String, OffsetDateTime);

/// A bounded memory of recent answers by key, forgotten after [`RecentAnswers::KEEP`].
#[derive(Default)]
struct RecentAnswers {
    /// Answer and when it was given.
    entries: std::sync::Mutex<std::collections::HashMap<TokenKey, (EventAnswer, OffsetDateTime)>>,
}

impl RecentAnswers {
    const KEEP: Duration = Duration::minutes(5);
    const MAX_ENTRIES: usize = 100_000;

    fn get(&self, key: &TokenKey, now: OffsetDateTime) -> Option<EventAnswer> {
        let entries = self.entries.lock().expect("recent answers lock");
        entries
            .get(key)
            .filter(|(_, at)| now - *at < Self::KEEP)
            .map(|(answer, _)| answer.clone())
    }

    fn remember(&self, key: TokenKey, answer: EventAnswer, now: OffsetDateTime) {
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
struct SessionCache {
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

    fn get(&self, participant_id: &str) -> Option<Arc<Session>> {
        self.entries
            .lock()
            .expect("sessions")
            .by_participant
            .get(participant_id)
            .cloned()
    }

    fn contact(&self, contact_id: &str) -> Option<Arc<Contact>> {
        self.entries
            .lock()
            .expect("sessions")
            .contacts
            .get(contact_id)
            .map(|c| c.contact.clone())
    }

    fn insert(&self, session: Arc<Session>) {
        let mut entries = self.entries.lock().expect("sessions");
        if entries.by_participant.len() >= Self::MAX_ENTRIES {
            entries.by_participant.clear();
            entries.contacts.clear();
        }
        let participant_id = session.participant.id.clone();
        let cached = entries
            .contacts
            .entry(session.contact.id.clone())
            .or_insert_with(|| CachedContact {
                contact: session.contact.clone(),
                participant_ids: Vec::new(),
            });
        if !cached.participant_ids.contains(&participant_id) {
            cached.participant_ids.push(participant_id.clone());
        }
        entries.by_participant.insert(participant_id, session);
    }

    fn forget_participant(&self, participant_id: &str) {
        self.entries
            .lock()
            .expect("sessions")
            .by_participant
            .remove(participant_id);
    }

    fn forget_contact(&self, contact_id: &str) {
        let mut entries = self.entries.lock().expect("sessions");
        if let Some(cached) = entries.contacts.remove(contact_id) {
            for participant_id in &cached.participant_ids {
                entries.by_participant.remove(participant_id);
            }
        }
    }
}
