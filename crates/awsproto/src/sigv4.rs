//! AWS Signature Version 4 verification (header-based, `AWS4-HMAC-SHA256`).
//!
//! The verifier rebuilds the canonical request from exactly the headers the client says it signed,
//! derives the signing key from the secret of the named access key and compares signatures in
//! constant time. It also enforces what a signature alone does not: the credential scope names the
//! expected region and service, the date is within the allowed skew, and `host` and every `x-amz-*`
//! header the request carries are covered by the signature (so none can be swapped in transit).
//!
//! Split into parsing ([`parse_authorization`]), canonicalisation ([`canonical_request`]) and
//! verification ([`Verifier::verify`]) so each can be tested against AWS's published vectors.

use std::collections::HashMap;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::ApiError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";

/// Characters SigV4 leaves unencoded: the RFC 3986 unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// The parts of an HTTP request that a signature covers.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// How the canonical URI is built: AWS services other than S3 normalise the path and encode it a
/// second time; S3 does neither.
#[derive(Debug, Clone, Copy)]
pub struct UriRules {
    pub normalize_path: bool,
    pub double_encode: bool,
}

impl UriRules {
    pub const AWS_DEFAULT: UriRules = UriRules {
        normalize_path: true,
        double_encode: true,
    };
}

/// A secret access key. Never printed by `Debug`.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Verifies requests for one service in one region against a set of access keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub service: String,
    pub region: String,
    pub keys: HashMap<String, SecretKey>,
    pub max_skew: Duration,
    pub uri_rules: UriRules,
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
}

impl Verifier {
    pub fn verify(
        &self,
        request: &RequestParts<'_>,
        now: OffsetDateTime,
    ) -> Result<Caller, ApiError> {
        let header = request
            .headers
            .get("authorization")
            .ok_or_else(ApiError::missing_authentication)?
            .to_str()
            .map_err(|_| {
                ApiError::incomplete_signature("Authorization header is not valid text")
            })?;
        let auth = parse_authorization(header)?;

        let amz_date = request
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::incomplete_signature("Authorization header requires an X-Amz-Date header")
            })?;
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            ApiError::incomplete_signature(format!(
                "X-Amz-Date '{amz_date}' is not of the form yyyyMMddTHHmmssZ"
            ))
        })?;

        if auth.terminator != TERMINATOR {
            return Err(ApiError::incomplete_signature(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'",
                auth.terminator
            )));
        }
        if auth.date != amz_date[..8] {
            return Err(ApiError::invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                &amz_date[..8]
            )));
        }
        if auth.service != self.service {
            return Err(ApiError::invalid_signature(format!(
                "Credential should be scoped to correct service: '{}'",
                self.service
            )));
        }
        if auth.region != self.region {
            return Err(ApiError::invalid_signature(format!(
                "Credential should be scoped to a valid region, not '{}'",
                auth.region
            )));
        }

        let secret = self
            .keys
            .get(&auth.access_key_id)
            .ok_or_else(ApiError::unrecognized_client)?;

        if (signed_at - now).abs() > self.max_skew {
            return Err(ApiError::invalid_signature(format!(
                "Signature expired: {amz_date} is outside the allowed skew of {} minutes from the server time",
                self.max_skew.whole_minutes()
            )));
        }

        check_required_headers_signed(request.headers, &auth.signed_headers)?;

        let canonical = canonical_request(request, &auth.signed_headers, self.uri_rules)?;
        let scope = format!(
            "{}/{}/{}/{}",
            auth.date, auth.region, auth.service, auth.terminator
        );
        let to_sign = string_to_sign(amz_date, &scope, &canonical);
        let key = signing_key(&secret.0, &auth.date, &auth.region, &auth.service);
        let expected = hex::encode(hmac(&key, to_sign.as_bytes()));

        if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
            Ok(Caller {
                access_key_id: auth.access_key_id,
            })
        } else {
            Err(ApiError::invalid_signature(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ))
        }
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(header: &str) -> Result<Authorization, ApiError> {
    let rest = header.strip_prefix(ALGORITHM).ok_or_else(|| {
        ApiError::incomplete_signature(format!(
            "Unsupported authorization type; expected {ALGORITHM}"
        ))
    })?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').ok_or_else(|| {
            ApiError::incomplete_signature(format!("Authorization element '{part}' has no '='"))
        })?;
        match name.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let missing = |what: &str| {
        ApiError::incomplete_signature(format!("Authorization header requires '{what}' parameter"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;

    // The access key id may not contain '/', so split from the right for the four scope parts.
    let mut scope = credential.rsplitn(5, '/');
    let terminator = scope.next();
    let service = scope.next();
    let region = scope.next();
    let date = scope.next();
    let access_key_id = scope.next();
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator)) =
        (access_key_id, date, region, service, terminator)
    else {
        return Err(ApiError::incomplete_signature(format!(
            "Credential '{credential}' is not of the form <key>/<date>/<region>/<service>/aws4_request"
        )));
    };
    if access_key_id.is_empty() {
        return Err(ApiError::unrecognized_client());
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        signature: signature.to_ascii_lowercase(),
    })
}

/// `host` and every `x-amz-*` header present must be signed; otherwise a proxy could add or change
/// them without invalidating the signature.
fn check_required_headers_signed(headers: &HeaderMap, signed: &[String]) -> Result<(), ApiError> {
    let is_signed = |name: &str| signed.iter().any(|s| s == name);
    if !is_signed("host") {
        return Err(ApiError::invalid_signature(
            "'Host' must be a signed header",
        ));
    }
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-") && !is_signed(name) {
            return Err(ApiError::invalid_signature(format!(
                "'{name}' must be a signed header"
            )));
        }
    }
    Ok(())
}

/// The canonical request of SigV4, built from the headers listed in `signed_headers`.
pub fn canonical_request(
    request: &RequestParts<'_>,
    signed_headers: &[String],
    rules: UriRules,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(256);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.raw_path, rules));
    out.push('\n');
    out.push_str(&canonical_query(request.raw_query.unwrap_or("")));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| canonical_header_value(v.as_bytes()))
            .collect();
        if values.is_empty() {
            return Err(ApiError::invalid_signature(format!(
                "Signed header '{name}' is not present in the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex::encode(Sha256::digest(request.body)));
    Ok(out)
}

fn canonical_header_value(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    // Trim and collapse runs of white space to one space.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn canonical_uri(raw_path: &str, rules: UriRules) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let path = if rules.normalize_path {
        normalize_path(path)
    } else {
        path.to_string()
    };
    if rules.double_encode {
        path.split('/')
            .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
            .collect::<Vec<_>>()
            .join("/")
    } else {
        path
    }
}

/// RFC 3986 dot-segment removal plus collapsing of empty segments, keeping a trailing slash.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if !segments.is_empty()
        && (path.ends_with('/') || path.ends_with("/.") || path.ends_with("/.."))
    {
        out.push('/');
    }
    out
}

fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode_query_part(k), encode_query_part(v))
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_query_part(part: &str) -> String {
    let decoded = percent_decode_str(part).decode_utf8_lossy();
    utf8_percent_encode(&decoded, UNRESERVED).to_string()
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Parses `yyyyMMddTHHmmssZ`.
pub fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value, &format)
        .ok()
        .map(|t| t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_with_empty_parts_and_spaces() {
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20261121/eu-west-2/connect/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ABCDEF",
        )
        .unwrap();
        assert_eq!(auth.access_key_id, "AKID");
        assert_eq!(auth.region, "eu-west-2");
        assert_eq!(auth.service, "connect");
        assert_eq!(
            auth.signed_headers,
            vec!["content-type", "host", "x-amz-date"]
        );
        assert_eq!(auth.signature, "abcdef");
    }

    #[test]
    fn empty_access_key_is_unrecognized() {
        let err = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=/20261121/us-west-2/execute-api/aws4_request, SignedHeaders=host, Signature=00",
        )
        .unwrap_err();
        assert_eq!(err.code, "UnrecognizedClientException");
    }

    #[test]
    fn double_encodes_already_encoded_path() {
        let uri = canonical_uri(
            "/contact/attributes/arn%3Aaws%2Fabc/c%201",
            UriRules::AWS_DEFAULT,
        );
        assert_eq!(uri, "/contact/attributes/arn%253Aaws%252Fabc/c%25201");
    }

    #[test]
    fn normalizes_dot_segments() {
        assert_eq!(normalize_path("/a/./b/../c/"), "/a/c/");
        assert_eq!(normalize_path("//"), "/");
        assert_eq!(normalize_path("/.."), "/");
    }
}
