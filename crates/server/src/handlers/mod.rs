//! Thin HTTP handlers: parse, check, call the store, render.

pub mod anonymous;
pub mod files;
pub mod health;
pub mod messages;
pub mod projects;
pub mod runs;
pub mod telemetry;
pub mod threads;
pub mod tokens;
pub mod traces;

use serde::Deserialize;
use threadhold_domain::ids::validate_text_id;
use threadhold_domain::json::nesting_depth;
use threadhold_domain::limits::{JSON_DEPTH_MAX, TEXT_ID_MAX};

use crate::error::{ApiError, ApiResult};

/// `limit` as sent in a query string, checked against `1..=max`.
pub fn page_limit(limit: Option<&str>, default: u32, max: u32) -> ApiResult<u32> {
    let Some(text) = limit else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::InvalidRequest {
            code: "invalid_limit",
            message: format!("limit must be an integer from 1 to {max}"),
        }),
    }
}

/// A 1–255 character text field (external ids, formats, titles).
pub fn text_field(field: &str, value: &str) -> ApiResult<()> {
    validate_text_id(value, TEXT_ID_MAX).map_err(|error| ApiError::invalid(format!("{field} {error}")))
}

/// A stored JSON document (`content`, `metadata`) nesting at most [`JSON_DEPTH_MAX`] levels.
pub fn json_depth(field: &str, text: &str) -> ApiResult<()> {
    if nesting_depth(text) > JSON_DEPTH_MAX {
        return Err(ApiError::InvalidRequest {
            code: "json_too_deep",
            message: format!("{field} must not nest arrays and objects deeper than {JSON_DEPTH_MAX} levels"),
        });
    }
    Ok(())
}

/// The query of list routes (`URLSearchParams` form encoding).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub is_archived: Option<String>,
    pub limit: Option<String>,
    pub after: Option<String>,
    /// Messages only: the format to convert compatible rows to.
    pub format: Option<String>,
}

impl ListQuery {
    pub fn archived(&self) -> ApiResult<bool> {
        match self.is_archived.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::InvalidRequest {
                code: "invalid_query",
                message: "is_archived must be \"true\" or \"false\"".into(),
            }),
        }
    }

    /// An empty `format` asks for no conversion.
    pub fn format(&self) -> Option<&str> {
        self.format.as_deref().filter(|format| !format.is_empty())
    }

    /// An empty `after` means no cursor.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|after| !after.is_empty())
    }
}
