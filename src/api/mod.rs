//! Talking to Metabase's API: the blocking transport over `wasi:http`
//! (replaceable in tests), when to retry, and the client that adds
//! credentials, manages the session and turns answers into typed errors.

pub mod client;
pub mod retry;
pub mod transport;
