//! Operations beneath the HTTP layer: plain Rust over the store, shared by the
//! handlers, the CLI and the tests. Nothing here knows about HTTP.

pub mod messages;
pub mod titles;
pub mod transfer;
