//! Quick connects as the Connect API manages them: those of the configuration file (read-only
//! here) and those made through the API (CreateQuickConnect and its updates), kept in the store
//! so that every node's agents see the same ones. Also where a transfer through one goes.
//!
//! The rules:
//! - Names are unique within an instance, across both kinds.
//! - A quick connect names a queue or a user of its instance and, for those, the contact flow
//!   the chat runs on the way (a QUEUE_TRANSFER or AGENT_TRANSFER flow). Configured ones may
//!   leave the flow out: the chat then goes straight to the queue.
//! - PHONE_NUMBER and FLOW quick connects are kept and listed as Amazon keeps them, but a chat
//!   cannot be transferred through them.
//! - A transfer through a quick connect checks its flow when it happens: a flow deleted or no
//!   longer published since makes the transfer fail, and the agent keeps the chat.
//! - Quick connects are associated with queues (AssociateQueueQuickConnects, or a queue's
//!   `quick_connects` in the file), and an agent sees those of the queues they serve, as on
//!   Amazon. An instance where no queue has any associated shows its agents all of its quick
//!   connects, so that a small setup needs no associations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use time::OffsetDateTime;

use super::arns::Refusal;
use super::service::{new_id, ChatService};
use super::ChatError;
use crate::config::{Instance, QuickConnect};
use crate::flows::Flow;
use crate::model::{QuickConnectTarget, StoredQuickConnect};

/// A quick connect as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickConnectView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub target: QuickConnectTarget,
    pub tags: BTreeMap<String, String>,
    /// When it last changed (`None` for quick connects of the configuration file).
    pub updated_at: Option<OffsetDateTime>,
}

/// Where a transfer through a quick connect sends the chat.
pub struct Destination {
    /// The queue the chat is sent to: a queue id, or `agent/USER_ID` for an agent.
    pub queue: String,
    /// The transfer flow the chat runs first; it queues the chat itself.
    pub flow: Option<TransferFlow>,
}

/// A transfer flow, read and ready to run.
pub struct TransferFlow {
    pub(super) id: String,
    pub(super) flow: Arc<Flow>,
}

fn view_of_configured(quick: &QuickConnect) -> QuickConnectView {
    QuickConnectView {
        id: quick.id.clone(),
        name: quick.name.clone(),
        description: quick.description.clone(),
        target: quick.target(),
        tags: BTreeMap::new(),
        updated_at: None,
    }
}

fn view_of_stored(quick: StoredQuickConnect) -> QuickConnectView {
    QuickConnectView {
        id: quick.id,
        name: quick.name,
        description: quick.description,
        target: quick.target,
        tags: quick.tags,
        updated_at: Some(quick.updated_at),
    }
}

/// Names are unique in an instance: here against the configured quick connects; the store keeps
/// those made through the API unique itself (`QuickConnectNameTaken`).
fn check_name_free(instance: &Instance, name: &str) -> Result<(), ChatError> {
    if instance.quick_connects.iter().any(|q| q.name == name) {
        return Err(ChatError::Duplicate(format!(
            "A quick connect named '{name}' already exists"
        )));
    }
    Ok(())
}

impl ChatService {
    /// CreateQuickConnect.
    pub async fn create_quick_connect(
        &self,
        instance: &str,
        name: String,
        description: Option<String>,
        target: QuickConnectTarget,
        tags: BTreeMap<String, String>,
    ) -> Result<QuickConnectView, ChatError> {
        let instance = self.resolve_instance(instance)?;
        check_name_free(instance, &name)?;
        let quick = StoredQuickConnect {
            instance_id: instance.id.clone(),
            id: new_id(),
            name,
            description,
            target: self.checked_target(instance, target).await?,
            tags,
            updated_at: self.now(),
        };
        self.store.put_quick_connect(quick.clone()).await?;
        tracing::info!(instance_id = %quick.instance_id, quick_connect_id = %quick.id, name = %quick.name, "quick connect created");
        Ok(view_of_stored(quick))
    }

    /// DescribeQuickConnect.
    pub async fn describe_quick_connect(
        &self,
        instance: &str,
        id: &str,
    ) -> Result<QuickConnectView, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if let Some(quick) = instance.quick_connect(id) {
            return Ok(view_of_configured(quick));
        }
        self.store
            .quick_connect(&instance.id, id)
            .await?
            .map(view_of_stored)
            .ok_or_else(|| ChatError::NotFound(format!("QuickConnect {id} not found")))
    }

    /// ListQuickConnects: the configured ones, then those made through the API by name; only of
    /// `types` when given.
    pub async fn list_quick_connects(
        &self,
        instance: &str,
        types: &[&str],
    ) -> Result<Vec<QuickConnectView>, ChatError> {
        let instance = self.resolve_instance(instance)?;
        let stored = self.store.quick_connects(&instance.id).await?;
        Ok(instance
            .quick_connects
            .iter()
            .map(view_of_configured)
            .chain(stored.into_iter().map(view_of_stored))
            .filter(|q| types.is_empty() || types.contains(&q.target.kind()))
            .collect())
    }

    /// UpdateQuickConnectName: the name, the description, or both.
    pub async fn update_quick_connect_name(
        &self,
        instance: &str,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(), ChatError> {
        let mut quick = self.stored_quick_connect(instance, id).await?;
        if let Some(name) = name {
            check_name_free(self.resolve_instance(instance)?, &name)?;
            quick.name = name;
        }
        if description.is_some() {
            quick.description = description;
        }
        quick.updated_at = self.now();
        self.store.put_quick_connect(quick).await?;
        Ok(())
    }

    /// UpdateQuickConnectConfig.
    pub async fn update_quick_connect_config(
        &self,
        instance: &str,
        id: &str,
        target: QuickConnectTarget,
    ) -> Result<(), ChatError> {
        let mut quick = self.stored_quick_connect(instance, id).await?;
        let instance = self.resolve_instance(instance)?;
        quick.target = self.checked_target(instance, target).await?;
        quick.updated_at = self.now();
        self.store.put_quick_connect(quick).await?;
        Ok(())
    }

    /// DeleteQuickConnect.
    pub async fn delete_quick_connect(&self, instance: &str, id: &str) -> Result<(), ChatError> {
        let quick = self.stored_quick_connect(instance, id).await?;
        self.store
            .delete_quick_connect(&quick.instance_id, &quick.id)
            .await?;
        Ok(())
    }

    /// AssociateQueueQuickConnects (`associate`) or DisassociateQueueQuickConnects: the queue is
    /// one of the instance's, and each quick connect one it has. Associations of the
    /// configuration file are not taken away here.
    pub async fn associate_queue_quick_connects(
        &self,
        instance: &str,
        queue_id: &str,
        ids: Vec<String>,
        associate: bool,
    ) -> Result<(), ChatError> {
        let instance = self.resolve_instance(instance)?;
        let queue = instance
            .queue(queue_id)
            .ok_or_else(|| ChatError::NotFound(format!("Queue {queue_id} not found")))?;
        let mut checked = Vec::with_capacity(ids.len());
        for reference in &ids {
            let id = self.quick_connect_id(instance, reference)?;
            if queue.quick_connects.iter().any(|q| q == id) {
                if associate {
                    continue;
                }
                return Err(ChatError::Invalid(format!(
                    "QuickConnect {id} is associated with queue {queue_id} in the configuration file; change it there"
                )));
            }
            if associate
                && instance.quick_connect(id).is_none()
                && self.store.quick_connect(&instance.id, id).await?.is_none()
            {
                return Err(ChatError::NotFound(format!("QuickConnect {id} not found")));
            }
            checked.push(id.to_string());
        }
        self.store
            .associate_quick_connects(&instance.id, queue_id, checked, associate)
            .await?;
        Ok(())
    }

    /// ListQueueQuickConnects: the quick connects associated with a queue (by the file or through
    /// the API), in ListQuickConnects' order.
    pub async fn list_queue_quick_connects(
        &self,
        instance: &str,
        queue_id: &str,
    ) -> Result<Vec<QuickConnectView>, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if instance.queue(queue_id).is_none() {
            return Err(ChatError::NotFound(format!("Queue {queue_id} not found")));
        }
        let associations = self.associations(instance).await?;
        let all = self.list_quick_connects(&instance.id, &[]).await?;
        Ok(all
            .into_iter()
            .filter(|q| associations.contains(&(queue_id.to_string(), q.id.clone())))
            .collect())
    }

    /// The quick connects an agent may transfer chats through: QUEUE and USER ones (not one to
    /// themselves) associated with a queue they serve, or every one when the instance
    /// associates none.
    pub async fn agent_quick_connects(
        &self,
        instance: &Instance,
        serves: &[String],
        user_id: &str,
    ) -> Result<Vec<QuickConnectView>, ChatError> {
        let associations = self.associations(instance).await?;
        let all = self
            .list_quick_connects(&instance.id, &["QUEUE", "USER"])
            .await?;
        Ok(all
            .into_iter()
            .filter(|q| !matches!(&q.target, QuickConnectTarget::User { user_id: to, .. } if to == user_id))
            .filter(|q| {
                associations.is_empty()
                    || serves
                        .iter()
                        .any(|queue| associations.contains(&(queue.clone(), q.id.clone())))
            })
            .collect())
    }

    /// Every (queue, quick connect) association of the instance: the file's and the API's.
    async fn associations(
        &self,
        instance: &Instance,
    ) -> Result<BTreeSet<(String, String)>, ChatError> {
        let mut associations: BTreeSet<(String, String)> = self
            .store
            .queue_quick_connects(&instance.id)
            .await?
            .into_iter()
            .collect();
        for queue in &instance.queues {
            for quick in &queue.quick_connects {
                associations.insert((queue.id.clone(), quick.clone()));
            }
        }
        Ok(associations)
    }

    /// The quick connect id an id-or-ARN reference names.
    fn quick_connect_id<'r>(
        &self,
        instance: &Instance,
        reference: &'r str,
    ) -> Result<&'r str, ChatError> {
        self.arns
            .resource_id(&instance.id, "transfer-destination", reference)
            .map_err(|refusal| match refusal {
                Refusal::OtherInstance => {
                    ChatError::NotFound(format!("QuickConnect {reference} not found"))
                }
                _ => ChatError::Invalid(self.arns.explain(refusal, "QuickConnectId", reference)),
            })
    }

    /// Where a transfer through the quick connect `id` (or its ARN) sends the chat, with its
    /// transfer flow read and checked.
    pub async fn transfer_destination(
        &self,
        instance_id: &str,
        reference: &str,
    ) -> Result<Destination, ChatError> {
        let instance = self.resolve_instance(instance_id)?;
        let id = self.quick_connect_id(instance, reference)?;
        let target = self.describe_quick_connect(&instance.id, id).await?.target;
        let (queue, flow_id) = match target {
            QuickConnectTarget::Queue { queue_id, flow_id } => (queue_id, flow_id),
            QuickConnectTarget::User { user_id, flow_id } => (format!("agent/{user_id}"), flow_id),
            other => {
                return Err(ChatError::Invalid(format!(
                "Chats cannot be transferred through a {} quick connect; use a QUEUE or USER one",
                other.kind()
            )))
            }
        };
        let flow = match flow_id {
            Some(id) => Some(TransferFlow {
                flow: self.transfer_flow(instance, &id).await?,
                id,
            }),
            None => None,
        };
        Ok(Destination { queue, flow })
    }

    /// A quick connect made through the API, which the API may change.
    async fn stored_quick_connect(
        &self,
        instance: &str,
        id: &str,
    ) -> Result<StoredQuickConnect, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if instance.quick_connect(id).is_some() {
            return Err(ChatError::Invalid(format!(
                "QuickConnect {id} is defined in the configuration file; change it there"
            )));
        }
        self.store
            .quick_connect(&instance.id, id)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("QuickConnect {id} not found")))
    }

    /// The target with its queue, user and flow checked against the instance (flows by id, an
    /// ARN given for one made an id).
    async fn checked_target(
        &self,
        instance: &Instance,
        target: QuickConnectTarget,
    ) -> Result<QuickConnectTarget, ChatError> {
        let flow = |id: Option<String>| async move {
            match id {
                Some(id) => Ok::<_, ChatError>(Some(self.existing_flow_id(instance, &id).await?)),
                None => Ok(None),
            }
        };
        Ok(match target {
            QuickConnectTarget::Queue { queue_id, flow_id } => {
                if instance.queue(&queue_id).is_none() {
                    return Err(ChatError::NotFound(format!("Queue {queue_id} not found")));
                }
                QuickConnectTarget::Queue {
                    queue_id,
                    flow_id: flow(flow_id).await?,
                }
            }
            QuickConnectTarget::User { user_id, flow_id } => {
                if !instance.users.iter().any(|u| u.id == user_id) {
                    return Err(ChatError::NotFound(format!("User {user_id} not found")));
                }
                QuickConnectTarget::User {
                    user_id,
                    flow_id: flow(flow_id).await?,
                }
            }
            QuickConnectTarget::Flow { flow_id } => QuickConnectTarget::Flow {
                flow_id: self.existing_flow_id(instance, &flow_id).await?,
            },
            phone @ QuickConnectTarget::PhoneNumber { .. } => phone,
        })
    }
}
