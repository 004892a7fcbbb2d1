//! Contact flows as the Connect API manages them: those of the configuration file (read-only
//! here: the file is their source) and those made through the API (CreateContactFlow and its
//! updates), kept in the store so that every node runs the same ones. Also which flow a chat
//! runs, and the flows a running flow may move to.
//!
//! The rules:
//! - Names are unique within an instance, across both kinds.
//! - A PUBLISHED flow's content is validated as `switchboard flow check` validates it, and a flow
//!   with problems is refused with every problem (`InvalidContactFlowException`). A SAVED flow
//!   is kept as given and does not run: chats start only in published CONTACT_FLOW flows.
//! - Changing a published flow's content publishes the new content: chats started later run it;
//!   a chat already in the flow carries on with the new content at its next step.
//! - A flow's content is read once per change on each node (kept by id and time of change).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::arns::Refusal;
use super::service::{new_id, ChatService};
use super::ChatError;
use crate::config::{ContactFlow, HoursOfOperation, Instance};
use crate::flows::validate::MAX_CONTENT_CHARS;
use crate::flows::Flow;
use crate::model::StoredFlow;

pub const PUBLISHED: &str = "PUBLISHED";
pub const SAVED: &str = "SAVED";
/// The type of flow a chat starts in (an inbound flow).
pub const INBOUND: &str = "CONTACT_FLOW";

/// A contact flow as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowView {
    pub id: String,
    pub name: String,
    pub flow_type: String,
    pub description: Option<String>,
    pub content: String,
    pub status: String,
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

impl FlowView {
    /// FlowContentSha256: the hex SHA-256 of the content.
    pub fn content_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.content.as_bytes()))
    }
}

/// CreateContactFlow after shape validation.
#[derive(Debug, Clone)]
pub struct NewFlow {
    pub instance_id: String,
    pub name: String,
    pub flow_type: String,
    pub description: Option<String>,
    pub content: String,
    /// PUBLISHED unless given.
    pub status: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The flow a chat starts in.
pub(super) struct StartingFlow {
    pub id: String,
    /// The queue of a flow that is only a queue.
    pub queue: Option<String>,
    /// The flow-language flow it runs, otherwise.
    pub language: Option<Arc<Flow>>,
}

/// A stored flow's instance and id.
type FlowKey = (String, String);

/// Contents of stored flows already read, with the time of the change they were read at.
#[derive(Default)]
pub(super) struct ReadFlows {
    entries: Mutex<HashMap<FlowKey, (OffsetDateTime, Arc<Flow>)>>,
}

impl ReadFlows {
    /// The stored flow's content as a flow, read once per change; `None` if it does not run
    /// (SAVED, or content that no longer validates).
    fn get(&self, stored: &StoredFlow) -> Option<Arc<Flow>> {
        if stored.status != PUBLISHED {
            return None;
        }
        let key = (stored.instance_id.clone(), stored.id.clone());
        let mut entries = self.entries.lock().expect("read flows");
        if let Some((at, flow)) = entries.get(&key) {
            if *at == stored.updated_at {
                return Some(flow.clone());
            }
        }
        let flow = Arc::new(crate::flows::validate(&stored.content).ok()?);
        entries.insert(key, (stored.updated_at, flow.clone()));
        Some(flow)
    }
}

/// What a running flow may look up besides its own content, read for one step: the flows it may
/// move to (TransferToFlow, event hooks) and the hours it may check.
pub(super) struct FlowBook {
    stored: HashMap<String, Arc<Flow>>,
    hours: HashMap<String, HoursOfOperation>,
}

impl FlowBook {
    /// Whether any flow of the instance checks queue figures (CheckMetricData).
    pub(super) fn checks_metrics(&self, instance: &Instance) -> bool {
        let checks = |flow: &Flow| flow.actions.iter().any(|a| a.kind == "CheckMetricData");
        instance
            .contact_flows
            .iter()
            .filter_map(|f| f.flow.as_deref())
            .chain(self.stored.values().map(|f| &**f))
            .any(checks)
    }

    /// Hours of operation by id: the configuration's, else those made through the API.
    pub(super) fn hours<'a>(
        &'a self,
        instance: &'a Instance,
        id: &str,
    ) -> Option<&'a HoursOfOperation> {
        instance.hours(id).or_else(|| self.hours.get(id))
    }

    pub(super) fn flow(
        &self,
        instance: &Instance,
        arns: &super::arns::Arns,
        id: &str,
    ) -> Option<Arc<Flow>> {
        match instance.contact_flow(id) {
            Some(configured) => {
                Some(configured.language(|queue| arns.resource(&instance.id, "queue", queue)))
            }
            None => self.stored.get(id).cloned(),
        }
    }
}

fn view_of_configured(flow: &ContactFlow, instance: &Instance, chat: &ChatService) -> FlowView {
    let content = match &flow.content {
        Some(content) => content.clone(),
        None => serde_json::to_string(
            &*flow.language(|queue| chat.arns.resource(&instance.id, "queue", queue)),
        )
        .expect("a flow serialises"),
    };
    FlowView {
        id: flow.id.clone(),
        name: flow.name.clone(),
        flow_type: INBOUND.into(),
        description: None,
        content,
        status: PUBLISHED.into(),
        state: "ACTIVE".into(),
        tags: BTreeMap::new(),
    }
}

fn view_of_stored(flow: StoredFlow) -> FlowView {
    FlowView {
        id: flow.id,
        name: flow.name,
        flow_type: flow.flow_type,
        description: flow.description,
        content: flow.content,
        status: flow.status,
        state: flow.state,
        tags: flow.tags,
    }
}

/// Names are unique in an instance: here against the configured flows; the store keeps those of
/// flows made through the API unique itself (`FlowNameTaken`).
fn check_name_free(instance: &Instance, name: &str) -> Result<(), ChatError> {
    if instance.contact_flows.iter().any(|f| f.name == name) {
        return Err(ChatError::Duplicate(format!(
            "A contact flow named '{name}' already exists"
        )));
    }
    Ok(())
}

/// Checks content as its status asks: a published flow must have no problems.
fn check_content(content: &str, status: &str) -> Result<(), ChatError> {
    if status == PUBLISHED {
        crate::flows::validate(content).map_err(ChatError::InvalidFlow)?;
    } else if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(ChatError::InvalidFlow(vec![format!(
            "Content is longer than {MAX_CONTENT_CHARS} characters"
        )]));
    }
    Ok(())
}

impl ChatService {
    /// CreateContactFlow.
    pub async fn create_flow(&self, new: NewFlow) -> Result<FlowView, ChatError> {
        let instance = self.resolve_instance(&new.instance_id)?;
        let status = new.status.unwrap_or_else(|| PUBLISHED.into());
        check_content(&new.content, &status)?;
        check_name_free(instance, &new.name)?;
        let flow = StoredFlow {
            instance_id: instance.id.clone(),
            id: new_id(),
            name: new.name,
            flow_type: new.flow_type,
            description: new.description,
            content: new.content,
            status,
            state: "ACTIVE".into(),
            tags: new.tags,
            updated_at: self.now(),
        };
        self.store.put_contact_flow(flow.clone()).await?;
        tracing::info!(instance_id = %flow.instance_id, flow_id = %flow.id, name = %flow.name, status = %flow.status, "contact flow created");
        Ok(view_of_stored(flow))
    }

    /// DescribeContactFlow.
    pub async fn describe_flow(&self, instance: &str, id: &str) -> Result<FlowView, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if let Some(flow) = instance.contact_flow(id) {
            return Ok(view_of_configured(flow, instance, self));
        }
        let stored = self.store.contact_flow(&instance.id, id).await?;
        stored
            .map(view_of_stored)
            .ok_or_else(|| ChatError::NotFound(format!("ContactFlow {id} not found")))
    }

    /// ListContactFlows: the configured flows, then those made through the API, by name; only
    /// of `types` when given.
    pub async fn list_flows(
        &self,
        instance: &str,
        types: &[&str],
    ) -> Result<Vec<FlowView>, ChatError> {
        let instance = self.resolve_instance(instance)?;
        let configured = instance
            .contact_flows
            .iter()
            .map(|f| view_of_configured(f, instance, self));
        let stored = self.store.contact_flows(&instance.id).await?;
        Ok(configured
            .chain(stored.into_iter().map(view_of_stored))
            .filter(|f| types.is_empty() || types.contains(&f.flow_type.as_str()))
            .collect())
    }

    /// UpdateContactFlowContent: a published flow's new content is validated and published.
    pub async fn update_flow_content(
        &self,
        instance: &str,
        id: &str,
        content: String,
    ) -> Result<(), ChatError> {
        let mut flow = self.stored_flow(instance, id).await?;
        check_content(&content, &flow.status)?;
        flow.content = content;
        flow.updated_at = self.now();
        self.store.put_contact_flow(flow).await?;
        Ok(())
    }

    /// UpdateContactFlowName: the name, the description, or both.
    pub async fn update_flow_name(
        &self,
        instance: &str,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(), ChatError> {
        let mut flow = self.stored_flow(instance, id).await?;
        if let Some(name) = name {
            check_name_free(self.resolve_instance(instance)?, &name)?;
            flow.name = name;
        }
        if description.is_some() {
            flow.description = description;
        }
        flow.updated_at = self.now();
        self.store.put_contact_flow(flow).await?;
        Ok(())
    }

    /// DeleteContactFlow. Chats still in the flow end at their next step.
    pub async fn delete_flow(&self, instance: &str, id: &str) -> Result<(), ChatError> {
        let flow = self.stored_flow(instance, id).await?;
        self.store
            .delete_contact_flow(&flow.instance_id, &flow.id)
            .await?;
        tracing::info!(instance_id = %flow.instance_id, flow_id = %flow.id, "contact flow deleted");
        Ok(())
    }

    /// A flow made through the API, which the API may change.
    async fn stored_flow(&self, instance: &str, id: &str) -> Result<StoredFlow, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if instance.contact_flow(id).is_some() {
            return Err(ChatError::Invalid(format!(
                "ContactFlow {id} is defined in the configuration file; change it there"
            )));
        }
        self.store
            .contact_flow(&instance.id, id)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("ContactFlow {id} not found")))
    }

    /// The flow a chat starts in (by id or ARN): a configured one (no read), else a published
    /// inbound flow made through the API.
    pub(super) async fn starting_flow(
        &self,
        instance: &Instance,
        reference: &str,
    ) -> Result<StartingFlow, ChatError> {
        let id = self.flow_reference(instance, reference)?;
        if let Some(flow) = instance.contact_flow(id) {
            return Ok(StartingFlow {
                id: flow.id.clone(),
                queue: flow.queue.clone(),
                language: flow.flow.clone(),
            });
        }
        let not_found = || ChatError::NotFound(format!("Contact flow {id} not found"));
        let stored = self
            .store
            .contact_flow(&instance.id, id)
            .await?
            .ok_or_else(not_found)?;
        if stored.flow_type != INBOUND {
            return Err(ChatError::Invalid(format!(
                "Contact flow {id} is a {} flow; chats start in {INBOUND} flows",
                stored.flow_type
            )));
        }
        let language = self.read_flows.get(&stored).ok_or_else(|| {
            ChatError::Invalid(format!(
                "Contact flow {id} is not published; publish it before starting chats in it"
            ))
        })?;
        Ok(StartingFlow {
            id: stored.id,
            queue: None,
            language: Some(language),
        })
    }

    /// The id of the instance's flow an id or ARN names, if the instance has that flow (either
    /// kind, published or not); `NotFound` otherwise.
    pub(super) async fn existing_flow_id(
        &self,
        instance: &Instance,
        reference: &str,
    ) -> Result<String, ChatError> {
        let id = self.flow_reference(instance, reference)?;
        if instance.contact_flow(id).is_some()
            || self.store.contact_flow(&instance.id, id).await?.is_some()
        {
            return Ok(id.to_string());
        }
        Err(ChatError::NotFound(format!(
            "Contact flow {reference} not found"
        )))
    }

    /// The flow a transfer runs (a quick connect's): configured, or made through the API and
    /// published.
    pub(super) async fn transfer_flow(
        &self,
        instance: &Instance,
        id: &str,
    ) -> Result<Arc<Flow>, ChatError> {
        if let Some(configured) = instance.contact_flow(id) {
            return Ok(
                configured.language(|queue| self.arns.resource(&instance.id, "queue", queue))
            );
        }
        let stored = self
            .store
            .contact_flow(&instance.id, id)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("Contact flow {id} not found")))?;
        self.read_flows.get(&stored).ok_or_else(|| {
            ChatError::Invalid(format!(
                "Contact flow {id} is not published; publish it before transferring chats through it"
            ))
        })
    }

    /// The flow id an id-or-ARN reference names, refused as the API refuses it.
    fn flow_reference<'r>(
        &self,
        instance: &Instance,
        reference: &'r str,
    ) -> Result<&'r str, ChatError> {
        self.arns
            .resource_id(&instance.id, "contact-flow", reference)
            .map_err(|refusal| match refusal {
                Refusal::Elsewhere => {
                    ChatError::Denied(self.arns.explain(refusal, "ContactFlowId", reference))
                }
                Refusal::Malformed => {
                    ChatError::Invalid(self.arns.explain(refusal, "ContactFlowId", reference))
                }
                Refusal::OtherInstance => {
                    ChatError::NotFound(format!("Contact flow {reference} not found"))
                }
            })
    }

    /// The instance's published flows and hours made through the API, for one step of a
    /// running flow.
    pub(super) async fn flow_book(&self, instance: &Instance) -> Result<FlowBook, ChatError> {
        let stored = self.store.contact_flows(&instance.id).await?;
        let hours = self.store.hours_of_operations(&instance.id).await?;
        Ok(FlowBook {
            stored: stored
                .iter()
                .filter_map(|f| Some((f.id.clone(), self.read_flows.get(f)?)))
                .collect(),
            hours: hours
                .iter()
                .map(|h| (h.id.clone(), super::hours::as_hours(h)))
                .collect(),
        })
    }
}
