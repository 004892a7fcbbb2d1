//! SigV4: the `Authorization` header parser, the canonical request built from any method, path,
//! query and headers, and the whole verifier, both on the request as it came and on the same
//! request correctly signed (so the fuzzer also reaches everything after the signature check).
//!
//! Input: fields separated by NUL bytes: method, raw path, raw query, header lines
//! (`name: value`, separated by newlines), body, Authorization header.

#![no_main]

use std::collections::HashMap;

use awsproto::sigv4::{
    canonical_request, parse_amz_date, parse_authorization, signing_key, string_to_sign,
    RequestParts, SecretKey, UriRules, Verifier,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

const KEY_ID: &str = "AKIDFUZZ";
const SECRET: &str = "fuzz-secret";
const REGION: &str = "us-east-1";

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let mut field = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (method, path, query, header_lines) = (field(), field(), field(), field());
    let body = field().into_bytes();
    let authorization = field();

    let _ = parse_authorization(&authorization);
    let _ = parse_amz_date(&header_lines);

    let mut headers = HeaderMap::new();
    for line in header_lines.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&authorization) {
        headers.insert("authorization", value);
    }
    let verifier = Verifier {
        service: "connect".into(),
        region: REGION.into(),
        keys: HashMap::from([(KEY_ID.to_string(), SecretKey::new(SECRET))]),
        max_skew: time::Duration::minutes(15),
        uri_rules: UriRules::AWS_DEFAULT,
    };
    let now = datetime!(2026-11-30 12:00 UTC);
    let _ = verifier.verify(&parts(&method, &path, &query, &headers, &body), now);

    // The same request, signed as a client would sign it.
    let amz_date = "20261130T120000Z";
    headers.insert("x-amz-date", HeaderValue::from_static(amz_date));
    headers.remove("authorization");
    let mut signed: Vec<String> = headers.keys().map(|n| n.as_str().to_string()).collect();
    signed.sort();
    signed.dedup();
    let Ok(canonical) = canonical_request(
        &parts(&method, &path, &query, &headers, &body),
        &signed,
        UriRules::AWS_DEFAULT,
    ) else {
        return;
    };
    let scope = format!("20261130/{REGION}/connect/aws4_request");
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let key = signing_key(SECRET, "20261130", REGION, "connect");
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    if let Ok(value) = HeaderValue::from_str(&header) {
        headers.insert("authorization", value);
        let _ = verifier.verify(&parts(&method, &path, &query, &headers, &body), now);
    }
});

fn parts<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> RequestParts<'a> {
    RequestParts {
        method,
        raw_path: path,
        raw_query: (!query.is_empty()).then_some(query),
        headers,
        body,
    }
}
