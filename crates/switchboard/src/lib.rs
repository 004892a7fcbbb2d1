//! Switchboard: a self-hosted contact-center chat server that speaks the Amazon Connect chat
//! protocol, so unmodified AWS SDKs and Amazon's ChatJS work against it.
//!
//! # Layout
//!
//! Dependencies point down; docs/ARCHITECTURE.md states who may import whom.
//!
//! - Wiring: [`app`] builds every part of a node and its routes; [`server`] serves it.
//! - Edges: [`api`] (the `connect` and `connectparticipant` operations, our agent API, widgets),
//!   [`gateway`] (the participant WebSocket), [`web`] (the pages), [`observability`].
//! - Doors: [`chat`] (`ChatService`: contacts, participants, items, transcripts) and [`desk`]
//!   (`AgentDesk`: the agent side). Edges call one door method per request.
//! - Domain: [`routing`] (queues and offers), [`agent`] (sign-in, agents' sockets),
//!   [`streaming`] (items to SNS topics and webhooks, through an outbox), [`flows`] (the Amazon
//!   Connect flow language).
//! - Ports: [`store`] (SQLite with group commit, PostgreSQL), [`bus`] (fan-out to sockets, local
//!   or over NATS), [`clock`], [`lifecycle`] (shutdown and tracked tasks), [`cluster`], [`aws`]
//!   (how the AWS SDK clients are set up).
//! - Data: [`model`] (the chat's records), [`config`] and [`demo`].
//!
//! The AWS wire protocol (error shape, SigV4, JSON input, the models' routes) is the `awsproto`
//! crate, which knows nothing of chat.
//!
//! A request's path: [`app::App::router`] routes it to a handler in `api`, which validates the
//! body (`awsproto::json`), authenticates (SigV4 or bearer token), and calls
//! `chat::ChatService`. The service writes through the `Store` (answering only after commit) and
//! publishes committed items on the `Bus`, from which each subscribed socket in `gateway` pushes
//! them in sequence order.

pub mod agent;
pub mod api;
pub mod app;
pub mod aws;
pub mod bus;
pub mod chat;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod desk;
pub mod flows;
pub mod gateway;
pub mod lifecycle;
pub mod model;
pub mod observability;
pub mod routing;
pub mod server;
pub mod store;
pub mod streaming;
pub mod web;
