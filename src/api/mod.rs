//! Talking to Metabase's API: the blocking transport over `wasi:http`
//! (replaceable in tests), when to retry, and the client that adds
//! credentials, manages the session and turns answers into typed errors;
//! requests may be started ahead of need, up to an adaptive limit.

pub mod client;
pub mod limit;
pub mod retry;
pub mod transport;
