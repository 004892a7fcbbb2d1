//! Contact flows in the Amazon Connect flow language: the JSON `CreateContactFlow` carries, read
//! as data ([`language`]) and checked as publishing checks it ([`validate`]), so that a team's
//! flows can be checked offline (`switchboard flow check FILE`) with the same verdict the server
//! gives. Running them (the interpreter, its effects, durable progress) comes next; until then a
//! configured flow routes to its queue as before.

pub mod language;
pub mod validate;

pub use language::Flow;
pub use validate::validate;
