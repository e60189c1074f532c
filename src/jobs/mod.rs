//! Background jobs: plain `async fn(state, now)` that tests call directly; the scheduler only
//! ticks them. Every replica may run the scheduler: reminders are claimed with leases, so two
//! dispatchers never hold the same row.

pub mod alert_mail;
pub mod dispatch;
pub mod missed_checkins;
pub mod webhooks;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio_cron_scheduler::{Job, JobScheduler};

use crate::{repo::idempotency, state::AppState};

/// Starts the ticking: staff alert emails and reminders (draining a backlog) every `tick_secs`, webhooks every `webhooks.tick_secs`, missed
/// check-ins every 15 minutes, expired idempotency keys hourly. A tick that finds the previous one still running does nothing.
pub async fn start_scheduler(state: AppState) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let tick = state.settings.dispatch.tick_secs;
    // 6-field cron (seconds first), evaluated in UTC.
    let every = if tick < 60 { format!("*/{tick} * * * * *") } else { format!("0 */{} * * * *", (tick / 60).max(1)) };
    scheduler
        .add(guarded(&every, state.clone(), |s| async move {
            // Staff emails about red flags first: they are the most urgent mail there is.
            if let Err(e) = alert_mail::deliver_alert_notifications(&s, s.now()).await {
                tracing::error!(error = %e, "alert mail pass failed");
            }
            if let Err(e) = dispatch::drain_due_reminders(&s).await {
                tracing::error!(error = %e, "dispatch pass failed");
            }
        })?)
        .await?;
    let hooks = state.settings.webhooks.tick_secs;
    let hooks_every =
        if hooks < 60 { format!("*/{hooks} * * * * *") } else { format!("0 */{} * * * *", (hooks / 60).max(1)) };
    scheduler
        .add(guarded(&hooks_every, state.clone(), |s| async move {
            if let Err(e) = webhooks::deliver_due_webhooks(&s, s.now()).await {
                tracing::error!(error = %e, "webhook pass failed");
            }
        })?)
        .await?;
    scheduler
        .add(guarded("0 */15 * * * *", state.clone(), |s| async move {
            if let Err(e) = missed_checkins::check_missed_checkins(&s, s.now()).await {
                tracing::error!(error = %e, "missed check-in pass failed");
            }
        })?)
        .await?;
    scheduler
        .add(guarded("0 7 * * * *", state, |s| async move {
            let now = crate::db::to_db(s.now());
            let purged =
                s.db.write(move |c| -> Result<usize, crate::db::DbError> { Ok(idempotency::delete_expired(c, now)?) })
                    .await;
            if let Err(e) = purged {
                tracing::error!(error = %e, "idempotency purge failed");
            }
        })?)
        .await?;
    scheduler.start().await?;
    tracing::info!(dispatch.tick_secs = tick, "scheduler started");
    Ok(scheduler)
}

/// Marks a job idle again when its run ends, also when it panics: a flag reset by hand after the
/// run would stay set after a panic and stop that job for good.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn guarded<F, Fut>(cron: &str, state: AppState, run: F) -> anyhow::Result<Job>
where
    F: Fn(AppState) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let busy = Arc::new(AtomicBool::new(false));
    let run = Arc::new(run);
    Ok(Job::new_async(cron, move |_id, _scheduler| {
        let (busy, state, run) = (busy.clone(), state.clone(), run.clone());
        Box::pin(async move {
            if busy.swap(true, Ordering::AcqRel) {
                return;
            }
            let _busy = Busy(busy);
            run(state).await;
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_that_panics_leaves_its_job_free_to_run_again() {
        let busy = Arc::new(AtomicBool::new(true));
        let held = busy.clone();
        let run = tokio::spawn(async move {
            let _busy = Busy(held);
            panic!("a pass panicked");
        });
        assert!(run.await.is_err(), "the run panicked");
        assert!(!busy.load(Ordering::Acquire), "and the job is idle again");
    }
}
