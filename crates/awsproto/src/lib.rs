//! The AWS wire protocol as Switchboard serves it: the error shape, SigV4 verification, the
//! rest-json request plumbing (body limits, JSON input validation, extractors whose rejections
//! are AWS errors), ARN syntax, and the route of every operation of the two models.
//!
//! This is a crate of its own so that "no chat knowledge here" is the compiler's to enforce: it
//! depends on nothing of Switchboard's, and Switchboard's edges depend on it.

pub mod arn;
pub mod error;
pub mod extract;
pub mod json;
mod model_routes;
pub mod routes;
pub mod sigv4;

pub use error::ApiError;
