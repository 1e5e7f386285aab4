//! Follows the settings counter in the database, so an administrative change
//! (a project, its allowed origins or anonymous switch, a key, a rule) made on
//! any node or by the CLI takes effect on this node within about a second:
//! every node reads the one counter every [`SETTINGS_POLL_MILLIS`] and empties
//! its caches of settings and credentials when it moved. The caches' own
//! lifetimes only bound staleness while the database cannot be read.

use std::time::Duration;

use threadhold_domain::limits::SETTINGS_POLL_MILLIS;

use crate::state::AppState;

/// Runs until the server stops.
pub async fn follow_settings(state: AppState) {
    let mut ticks = tokio::time::interval(Duration::from_millis(SETTINGS_POLL_MILLIS));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = None;
    loop {
        ticks.tick().await;
        match state.store.settings_version().await {
            Ok(version) if seen != Some(version) => {
                if seen.is_some() {
                    tracing::debug!(version, "settings changed: caches emptied");
                    state.forget_settings();
                }
                seen = Some(version);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "reading the settings counter failed"),
        }
    }
}
