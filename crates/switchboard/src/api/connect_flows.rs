//! The Connect API's contact flow operations, in the model's shapes: CreateContactFlow,
//! DescribeContactFlow, ListContactFlows, UpdateContactFlowContent, UpdateContactFlowName and
//! DeleteContactFlow. Flows of the configuration file are listed and described (a flow given as
//! only a `queue` as the flow-language content it stands for) but not changed; the rules are the
//! chat service's (`chat::catalog`).

use axum::extract::{RawQuery, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::connect::{connect_error, parse};
use super::connect_agents::{enum_values, instance, resource_path, Arns, ListCall, Reply};
use super::{ApiState, Signed};
use crate::chat::catalog::{FlowView, NewFlow};
use crate::flows::validate::MAX_CONTENT_CHARS;
use awsproto::extract::Path;
use awsproto::ApiError;

/// Every flow type of the model.
const FLOW_TYPES: [&str; 10] = [
    "CONTACT_FLOW",
    "CUSTOMER_QUEUE",
    "CUSTOMER_HOLD",
    "CUSTOMER_WHISPER",
    "AGENT_HOLD",
    "AGENT_WHISPER",
    "OUTBOUND_WHISPER",
    "AGENT_TRANSFER",
    "QUEUE_TRANSFER",
    "CAMPAIGN",
];
const STATUSES: [&str; 2] = ["PUBLISHED", "SAVED"];
/// The longest name and description the console accepts.
const MAX_NAME_CHARS: usize = 127;
const MAX_DESCRIPTION_CHARS: usize = 500;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/contact-flows/{instance_id}", put(create_contact_flow))
        .route(
            "/contact-flows-summary/{instance_id}",
            get(list_contact_flows),
        )
        .route(
            "/contact-flows/{instance_id}/{contact_flow_id}",
            get(describe_contact_flow).delete(delete_contact_flow),
        )
        .route(
            "/contact-flows/{instance_id}/{contact_flow_id}/content",
            post(update_contact_flow_content),
        )
        .route(
            "/contact-flows/{instance_id}/{contact_flow_id}/name",
            post(update_contact_flow_name),
        )
}

/// The instance and the flow id a path names (ids or ARNs).
fn flow_path(
    app: &ApiState,
    path: Result<Path<(String, String)>, ApiError>,
) -> Result<(String, String), ApiError> {
    resource_path(app, path, "ContactFlowId", "contact-flow")
}

async fn create_contact_flow(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    signed: Signed,
) -> Reply {
    let instance = instance(&app, &path?.0)?;
    let mut i = parse(&signed.body)?;
    let name = i.required_string("Name", 1, MAX_NAME_CHARS);
    if !i.has("Type") {
        i.reject("Value at 'Type' failed to satisfy constraint: Member must not be null");
    }
    let flow_type = i.enumeration("Type", &FLOW_TYPES);
    let description = i.string("Description", 0, MAX_DESCRIPTION_CHARS);
    let content = i.required_string("Content", 1, MAX_CONTENT_CHARS);
    let status = i.enumeration("Status", &STATUSES);
    let tags = i.string_map("Tags", (1, 128), (0, 256));
    i.finish()?;
    let (Some(name), Some(flow_type), Some(content)) = (name, flow_type, content) else {
        return Err(ApiError::invalid_parameter(
            "Name, Type and Content are required",
        ));
    };
    let created = app
        .chat
        .create_flow(NewFlow {
            instance_id: instance.id.clone(),
            name,
            flow_type,
            description,
            content,
            status,
            tags: tags.unwrap_or_default(),
        })
        .await
        .map_err(connect_error)?;
    let arns = Arns::of(&app, instance);
    Ok(Json(json!({
        "ContactFlowId": created.id,
        "ContactFlowArn": arns.flow(&created.id),
        "FlowContentSha256": created.content_sha256(),
    })))
}

async fn describe_contact_flow(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, flow_id) = flow_path(&app, path)?;
    let flow = app
        .chat
        .describe_flow(&instance_id, &flow_id)
        .await
        .map_err(connect_error)?;
    let instance = instance(&app, &instance_id)?;
    let arns = Arns::of(&app, instance);
    let mut out = Map::new();
    out.insert("Arn".into(), json!(arns.flow(&flow.id)));
    out.insert("Id".into(), json!(flow.id));
    out.insert("Name".into(), json!(flow.name));
    out.insert("Type".into(), json!(flow.flow_type));
    out.insert("State".into(), json!(flow.state));
    out.insert("Status".into(), json!(flow.status));
    if let Some(description) = &flow.description {
        out.insert("Description".into(), json!(description));
    }
    out.insert("FlowContentSha256".into(), json!(flow.content_sha256()));
    out.insert("Content".into(), json!(flow.content));
    out.insert("Tags".into(), json!(flow.tags));
    Ok(Json(json!({ "ContactFlow": Value::Object(out) })))
}

async fn list_contact_flows(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let types = enum_values(&call.params, "contactFlowTypes", &FLOW_TYPES)?;
    let flows = app
        .chat
        .list_flows(&call.instance.id, &types)
        .await
        .map_err(connect_error)?;
    let summaries = flows.iter().map(|f| summary(&call.arns, f)).collect();
    call.answer("ContactFlowSummaryList", summaries)
}

fn summary(arns: &Arns, flow: &FlowView) -> Value {
    json!({
        "Id": flow.id, "Arn": arns.flow(&flow.id), "Name": flow.name,
        "ContactFlowType": flow.flow_type, "ContactFlowState": flow.state,
        "ContactFlowStatus": flow.status,
    })
}

async fn update_contact_flow_content(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_id, flow_id) = flow_path(&app, path)?;
    let mut i = parse(&signed.body)?;
    let content = i.required_string("Content", 1, MAX_CONTENT_CHARS);
    i.finish()?;
    let content = content.unwrap_or_default();
    app.chat
        .update_flow_content(&instance_id, &flow_id, content)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn update_contact_flow_name(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_id, flow_id) = flow_path(&app, path)?;
    let mut i = parse(&signed.body)?;
    let name = i.string("Name", 1, MAX_NAME_CHARS);
    let description = i.string("Description", 0, MAX_DESCRIPTION_CHARS);
    i.finish()?;
    app.chat
        .update_flow_name(&instance_id, &flow_id, name, description)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}

async fn delete_contact_flow(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_id, flow_id) = flow_path(&app, path)?;
    app.chat
        .delete_flow(&instance_id, &flow_id)
        .await
        .map_err(connect_error)?;
    Ok(Json(json!({})))
}
