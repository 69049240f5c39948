//! What a person reads: log lines (and the progress line on a terminal),
//! the fix hinted for each failure, and the secrets scrubbed from all of it.

pub mod hints;
pub mod logger;
pub mod secrets;
