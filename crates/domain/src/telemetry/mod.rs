//! Telemetry: run reports and server traces merged into runs, the page
//! cursors and day ranges of the project read API.

pub mod cursor;
pub mod query;
pub mod report;
pub mod trace;
pub mod usage;
