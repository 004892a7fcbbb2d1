//! The web files the binary serves, compiled into it so there is nothing to deploy beside it:
//! the agent workspace at `/agent`, the CCP that Amazon Connect Streams desktops embed at
//! `/ccp-v2/`, and the customer chat widget at `/widget.js` that websites
//! include with one script tag. Neither makes a request to any other site.

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const WORKSPACE_HTML: &str = include_str!("../assets/agent/index.html");
// Each served script is one strict-mode closure: the participant session both share, then the
// page's own code, so nothing of either lands on the including page's `window`.
const WORKSPACE_JS: &str = concat!(
    "(() => {\n\"use strict\";\n",
    include_str!("../assets/participant/participant.js"),
    "\n",
    include_str!("../assets/agent/agent.js"),
    "\n})();\n"
);
const WORKSPACE_CSS: &str = include_str!("../assets/agent/agent.css");
const WIDGET_JS: &str = concat!(
    "(() => {\n\"use strict\";\n",
    include_str!("../assets/participant/participant.js"),
    "\n",
    include_str!("../assets/widget/widget.js"),
    "\n})();\n"
);
const CCP_HTML: &str = include_str!("../assets/ccp/index.html");
const CCP_JS: &str = concat!(
    "(() => {\n\"use strict\";\n",
    include_str!("../assets/participant/participant.js"),
    "\n",
    include_str!("../assets/ccp/ccp.js"),
    "\n})();\n"
);
const CCP_CSS: &str = include_str!("../assets/ccp/ccp.css");
const DEMO_HTML: &str = include_str!("../assets/demo/index.html");
const DEMO_CSS: &str = include_str!("../assets/demo/demo.css");

/// Everything from this server only; other sites may embed the page (it needs no cookies).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; media-src 'self'; base-uri 'none'; \
    form-action 'self'";

/// The pages' routes; `/` is the demo shop page only when `demo_page` is set (the no-config
/// demo), and otherwise no route of this router. The CCP may be framed by this server's pages
/// and by `ccp_origins` only (`ccp.approved_origins`).
pub fn routes(demo_page: bool, ccp_origins: &[String]) -> Router {
    let ccp_policy = HeaderValue::from_str(&ccp_policy(ccp_origins))
        .expect("the configuration accepts only origins that are safe in a header");
    let pages = Router::new()
        .route(
            "/agent",
            get(|| async { page(WORKSPACE_HTML, "text/html; charset=utf-8") }),
        )
        .route("/agent/", get(|| async { Redirect::permanent("/agent") }))
        .route(
            "/agent/agent.js",
            get(|| async { page(WORKSPACE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/agent/agent.css",
            get(|| async { page(WORKSPACE_CSS, "text/css; charset=utf-8") }),
        )
        // The CCP Amazon Connect Streams desktops embed (`ccpUrl`), at the path Amazon's has.
        .route(
            "/ccp-v2/",
            get(move || {
                let policy = ccp_policy.clone();
                async move {
                    let mut response = page(CCP_HTML, "text/html; charset=utf-8");
                    response
                        .headers_mut()
                        .insert(CONTENT_SECURITY_POLICY, policy);
                    response
                }
            }),
        )
        .route("/ccp-v2", get(|| async { Redirect::permanent("/ccp-v2/") }))
        .route(
            "/ccp-v2/ccp.js",
            get(|| async { page(CCP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ccp-v2/ccp.css",
            get(|| async { page(CCP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/widget.js", get(widget_script))
        .route(
            "/demo/demo.css",
            get(|| async { page(DEMO_CSS, "text/css; charset=utf-8") }),
        );
    let pages = if demo_page {
        pages.route(
            "/",
            get(|| async { page(DEMO_HTML, "text/html; charset=utf-8") }),
        )
    } else {
        pages
    };
    pages.method_not_allowed_fallback(wrong_method)
}

/// The CCP page's policy: the pages' own, and which sites may put it in a frame. Amazon's CCP
/// is framed only by approved origins too: the page around it receives the agent's chats.
fn ccp_policy(origins: &[String]) -> String {
    let ancestors = if origins.iter().any(|o| o == "*") {
        "*".to_string()
    } else {
        std::iter::once("'self'")
            .chain(origins.iter().map(|o| o.trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{POLICY}; frame-ancestors {ancestors}")
}

/// These are pages, so a wrong method gets a page (the router adds `Allow: GET,HEAD`).
async fn wrong_method(request: Request) -> Response {
    let text = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>405 Method Not Allowed</title></head>\
         <body><h1>Method Not Allowed</h1><p>{} is read with GET, not {}.</p></body></html>",
        escape_html(request.uri().path()),
        escape_html(request.method().as_str())
    );
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

/// Text that is safe inside an HTML element.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The widget script, for other sites' pages: no page policy of ours applies to it.
async fn widget_script() -> Response {
    let mut response = WIDGET_JS.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    // The files change with the binary; revalidating is cheap next to a stale workspace.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
