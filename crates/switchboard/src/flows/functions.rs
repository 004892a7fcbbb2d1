//! Calling the functions a flow names in InvokeLambdaFunction. An `arn:aws:lambda:...` ARN is
//! an AWS Lambda function, invoked through the AWS SDK (`[lambda]` in the configuration may name
//! another endpoint and keys) with the same event; its answer is read the same way. An
//! `arn:switchboard:function:REGION:ACCOUNT:NAME` is an HTTP endpoint of the configuration
//! (`[[functions]]`): it receives the event Amazon Connect sends a Lambda function, POSTed as JSON
//! and signed as webhooks are (`X-Switchboard-Timestamp`, `X-Switchboard-Signature`: `v1=` and
//! the hex HMAC-SHA256 of `TIMESTAMP.BODY` under the function's secret), and answers a flat JSON
//! object, which the flow reads as `$.External`. The call is bounded by the action's
//! `InvocationTimeLimitSeconds`.
//!
//! The event: `{"Name": "ContactFlowEvent", "Details": {"ContactData": {Attributes, Channel,
//! ContactId, InitialContactId, PreviousContactId, InitiationMethod, InstanceARN, Queue, ...},
//! "Parameters": {...}}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::outbound::{aws_call, http_client, post_signed, CallError, Regional};
use crate::config::{Config, Function};
use crate::model::Contact;

/// Why a function brought no answer (the flow takes its error branch).
pub type FunctionError = CallError;

pub struct Functions {
    client: reqwest::Client,
    functions: Vec<Function>,
    lambda: Regional<aws_sdk_lambda::Client>,
}

impl Functions {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            client: http_client()?,
            functions: config.functions.clone(),
            lambda: Regional::new(config.lambda.clone()),
        })
    }

    /// Calls the function `arn` with `event`, waiting at most `limit`; its answer's values
    /// (strings, numbers and booleans, as text) by name.
    pub async fn invoke(
        &self,
        arn: &str,
        event: &Value,
        limit: Duration,
    ) -> Result<BTreeMap<String, String>, FunctionError> {
        if arn.starts_with("arn:aws:lambda:") {
            return self.invoke_lambda(arn, event, limit).await;
        }
        let function = self.function(arn)?;
        let answer = post_signed(
            &self.client,
            &function.url,
            &function.secret,
            event.to_string(),
            limit,
        )
        .await?;
        flat(answer)
    }

    /// Invokes an AWS Lambda function (RequestResponse) with the event.
    async fn invoke_lambda(
        &self,
        arn: &str,
        event: &Value,
        limit: Duration,
    ) -> Result<BTreeMap<String, String>, FunctionError> {
        let region = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| FunctionError::NotFound(arn.to_string()))?;
        let client = self
            .lambda
            .client(region, limit, aws_sdk_lambda::Client::new)
            .await;
        let call = client
            .invoke()
            .function_name(arn)
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send();
        let output = aws_call(limit, call).await?;
        if let Some(error) = output.function_error() {
            return Err(FunctionError::Failed(format!(
                "the function raised {error}"
            )));
        }
        let payload = output.payload().map(|p| p.as_ref()).unwrap_or(b"{}");
        let answer: Value =
            serde_json::from_slice(payload).map_err(|e| FunctionError::BadAnswer(e.to_string()))?;
        flat(answer)
    }

    fn function(&self, arn: &str) -> Result<&Function, FunctionError> {
        let name = arn
            .strip_prefix("arn:switchboard:function:")
            .and_then(|rest| rest.rsplit(':').next())
            .ok_or_else(|| FunctionError::NotFound(arn.to_string()))?;
        self.functions
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FunctionError::NotFound(arn.to_string()))
    }
}

/// A flat JSON object's values as text (STRING_MAP, as Connect reads a Lambda's answer).
fn flat(answer: Value) -> Result<BTreeMap<String, String>, FunctionError> {
    let Value::Object(fields) = answer else {
        return Err(FunctionError::BadAnswer(answer.to_string()));
    };
    fields
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(text) => Ok((name, text)),
            Value::Number(n) => Ok((name, n.to_string())),
            Value::Bool(b) => Ok((name, b.to_string())),
            Value::Null => Ok((name, String::new())),
            nested => Err(FunctionError::BadAnswer(format!("{name}: {nested}"))),
        })
        .collect()
}

/// The event Amazon Connect sends a function: the contact's data and the action's parameters.
pub fn event(
    contact: &Contact,
    instance_arn: &str,
    queue: Option<(&str, &str)>,
    parameters: &BTreeMap<String, String>,
) -> Value {
    let method = if contact.previous_contact_id.is_some() {
        "TRANSFER"
    } else {
        "API"
    };
    json!({
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": contact.attributes,
                "Channel": "CHAT",
                "ContactId": contact.id,
                "InitialContactId": contact.initial_contact_id,
                "PreviousContactId": contact.previous_contact_id.as_deref().unwrap_or(&contact.id),
                "InitiationMethod": method,
                "InstanceARN": instance_arn,
                "Queue": queue.map(|(arn, name)| json!({"ARN": arn, "Name": name})),
                "CustomerEndpoint": null,
                "SystemEndpoint": null,
                "MediaStreams": {},
            },
            "Parameters": parameters,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_as_flat_text() {
        let answer = json!({"balance": "42", "count": 3, "vip": true, "note": null});
        assert_eq!(
            flat(answer).unwrap(),
            BTreeMap::from([
                ("balance".into(), "42".into()),
                ("count".into(), "3".into()),
                ("note".into(), String::new()),
                ("vip".into(), "true".into()),
            ])
        );
        assert!(matches!(
            flat(json!({"nested": {"a": 1}})),
            Err(FunctionError::BadAnswer(_))
        ));
        assert!(matches!(flat(json!([1])), Err(FunctionError::BadAnswer(_))));
    }

    #[test]
    fn the_event_carries_the_contacts_data_as_connect_sends_it() {
        let now = time::OffsetDateTime::now_utc();
        let contact = Contact {
            id: "c2".into(),
            instance_id: "i".into(),
            initial_contact_id: "c1".into(),
            contact_flow_id: "f".into(),
            queue_id: Some("q".into()),
            customer_participant_id: "p".into(),
            attributes: [("tier".to_string(), "gold".to_string())].into(),
            details: Default::default(),
            duration_minutes: 60,
            initiated_at: now,
            enqueued_at: None,
            expires_at: now,
            ended_at: None,
            disconnect_reason: None,
            updated_at: now,
            agent: None,
            previous_contact_id: Some("c1".into()),
            transferred_to: None,
        };
        let parameters = BTreeMap::from([("who".into(), "Kim".into())]);
        let sent = event(
            &contact,
            "arn:instance",
            Some(("arn:queue", "Support")),
            &parameters,
        );
        let data = &sent["Details"]["ContactData"];
        assert_eq!(sent["Name"], "ContactFlowEvent");
        assert_eq!(data["Channel"], "CHAT");
        assert_eq!(data["ContactId"], "c2");
        assert_eq!(data["InitialContactId"], "c1");
        assert_eq!(data["PreviousContactId"], "c1");
        assert_eq!(data["InitiationMethod"], "TRANSFER");
        assert_eq!(data["InstanceARN"], "arn:instance");
        assert_eq!(data["Attributes"]["tier"], "gold");
        assert_eq!(
            data["Queue"],
            json!({"ARN": "arn:queue", "Name": "Support"})
        );
        assert_eq!(sent["Details"]["Parameters"]["who"], "Kim");
    }
}
