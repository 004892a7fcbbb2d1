//! The Connect API's hours of operation, in the model's shapes: CreateHoursOfOperation,
//! DescribeHoursOfOperation, ListHoursOfOperations, UpdateHoursOfOperation and
//! DeleteHoursOfOperation. Hours of the configuration file are listed and described, not
//! changed; the rules are the chat service's (`chat::hours`).

use axum::extract::{RawQuery, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::connect::{connect_error, parse};
use super::connect_agents::{instance, resource_path, Arns, ListCall, Reply};
use super::{ApiState, Signed};
use crate::chat::hours::{HoursChange, HoursView};
use crate::clock::epoch_seconds;
use crate::config::OpenRange;
use awsproto::extract::Path;
use awsproto::json::Input;
use awsproto::ApiError;

/// The Connect API's names of the days, in its order.
const API_DAYS: [&str; 7] = [
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
];

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/hours-of-operations/{instance_id}", put(create))
        .route("/hours-of-operations-summary/{instance_id}", get(list))
        .route(
            "/hours-of-operations/{instance_id}/{hours_id}",
            get(describe).post(update).delete(delete),
        )
}

/// The members CreateHoursOfOperation and UpdateHoursOfOperation share.
fn read_change(i: &mut Input) -> HoursChange {
    HoursChange {
        name: i.string("Name", 1, 127),
        description: i.string("Description", 1, 250),
        time_zone: i.string("TimeZone", 1, 100),
        config: i
            .object_list("Config", (0, 100), |c| {
                let day = c.enumeration("Day", &API_DAYS);
                let start = c.object("StartTime", time_slice);
                let end = c.object("EndTime", time_slice);
                match (day, start.flatten(), end.flatten()) {
                    (Some(day), Some(start), Some(end)) => Some(OpenRange { day, start, end }),
                    _ => {
                        c.reject("Config entries need Day, StartTime and EndTime");
                        None
                    }
                }
            })
            .map(|ranges| ranges.into_iter().flatten().collect()),
        tags: None,
    }
}

/// `{Hours, Minutes}` as `HH:MM`.
fn time_slice(i: &mut Input) -> Option<String> {
    let hours = i.integer("Hours", 0, 23);
    let minutes = i.integer("Minutes", 0, 59);
    Some(format!("{:02}:{:02}", hours?, minutes?))
}

fn slice_json(text: &str) -> Value {
    let (h, m) = text.split_once(':').unwrap_or(("0", "0"));
    json!({"Hours": h.parse::<u32>().unwrap_or(0), "Minutes": m.parse::<u32>().unwrap_or(0)})
}

/// The hours' path: the instance and the hours' id (ids or ARNs).
fn hours_path(
    app: &ApiState,
    path: Result<Path<(String, String)>, ApiError>,
) -> Result<(String, String), ApiError> {
    resource_path(app, path, "HoursOfOperationId", "operating-hours")
}

async fn create(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    signed: Signed,
) -> Reply {
    let instance = instance(&app, &path?.0)?;
    let mut i = parse(&signed.body)?;
    for required in ["Name", "TimeZone", "Config"] {
        if !i.has(required) {
            i.reject(format!(
                "Value at '{required}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }
    let mut change = read_change(&mut i);
    change.tags = i.string_map("Tags", (1, 128), (0, 256));
    i.finish()?;
    let created = app
        .chat
        .create_hours(&instance.id, change)
        .await
        .map_err(connect_error)?;
    let arns = Arns::of(&app, instance);
    Ok(Json(json!({
        "HoursOfOperationId": created.id,
        "HoursOfOperationArn": arns.hours(&created.id),
    })))
}

async fn describe(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, id) = hours_path(&app, path)?;
    let hours = app
        .chat
        .describe_hours(&instance_id, &id)
        .await
        .map_err(connect_error)?;
    let instance = instance(&app, &instance_id)?;
    let arns = Arns::of(&app, instance);
    let mut out = Map::new();
    out.insert("HoursOfOperationId".into(), json!(hours.id));
    out.insert("HoursOfOperationArn".into(), json!(arns.hours(&hours.id)));
    out.insert("Name".into(), json!(hours.name));
    if let Some(description) = &hours.description {
        out.insert("Description".into(), json!(description));
    }
    out.insert("TimeZone".into(), json!(hours.time_zone));
    let config: Vec<Value> = hours
        .config
        .iter()
        .map(|r| json!({"Day": r.day, "StartTime": slice_json(&r.start), "EndTime": slice_json(&r.end)}))
        .collect();
    out.insert("Config".into(), Value::Array(config));
    out.insert("Tags".into(), json!(hours.tags));
    if let Some(at) = hours.updated_at {
        out.insert("LastModifiedTime".into(), json!(epoch_seconds(at)));
        out.insert("LastModifiedRegion".into(), json!(app.chat.config().region));
    }
    Ok(Json(json!({ "HoursOfOperation": Value::Object(out) })))
}

async fn list(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let hours = app
        .chat
        .list_hours(&call.instance.id)
        .await
        .map_err(connect_error)?;
    let summaries = hours.iter().map(|h| summary(&call.arns, h)).collect();
    call.answer("HoursOfOperationSummaryList", summaries)
}

fn summary(arns: &Arns, hours: &HoursView) -> Value {
    json!({"Id": hours.id, "Arn": arns.hours(&hours.id), "Name": hours.name})
}

async fn update(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_id, id) = hours_path(&app, path)?;
    let mut i = parse(&signed.body)?;
    let change = read_change(&mut i);
    i.finish()?;
    app.chat
        .update_hours(&instance_id, &id, change)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn delete(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, id) = hours_path(&app, path)?;
    app.chat
        .delete_hours(&instance_id, &id)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}
