//! Reading rows into the chat records, shared by the SQLite and PostgreSQL stores: both keep
//! the same columns (instants as milliseconds since the epoch), so one mapping serves both.

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{StoreError, StoreResult};
use crate::clock::from_millis;
use crate::model::{
    with_contact_ids, Contact, ContactDetails, Item, ItemType, OutboxEntry, Participant, Receipt,
    Role, Sender, StoredFlow, StoredHours, StoredQuickConnect, Stream,
};

pub(crate) const CONTACT_COLUMNS: &str =
    "id, instance_id, initial_contact_id, contact_flow_id, queue_id,
    customer_participant_id, attributes, details, duration_minutes, initiated_at, enqueued_at,
    expires_at, ended_at, disconnect_reason, updated_at, agent_id, connected_to_agent_at,
    previous_contact_id, next_contact_id, transferred_at";

pub(crate) fn contact_from_row<'r, R>(row: &'r R) -> StoreResult<Contact>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let attributes: String = row.get("attributes");
    let details: String = row.get("details");
    let millis = |name: &str| from_millis(row.get::<i64, _>(name));
    let opt_millis = |name: &str| row.get::<Option<i64>, _>(name).map(from_millis);
    Ok(Contact {
        id: row.get("id"),
        instance_id: row.get("instance_id"),
        initial_contact_id: row.get("initial_contact_id"),
        contact_flow_id: row.get("contact_flow_id"),
        queue_id: row.get("queue_id"),
        customer_participant_id: row.get("customer_participant_id"),
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Backend(format!("attributes: {e}")))?,
        details: serde_json::from_str::<ContactDetails>(&details)
            .map_err(|e| StoreError::Backend(format!("details: {e}")))?,
        duration_minutes: row.get("duration_minutes"),
        initiated_at: millis("initiated_at"),
        enqueued_at: opt_millis("enqueued_at"),
        expires_at: millis("expires_at"),
        ended_at: opt_millis("ended_at"),
        disconnect_reason: row.get("disconnect_reason"),
        updated_at: millis("updated_at"),
        agent: row
            .get::<Option<String>, _>("agent_id")
            .zip(opt_millis("connected_to_agent_at")),
        previous_contact_id: row.get("previous_contact_id"),
        transferred_to: row
            .get::<Option<String>, _>("next_contact_id")
            .zip(opt_millis("transferred_at")),
    })
}

pub(crate) fn participant_from_row<'r, R>(row: &'r R) -> StoreResult<Participant>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let role: String = row.get("role");
    Ok(Participant {
        id: row.get("id"),
        contact_id: row.get("contact_id"),
        role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("role {role}")))?,
        display_name: row.get("display_name"),
        joined_at: from_millis(row.get("joined_at")),
        left_at: row.get::<Option<i64>, _>("left_at").map(from_millis),
    })
}

pub(crate) fn item_from_row<'r, R>(row: &'r R) -> StoreResult<Item>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let item_type: String = row.get("type");
    let sender = match (
        row.get::<Option<String>, _>("participant_id"),
        row.get::<Option<String>, _>("display_name"),
        row.get::<Option<String>, _>("participant_role"),
    ) {
        (Some(participant_id), Some(display_name), Some(role)) => Some(Sender {
            participant_id,
            display_name,
            role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("role {role}")))?,
        }),
        _ => None,
    };
    Ok(Item {
        contact_id: row.get("contact_id"),
        seq: row.get("seq"),
        id: row.get("id"),
        item_type: ItemType::parse(&item_type)
            .ok_or_else(|| StoreError::Backend(format!("item type {item_type}")))?,
        content_type: row.get("content_type"),
        content: row.get("content"),
        sender,
        absolute_time: from_millis(row.get("absolute_time")),
    })
}

pub(crate) fn stream_from_row<'r, R>(row: &'r R) -> Stream
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Stream {
        id: row.get("id"),
        contact_id: row.get("contact_id"),
        instance_id: row.get("instance_id"),
        endpoint_arn: row.get("endpoint_arn"),
        started_at: from_millis(row.get("started_at")),
        stopped_at: row.get::<Option<i64>, _>("stopped_at").map(from_millis),
    }
}

/// An outbox row, its item rendered as the message the endpoint receives.
pub(crate) fn outbox_entry_from_row<'r, R>(row: &'r R, stream_id: &str) -> StoreResult<OutboxEntry>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let item_id: String = row.get("outbox_item_id");
    let fields = match row.get::<Option<String>, _>("outbox_event") {
        Some(event) => serde_json::from_str(&event)
            .map_err(|e| StoreError::Backend(format!("outbox event: {e}")))?,
        None if row.get::<Option<String>, _>("id").is_some() => item_from_row(row)?.wire_fields(),
        None => {
            return Err(StoreError::Backend(format!(
                "outbox names item {item_id}, which is not in the transcript"
            )))
        }
    };
    let fields = with_contact_ids(
        fields,
        &row.get::<String, _>("chat_initial_contact_id"),
        &row.get::<String, _>("chat_contact_id"),
    );
    Ok(OutboxEntry {
        id: row.get("outbox_id"),
        stream_id: stream_id.to_string(),
        item_id,
        message: serde_json::Value::Object(fields).to_string(),
    })
}

pub(crate) fn receipt_from_row<'r, R>(row: &'r R) -> Receipt
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Receipt {
        message_id: row.get("message_id"),
        recipient_participant_id: row.get("recipient_participant_id"),
        delivered_at: row.get::<Option<i64>, _>("delivered_at").map(from_millis),
        read_at: row.get::<Option<i64>, _>("read_at").map(from_millis),
    }
}

/// The columns of `contact_flows` a [`FlowRow`] reads, in its order.
pub(super) const FLOW_COLUMNS: &str =
    "id, name, type, description, content, status, state, tags, updated_at";

/// A row of `contact_flows`, as [`FLOW_COLUMNS`] selects it.
pub(super) type FlowRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
);

pub(super) fn flow_from_row(instance_id: &str, row: FlowRow) -> StoreResult<StoredFlow> {
    let (id, name, flow_type, description, content, status, state, tags, updated_at) = row;
    Ok(StoredFlow {
        instance_id: instance_id.to_string(),
        id,
        name,
        flow_type,
        description,
        content,
        status,
        state,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Backend(format!("flow tags: {e}")))?,
        updated_at: from_millis(updated_at),
    })
}

/// The columns of `quick_connects` a [`QuickConnectRow`] reads, in its order.
pub(super) const QUICK_CONNECT_COLUMNS: &str = "id, name, description, target, tags, updated_at";

/// A row of `quick_connects`, as [`QUICK_CONNECT_COLUMNS`] selects it.
pub(super) type QuickConnectRow = (String, String, Option<String>, String, String, i64);

pub(super) fn quick_connect_from_row(
    instance_id: &str,
    row: QuickConnectRow,
) -> StoreResult<StoredQuickConnect> {
    let (id, name, description, target, tags, updated_at) = row;
    let json = |what: &str, e: serde_json::Error| {
        StoreError::Backend(format!("quick connect {what}: {e}"))
    };
    Ok(StoredQuickConnect {
        instance_id: instance_id.to_string(),
        id,
        name,
        description,
        target: serde_json::from_str(&target).map_err(|e| json("target", e))?,
        tags: serde_json::from_str(&tags).map_err(|e| json("tags", e))?,
        updated_at: from_millis(updated_at),
    })
}

/// The columns of `hours_of_operation` an [`HoursRow`] reads, in its order.
pub(super) const HOURS_COLUMNS: &str = "id, name, description, time_zone, config, tags, updated_at";

/// A row of `hours_of_operation`, as [`HOURS_COLUMNS`] selects it.
pub(super) type HoursRow = (String, String, Option<String>, String, String, String, i64);

pub(super) fn hours_from_row(instance_id: &str, row: HoursRow) -> StoreResult<StoredHours> {
    let (id, name, description, time_zone, config, tags, updated_at) = row;
    let json = |what: &str, e: serde_json::Error| StoreError::Backend(format!("hours {what}: {e}"));
    Ok(StoredHours {
        instance_id: instance_id.to_string(),
        id,
        name,
        description,
        time_zone,
        config: serde_json::from_str(&config).map_err(|e| json("config", e))?,
        tags: serde_json::from_str(&tags).map_err(|e| json("tags", e))?,
        updated_at: from_millis(updated_at),
    })
}
