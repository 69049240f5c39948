//! The Airbyte side: reading the user's config, catalog and state files,
//! writing protocol messages (RECORD lines formatted on a second thread),
//! and the timestamps those messages carry.

pub mod catalog;
pub mod formatter;
pub mod protocol;
pub mod timefmt;
