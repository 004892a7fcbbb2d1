//! The Connect API's contact flow reads: ListContactFlows and DescribeContactFlow, for the
//! instance's configured flows. A flow configured with only a `queue` is described as the
//! flow-language content it stands for (the chat goes to that queue), so that what the API
//! shows is a flow `switchboard flow check` accepts and Amazon Connect would run the same way.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::connect_agents::{enum_values, instance, Arns, ListCall, Reply};
use super::{ApiState, Signed};
use awsproto::extract::Path;
use awsproto::ApiError;

/// Every flow type of the model; configured flows are all CONTACT_FLOW (inbound).
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

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/contact-flows-summary/{instance_id}",
            get(list_contact_flows),
        )
        .route(
            "/contact-flows/{instance_id}/{contact_flow_id}",
            get(describe_contact_flow),
        )
}

async fn list_contact_flows(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let types = enum_values(&call.params, "contactFlowTypes", &FLOW_TYPES)?;
    let flows = if types.is_empty() || types.contains(&"CONTACT_FLOW") {
        call.instance
            .contact_flows
            .iter()
            .map(|f| {
                json!({
                    "Id": f.id, "Arn": call.arns.flow(&f.id), "Name": f.name,
                    "ContactFlowType": "CONTACT_FLOW", "ContactFlowState": "ACTIVE",
                    "ContactFlowStatus": "PUBLISHED",
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    call.answer("ContactFlowSummaryList", flows)
}

async fn describe_contact_flow(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    _signed: Signed,
) -> Reply {
    let (instance_label, flow_label) = path?.0;
    let instance = instance(&app, &instance_label)?;
    let arns = Arns::of(&app, instance);
    let flow_id = arns.id("ContactFlowId", "contact-flow", &flow_label)?;
    let flow = instance.contact_flow(flow_id).ok_or_else(|| {
        ApiError::resource_not_found(format!("ContactFlow {flow_label} not found"))
    })?;
    let content = match &flow.content {
        Some(content) => content.clone(),
        None => {
            serde_json::to_string(&*flow.language(|q| arns.queue(q))).expect("a flow serialises")
        }
    };
    Ok(Json(json!({
        "ContactFlow": {
            "Arn": arns.flow(&flow.id),
            "Id": flow.id,
            "Name": flow.name,
            "Type": "CONTACT_FLOW",
            "State": "ACTIVE",
            "Status": "PUBLISHED",
            "Content": content,
            "Tags": {},
        }
    })))
}
