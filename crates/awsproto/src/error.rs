//! The AWS error shape on the wire.
//!
//! Handlers return [`ApiError`]; this module is the one place that turns it into what an AWS SDK
//! expects from a rest-json service: the HTTP status of the modeled error, the `X-Amzn-ErrorType`
//! header and a body `{"__type", "message", "Message"}` (botocore reads `Message` for the modeled
//! member, the generic parsers read `message`). Internal detail is logged, never sent.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// An error as a client sees it: an AWS error code, its HTTP status and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra modeled members (`ResourceId`, `ResourceType`, `problems`, ...).
    pub extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with_member(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, Value::String(value.into())));
        self
    }

    /// A modeled member that is not a string (a list, a structure).
    pub fn with_json_member(mut self, name: &'static str, value: Value) -> Self {
        self.extra.push((name, value));
        self
    }

    // ---- errors shared by both services -------------------------------------------------------

    pub fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "Access denied",
        )
    }

    /// Access denied, saying why (an ARN of another account, say).
    pub fn access_denied_because(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
    }

    /// 401: no credentials, or credentials that are no longer valid (the agent API's sign-in).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UnauthorizedException", message)
    }

    pub fn throttling(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            message,
        )
    }

    /// The server cannot serve the request now (its store failed, or it is shutting down); the
    /// client should retry, possibly elsewhere.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            message,
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unknown_operation(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("No operation matches {method} {path}"),
        )
    }

    /// A route that exists, asked with a method it does not take (the `Allow` header, added by
    /// the router, lists the ones it does).
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowedException",
            format!("{path} does not take {method} requests"),
        )
    }

    pub fn not_implemented(service: &str, operation: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            format!("Switchboard does not implement the {service} operation {operation}"),
        )
    }

    // ---- SigV4 (generic AWS errors, not in the service models) --------------------------------

    pub fn missing_authentication() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            message,
        )
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "InvalidSignatureException", message)
    }

    pub fn unrecognized_client() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    }

    // ---- connect -----------------------------------------------------------------------------

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn contact_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "ContactNotFoundException", message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            message,
        )
    }

    /// 409 DuplicateResourceException: a resource with that name exists.
    pub fn duplicate_resource(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "DuplicateResourceException", message)
    }

    /// 400 InvalidContactFlowException, its `problems` as the model lists them
    /// (`[{"message": ...}]`).
    pub fn invalid_contact_flow(problems: &[String]) -> Self {
        let listed: Vec<Value> = problems.iter().map(|m| json!({ "message": m })).collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidContactFlowException",
            format!("The flow is not valid: {}", problems.join("; ")),
        )
        .with_json_member("problems", Value::Array(listed))
    }

    pub fn internal_service() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceException",
            "Internal service error",
        )
    }

    // ---- connectparticipant --------------------------------------------------------------------

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictException", message)
    }

    pub fn internal_server() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "Internal server error",
        )
    }

    /// The JSON body: `__type` for JS v3 and botocore's base parser, `message` for the generic
    /// parsers, `Message` for the modeled member.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("__type".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        body.insert("Message".into(), json!(self.message));
        for (name, value) in &self.extra {
            body.insert((*name).into(), value.clone());
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Ok(value) = HeaderValue::from_str(self.code) {
            response.headers_mut().insert("x-amzn-errortype", value);
        }
        response
    }
}
