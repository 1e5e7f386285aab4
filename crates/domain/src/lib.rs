//! Domain rules of threadhold, free of HTTP and SQL: identifiers, timestamps,
//! validation limits, message-tree ordering and the built-in title generator.
#![forbid(unsafe_code)]

pub mod attachments;
pub mod dashboard;
pub mod formats;
pub mod ids;
pub mod json;
pub mod limits;
pub mod model;
pub mod refresh;
pub mod runs;
pub mod search;
pub mod telemetry;
pub mod time;
pub mod title;
pub mod transfer;

pub use ids::{IdKind, new_id};
pub use time::{Millis, MsText, format_ms, now_ms, parse_timestamp};
