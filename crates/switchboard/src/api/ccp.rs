//! What the Streams CCP page (`assets/ccp/`, served at `/ccp-v2/`) hands to Amazon Connect
//! Streams on an agent desktop: the agent's state in the shape of Streams' `agent::update` event
//! (`snapshot` and `configuration`, with Amazon's ARNs, state types and names), and the transfer
//! endpoints its `getEndpoints` answers with. The page asks again whenever the agent socket
//! says something changed, so this is a read of the one agent model the workspace at `/agent`
//! reads too: no second source of truth.
//!
//! Timestamps are ISO 8601 strings here; the page turns them into `Date` objects, which is what
//! Streams calls `getTime()` on.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::agent::{desk_error, Agent};
use super::ApiState;
use crate::chat::arns::Arns;
use crate::chat::quick_connects::QuickConnectView;
use crate::clock::{format_instant, from_millis};
use crate::config::{Instance, StatusKind, User};
use crate::desk::{DeskContact, DeskOffer, Workspace};
use crate::model::{Contact, QuickConnectTarget};
use crate::routing::engine::Presence;
use awsproto::ApiError;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/ccp-v2/api/agent", get(agent_update))
}

/// `{snapshot, configuration, endpoints}`: the first two are posted to Streams as
/// `agent::update`, the third answers `getEndpoints`. A user who takes no chats gets 403
/// `AccessDeniedException`, which the page turns into Streams' `access_denied`.
async fn agent_update(
    State(app): State<ApiState>,
    Agent(me): Agent,
) -> Result<Json<Value>, ApiError> {
    let w = app.desk.chat_desk(&me).await.map_err(desk_error)?;
    let shapes = Shapes {
        arns: app.chat.arns(),
        instance: w.instance,
        user: w.user,
        now: app.desk.now(),
    };
    Ok(Json(json!({
        "snapshot": shapes.snapshot(&w),
        "configuration": shapes.configuration(),
        "endpoints": shapes.endpoints(&w.quick_connects),
    })))
}

/// Renders one agent's state in Streams' shapes.
struct Shapes<'a> {
    arns: &'a Arns,
    instance: &'a Instance,
    user: &'a User,
    now: OffsetDateTime,
}

impl Shapes<'_> {
    fn arn(&self, kind: &str, id: &str) -> String {
        self.arns.resource(&self.instance.id, kind, id)
    }

    fn queue(&self, queue_id: &str) -> Value {
        let arn = self.arn("queue", queue_id);
        let name = match queue_id.strip_prefix("agent/") {
            // An agent's own queue (transfers to that agent), named after them as Amazon does.
            Some(agent) => self
                .instance
                .users
                .iter()
                .find(|u| u.id == agent)
                .map_or_else(|| agent.to_string(), |u| u.username.clone()),
            None => self
                .instance
                .queues
                .iter()
                .find(|q| q.id == queue_id)
                .map_or_else(|| queue_id.to_string(), |q| q.name.clone()),
        };
        json!({ "queueARN": arn, "queueId": arn, "name": name })
    }

    /// The agent's state: Streams' state type (`routable`, `not_routable`, `offline`, `error`),
    /// the status's name, and since when.
    fn state(&self, presence: &Presence, name: &str, since: OffsetDateTime) -> Value {
        let (id, kind) = match presence {
            Presence::Available => (self.instance.built_in_status_id("Available"), "routable"),
            Presence::Offline => (self.instance.built_in_status_id("Offline"), "offline"),
            Presence::Custom(id) => (id.clone(), "not_routable"),
            Presence::Missed => {
                // A system state, as Amazon's CCP shows after a missed contact.
                return json!({
                    "agentStateARN": null, "type": "error", "name": "MissedCallAgent",
                    "startTimestamp": format_instant(since),
                });
            }
        };
        json!({
            "agentStateARN": self.arn("agent-state", &id),
            "type": kind,
            "name": name,
            "startTimestamp": format_instant(since),
        })
    }

    fn snapshot(&self, w: &Workspace) -> Value {
        let since = from_millis(w.figures.presence_since);
        let mut contacts: Vec<Value> = w.offers.iter().map(|o| self.offer(o)).collect();
        contacts.extend(w.contacts.iter().map(|c| self.contact(c)));
        json!({
            "state": self.state(&w.figures.presence, &w.status, since),
            "nextState": null,
            "agentAvailabilityState": { "state": w.status, "timeStamp": format_instant(since) },
            "contacts": contacts,
            "snapshotTimestamp": format_instant(self.now),
            "skew": 0,
        })
    }

    fn configuration(&self) -> Value {
        let profile = self.instance.routing_profile(&self.user.routing_profile);
        let mut queues: Vec<Value> = profile
            .map(|p| p.queues.iter().map(|q| self.queue(&q.queue)).collect())
            .unwrap_or_default();
        let default_outbound = queues.first().cloned();
        // The agent's own queue (transfers to them) is one of theirs too, as on Amazon: Streams
        // finds the agent's resource id in it.
        queues.push(self.queue(&format!("agent/{}", self.user.id)));
        let routing_profile = profile.map(|p| {
            let arn = self.arn("routing-profile", &p.id);
            let chats = if self.user.takes_chats {
                p.chat_concurrency
            } else {
                0
            };
            json!({
                "name": p.name,
                "routingProfileARN": arn,
                "routingProfileId": arn,
                "defaultOutboundQueue": default_outbound,
                "queues": queues,
                "channelConcurrencyMap": { "VOICE": 0, "CHAT": chats, "TASK": 0, "EMAIL": 0 },
            })
        });
        let agent_states: Vec<Value> = self
            .instance
            .statuses()
            .into_iter()
            .map(|s| {
                let kind = match s.kind {
                    StatusKind::Routable => "routable",
                    StatusKind::Custom => "not_routable",
                    StatusKind::Offline => "offline",
                };
                json!({ "agentStateARN": self.arn("agent-state", &s.id), "type": kind, "name": s.name })
            })
            .collect();
        json!({
            "name": self.user.display_name,
            "username": self.user.username,
            "agentARN": self.arn("agent", &self.user.id),
            "softphoneEnabled": false,
            "softphoneAutoAccept": false,
            "extension": "",
            "agentPreferences": {},
            "routingProfile": routing_profile,
            "agentStates": agent_states,
            "permissions": [],
            "dialableCountries": [],
        })
    }

    /// Quick connects as Streams lists them: the instance's quick connects to queues and agents,
    /// or, for an instance that has none, every queue and every other agent who takes chats (a
    /// transfer straight there, with no transfer flow).
    fn endpoints(&self, quick_connects: &[QuickConnectView]) -> Vec<Value> {
        if !quick_connects.is_empty() {
            return quick_connects
                .iter()
                .map(|q| {
                    let arn = self.arn("transfer-destination", &q.id);
                    match &q.target {
                        QuickConnectTarget::Queue { queue_id, .. } => {
                            endpoint(&arn, "queue", &q.name, Some(&self.arn("queue", queue_id)))
                        }
                        _ => endpoint(&arn, "agent", &q.name, None),
                    }
                })
                .collect();
        }
        let queues = self.instance.queues.iter().map(|q| {
            let arn = self.arn("queue", &q.id);
            endpoint(&arn, "queue", &q.name, Some(&arn))
        });
        let agents = self
            .instance
            .users
            .iter()
            .filter(|u| u.id != self.user.id && u.takes_chats)
            .map(|u| endpoint(&self.arn("agent", &u.id), "agent", &u.display_name, None));
        queues.chain(agents).collect()
    }

    fn offer(&self, offer: &DeskOffer) -> Value {
        let agent = self.connection(
            &format!("{}-offer", offer.contact_id),
            "connecting",
            offer.offered_at,
            None,
            offer.customer_name.as_deref(),
        );
        self.contact_shape(
            &offer.contact_id,
            offer.contact.as_ref(),
            offer.customer_name.as_deref(),
            ("connecting", offer.offered_at),
            agent,
        )
    }

    fn contact(&self, c: &DeskContact) -> Value {
        let record = c.contact.as_ref();
        let after_work = c.state == "AFTER_CONTACT_WORK";
        let since = if after_work {
            record
                .and_then(Contact::disconnected_at)
                .unwrap_or(self.now)
        } else {
            record
                .and_then(|r| r.agent.as_ref().map(|(_, at)| *at))
                .unwrap_or(self.now)
        };
        let (state, connection_state) = if after_work {
            ("ended", "disconnected")
        } else if c.participant.is_none() {
            // Accepted, but the agent is not on the chat yet: still connecting, as on Amazon.
            // Streams fires onConnected once, and builds the media controller from what the
            // connection carries then, so it must not see `connected` before the media info.
            ("connecting", "connecting")
        } else {
            ("connected", "connected")
        };
        let (connection_id, token) = match &c.participant {
            Some((id, token)) => (id.clone(), Some(token.as_str())),
            None => (format!("{}-agent", c.contact_id), None),
        };
        let agent = self.connection(
            &connection_id,
            connection_state,
            since,
            token.filter(|_| !after_work),
            c.customer_name.as_deref(),
        );
        self.contact_shape(
            &c.contact_id,
            record,
            c.customer_name.as_deref(),
            (state, since),
            agent,
        )
    }

    /// The agent's connection to a contact. `chatMediaInfo` (what the chat media controller is
    /// built from) only once the agent is on the chat: Streams builds a controller for every
    /// active agent connection that has one, and keeps a failed build.
    fn connection(
        &self,
        connection_id: &str,
        state: &str,
        since: OffsetDateTime,
        participant_token: Option<&str>,
        customer_name: Option<&str>,
    ) -> Value {
        let auto_accept = self
            .instance
            .routing_profile(&self.user.routing_profile)
            .is_some_and(|p| p.auto_accept);
        let media = participant_token.map(|token| {
            json!({
                "chatAutoAccept": auto_accept,
                "connectionData": json!({ "ConnectionAuthenticationToken": token }).to_string(),
                "customerName": customer_name,
            })
        });
        json!({
            "connectionId": connection_id,
            "endpoint": endpoint(&self.arn("agent", &self.user.id), "agent", &self.user.display_name, None),
            "state": { "type": state, "timestamp": format_instant(since) },
            "type": "agent",
            "initial": false,
            "chatMediaInfo": media,
        })
    }

    fn contact_shape(
        &self,
        contact_id: &str,
        record: Option<&Contact>,
        customer_name: Option<&str>,
        (state, since): (&str, OffsetDateTime),
        agent: Value,
    ) -> Value {
        let customer = record.map(|r| {
            // Handed on by a transfer, the customer is no longer on this contact either.
            let (customer_state, at) = match r.disconnected_at() {
                Some(ended) => ("disconnected", ended),
                None => ("connected", r.initiated_at),
            };
            json!({
                "connectionId": r.customer_participant_id,
                "endpoint": endpoint("", "phone_number", customer_name.unwrap_or("Customer"), None),
                "state": { "type": customer_state, "timestamp": format_instant(at) },
                "type": "inbound",
                "initial": true,
            })
        });
        let attributes: Map<String, Value> = record
            .map(|r| {
                r.attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), json!({ "name": k, "value": v })))
                    .collect()
            })
            .unwrap_or_default();
        let transferred = record.is_some_and(|r| r.previous_contact_id.is_some());
        json!({
            "contactId": contact_id,
            "initialContactId": record.map_or(contact_id, |r| r.initial_contact_id.as_str()),
            "type": "chat",
            "state": { "type": state, "timestamp": format_instant(since) },
            "queue": record.and_then(|r| r.queue_id.as_deref()).map(|q| self.queue(q)),
            "queueTimestamp": record.and_then(|r| r.enqueued_at).map(format_instant),
            "connections": customer.into_iter().chain([agent]).collect::<Vec<_>>(),
            "attributes": attributes,
            "name": null,
            "description": null,
            "references": {},
            "initiationMethod": if transferred { "transfer" } else { "api" },
            "contactFeatures": { "attachmentsEnabled": false, "messagingMarkdownEnabled": false,
                                 "multiPartyConferenceEnabled": false },
            "segmentAttributes": { "connect:Subtype": { "ValueString": "connect:Chat" } },
            "customerEndpoint": null,
        })
    }
}

/// A Streams endpoint (a quick connect, or a party to a contact).
fn endpoint(arn: &str, kind: &str, name: &str, queue: Option<&str>) -> Value {
    json!({
        "endpointARN": arn, "endpointId": arn, "type": kind, "name": name,
        "phoneNumber": null, "agentLogin": null, "queue": queue,
    })
}
