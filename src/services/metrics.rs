//! What `/metrics` reads at each scrape: gauges taken from the database (so every replica
//! reports the same) and from the connection pool.

use crate::{db::to_db, repo::reminders, state::AppState};

/// Brings the gauges read on scrape up to date; one that cannot be read keeps its last value.
pub async fn refresh(state: &AppState) {
    super::alerts::refresh_metrics(state).await;
    let now = state.now();
    match state.db.run(move |c| reminders::due_summary(c, to_db(now))).await {
        Ok((due, oldest)) => {
            let age = oldest.map(|t| (now - crate::db::from_db(t)).to_std().unwrap_or_default()).unwrap_or_default();
            state.metrics.set_reminders_due(due, age);
        }
        Err(e) => tracing::warn!(error = %e, "due reminders unavailable for /metrics"),
    }
    state.metrics.set_pool(state.db.pool_stats());
}
