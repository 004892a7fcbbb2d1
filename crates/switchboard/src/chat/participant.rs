//! The participant API's operations: connections and the tokens behind them, messages,
//! events (typing, receipts), leaving a chat, and an agent's transfer recorded in the chat.

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::quick_connects::TransferFlow;
use super::rules::{check_message, receipt_message_id, WEBSOCKET_URL_LIFETIME};
use super::service::{event, new_id, ChatService, Connection, Session};
use super::tokens::{Claims, TokenKind};
use super::{ChatError, FlowEvent};
use crate::clock::format_instant;
use crate::model::*;
use crate::store::{Departure, NewReceipt};

impl ChatService {
    // ---- participant API ------------------------------------------------------------------

    /// Mints what CreateParticipantConnection hands out.
    pub(super) fn connection(
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
        // A participant belongs to the chat (its first contact's id); the session acts on
        // the chat's current contact, which a transfer may have replaced.
        let contact = match self.sessions.contact(&participant.contact_id) {
            Some(contact) => contact,
            None => Arc::new(
                self.store
                    .current_contact(&participant.contact_id)
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

    /// CreateParticipantConnection. `connect_participant`: the participant is connected now,
    /// with or without a WebSocket (ConnectParticipant, as streaming-only customers say so).
    pub async fn create_connection(
        &self,
        participant_token: &str,
        types: &[String],
        connect_participant: bool,
    ) -> Result<Connection, ChatError> {
        let session = self
            .participant_by_token(participant_token, TokenKind::Participant)
            .await?;
        if connect_participant {
            self.participant_connected(&session).await;
        }
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
            .append_item(session.contact.chat_id(), item, client_token)
            .await?;
        if appended.is_new() {
            self.publish_items(&session.contact, std::slice::from_ref(&appended));
            // Only a chat in its flow has no queue yet: its flow may be waiting for the
            // customer. Every other message costs nothing here.
            if session.participant.role == Role::Customer && session.contact.queue_id.is_none() {
                let text = appended.content.clone().unwrap_or_default();
                let chat_id = session.contact.chat_id();
                if let Err(e) = self
                    .flow_event(chat_id, FlowEvent::CustomerMessage(text))
                    .await
                {
                    tracing::warn!(contact_id = %chat_id, error = %e, "a flow step failed");
                }
            }
        }
        Ok(appended.value)
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
                if self.streams.streams(session.contact.chat_id()) {
                    // Acknowledged typing reaches the streams, even though it is not kept.
                    self.store
                        .stream_event(session.contact.chat_id(), &id, fields.clone())
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
                        contact_id: session.contact.chat_id().to_string(),
                        message_id: message_id.clone(),
                        recipient_participant_id: session.participant.id.clone(),
                        kind,
                        event_id: new_id(),
                        client_token,
                    })
                    .await?;
                if recorded.is_new() {
                    let fields = receipt_event_fields(
                        &recorded.event_id,
                        recorded.at,
                        &message_id,
                        &recorded.receipt,
                    );
                    self.publish_ephemeral(&session.contact, fields);
                }
                let at = recorded.at;
                Ok((recorded.value.event_id, at))
            }
            CONNECTION_ACKNOWLEDGED => Ok((new_id(), self.now())),
            other => Err(ChatError::Invalid(format!(
                "ContentType '{other}' is not a supported event type"
            ))),
        }
    }

    /// DisconnectParticipant. The customer leaving ends the chat. The agent leaving ends it too
    /// (as in Amazon Connect's default flow: the customer sees participant.left, then
    /// chat.ended), unless the contact's flow sends the customer back to its queue or named a
    /// disconnect flow, which then runs. A bot leaving does not end it.
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
        let chat_id = session.contact.chat_id();
        // The chat's flow may have named a flow for the customer who remains: the run switches
        // to it with the departure.
        let disconnect_run = match (participant.role, &back_to) {
            (Role::Agent, None) => self.disconnect_run(chat_id).await?,
            _ => None,
        };
        let disconnect_flow = disconnect_run.is_some();
        let reason = match participant.role {
            Role::Customer => Some("CUSTOMER_DISCONNECT"),
            Role::Agent if back_to.is_none() && !disconnect_flow => Some("AGENT_DISCONNECT"),
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
                run: disconnect_run,
            })
            .await?;
        self.sessions.forget_participant(&participant.id);
        if reason.is_some() {
            self.sessions.forget_contact(session.contact.chat_id());
        }
        self.publish_items(&session.contact, &departed);
        if reason.is_some() && departed.is_new() {
            self.routing
                .contact_ended(&session.contact.instance_id, &session.contact.id);
            tracing::info!(contact_id = %session.contact.id, role = participant.role.as_str(), "participant left; chat ended");
        }
        if disconnect_flow && departed.is_new() {
            tracing::info!(contact_id = %session.contact.id, "agent left; the disconnect flow runs");
            // Written due at once: should this fail, the next node to look starts it.
            if let Err(e) = self.flow_event(chat_id, FlowEvent::Due).await {
                tracing::warn!(contact_id = %chat_id, error = %e, "the disconnect flow did not start");
            }
        }
        if let (Some(queue), true) = (back_to, departed.is_new()) {
            // The cached contact may predate the agent: the store knows who has it now.
            let chat = session.contact.chat_id();
            let current = self.store.current_contact(chat).await?;
            if let Some((contact_id, agent)) = current.and_then(|c| Some((c.id, c.agent?.0))) {
                // Kept, so that a restart finds the chat waiting rather than with this agent.
                self.store.requeue_contact(chat, &queue, self.now()).await?;
                self.routing
                    .agent_left(&session.contact.instance_id, &contact_id, &agent, &queue);
                tracing::info!(contact_id = %session.contact.id, "agent left; chat back in its queue");
            }
        }
        Ok(())
    }

    /// A participant is connected (their WebSocket subscribed, or they said ConnectParticipant).
    /// As on Amazon Connect, a chat's flow starts once its customer is connected, so that the
    /// customer is there to read its first messages.
    pub async fn participant_connected(&self, session: &Session) {
        // Only a chat in its flow has no queue yet; every other connection costs nothing here.
        if session.participant.role == Role::Customer && session.contact.queue_id.is_none() {
            let chat_id = session.contact.chat_id();
            if let Err(e) = self.flow_event(chat_id, FlowEvent::Due).await {
                tracing::warn!(contact_id = %chat_id, error = %e, "the chat's flow did not start");
            }
        }
    }

    /// The queue the contact's flow sends it back to when its agent leaves, if it does.
    fn queue_after_agent_leaves(&self, contact: &Contact) -> Option<String> {
        let flow = self
            .config
            .instance(&contact.instance_id)?
            .contact_flow(&contact.contact_flow_id)?;
        // A flow in the flow language says where the chat waits; it comes back there.
        let queue = flow.queue.clone().or_else(|| contact.queue_id.clone())?;
        (flow.after_agent_leaves == crate::config::AfterAgentLeaves::BackToQueue).then_some(queue)
    }

    /// The session of a participant found by id (an agent acting from the workspace rather than
    /// through a connection token).
    pub async fn session_of(&self, participant: Participant) -> Result<Session, ChatError> {
        let contact = self
            .store
            .current_contact(&participant.contact_id)
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

    /// Records the outcome of an agent's transfer in the chat. When it succeeded, `to` names
    /// where the chat now waits (an agent's own queue is `agent/USER_ID`) and the id of the new
    /// contact it waits as: as on Amazon Connect, a transfer hands the chat on to a new contact
    /// (same InitialContactId, PreviousContactId the one it came from), kept so that a restart
    /// finds it waiting rather than with this agent. Then transfer.succeeded and the agent
    /// leaving: the chat goes on, the customer's session unbroken. Otherwise transfer.failed.
    /// With `flow` (a quick connect's transfer flow), the new contact waits in no queue yet: the
    /// chat's flow run becomes that flow, written in the same step, and queues it once started
    /// ([`ChatService::start_transfer_flow`]). Returns the new contact.
    pub async fn transferred(
        &self,
        session: &Session,
        to: Option<(&str, &str)>,
        flow: Option<&TransferFlow>,
    ) -> Result<Option<Contact>, ChatError> {
        let contact = &session.contact;
        let next = match to {
            Some((queue, new_contact_id)) => {
                let run = match flow {
                    Some(flow) => Some(
                        self.transfer_run(flow, contact, new_contact_id, queue)
                            .await?,
                    ),
                    None => None,
                };
                Some(
                    self.store
                        .transfer_contact(&contact.id, new_contact_id, queue, self.now(), run)
                        .await?,
                )
            }
            None => None,
        };
        let outcome = if next.is_some() {
            TRANSFER_SUCCEEDED
        } else {
            TRANSFER_FAILED
        };
        let appended = self
            .store
            .append_item(contact.chat_id(), event(outcome, None), None)
            .await?;
        // Both told as the contact the agent had, whose ChatJS session they end.
        self.publish_items(contact, std::slice::from_ref(&appended));
        if next.is_some() {
            let participant = &session.participant;
            let departed = self
                .store
                .depart(Departure {
                    participant_id: participant.id.clone(),
                    left: event(PARTICIPANT_LEFT, Some(Sender::of(participant))),
                    ended: None,
                    disconnect_reason: None,
                    client_token: None,
                    run: None,
                })
                .await?;
            self.sessions.forget_participant(&participant.id);
            // The others' sessions now act as the new contact.
            self.sessions.forget_contact(contact.chat_id());
            self.publish_items(contact, &departed);
        }
        Ok(next)
    }

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
                run: None,
            })
            .await?;
        if departed.replayed {
            Ok(())
        } else {
            Err(ChatError::AccessDenied)
        }
    }
}
