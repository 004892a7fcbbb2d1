//! SigV4 verification against AWS's published signature test suite (shipped inside the
//! `aws-sigv4` crate, read from where cargo unpacked it), plus tampering cases.

use std::collections::HashMap;
use std::path::PathBuf;

use awsproto::sigv4::{
    canonical_request, parse_authorization, RequestParts, SecretKey, UriRules, Verifier,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The v4 suite's folder, found through `cargo metadata` so that no copy is kept here.
fn suite_dir() -> PathBuf {
    // Only this platform's packages: the others (Windows crates, say) need not be downloaded.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aws-sigv4")
        .expect("aws-sigv4 is a dev-dependency")["manifest_path"]
        .as_str()
        .unwrap()
        .to_string();
    PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("aws-signing-test-suite/v4")
}

struct Vector {
    name: String,
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    context: Value,
    canonical: String,
}

/// Parses `header-signed-request.txt`; `None` for requests an HTTP header map cannot hold
/// (multi-line values).
fn load(dir: &std::path::Path) -> Option<Vector> {
    let raw = std::fs::read_to_string(dir.join("header-signed-request.txt")).ok()?;
    let context: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).ok()?).ok()?;
    let canonical = std::fs::read_to_string(dir.join("header-canonical-request.txt")).ok()?;
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let request_line = lines.next()?;
    let method = request_line.split(' ').next()?.to_string();
    let target = request_line[method.len() + 1..request_line.rfind(" HTTP/")?].to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            return None;
        }
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    Some(Vector {
        name: dir.file_name()?.to_string_lossy().into(),
        method,
        path,
        query,
        headers,
        body: body.as_bytes().to_vec(),
        context,
        canonical,
    })
}

fn verifier(v: &Vector) -> Verifier {
    let creds = &v.context["credentials"];
    Verifier {
        service: v.context["service"].as_str().unwrap().into(),
        region: v.context["region"].as_str().unwrap().into(),
        keys: HashMap::from([(
            creds["access_key_id"].as_str().unwrap().to_string(),
            SecretKey::new(creds["secret_access_key"].as_str().unwrap()),
        )]),
        max_skew: Duration::minutes(15),
        uri_rules: UriRules {
            normalize_path: v.context["normalize"].as_bool().unwrap_or(true),
            double_encode: true,
        },
    }
}

fn signed_at(v: &Vector) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.context["timestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

fn parts(v: &Vector) -> RequestParts<'_> {
    RequestParts {
        method: &v.method,
        raw_path: &v.path,
        raw_query: v.query.as_deref(),
        headers: &v.headers,
        body: &v.body,
    }
}

fn vectors() -> Vec<Vector> {
    let mut dirs: Vec<_> = std::fs::read_dir(suite_dir())
        .expect("the test suite folder")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs.iter().filter_map(|d| load(d)).collect()
}

#[test]
fn every_published_vector_verifies() {
    let vectors = vectors();
    assert!(vectors.len() >= 25, "only {} vectors loaded", vectors.len());
    for v in &vectors {
        let auth = parse_authorization(v.headers["authorization"].to_str().unwrap()).unwrap();
        let canonical =
            canonical_request(&parts(v), &auth.signed_headers, verifier(v).uri_rules).unwrap();
        assert_eq!(canonical, v.canonical, "{}: canonical request", v.name);
        let verified = verifier(v).verify(&parts(v), signed_at(v));
        if v.name == "post-sts-header-after" {
            // This vector adds X-Amz-Security-Token after signing. Switchboard deliberately
            // requires every x-amz-* header to be signed, so this one must be refused.
            let err = verified.expect_err("unsigned x-amz-security-token");
            assert!(
                err.message.contains("x-amz-security-token"),
                "{}",
                err.message
            );
            continue;
        }
        assert!(verified.is_ok(), "{}: {:?}", v.name, verified);
    }
}

#[test]
fn tampered_requests_are_rejected() {
    let base = vectors()
        .into_iter()
        .find(|v| v.name == "post-x-www-form-urlencoded")
        .expect("vector");
    let check = |v: &Vector, verifier: Verifier, now: OffsetDateTime, code: &str| {
        let err = verifier.verify(&parts(v), now).expect_err(code);
        assert_eq!(err.code, code, "{}", err.message);
    };
    let now = signed_at(&base);

    let mut body = clone(&base);
    body.body = b"Param1=value2".to_vec();
    check(&body, verifier(&base), now, "InvalidSignatureException");

    let mut header = clone(&base);
    header
        .headers
        .insert("content-type", HeaderValue::from_static("text/plain"));
    check(&header, verifier(&base), now, "InvalidSignatureException");

    let mut date = clone(&base);
    date.headers
        .insert("x-amz-date", HeaderValue::from_static("20150830T123700Z"));
    check(&date, verifier(&base), now, "InvalidSignatureException");

    let mut region = verifier(&base);
    region.region = "eu-west-2".into();
    check(&base, region, now, "InvalidSignatureException");

    let mut service = verifier(&base);
    service.service = "connect".into();
    check(&base, service, now, "InvalidSignatureException");

    let mut unknown = verifier(&base);
    unknown.keys = HashMap::from([("OTHERKEY".to_string(), SecretKey::new("x"))]);
    check(&base, unknown, now, "UnrecognizedClientException");

    check(
        &base,
        verifier(&base),
        now + Duration::minutes(16),
        "InvalidSignatureException",
    );
    check(
        &base,
        verifier(&base),
        now - Duration::minutes(16),
        "InvalidSignatureException",
    );

    let mut unsigned = clone(&base);
    unsigned
        .headers
        .insert("x-amz-extra", HeaderValue::from_static("sneaky"));
    check(&unsigned, verifier(&base), now, "InvalidSignatureException");

    let mut missing = clone(&base);
    missing.headers.remove("authorization");
    check(
        &missing,
        verifier(&base),
        now,
        "MissingAuthenticationTokenException",
    );
}

fn clone(v: &Vector) -> Vector {
    Vector {
        name: v.name.clone(),
        method: v.method.clone(),
        path: v.path.clone(),
        query: v.query.clone(),
        headers: v.headers.clone(),
        body: v.body.clone(),
        context: v.context.clone(),
        canonical: v.canonical.clone(),
    }
}
