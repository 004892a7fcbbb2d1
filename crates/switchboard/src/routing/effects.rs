//! Carries routing's decisions out, in the order they were made: offers and their withdrawal are
//! told to the agent's workspace sockets, an accepted contact gets the agent as a participant
//! (and the agent a participant token for it), and an abandoned chat is ended.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::engine::{Effect, Presence, Withdrawn};
use super::router::{Routed, Router};
use crate::agent::hub::AgentHub;
use crate::chat::ChatService;
use crate::clock::{format_instant, from_millis};
use crate::config::Config;

/// Runs until the router tasks are gone.
pub async fn carry_out(
    mut routed: mpsc::UnboundedReceiver<Routed>,
    chat: Arc<ChatService>,
    router: Arc<Router>,
    hub: Arc<AgentHub>,
) {
    while let Some(Routed {
        instance_id,
        effect,
    }) = routed.recv().await
    {
        match effect {
            Effect::Offer {
                agent,
                contact,
                expires_at,
            } => {
                let (queue_id, customer_name) = describe(&chat, &contact).await;
                hub.send(
                    &agent,
                    &json!({
                        "type": "offer",
                        "contactId": contact,
                        "queueId": queue_id,
                        "customerName": customer_name,
                        "expiresAt": format_instant(from_millis(expires_at)),
                    }),
                );
            }
            Effect::Connect { agent, contact } => {
                let display_name = chat
                    .config()
                    .instance(&instance_id)
                    .and_then(|i| i.users.iter().find(|u| u.id == agent))
                    .map(|u| u.display_name.clone())
                    .unwrap_or_else(|| agent.clone());
                match chat.add_agent(&contact, &agent, &display_name).await {
                    Ok((participant, token)) => {
                        let (queue_id, customer_name) = describe(&chat, &contact).await;
                        hub.send(
                            &agent,
                            &json!({
                                "type": "contact.connected",
                                "contactId": contact,
                                "participantId": participant.id,
                                "participantToken": token,
                                "queueId": queue_id,
                                "customerName": customer_name,
                            }),
                        )
                    }
                    Err(e) => {
                        tracing::info!(%contact, %agent, error = %e, "accepted chat could not be joined");
                        router.never_joined(&instance_id, &agent, &contact);
                        hub.send(
                            &agent,
                            &json!({ "type": "contact.ended", "contactId": contact }),
                        );
                    }
                }
            }
            Effect::OfferWithdrawn {
                agent,
                contact,
                why,
            } => hub.send(
                &agent,
                &json!({
                    "type": "offer.withdrawn",
                    "contactId": contact,
                    "reason": match why {
                        Withdrawn::Missed => "MISSED",
                        Withdrawn::CustomerLeft => "CUSTOMER_LEFT",
                        Withdrawn::AgentUnavailable => "AGENT_UNAVAILABLE",
                    },
                }),
            ),
            Effect::PresenceChanged { agent, presence } => {
                router.keep_presence(&agent, &presence.encode()).await;
                let status = presence_name(chat.config(), &instance_id, &presence);
                hub.send(&agent, &json!({ "type": "status", "status": status }));
            }
            Effect::EndAbandoned { contact } => {
                tracing::info!(%contact, "customer gone while queued; ending the chat");
                if let Err(e) = chat
                    .end_chat_of(&contact, Some("CUSTOMER_DISCONNECT".into()))
                    .await
                {
                    tracing::warn!(%contact, error = %e, "ending an abandoned chat failed");
                }
            }
        }
    }
}

/// The queue and the customer's display name of a contact, for an offer.
async fn describe(chat: &ChatService, contact_id: &str) -> (Option<String>, Option<String>) {
    let Ok(Some(contact)) = chat.find_contact(contact_id).await else {
        return (None, None);
    };
    let customer = chat.customer_name(&contact).await.ok().flatten();
    (contact.queue_id, customer)
}

/// The status name agents see: the built-in names, or a custom status's configured name.
pub fn presence_name(config: &Config, instance_id: &str, presence: &Presence) -> String {
    match presence {
        Presence::Available => "Available".into(),
        Presence::Offline => "Offline".into(),
        Presence::Missed => "Missed".into(),
        Presence::Custom(id) => config
            .instance(instance_id)
            .and_then(|i| i.agent_statuses.iter().find(|s| &s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| id.clone()),
    }
}
