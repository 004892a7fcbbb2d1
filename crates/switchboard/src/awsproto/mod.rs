//! The AWS wire protocol as Switchboard serves it: the error shape, SigV4 verification and the
//! rest-json request plumbing (body limits, JSON decoding, request ids). Nothing here knows about
//! chat.

pub mod arn;
pub mod error;
pub mod extract;
pub mod json;
pub mod sigv4;

pub use error::ApiError;
