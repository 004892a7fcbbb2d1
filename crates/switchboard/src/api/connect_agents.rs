//! The Amazon Connect operations about agents and queues that an operator or a supervisor view
//! calls (SigV4-authenticated, in the model's shapes): GetCurrentMetricData and
//! GetCurrentUserData for the CHAT channel, PutUserStatus, ListQueues, ListUsers and
//! ListAgentStatuses. The figures come from the router, which owns the live routing state.

use axum::extract::{RawQuery, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::connect::connect_error;
use super::ApiState;
use super::Signed;
use crate::chat::arns::Refusal;
use crate::clock::{epoch_seconds, from_millis};
use crate::config::{Instance, StatusKind, User};
use crate::routing::engine::{AgentFigures, Presence, QueueFigures};
use awsproto::extract::Path;
use awsproto::json::Input;
use awsproto::ApiError;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/metrics/current/{instance_id}",
            post(get_current_metric_data),
        )
        .route(
            "/metrics/userdata/{instance_id}",
            post(get_current_user_data),
        )
        .route(
            "/users/{instance_id}/{user_id}/status",
            put(put_user_status),
        )
        .route("/queues-summary/{instance_id}", get(list_queues))
        .route("/users-summary/{instance_id}", get(list_users))
        .route("/agent-status/{instance_id}", get(list_agent_statuses))
}

pub(super) type Reply = Result<Json<Value>, ApiError>;

/// The configured instance named by a path label (an id or an instance ARN).
pub(super) fn instance<'a>(app: &'a ApiState, label: &str) -> Result<&'a Instance, ApiError> {
    app.desk.instance(label).map_err(connect_error)
}

/// The instance and the id of its resource of `kind` that a path `/{instance}/{id}` names (ids or
/// ARNs; the id given in the member `field`).
pub(super) fn resource_path(
    app: &ApiState,
    path: Result<Path<(String, String)>, ApiError>,
    field: &str,
    kind: &str,
) -> Result<(String, String), ApiError> {
    let (instance_label, resource_label) = path?.0;
    let instance = instance(app, &instance_label)?;
    let id = Arns::of(app, instance).id(field, kind, &resource_label)?;
    Ok((instance.id.clone(), id.to_string()))
}

/// ARNs of an instance's resources, as Amazon Connect writes and reads them.
pub(super) struct Arns<'a> {
    arns: &'a crate::chat::arns::Arns,
    instance: &'a str,
}

impl<'a> Arns<'a> {
    pub(super) fn of(app: &'a ApiState, instance: &'a Instance) -> Self {
        Self {
            arns: app.chat.arns(),
            instance: &instance.id,
        }
    }
    fn user(&self, id: &str) -> String {
        self.arns.resource(self.instance, "agent", id)
    }
    pub(super) fn queue(&self, id: &str) -> String {
        self.arns.resource(self.instance, "queue", id)
    }
    pub(super) fn flow(&self, id: &str) -> String {
        self.arns.resource(self.instance, "contact-flow", id)
    }
    pub(super) fn hours(&self, id: &str) -> String {
        self.arns.resource(self.instance, "operating-hours", id)
    }
    pub(super) fn quick_connect(&self, id: &str) -> String {
        self.arns
            .resource(self.instance, "transfer-destination", id)
    }
    fn routing_profile(&self, id: &str) -> String {
        self.arns.resource(self.instance, "routing-profile", id)
    }
    fn status(&self, id: &str) -> String {
        self.arns.resource(self.instance, "agent-state", id)
    }

    /// The id in the id-or-ARN `reference` of a resource of `kind` in this instance, given in
    /// the member `field`.
    pub(super) fn id<'r>(
        &self,
        field: &str,
        kind: &str,
        reference: &'r str,
    ) -> Result<&'r str, ApiError> {
        self.arns
            .resource_id(self.instance, kind, reference)
            .map_err(|refusal| {
                let why = self.arns.explain(refusal, field, reference);
                match refusal {
                    Refusal::Elsewhere => ApiError::access_denied_because(why),
                    Refusal::Malformed => ApiError::invalid_request(why),
                    Refusal::OtherInstance => ApiError::resource_not_found(why),
                }
            })
    }

    /// Every reference of a list member, as ids.
    fn ids<'r>(
        &self,
        field: &str,
        kind: &str,
        references: &'r [String],
    ) -> Result<Vec<&'r str>, ApiError> {
        references.iter().map(|r| self.id(field, kind, r)).collect()
    }
}

// ---- paging ----------------------------------------------------------------------------------

/// One page of `items` from the offset a NextToken carries; the token for the next page.
fn page<T>(
    items: Vec<T>,
    max_results: usize,
    next_token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match next_token {
        None => 0,
        Some(token) => decode_list_token(token, items.len())
            .ok_or_else(|| ApiError::invalid_parameter("The NextToken is not valid"))?,
    };
    let end = (start + max_results).min(items.len());
    let next =
        (end < items.len()).then(|| URL_SAFE_NO_PAD.encode(format!("offset:{end}").as_bytes()));
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

/// The offset a List operation's NextToken carries, if it is one and lies within `len` items.
pub fn decode_list_token(token: &str, len: usize) -> Option<usize> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .filter(|n: &usize| *n <= len)
}

/// The query string's parameters, repeated names kept (`?queueTypes=A&queueTypes=B`).
fn query_params(raw: Option<String>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Every value given for `name` (a parameter may repeat).
/// A list parameter's values, each one of `allowed` (the model's enum), or the AWS error naming
/// the first that is not.
pub(super) fn enum_values<'a>(
    params: &'a [(String, String)],
    name: &str,
    allowed: &[&str],
) -> Result<Vec<&'a str>, ApiError> {
    let values = param_values(params, name);
    match values.iter().find(|v| !allowed.contains(v)) {
        Some(bad) => Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{bad}' at '{name}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ))),
        None => Ok(values),
    }
}

pub(super) fn param_values<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `maxResults` (1..=1000, default 100) and `nextToken` of a List operation.
fn list_paging(params: &[(String, String)]) -> Result<(usize, Option<String>), ApiError> {
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let max = match value("maxResults") {
        None => 100,
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
            ))
        })?,
    };
    Ok((max, value("nextToken")))
}

// ---- lists -------------------------------------------------------------------------------------

/// What every List operation starts from: the instance, the query's parameters and its paging.
pub(super) struct ListCall<'a> {
    pub(super) instance: &'a Instance,
    pub(super) arns: Arns<'a>,
    pub(super) params: Vec<(String, String)>,
    max: usize,
    token: Option<String>,
}

impl<'a> ListCall<'a> {
    pub(super) fn read(
        app: &'a ApiState,
        path: Result<Path<String>, ApiError>,
        query: Option<String>,
    ) -> Result<Self, ApiError> {
        let instance = instance(app, &path?.0)?;
        let params = query_params(query);
        let (max, token) = list_paging(&params)?;
        Ok(Self {
            arns: Arns::of(app, instance),
            instance,
            params,
            max,
            token,
        })
    }

    /// The page asked for, as the operation's `member` list, with the token for the next one.
    pub(super) fn answer(&self, member: &str, items: Vec<Value>) -> Reply {
        let (list, next) = page(items, self.max, self.token.as_deref())?;
        let mut out = Map::new();
        out.insert(member.into(), Value::Array(list));
        out.insert("NextToken".into(), json!(next));
        Ok(Json(Value::Object(out)))
    }
}

async fn list_queues(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let (instance, arns) = (call.instance, &call.arns);
    let types = enum_values(&call.params, "queueTypes", &["STANDARD", "AGENT"])?;
    let wants = |t: &str| types.is_empty() || types.contains(&t);
    let mut queues = Vec::new();
    if wants("STANDARD") {
        queues.extend(instance.queues.iter().map(|q| {
            json!({"Id": q.id, "Arn": arns.queue(&q.id), "Name": q.name, "QueueType": "STANDARD"})
        }));
    }
    if wants("AGENT") {
        // Every agent has a queue of their own, which transfers to them wait in.
        queues.extend(instance.users.iter().map(|u| {
            let id = format!("agent/{}", u.id);
            json!({"Id": id, "Arn": arns.queue(&id), "Name": u.username, "QueueType": "AGENT"})
        }));
    }
    call.answer("QueueSummaryList", queues)
}

async fn list_users(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let arns = &call.arns;
    let mut users: Vec<&User> = call.instance.users.iter().collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let users = users
        .into_iter()
        .map(|u| json!({"Id": u.id, "Arn": arns.user(&u.id), "Username": u.username}))
        .collect();
    call.answer("UserSummaryList", users)
}

async fn list_agent_statuses(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    RawQuery(query): RawQuery,
    _signed: Signed,
) -> Reply {
    let call = ListCall::read(&app, path, query)?;
    let types = param_values(&call.params, "AgentStatusTypes");
    let arns = &call.arns;
    let list = call
        .instance
        .statuses()
        .into_iter()
        .filter(|s| types.is_empty() || types.contains(&s.kind.connect_type()))
        .map(|s| {
            json!({"Id": s.id, "Arn": arns.status(&s.id), "Name": s.name, "Type": s.kind.connect_type()})
        })
        .collect();
    call.answer("AgentStatusSummaryList", list)
}

// ---- PutUserStatus -------------------------------------------------------------------------------

async fn put_user_status(
    State(app): State<ApiState>,
    path: Result<Path<(String, String)>, ApiError>,
    signed: Signed,
) -> Reply {
    let (instance_label, user_label) = path?.0;
    let instance = instance(&app, &instance_label)?;
    let mut i = Input::parse(&signed.body, ApiError::invalid_parameter)?;
    let status_id = i.required_string("AgentStatusId", 1, 500);
    i.finish()?;
    let status_id = status_id.unwrap_or_default();
    let arns = Arns::of(&app, instance);
    let user_id = arns.id("UserId", "agent", &user_label)?;
    let user = instance
        .users
        .iter()
        .find(|u| u.id == user_id)
        .ok_or_else(|| ApiError::resource_not_found(format!("User {user_label} not found")))?;
    let status_id = arns.id("AgentStatusId", "agent-state", &status_id)?;
    let presence = instance
        .statuses()
        .into_iter()
        .find(|s| s.id == status_id)
        .map(|s| match s.kind {
            StatusKind::Routable => Presence::Available,
            StatusKind::Offline => Presence::Offline,
            StatusKind::Custom => Presence::Custom(s.id),
        })
        .ok_or_else(|| {
            ApiError::resource_not_found(format!("AgentStatus {status_id} not found"))
        })?;
    app.desk
        .set_status(&instance.id, &user.id, presence)
        .await
        .map_err(|e| ApiError::resource_not_found(e.to_string()))?;
    Ok(Json(json!({})))
}

// ---- GetCurrentMetricData ----------------------------------------------------------------------

const METRIC_NAMES: [&str; 14] = [
    "AGENTS_ONLINE",
    "AGENTS_AVAILABLE",
    "AGENTS_ON_CALL",
    "AGENTS_NON_PRODUCTIVE",
    "AGENTS_AFTER_CONTACT_WORK",
    "AGENTS_ERROR",
    "AGENTS_STAFFED",
    "CONTACTS_IN_QUEUE",
    "OLDEST_CONTACT_AGE",
    "CONTACTS_SCHEDULED",
    "AGENTS_ON_CONTACT",
    "SLOTS_ACTIVE",
    "SLOTS_AVAILABLE",
    "ESTIMATED_WAIT_TIME",
];

/// The unit a metric is reported in.
fn unit_of(metric: &str) -> &'static str {
    match metric {
        "OLDEST_CONTACT_AGE" | "ESTIMATED_WAIT_TIME" => "SECONDS",
        _ => "COUNT",
    }
}

/// A metric's value for the CHAT channel; `None` where the server has no estimate.
fn metric_value(metric: &str, f: &QueueFigures) -> Option<f64> {
    let count = |n: usize| Some(n as f64);
    match metric {
        "AGENTS_ONLINE" | "AGENTS_STAFFED" => count(f.agents_online),
        "AGENTS_AVAILABLE" => count(f.agents_available),
        "AGENTS_NON_PRODUCTIVE" => count(f.agents_non_productive),
        "AGENTS_AFTER_CONTACT_WORK" => count(f.agents_after_contact_work),
        "AGENTS_ERROR" => count(f.agents_error),
        "CONTACTS_IN_QUEUE" => count(f.contacts_in_queue),
        "OLDEST_CONTACT_AGE" => Some(f.oldest_contact_age.unwrap_or(0) as f64 / 1000.0),
        "AGENTS_ON_CONTACT" => count(f.agents_on_contact),
        "SLOTS_ACTIVE" => count(f.slots_active),
        "SLOTS_AVAILABLE" => count(f.slots_available),
        // Voice and scheduled contacts do not exist here.
        "AGENTS_ON_CALL" | "CONTACTS_SCHEDULED" => Some(0.0),
        _ => None,
    }
}

async fn get_current_metric_data(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    signed: Signed,
) -> Reply {
    let instance = instance(&app, &path?.0)?;
    let mut i = Input::parse(&signed.body, ApiError::invalid_parameter)?;
    let filters = i.required_object("Filters", |f| {
        let queues = f.string_list("Queues", (1, 100), (1, 500));
        let channels = f.enum_list("Channels", (0, 4), &["VOICE", "CHAT", "TASK", "EMAIL"]);
        let profiles = f.string_list("RoutingProfiles", (1, 100), (1, 500));
        (queues, channels, profiles)
    });
    let groupings = i.enum_list(
        "Groupings",
        (0, 2),
        &[
            "QUEUE",
            "CHANNEL",
            "ROUTING_PROFILE",
            "ROUTING_STEP_EXPRESSION",
            "AGENT_STATUS",
            "SUBTYPE",
            "VALIDATION_TEST_TYPE",
        ],
    );
    if !i.has("CurrentMetrics") {
        i.reject("Value at 'CurrentMetrics' failed to satisfy constraint: Member must not be null");
    }
    let metrics = i.object_list("CurrentMetrics", (0, 100), |m| {
        let name = m.enumeration("Name", &METRIC_NAMES);
        let unit = m.enumeration("Unit", &["SECONDS", "COUNT", "PERCENT"]);
        (name, unit)
    });
    let next_token = i.string("NextToken", 1, 100_000);
    let max = i.integer("MaxResults", 1, 100).unwrap_or(100) as usize;
    i.finish()?;
    let (queue_refs, channels, profile_refs) = filters.unwrap_or((None, None, None));
    let groupings = groupings.unwrap_or_default();
    if let Some(g) = groupings
        .iter()
        .find(|g| !["QUEUE", "CHANNEL"].contains(&g.as_str()))
    {
        return Err(ApiError::invalid_parameter(format!(
            "Grouping {g} is not supported by this server; use QUEUE and/or CHANNEL"
        )));
    }
    let mut metrics_wanted = Vec::new();
    for (name, unit) in metrics.unwrap_or_default() {
        let Some(name) = name else { continue };
        let expected = unit_of(&name);
        if unit.as_deref().is_some_and(|u| u != expected) {
            return Err(ApiError::invalid_parameter(format!(
                "The unit of {name} is {expected}"
            )));
        }
        metrics_wanted.push(name);
    }

    // The queues asked about: named ones, or those of the named routing profiles.
    let arns = Arns::of(&app, instance);
    let mut queues: Vec<String> = Vec::new();
    for reference in queue_refs.iter().flatten() {
        let id = arns.id("Filters.Queues", "queue", reference)?;
        if instance.queue(id).is_none() {
            return Err(ApiError::resource_not_found(format!(
                "Queue {reference} not found"
            )));
        }
        queues.push(id.to_string());
    }
    for reference in profile_refs.iter().flatten() {
        let id = arns.id("Filters.RoutingProfiles", "routing-profile", reference)?;
        let profile = instance.routing_profile(id).ok_or_else(|| {
            ApiError::resource_not_found(format!("RoutingProfile {reference} not found"))
        })?;
        if queue_refs.is_none() {
            queues.extend(profile.queues.iter().map(|q| q.queue.clone()));
        }
    }
    queues.sort();
    queues.dedup();
    if queues.is_empty() {
        return Err(ApiError::invalid_parameter(
            "Filters must name at least one queue or routing profile",
        ));
    }
    let chat_wanted = channels
        .as_ref()
        .is_none_or(|c| c.is_empty() || c.iter().any(|c| c == "CHAT"));

    let by_queue = groupings.iter().any(|g| g == "QUEUE");
    let by_channel = groupings.iter().any(|g| g == "CHANNEL");
    let groups: Vec<Vec<String>> = if by_queue {
        queues.iter().map(|q| vec![q.clone()]).collect()
    } else {
        vec![queues.clone()]
    };
    let figures = if chat_wanted {
        app.desk.queue_figures(&instance.id, groups.clone()).await
    } else {
        Vec::new()
    };
    let results: Vec<Value> = groups
        .iter()
        .zip(&figures)
        .map(|(group, f)| {
            let mut dimensions = Map::new();
            if by_queue {
                dimensions.insert(
                    "Queue".into(),
                    json!({"Id": group[0], "Arn": arns.queue(&group[0])}),
                );
            }
            if by_channel {
                dimensions.insert("Channel".into(), json!("CHAT"));
            }
            let collections: Vec<Value> = metrics_wanted
                .iter()
                .map(|name| {
                    let mut entry = json!({"Metric": {"Name": name, "Unit": unit_of(name)}});
                    if let Some(value) = metric_value(name, f) {
                        entry["Value"] = json!(value);
                    }
                    entry
                })
                .collect();
            json!({"Dimensions": dimensions, "Collections": collections})
        })
        .collect();
    let total = results.len();
    let (results, next) = page(results, max, next_token.as_deref())?;
    Ok(Json(json!({
        "MetricResults": results,
        "NextToken": next,
        "DataSnapshotTime": epoch_seconds(app.chat.now()),
        "ApproximateTotalCount": total,
    })))
}

// ---- GetCurrentUserData ------------------------------------------------------------------------

async fn get_current_user_data(
    State(app): State<ApiState>,
    path: Result<Path<String>, ApiError>,
    signed: Signed,
) -> Reply {
    let instance = instance(&app, &path?.0)?;
    let mut i = Input::parse(&signed.body, ApiError::invalid_parameter)?;
    let filters = i.required_object("Filters", |f| {
        let queues = f.string_list("Queues", (1, 100), (1, 500));
        let states = f
            .object("ContactFilter", |c| {
                c.enum_list(
                    "ContactStates",
                    (0, 9),
                    &[
                        "INCOMING",
                        "PENDING",
                        "CONNECTING",
                        "CONNECTED",
                        "CONNECTED_ONHOLD",
                        "MISSED",
                        "ERROR",
                        "ENDED",
                        "REJECTED",
                    ],
                )
            })
            .flatten();
        let profiles = f.string_list("RoutingProfiles", (1, 100), (1, 500));
        let agents = f.string_list("Agents", (1, 100), (1, 500));
        f.raw("UserHierarchyGroups");
        (queues, states, profiles, agents)
    });
    let next_token = i.string("NextToken", 1, 100_000);
    let max = i.integer("MaxResults", 1, 100).unwrap_or(100) as usize;
    i.finish()?;
    let (queues, states, profiles, agents) = filters.unwrap_or((None, None, None, None));
    if queues.is_none() && profiles.is_none() && agents.is_none() {
        return Err(ApiError::invalid_parameter(
            "Filters must name queues, routing profiles or agents",
        ));
    }
    let arns = Arns::of(&app, instance);
    let queues = queues
        .as_deref()
        .map(|q| arns.ids("Filters.Queues", "queue", q))
        .transpose()?;
    let profiles = profiles
        .as_deref()
        .map(|p| arns.ids("Filters.RoutingProfiles", "routing-profile", p))
        .transpose()?;
    let agents = agents
        .as_deref()
        .map(|a| arns.ids("Filters.Agents", "agent", a))
        .transpose()?;
    let users: Vec<&User> = instance
        .users
        .iter()
        .filter(|u| agents.as_ref().is_none_or(|a| a.contains(&u.id.as_str())))
        .filter(|u| {
            profiles
                .as_ref()
                .is_none_or(|p| p.contains(&u.routing_profile.as_str()))
        })
        .filter(|u| {
            queues.as_ref().is_none_or(|q| {
                instance
                    .routing_profile(&u.routing_profile)
                    .is_some_and(|p| p.queues.iter().any(|pq| q.contains(&pq.queue.as_str())))
            })
        })
        .collect();
    let arns = Arns::of(&app, instance);
    let mut list = Vec::new();
    for user in users {
        let Some(figures) = app.desk.agent_figures(&instance.id, &user.id).await else {
            continue;
        };
        list.push(user_data(&app, instance, &arns, user, &figures, states.as_deref()).await);
    }
    let total = list.len();
    let (list, next) = page(list, max, next_token.as_deref())?;
    Ok(Json(json!({
        "UserDataList": list,
        "NextToken": next,
        "ApproximateTotalCount": total,
    })))
}

/// One agent's entry of GetCurrentUserData.
async fn user_data(
    app: &ApiState,
    instance: &Instance,
    arns: &Arns<'_>,
    user: &User,
    f: &AgentFigures,
    states: Option<&[String]>,
) -> Value {
    let status_name = app.desk.status_name(&instance.id, &f.presence);
    let status_id = match &f.presence {
        Presence::Custom(id) => id.clone(),
        _ => instance.built_in_status_id(&status_name),
    };
    let used = f.offers.len() + f.active.len() + f.after_work.len();
    let available = if f.presence == Presence::Available {
        f.slots.saturating_sub(used)
    } else {
        0
    };
    let mut contacts = Vec::new();
    for (state, ids) in [
        ("INCOMING", &f.offers),
        ("CONNECTED", &f.active),
        ("ENDED", &f.after_work),
    ] {
        if states.is_some_and(|s| !s.is_empty() && !s.iter().any(|x| x == state)) {
            continue;
        }
        for id in ids {
            let contact = app.desk.contact(id).await.ok().flatten();
            let mut entry = json!({
                "ContactId": id,
                "Channel": "CHAT",
                "InitiationMethod": "API",
                "AgentContactState": state,
            });
            if let Some(c) = &contact {
                let since = match state {
                    "ENDED" => c.ended_at.or(c.agent.as_ref().map(|a| a.1)),
                    "CONNECTED" => c.agent.as_ref().map(|a| a.1),
                    _ => c.enqueued_at,
                };
                if let Some(at) = since {
                    entry["StateStartTimestamp"] = json!(epoch_seconds(at));
                }
                if let Some((_, at)) = &c.agent {
                    entry["ConnectedToAgentTimestamp"] = json!(epoch_seconds(*at));
                }
                if let Some(q) = &c.queue_id {
                    entry["Queue"] = json!({"Id": q, "Arn": arns.queue(q)});
                }
            }
            contacts.push(entry);
        }
    }
    let mut status = json!({"StatusArn": arns.status(&status_id), "StatusName": status_name});
    // An agent who has not chosen a status since the server started has been Offline since
    // before it: no start time is known.
    if f.presence_since > 0 {
        status["StatusStartTimestamp"] = json!(epoch_seconds(from_millis(f.presence_since)));
    }
    json!({
        "User": {"Id": user.id, "Arn": arns.user(&user.id)},
        "RoutingProfile": {"Id": user.routing_profile, "Arn": arns.routing_profile(&user.routing_profile)},
        "Status": status,
        "AvailableSlotsByChannel": {"CHAT": available},
        "MaxSlotsByChannel": {"CHAT": f.slots},
        "ActiveSlotsByChannel": {"CHAT": used},
        "Contacts": contacts,
    })
}
