//! Switchboard's integration tests: one binary, one harness ([`common`]), the real server.

mod agents;
mod chat;
mod cluster;
mod common;
mod errors;
mod flow_api;
mod flow_chats;
mod flows;
mod functions;
mod lifecycle;
mod malformed;
mod operations;
mod postgres;
mod properties;
mod quick_connects;
mod receiver;
mod store;
mod streaming;
mod widget;
