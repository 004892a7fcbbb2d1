//! The Connect API's operations on chats: starting one, streaming it, stopping it, its
//! attributes, adding participants (a custom bot, the agent who accepted it), and ending chats
//! whose duration ran out.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::rules::{
    check_attributes, check_message, DEFAULT_CHAT_DURATION_MINUTES, MAX_ATTRIBUTE_BYTES,
};
use super::service::{event, new_id, ChatService, Connection, StartChat, StartedChat};
use super::ChatError;
use crate::model::*;
use crate::store::{NewContact, NewParticipant, NewStream, Replayed, StoreError};

impl ChatService {
    // ---- Connect API ----------------------------------------------------------------------

    pub async fn start_chat(&self, req: StartChat) -> Result<StartedChat, ChatError> {
        let instance = self.resolve_instance(&req.instance_id)?;
        let instance_id = instance.id.clone();
        let flow = self.starting_flow(instance, &req.contact_flow_id).await?;

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
            crate::config::endpoint::parse(arn, &self.config).map_err(ChatError::Invalid)?;
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
            // A flow in the flow language picks the queue itself, when it gets that far.
            queue_id: flow.queue.clone(),
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
            enqueued_at: flow.queue.is_some().then_some(now),
            expires_at: now + Duration::minutes(duration),
            ended_at: None,
            disconnect_reason: None,
            updated_at: now,
            agent: None,
            previous_contact_id: None,
            transferred_to: None,
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
        let flow_run = flow
            .language
            .as_ref()
            .map(|language| self.new_flow_run(&flow.id, language.clone(), &contact));
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
                flow_run,
            })
            .await;
        let new = created.as_ref().is_ok_and(Replayed::is_new);
        self.routing.admitted(&admitted, new);
        let created = created?.value;
        if let (Some(stream), true) = (&stream, new) {
            self.streams.started(&stream.stream);
        }
        self.publish_items(&created.contact, &created.items);
        if new {
            tracing::info!(contact_id = %created.contact.id, instance_id = %instance_id, "chat started");
        }

        let participant_token = self.participant_token(&created.customer);
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
        crate::config::endpoint::parse(endpoint_arn, &self.config).map_err(ChatError::Invalid)?;
        let started = self
            .store
            .start_stream(NewStream {
                stream: Stream {
                    id: new_id(),
                    // A stream carries the chat, through transfers.
                    contact_id: contact.chat_id().to_string(),
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
        if started.is_new() {
            tracing::info!(contact_id = %contact.id, stream_id = %started.id, endpoint = %endpoint_arn, "streaming started");
        }
        // Also on a retry: the first attempt may have failed between the commit and this.
        if started.stopped_at.is_none() {
            self.streams.started(&started);
        }
        Ok(started.value.id)
    }

    /// StopContactStreaming: the endpoint gets what was committed before, and nothing after.
    pub async fn stop_streaming(
        &self,
        instance: &str,
        contact_id: &str,
        streaming_id: &str,
    ) -> Result<(), ChatError> {
        let contact = self.contact(instance, contact_id).await?;
        let stream = self
            .store
            .stop_stream(contact.chat_id(), streaming_id)
            .await?;
        tracing::info!(contact_id = %contact.id, stream_id = %stream.id, "streaming stopped");
        // Its worker finishes once it has published what the stream owed.
        self.streams.written(contact.chat_id());
        Ok(())
    }

    pub async fn stop_contact(
        &self,
        instance: &str,
        contact_id: &str,
        reason: Option<String>,
    ) -> Result<(), ChatError> {
        let contact = self.contact(instance, contact_id).await?;
        if contact.transferred_to.is_some() {
            // Handed on by a transfer: this contact is over already, as an ended one is.
            return Ok(());
        }
        self.end_chat(contact.chat_id(), reason).await
    }

    /// Ends the chat a contact of it is part of (routing ending an abandoned contact).
    pub async fn end_chat_of(
        &self,
        contact_id: &str,
        reason: Option<String>,
    ) -> Result<(), ChatError> {
        match self.store.contact(contact_id).await? {
            Some(contact) => self.end_chat(contact.chat_id(), reason).await,
            None => Err(ChatError::ContactNotFound),
        }
    }

    /// Ends a chat (StopContact, duration expiry; `chat_id` is its first contact's id):
    /// chat.ended is stored and pushed, sockets close.
    pub async fn end_chat(&self, chat_id: &str, reason: Option<String>) -> Result<(), ChatError> {
        if let Some(item) = self
            .store
            .end_contact(chat_id, event(CHAT_ENDED, None), reason)
            .await?
        {
            self.sessions.forget_contact(chat_id);
            // Before anything else can fail: chat.ended is in the streams' outboxes.
            self.streams.written(chat_id);
            if let Some(contact) = self.store.current_contact(chat_id).await? {
                self.publish_items(&contact, &[item]);
                self.routing
                    .contact_ended(&contact.instance_id, &contact.id);
            }
            tracing::info!(contact_id = %chat_id, "chat ended");
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

    /// CreateParticipant: adds a custom bot to a chat; returns the participant, its token, and
    /// when the token expires (the chat's end of duration: the token lives as long as the
    /// participant is on the chat).
    pub async fn create_participant(
        &self,
        instance: &str,
        contact_id: &str,
        role: Role,
        display_name: String,
        client_token: Option<String>,
    ) -> Result<(Participant, String, OffsetDateTime), ChatError> {
        if role != Role::CustomBot {
            return Err(ChatError::Invalid(format!(
                "ParticipantRole {} cannot be added to a chat; only CUSTOM_BOT can",
                role.as_str()
            )));
        }
        let contact = self.contact(instance, contact_id).await?;
        let (participant, token) = self
            .add_participant(&contact, role, display_name, client_token, None)
            .await?;
        Ok((participant, token, contact.expires_at))
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
            // Participants belong to the chat, whichever of its contacts they joined.
            contact_id: contact.chat_id().to_string(),
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
        Ok((added.value.participant, token))
    }

    /// Ends every chat whose duration has run out. Returns how many ended.
    pub async fn end_expired_chats(&self) -> Result<usize, ChatError> {
        let expired = self.store.expired_contacts(self.now()).await?;
        for contact_id in &expired {
            self.end_chat(contact_id, None).await?;
        }
        Ok(expired.len())
    }
}
