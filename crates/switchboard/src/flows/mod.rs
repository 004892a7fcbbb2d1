//! Contact flows in the Amazon Connect flow language: the JSON `CreateContactFlow` carries, read
//! as data ([`language`]) and checked as publishing checks it ([`validate`]), so that a team's
//! flows can be checked offline (`switchboard flow check FILE`) with the same verdict the server
//! gives. [`engine`] runs a flow, pure like the routing engine: events and lookups in, effects
//! out. Carrying its effects out in chats (and storing its progress) comes next; until then a
//! configured flow routes to its queue as before.

pub mod bots;
pub mod engine;
pub mod functions;
pub mod interactive;
pub mod language;
pub mod validate;

#[cfg(test)]
mod tests;

pub use language::Flow;
pub use validate::validate;
