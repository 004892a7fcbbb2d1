//! Hours of operation as the Connect API manages them: those of the configuration file
//! (read-only here) and those made through the API (CreateHoursOfOperation and its updates),
//! kept in the store so that every node's flows check the same hours.
//!
//! The rules:
//! - Names are unique within an instance, across both kinds.
//! - The time zone is one of the IANA database's (`Europe/Berlin`), so daylight saving time
//!   moves the hours as it moves the clocks.
//! - A day's range opens at its start and closes at its end; an end before the start runs past
//!   midnight; a start equal to the end is open all day (see `config::hours`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::service::{new_id, ChatService};
use super::ChatError;
use crate::config::{HoursOfOperation, Instance, OpenRange};
use crate::model::StoredHours;

/// Hours of operation as the API describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    pub config: Vec<OpenRange>,
    pub tags: BTreeMap<String, String>,
    /// When they last changed (`None` for hours of the configuration file).
    pub updated_at: Option<OffsetDateTime>,
}

/// CreateHoursOfOperation after shape validation; also what UpdateHoursOfOperation may change.
#[derive(Debug, Clone, Default)]
pub struct HoursChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub time_zone: Option<String>,
    pub config: Option<Vec<OpenRange>>,
    pub tags: Option<BTreeMap<String, String>>,
}

fn view_of_configured(hours: &HoursOfOperation) -> HoursView {
    HoursView {
        id: hours.id.clone(),
        name: hours.name.clone(),
        description: None,
        time_zone: hours.time_zone.clone(),
        config: hours.config.clone(),
        tags: BTreeMap::new(),
        updated_at: None,
    }
}

fn view_of_stored(hours: StoredHours) -> HoursView {
    HoursView {
        id: hours.id,
        name: hours.name,
        description: hours.description,
        time_zone: hours.time_zone,
        config: hours.config,
        tags: hours.tags,
        updated_at: Some(hours.updated_at),
    }
}

/// Stored hours as the flows check them.
pub(super) fn as_hours(stored: &StoredHours) -> HoursOfOperation {
    HoursOfOperation {
        id: stored.id.clone(),
        name: stored.name.clone(),
        time_zone: stored.time_zone.clone(),
        config: stored.config.clone(),
    }
}

/// Names are unique in an instance: here against the configured hours; the store keeps those of
/// hours made through the API unique itself (`HoursNameTaken`).
fn check_name_free(instance: &Instance, name: &str) -> Result<(), ChatError> {
    if instance.hours_of_operation.iter().any(|h| h.name == name) {
        return Err(ChatError::Duplicate(format!(
            "Hours of operation named '{name}' already exist"
        )));
    }
    Ok(())
}

fn check_time_zone(zone: &str) -> Result<(), ChatError> {
    jiff::tz::TimeZone::get(zone).map(|_| ()).map_err(|_| {
        ChatError::Invalid(format!(
            "TimeZone '{zone}' is not an IANA time zone such as Europe/Berlin"
        ))
    })
}

impl ChatService {
    /// CreateHoursOfOperation: `change` carries every member.
    pub async fn create_hours(
        &self,
        instance: &str,
        change: HoursChange,
    ) -> Result<HoursView, ChatError> {
        let instance = self.resolve_instance(instance)?;
        let name = change.name.unwrap_or_default();
        let time_zone = change.time_zone.unwrap_or_default();
        check_time_zone(&time_zone)?;
        check_name_free(instance, &name)?;
        let hours = StoredHours {
            instance_id: instance.id.clone(),
            id: new_id(),
            name,
            description: change.description,
            time_zone,
            config: change.config.unwrap_or_default(),
            tags: change.tags.unwrap_or_default(),
            updated_at: self.now(),
        };
        self.store.put_hours_of_operation(hours.clone()).await?;
        Ok(view_of_stored(hours))
    }

    /// DescribeHoursOfOperation.
    pub async fn describe_hours(&self, instance: &str, id: &str) -> Result<HoursView, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if let Some(hours) = instance.hours(id) {
            return Ok(view_of_configured(hours));
        }
        self.store
            .hours_of_operation(&instance.id, id)
            .await?
            .map(view_of_stored)
            .ok_or_else(|| ChatError::NotFound(format!("HoursOfOperation {id} not found")))
    }

    /// ListHoursOfOperations: those of the configuration file, then those made through the API.
    pub async fn list_hours(&self, instance: &str) -> Result<Vec<HoursView>, ChatError> {
        let instance = self.resolve_instance(instance)?;
        let stored = self.store.hours_of_operations(&instance.id).await?;
        Ok(instance
            .hours_of_operation
            .iter()
            .map(view_of_configured)
            .chain(stored.into_iter().map(view_of_stored))
            .collect())
    }

    /// UpdateHoursOfOperation: the members given change.
    pub async fn update_hours(
        &self,
        instance: &str,
        id: &str,
        change: HoursChange,
    ) -> Result<(), ChatError> {
        let mut hours = self.stored_hours(instance, id).await?;
        if let Some(name) = change.name {
            check_name_free(self.resolve_instance(instance)?, &name)?;
            hours.name = name;
        }
        if let Some(zone) = change.time_zone {
            check_time_zone(&zone)?;
            hours.time_zone = zone;
        }
        if change.description.is_some() {
            hours.description = change.description;
        }
        if let Some(config) = change.config {
            hours.config = config;
        }
        hours.updated_at = self.now();
        self.store.put_hours_of_operation(hours).await?;
        Ok(())
    }

    /// DeleteHoursOfOperation. Flows that name them take CheckHoursOfOperation's error branch.
    pub async fn delete_hours(&self, instance: &str, id: &str) -> Result<(), ChatError> {
        let hours = self.stored_hours(instance, id).await?;
        self.store
            .delete_hours_of_operation(&hours.instance_id, &hours.id)
            .await?;
        Ok(())
    }

    async fn stored_hours(&self, instance: &str, id: &str) -> Result<StoredHours, ChatError> {
        let instance = self.resolve_instance(instance)?;
        if instance.hours(id).is_some() {
            return Err(ChatError::Invalid(format!(
                "HoursOfOperation {id} are defined in the configuration file; change them there"
            )));
        }
        self.store
            .hours_of_operation(&instance.id, id)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("HoursOfOperation {id} not found")))
    }
}
