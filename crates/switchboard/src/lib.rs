//! Switchboard: a self-hosted contact-center chat server that speaks the Amazon Connect chat
//! protocol, so unmodified AWS SDKs and Amazon's ChatJS work against it.
//!
//! # Layout
//!
//! - [`awsproto`]: the AWS wire protocol: error shape, SigV4 verification, body validation.
//! - [`api`]: the `connect` and `connectparticipant` operations over HTTP.
//! - [`gateway`]: the participant WebSocket.
//! - [`chat`]: the domain: contacts, participants, items, tokens, transcripts; no HTTP, no SQL.
//! - [`store`]: persistence behind the `Store` trait; SQLite with group commit.
//! - [`bus`]: fan-out of committed items to sockets.
//! - [`clock`]: time, injectable for tests.
//! - [`config`] and [`demo`]: configuration, and the ready-made demo configuration.
//! - [`agent`], [`routing`]: agents (sign-in, sockets) and routing chats to them.
//! - [`streaming`]: real-time streaming of items to SNS topics and webhooks, through an outbox.
//! - [`web`]: the agent workspace page.
//! - [`observability`]: Prometheus metrics.
//! - [`server`]: wiring, serving and graceful shutdown.
//!
//! A request's path: `server::app` routes it to a handler in `api`, which validates the body
//! (`awsproto::json`), authenticates (SigV4 or bearer token), and calls `chat::ChatService`. The
//! service writes through the `Store` (answering only after commit) and publishes committed items
//! on the `Bus`, from which each subscribed socket in `gateway` pushes them in sequence order.

pub mod agent;
pub mod api;
pub mod app;
pub mod bus;
pub mod chat;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod desk;
pub mod gateway;
pub mod lifecycle;
pub mod model;
pub mod observability;
pub mod routing;
pub mod server;
pub mod store;
pub mod streaming;
pub mod web;
