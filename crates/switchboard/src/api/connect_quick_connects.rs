//! The Connect API's quick connect operations, in the model's shapes: CreateQuickConnect,
//! DescribeQuickConnect, ListQuickConnects, UpdateQuickConnectName, UpdateQuickConnectConfig and
//! DeleteQuickConnect, and a queue's: AssociateQueueQuickConnects,
//! DisassociateQueueQuickConnects and ListQueueQuickConnects. Quick connects of the configuration
//! file are listed and described, not changed; the rules are the chat service's
//! (`chat::quick_connects`).

use axum::extract::{RawQuery, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::connect::{connect_error, parse};
use super::connect_agents::{enum_values, instance, resource_path, Arns, ListCall, Reply};
use super::{ApiState, Signed};
use crate::chat::quick_connects::QuickConnectView;
use crate::clock::epoch_seconds;
use crate::model::QuickConnectTarget;
use awsproto::extract::Path;
use awsproto::json::Input;
use awsproto::ApiError;

/// The model's QuickConnectType values.
const TYPES: [&str; 4] = ["USER", "QUEUE", "PHONE_NUMBER", "FLOW"];

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/quick-connects/{instance_id}", put(create).get(list))
        .route(
            "/quick-connects/{instance_id}/{quick_connect_id}",
            get(describe).delete(delete),
        )
        .route(
            "/quick-connects/{instance_id}/{quick_connect_id}/name",
            post(update_name),
        )
        .route(
            "/quick-connects/{instance_id}/{quick_connect_id}/config",
            post(update_config),
        )
        .route(
            "/queues/{instance_id}/{queue_id}/associate-quick-connects",
            post(associate),
        )
        .route(
            "/queues/{instance_id}/{queue_id}/disassociate-quick-connects",
            post(disassociate),
        )
        .route(
            "/queues/{instance_id}/{queue_id}/quick-connects",
            get(list_for_queue),
        )
}

/// The instance and the quick connect id a path names (ids or ARNs).
fn quick_connect_path(
    app: &ApiState,
    path: Result<Path<(String, String)>, ApiError>,
) -> Result<(String, String), ApiError> {
    resource_path(app, path, "QuickConnectId", "transfer-destination")
}

/// `QuickConnectConfig`: its type and the one configuration that type takes.
fn read_config(i: &mut Input) -> Option<QuickConnectTarget> {
    if !i.has("QuickConnectConfig") {
        i.reject(
            "Value at 'QuickConnectConfig' failed to satisfy constraint: Member must not be null",
        );
        return None;
    }
    i.object("QuickConnectConfig", |c| {
        let kind = c.required_string("QuickConnectType", 1, 20);
        let with_flow = |id: &'static str| {
            move |o: &mut Input| {
                let target = o.required_string(id, 1, 256);
                let flow = o.required_string("ContactFlowId", 1, 500);
                Some((target?, flow?))
            }
        };
        let user = c.object("UserConfig", with_flow("UserId")).flatten();
        let queue = c.object("QueueConfig", with_flow("QueueId")).flatten();
        let phone = c
            .object("PhoneConfig", |p| p.required_string("PhoneNumber", 1, 16))
            .flatten();
        let flow = c
            .object("FlowConfig", |f| f.required_string("ContactFlowId", 1, 500))
            .flatten();
        let given = [user.is_some(), queue.is_some(), phone.is_some(), flow.is_some()];
        let kind = kind?;
        if !TYPES.contains(&kind.as_str()) {
            c.reject(format!(
                "Value '{kind}' at 'QuickConnectConfig.QuickConnectType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                TYPES.join(", ")
            ));
            return None;
        }
        if given.iter().filter(|g| **g).count() > 1 {
            c.reject(format!(
                "A {kind} quick connect takes only the configuration of its type"
            ));
            return None;
        }
        let target = match kind.as_str() {
            "USER" => user.map(|(user_id, flow_id)| QuickConnectTarget::User {
                user_id,
                flow_id: Some(flow_id),
            }),
            "QUEUE" => queue.map(|(queue_id, flow_id)| QuickConnectTarget::Queue {
                queue_id,
                flow_id: Some(flow_id),
            }),
            "PHONE_NUMBER" => phone.map(|phone_number| QuickConnectTarget::PhoneNumber { phone_number }),
            _ => flow.map(|flow_id| QuickConnectTarget::Flow { flow_id }),
        };
        if target.is_none() {
            let needs = match kind.as_str() {
                "USER" => "UserConfig",
                "QUEUE" => "QueueConfig",
                "PHONE_NUMBER" => "PhoneConfig",
                _ => "FlowConfig",
            };
            c.reject(format!("A {kind} quick connect needs its {needs}"));
        }
        if let Some(QuickConnectTarget::PhoneNumber { phone_number }) = &target {
            if !is_e164(phone_number) {
                c.reject(format!(
                    "Value '{phone_number}' at 'QuickConnectConfig.PhoneConfig.PhoneNumber' failed to satisfy constraint: Member must be a phone number in E.164 format such as +14155550100"
                ));
                return None;
            }
        }
        target
    })
    .flatten()
}

/// `+` and 2 to 15 digits, the first not 0 (the model's pattern).
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn config_json(target: &QuickConnectTarget) -> Value {
    let with_flow = |id_name: &str, id: &str, flow_id: &Option<String>| {
        let mut o = Map::new();
        o.insert(id_name.into(), json!(id));
        if let Some(flow_id) = flow_id {
            o.insert("ContactFlowId".into(), json!(flow_id));
        }
        Value::Object(o)
    };
    let (member, config) = match target {
        QuickConnectTarget::User { user_id, flow_id } => {
            ("UserConfig", with_flow("UserId", user_id, flow_id))
        }
        QuickConnectTarget::Queue { queue_id, flow_id } => {
            ("QueueConfig", with_flow("QueueId", queue_id, flow_id))
        }
        QuickConnectTarget::PhoneNumber { phone_number } => {
            ("PhoneConfig", json!({ "PhoneNumber": phone_number }))
        }
        QuickConnectTarget::Flow { flow_id } => ("FlowConfig", json!({ "ContactFlowId": flow_id })),
    };
    json!({ "QuickConnectType": target.kind(), member: config })
}

async fn create(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    signed: Signed,
) -> Reply {
    let instance = instance(&app, &path?.0)?;
    let mut i = parse(&signed.body)?;
    let name = i.required_string("Name", 1, 127);
    let description = i.string("Description", 1, 250);
    let target = read_config(&mut i);
    let tags = i.string_map("Tags", (1, 128), (0, 256));
    i.finish()?;
    let (Some(name), Some(target)) = (name, target) else {
        return Err(ApiError::invalid_parameter(
            "Name and QuickConnectConfig are required",
        ));
    };
    let created = app
        .chat
        .create_quick_connect(
            &instance.id,
            name,
            description,
            target,
            tags.unwrap_or_default(),
        )
        .await
        .map_err(connect_error)?;
    let arns = Arns::of(&app, instance);
    Ok(Json(json!({
        "QuickConnectId": created.id,
        "QuickConnectARN": arns.quick_connect(&created.id),
    })))
}

async fn describe(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, id) = quick_connect_path(&app, path)?;
    let quick = app
        .chat
        .describe_quick_connect(&instance_id, &id)
        .await
        .map_err(connect_error)?;
    let arns = Arns::of(&app, instance(&app, &instance_id)?);
    let mut out = Map::new();
    out.insert(
        "QuickConnectARN".into(),
        json!(arns.quick_connect(&quick.id)),
    );
    out.insert("QuickConnectId".into(), json!(quick.id));
    out.insert("Name".into(), json!(quick.name));
    if let Some(description) = &quick.description {
        out.insert("Description".into(), json!(description));
    }
    out.insert("QuickConnectConfig".into(), config_json(&quick.target));
    out.insert("Tags".into(), json!(quick.tags));
    if let Some(at) = quick.updated_at {
        out.insert("LastModifiedTime".into(), json!(epoch_seconds(at)));
        out.insert("LastModifiedRegion".into(), json!(app.chat.config().region));
    }
    Ok(Json(json!({ "QuickConnect": Value::Object(out) })))
}

async fn list(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let types = enum_values(&call.params, "QuickConnectTypes", &TYPES)?;
    let quick_connects = app
        .chat
        .list_quick_connects(&call.instance.id, &types)
        .await
        .map_err(connect_error)?;
    let region = &app.chat.config().region;
    let summaries = quick_connects
        .iter()
        .map(|q| summary(&call.arns, q, region))
        .collect();
    call.answer("QuickConnectSummaryList", summaries)
}

fn summary(arns: &Arns, quick: &QuickConnectView, region: &str) -> Value {
    let mut out = json!({
        "Id": quick.id, "Arn": arns.quick_connect(&quick.id), "Name": quick.name,
        "QuickConnectType": quick.target.kind(),
    });
    if let Some(at) = quick.updated_at {
        out["LastModifiedTime"] = json!(epoch_seconds(at));
        out["LastModifiedRegion"] = json!(region);
    }
    out
}

async fn update_name(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_id, id) = quick_connect_path(&app, path)?;
    let mut i = parse(&signed.body)?;
    let name = i.string("Name", 1, 127);
    let description = i.string("Description", 0, 250);
    i.finish()?;
    app.chat
        .update_quick_connect_name(&instance_id, &id, name, description)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn update_config(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_id, id) = quick_connect_path(&app, path)?;
    let mut i = parse(&signed.body)?;
    let target = read_config(&mut i);
    i.finish()?;
    let Some(target) = target else {
        return Err(ApiError::invalid_parameter(
            "QuickConnectConfig is required",
        ));
    };
    app.chat
        .update_quick_connect_config(&instance_id, &id, target)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn delete(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, id) = quick_connect_path(&app, path)?;
    app.chat
        .delete_quick_connect(&instance_id, &id)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn associate(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    change_associations(app, path, signed, true).await
}

async fn disassociate(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    change_associations(app, path, signed, false).await
}

/// AssociateQueueQuickConnects and DisassociateQueueQuickConnects: `QuickConnectIds`, 1 to 50.
async fn change_associations(
    app: ApiState,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
    associate: bool,
) -> Reply {
    let (instance_id, queue_id) = resource_path(&app, path, "QueueId", "queue")?;
    let mut i = parse(&signed.body)?;
    if !i.has("QuickConnectIds") {
        i.reject(
            "Value at 'QuickConnectIds' failed to satisfy constraint: Member must not be null",
        );
    }
    let ids = i.string_list("QuickConnectIds", (1, 50), (1, 256));
    i.finish()?;
    app.chat
        .associate_queue_quick_connects(&instance_id, &queue_id, ids.unwrap_or_default(), associate)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn list_for_queue(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let (instance_id, queue_id) = resource_path(&app, path, "QueueId", "queue")?;
    let call = ListCall::read(&app, Ok(Path(instance_id.clone())), query)?;
    let quick_connects = app
        .chat
        .list_queue_quick_connects(&instance_id, &queue_id)
        .await
        .map_err(connect_error)?;
    let region = &app.chat.config().region;
    let summaries = quick_connects
        .iter()
        .map(|q| summary(&call.arns, q, region))
        .collect();
    call.answer("QuickConnectSummaryList", summaries)
}
