//! Contact flows in the Amazon Connect flow language: the JSON `CreateContactFlow` carries, read
//! as data ([`language`]) and checked as publishing checks it ([`validate`]), so that a team's
//! flows can be checked offline (`switchboard flow check FILE`) with the same verdict the server
//! gives. [`engine`] runs a flow, pure like the routing engine: events and lookups in, effects
//! out; the chat door (`chat::flow`) carries them out and stores each step. [`functions`] and
//! [`bots`] are what InvokeLambdaFunction and ConnectParticipantWithLexBot call;
//! [`interactive`] the templates of interactive messages. docs/flows.md is the user's guide.

pub mod bots;
pub mod engine;
pub mod functions;
pub mod interactive;
pub mod language;
pub mod outbound;
pub mod validate;

#[cfg(test)]
mod tests;

pub use language::Flow;
pub use validate::validate;
