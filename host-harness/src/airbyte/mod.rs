//! The Airbyte side: reading the user's config, catalog and state files,
//! writing protocol messages (RECORD lines formatted on a second thread,
//! or Arrow IPC files with `read --output arrow`),
//! and the timestamps those messages carry.

pub mod arrow_out;
pub mod catalog;
pub mod formatter;
pub mod protocol;
pub mod timefmt;
