//! The agent desk: the one door through which agent-side clients act. Signing in and out,
//! choosing a status, answering offers, ending, clearing and transferring chats, the figures a
//! workspace or a supervisor shows, and an agent's live connection are each one method here;
//! the edges (the agent API, Connect's agent operations, and any other agent protocol) parse a
//! request, call one method and render what it returns.
//!
//! The desk decides nothing itself: routing decides (the router), the chat records (the
//! [`ChatService`]), and the desk puts the two together in the order that keeps them consistent,
//! so that no handler has to.

mod errors;

pub use errors::DeskError;

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::agent::auth::{AgentAuth, AgentIdentity};
use crate::agent::hub::{AgentHub, Frame};
use crate::chat::quick_connects::{QuickConnectView, TransferFlow};
use crate::chat::service::{new_id, Session};
use crate::chat::RoutingHook;
use crate::chat::{ChatError, ChatService};
use crate::clock::from_millis;
use crate::config::{Config, Instance, User};
use crate::model::Contact;
use crate::routing::effects::presence_name;
use crate::routing::engine::{AgentFigures, Presence, QueueFigures, QueueKey};
use crate::routing::router::{AgentAction, Router};

pub struct AgentDesk {
    config: Arc<Config>,
    chat: Arc<ChatService>,
    router: Arc<Router>,
    hub: Arc<AgentHub>,
    auth: Arc<AgentAuth>,
}

/// A successful sign-in.
pub struct SignedIn {
    pub identity: AgentIdentity,
    pub user: User,
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// What an agent may do about one of their contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactAction {
    Accept,
    Reject,
    /// Clear After Contact Work.
    Clear,
    /// Leave the chat, which ends it (as in Amazon Connect's default flow).
    End,
    Transfer(QueueKey),
    /// A transfer through a quick connect (its id or ARN): to its queue or agent, through its
    /// transfer flow if it names one.
    TransferThrough(String),
}

/// Everything an agent's workspace shows of them.
pub struct Workspace<'a> {
    pub instance: &'a Instance,
    pub user: &'a User,
    pub figures: AgentFigures,
    /// The status's name as agents see it.
    pub status: String,
    /// Their chats, connected ones first, then those in After Contact Work.
    pub contacts: Vec<DeskContact>,
    /// The chats offered to them, not yet accepted or rejected.
    pub offers: Vec<DeskOffer>,
    /// The quick connects they may transfer chats through (queues, and agents but themselves).
    pub quick_connects: Vec<QuickConnectView>,
}

/// A chat offered to an agent.
pub struct DeskOffer {
    pub contact_id: String,
    pub contact: Option<Contact>,
    pub customer_name: Option<String>,
    pub offered_at: OffsetDateTime,
    /// When the offer lapses unanswered.
    pub expires_at: OffsetDateTime,
}

/// One of an agent's chats, with what a workspace needs to open it.
pub struct DeskContact {
    pub contact_id: String,
    /// `CONNECTED` or `AFTER_CONTACT_WORK`.
    pub state: &'static str,
    pub contact: Option<Contact>,
    pub customer_name: Option<String>,
    /// The agent's AGENT participant and a participant token for it, while they are on the chat.
    pub participant: Option<(String, String)>,
}

/// The supervisor view of an instance.
pub struct Overview<'a> {
    pub instance: &'a Instance,
    /// One entry per configured queue, in order.
    pub queues: Vec<QueueFigures>,
    /// Each user the router knows, with their status's name.
    pub agents: Vec<(&'a User, AgentFigures, String)>,
}

/// An agent's open connection: frames to send them, starting with where they stand. Dropping
/// it is the agent going away.
pub struct AgentConnection {
    pub hello: Option<serde_json::Value>,
    pub frames: mpsc::UnboundedReceiver<Frame>,
    desk: Arc<AgentDesk>,
    me: AgentIdentity,
    id: u64,
}

impl Drop for AgentConnection {
    fn drop(&mut self) {
        self.desk.hub.detach(&self.me.user_id, self.id);
        self.desk
            .router
            .agent_connection(&self.me.instance_id, &self.me.user_id, false);
    }
}

impl AgentDesk {
    pub fn new(
        config: Arc<Config>,
        chat: Arc<ChatService>,
        router: Arc<Router>,
        hub: Arc<AgentHub>,
        auth: Arc<AgentAuth>,
    ) -> Self {
        Self {
            config,
            chat,
            router,
            hub,
            auth,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.chat.now()
    }

    /// The configured instance named by an id or an instance ARN of this server.
    pub fn instance(&self, reference: &str) -> Result<&Instance, ChatError> {
        self.chat.resolve_instance(reference)
    }

    // ---- sign-in --------------------------------------------------------------------------

    pub async fn sign_in(
        &self,
        instance_id: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<SignedIn, DeskError> {
        let (identity, user, token, expires_at) = self
            .auth
            .sign_in(&self.config, instance_id, username, password, self.now())
            .await?;
        tracing::info!(user_id = %identity.user_id, "agent signed in");
        Ok(SignedIn {
            identity,
            user,
            token,
            expires_at,
        })
    }

    /// Who a bearer token from sign-in belongs to, while it is valid.
    pub fn identify(&self, token: &str) -> Option<AgentIdentity> {
        self.auth.verify(token, self.now())
    }

    /// Going Offline first (no offers to someone who has left), then the sign-out, which ends
    /// every token issued before it; the agent's sockets are told and closed.
    pub async fn sign_out(&self, me: &AgentIdentity) -> Result<(), DeskError> {
        let _ = self
            .router
            .set_presence(&me.instance_id, &me.user_id, Presence::Offline)
            .await;
        self.auth
            .sign_out(&me.user_id, self.now())
            .await
            .map_err(ChatError::from)?;
        self.hub
            .send_last(&me.user_id, &json!({ "type": "signed-out" }));
        Ok(())
    }

    // ---- what an agent sees ---------------------------------------------------------------

    pub async fn workspace(&self, me: &AgentIdentity) -> Result<Workspace<'_>, DeskError> {
        let (instance, user) = self.instance_and_user(me)?;
        let figures = self
            .router
            .agent(&me.instance_id, &me.user_id)
            .await
            .ok_or_else(|| DeskError::NotFound("User not found".into()))?;
        let mut offers = Vec::new();
        for (contact_id, deadline) in figures.offers.iter().zip(&figures.offer_deadlines) {
            let contact = self.chat.find_contact(contact_id).await?;
            let customer_name = match &contact {
                Some(c) => self.chat.customer_name(c).await?,
                None => None,
            };
            offers.push(DeskOffer {
                contact_id: contact_id.clone(),
                contact,
                customer_name,
                offered_at: from_millis(*deadline - self.offer_timeout_ms()),
                expires_at: from_millis(*deadline),
            });
        }
        let mut contacts = Vec::new();
        for (state, ids) in [
            ("CONNECTED", &figures.active),
            ("AFTER_CONTACT_WORK", &figures.after_work),
        ] {
            for contact_id in ids {
                contacts.push(self.desk_contact(me, contact_id, state).await?);
            }
        }
        let serves: Vec<String> = instance
            .routing_profile(&user.routing_profile)
            .map(|p| p.queues.iter().map(|q| q.queue.clone()).collect())
            .unwrap_or_default();
        let quick_connects = self
            .chat
            .agent_quick_connects(instance, &serves, &me.user_id)
            .await?;
        Ok(Workspace {
            instance,
            user,
            status: self.status_name(&me.instance_id, &figures.presence),
            figures,
            contacts,
            offers,
            quick_connects,
        })
    }

    /// The workspace of an agent who takes chats, for a chat desktop (the Streams CCP): a user
    /// configured to only supervise is refused.
    pub async fn chat_desk(&self, me: &AgentIdentity) -> Result<Workspace<'_>, DeskError> {
        let (_, user) = self.instance_and_user(me)?;
        if !user.takes_chats {
            return Err(DeskError::TakesNoChats);
        }
        self.workspace(me).await
    }

    /// Live figures of every queue of the agent's instance and of every agent. Supervisors only.
    pub async fn overview(&self, me: &AgentIdentity) -> Result<Overview<'_>, DeskError> {
        let (instance, user) = self.instance_and_user(me)?;
        if !user.supervisor {
            return Err(DeskError::NotSupervisor);
        }
        let groups = instance.queues.iter().map(|q| vec![q.id.clone()]).collect();
        let queues = self.router.figures(&instance.id, groups).await;
        let mut agents = Vec::new();
        for user in &instance.users {
            if let Some(figures) = self.router.agent(&instance.id, &user.id).await {
                let status = self.status_name(&instance.id, &figures.presence);
                agents.push((user, figures, status));
            }
        }
        Ok(Overview {
            instance,
            queues,
            agents,
        })
    }

    /// Queue figures of an instance, one entry per group of queue ids.
    pub async fn queue_figures(
        &self,
        instance_id: &str,
        groups: Vec<Vec<String>>,
    ) -> Vec<QueueFigures> {
        self.router.figures(instance_id, groups).await
    }

    /// One agent's routing state, if the router knows them.
    pub async fn agent_figures(&self, instance_id: &str, user_id: &str) -> Option<AgentFigures> {
        self.router.agent(instance_id, user_id).await
    }

    /// The status name agents see: the built-in names, or a custom status's configured name.
    pub fn status_name(&self, instance_id: &str, presence: &Presence) -> String {
        presence_name(&self.config, instance_id, presence)
    }

    /// A contact by id, wherever it stands (for reports about agents' contacts).
    pub async fn contact(&self, contact_id: &str) -> Result<Option<Contact>, ChatError> {
        self.chat.find_contact(contact_id).await
    }

    // ---- what an agent does ---------------------------------------------------------------

    /// Sets the agent's status by its name or id (`Available`, `Offline` or a configured
    /// status); returns the status's name.
    pub async fn choose_status(
        &self,
        me: &AgentIdentity,
        status: &str,
    ) -> Result<String, DeskError> {
        let (instance, user) = self.instance_and_user(me)?;
        let presence = match status {
            "Available" if !user.takes_chats => return Err(DeskError::TakesNoChats),
            "Available" => Presence::Available,
            "Offline" => Presence::Offline,
            name => Presence::Custom(
                instance
                    .agent_statuses
                    .iter()
                    .find(|s| s.name == name || s.id == name)
                    .map(|s| s.id.clone())
                    .ok_or_else(|| {
                        DeskError::Invalid(format!(
                            "'{name}' is not a status: choose Available, Offline or one of the configured statuses"
                        ))
                    })?,
            ),
        };
        self.set_status(&me.instance_id, &me.user_id, presence)
            .await
    }

    /// Sets a user's status (PutUserStatus, or the agent choosing one); the agent's sockets hear
    /// of it. Returns the status's name.
    pub async fn set_status(
        &self,
        instance_id: &str,
        user_id: &str,
        presence: Presence,
    ) -> Result<String, DeskError> {
        self.router
            .set_presence(instance_id, user_id, presence.clone())
            .await?;
        let status = self.status_name(instance_id, &presence);
        self.hub
            .send(user_id, &json!({ "type": "status", "status": status }));
        Ok(status)
    }

    /// Does what the agent asked about one of their contacts. A transfer answers with the new
    /// contact the chat now waits as.
    pub async fn act(
        &self,
        me: &AgentIdentity,
        contact_id: &str,
        action: ContactAction,
    ) -> Result<Option<String>, DeskError> {
        let routed = match action {
            ContactAction::Accept => AgentAction::Accept,
            ContactAction::Reject => AgentAction::Reject,
            ContactAction::Clear => AgentAction::ClearAfterWork,
            ContactAction::End => {
                let session = self.agent_session(me, contact_id).await?;
                self.chat.disconnect(&session, None).await?;
                return Ok(None);
            }
            ContactAction::Transfer(to) => {
                return self.transfer(me, contact_id, to, None).await.map(Some);
            }
            ContactAction::TransferThrough(quick_connect) => {
                let to = self
                    .chat
                    .transfer_destination(&me.instance_id, &quick_connect)
                    .await?;
                let queue = QueueKey::parse(&to.queue);
                return self
                    .transfer(me, contact_id, queue, to.flow)
                    .await
                    .map(Some);
            }
        };
        self.router
            .act(&me.instance_id, &me.user_id, contact_id, routed)
            .await?;
        Ok(None)
    }

    /// Routing decides whether the transfer can happen, holding the new contact it hands the
    /// chat on to (as Amazon Connect gives a transferred chat a new ContactId); the chat then
    /// records the outcome (the new contact waiting where it was sent, transfer.succeeded and
    /// the agent leaving, or transfer.failed), so that a restart finds the chat where routing
    /// put it; only then may routing offer the new contact.
    ///
    /// With a transfer `flow`, routing decides as for any transfer, but keeps the new contact
    /// held (offered to nobody) once the chat has recorded it: the flow runs first and queues it
    /// itself, as a transfer flow does on Amazon Connect, and routing holds it again there,
    /// still not for the agent who passed it on.
    async fn transfer(
        &self,
        me: &AgentIdentity,
        contact_id: &str,
        to: QueueKey,
        flow: Option<TransferFlow>,
    ) -> Result<String, DeskError> {
        let session = self.agent_session(me, contact_id).await?;
        let into = new_id();
        let decided = self
            .router
            .transfer(&me.instance_id, &me.user_id, contact_id, &into, to.clone())
            .await;
        let to = to.encode();
        let recorded = self
            .chat
            .transferred(
                &session,
                decided.is_ok().then_some((to.as_str(), into.as_str())),
                flow.as_ref(),
            )
            .await;
        if decided.is_ok() {
            match &recorded {
                Ok(Some(_)) if flow.is_some() => {}
                Ok(Some(next)) => self.router.admitted(next, true),
                // Not recorded: the held place is given back.
                _ => self.router.contact_ended(&me.instance_id, &into),
            }
        }
        if let (Ok(Some(next)), Some(_)) = (&recorded, &flow) {
            // Written due at once: should this fail, the next node to look starts it.
            if let Err(e) = self.chat.start_transfer_flow(next.chat_id()).await {
                tracing::warn!(contact_id = %into, error = %e, "the transfer flow did not start at once");
            }
        }
        recorded?;
        decided?;
        Ok(into)
    }

    /// The agent's connection: while one is open they count as connected and can be offered
    /// contacts. The hello says where they stand as of now, so that every frame after it is
    /// news to the client.
    pub async fn connect(self: &Arc<Self>, me: AgentIdentity) -> AgentConnection {
        let (id, frames) = self.hub.attach(&me.user_id);
        self.router
            .agent_connection(&me.instance_id, &me.user_id, true);
        let hello = self
            .router
            .agent(&me.instance_id, &me.user_id)
            .await
            .map(|figures| {
                json!({
                    "type": "hello",
                    "status": self.status_name(&me.instance_id, &figures.presence),
                    "offers": figures.offers,
                    "contacts": figures.active,
                    "afterContactWork": figures.after_work,
                })
            });
        AgentConnection {
            hello,
            frames,
            desk: self.clone(),
            me,
            id,
        }
    }

    // ---- helpers --------------------------------------------------------------------------

    fn offer_timeout_ms(&self) -> i64 {
        i64::from(self.config.routing.offer_timeout_seconds) * 1000
    }

    fn user(&self, me: &AgentIdentity) -> Option<&User> {
        self.config
            .instance(&me.instance_id)?
            .users
            .iter()
            .find(|u| u.id == me.user_id)
    }

    fn instance_and_user(&self, me: &AgentIdentity) -> Result<(&Instance, &User), DeskError> {
        let instance = self
            .config
            .instance(&me.instance_id)
            .ok_or_else(|| DeskError::NotFound("Instance not found".into()))?;
        let user = self
            .user(me)
            .ok_or_else(|| DeskError::NotFound("User not found".into()))?;
        Ok((instance, user))
    }

    async fn desk_contact(
        &self,
        me: &AgentIdentity,
        contact_id: &str,
        state: &'static str,
    ) -> Result<DeskContact, DeskError> {
        let contact = self.chat.find_contact(contact_id).await?;
        let customer_name = match &contact {
            Some(c) => self.chat.customer_name(c).await?,
            None => None,
        };
        let participant = self
            .chat
            .agent_participant(contact_id, &me.user_id)
            .await?
            .map(|p| {
                let token = self.chat.participant_token(&p);
                (p.id, token)
            });
        Ok(DeskContact {
            contact_id: contact_id.to_string(),
            state,
            contact,
            customer_name,
            participant,
        })
    }

    /// The agent's AGENT participant on a contact they have, as a session to act with.
    async fn agent_session(
        &self,
        me: &AgentIdentity,
        contact_id: &str,
    ) -> Result<Session, DeskError> {
        let figures = self.router.agent(&me.instance_id, &me.user_id).await;
        if !figures.is_some_and(|f| f.active.iter().any(|c| c == contact_id)) {
            return Err(DeskError::Chat(ChatError::Conflict(
                "You do not have that contact".into(),
            )));
        }
        let participant = self
            .chat
            .agent_participant(contact_id, &me.user_id)
            .await?
            .ok_or_else(|| ChatError::Conflict("You are not on that chat".into()))?;
        Ok(self.chat.session_of(participant).await?)
    }
}
