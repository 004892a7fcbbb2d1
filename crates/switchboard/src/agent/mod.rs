//! The agent side: who agents are and how they sign in. Routing chats to them lives in
//! [`crate::routing`].

pub mod auth;
pub mod hub;
pub mod password;
