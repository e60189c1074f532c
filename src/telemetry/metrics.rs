//! Prometheus metrics, through the `metrics` facade: requests by method, route and status, a
//! latency histogram per route, the staff alert email outbox by status, and what the service
//! does in the background (reminders, alert emails, webhooks, SMTP, the database pool, photo
//! processing). Routes are patterns (`/api/v1/patients/{id}`), never raw paths, and every other
//! label takes its value from a fixed set (the enums below), so the label set stays small and
//! holds no identifiers, emails or patient data.
//!
//! Each app has its own recorder (tests build many apps in one process, each counting its own):
//! code that has the app's [`Metrics`] records through its typed methods, or with the `metrics`
//! macros inside [`Metrics::record`]. `/metrics` serves [`Metrics::render`].

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const ALERT_EMAILS: &str = "aftercare_alert_emails";
pub const REMINDERS_DUE: &str = "aftercare_reminders_due";
pub const REMINDERS_OLDEST_DUE_AGE: &str = "aftercare_reminders_oldest_due_age_seconds";
pub const REMINDERS_CLAIMED: &str = "aftercare_reminders_claimed_total";
pub const REMINDERS_SENT: &str = "aftercare_reminders_sent_total";
pub const REMINDERS_FAILED: &str = "aftercare_reminders_failed_total";
pub const REMINDERS_RETRIED: &str = "aftercare_reminders_retried_total";
pub const ALERT_NOTIFICATIONS_SENT: &str = "aftercare_alert_notifications_sent_total";
pub const ALERT_NOTIFICATIONS_FAILED: &str = "aftercare_alert_notifications_failed_total";
pub const ALERT_NOTIFICATIONS_RETRIED: &str = "aftercare_alert_notifications_retried_total";
pub const WEBHOOK_DELIVERIES: &str = "aftercare_webhook_deliveries_total";
pub const SMTP_SEND_DURATION: &str = "aftercare_smtp_send_duration_seconds";
pub const SMTP_ERRORS: &str = "aftercare_smtp_errors_total";
pub const DB_POOL_CONNECTIONS: &str = "aftercare_db_pool_connections";
pub const DB_POOL_WAITING: &str = "aftercare_db_pool_waiting";
pub const DB_POOL_TIMEOUTS: &str = "aftercare_db_pool_checkout_timeouts_total";
pub const PHOTO_PROCESSING_DURATION: &str = "aftercare_photo_processing_duration_seconds";

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Buckets for slower work (an SMTP exchange, processing a photo), in seconds.
const SLOW_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The statuses of the alert email outbox, each always reported.
pub const ALERT_EMAIL_STATUSES: [&str; 5] = ["pending", "sending", "sent", "skipped", "failed"];

/// A reminder's delivery channel (label `channel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Self; 2] = [Self::Email, Self::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Push => "push",
        }
    }
}

/// How one delivery attempt ended: a reminder's channel, an alert email, a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed for now; tried again later.
    Retried,
    /// Failed for good.
    Failed,
}

impl Outcome {
    pub const ALL: [Self; 3] = [Self::Sent, Self::Retried, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// Why an SMTP exchange failed (label `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpErrorKind {
    Transient,
    Permanent,
    Timeout,
}

impl SmtpErrorKind {
    pub const ALL: [Self; 3] = [Self::Transient, Self::Permanent, Self::Timeout];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Timeout => "timeout",
        }
    }
}

/// The database pool at one instant (see `db::Db::pool_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub connections: u32,
    pub idle: u32,
    /// Callers waiting for a connection now.
    pub waiting: u64,
    /// Checkouts that gave up waiting, since start.
    pub timeouts: u64,
}

/// How often latencies recorded since the last scrape are folded into the histograms (they wait
/// in a list until then, so memory stays flat when nothing scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let histograms = [
            (HTTP_DURATION, &BUCKETS),
            (SMTP_SEND_DURATION, &SLOW_BUCKETS),
            (PHOTO_PROCESSING_DURATION, &SLOW_BUCKETS),
        ];
        // Fails only for an empty list of buckets.
        let builder = histograms
            .into_iter()
            .try_fold(PrometheusBuilder::new(), |b, (name, buckets)| {
                b.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle };
        metrics.record(|| {
            describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status.");
            describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer, by route.");
            describe_gauge!(
                ALERT_EMAILS,
                "Staff emails about urgent alerts, by status (failed: staff could not be reached)."
            );
            describe_gauge!(REMINDERS_DUE, "Reminders due now and not yet sent (refreshed on scrape).");
            describe_gauge!(
                REMINDERS_OLDEST_DUE_AGE,
                Unit::Seconds,
                "How long the oldest due reminder has waited (0 when none is due; refreshed on scrape)."
            );
            describe_counter!(REMINDERS_CLAIMED, "Reminders claimed by a dispatcher pass.");
            describe_counter!(REMINDERS_SENT, "Reminder deliveries accepted, by channel.");
            describe_counter!(REMINDERS_FAILED, "Reminder deliveries failed for good, by channel.");
            describe_counter!(REMINDERS_RETRIED, "Reminder deliveries failed for now and retried later, by channel.");
            describe_counter!(ALERT_NOTIFICATIONS_SENT, "Staff alert emails sent.");
            describe_counter!(ALERT_NOTIFICATIONS_FAILED, "Staff alert emails failed for good.");
            describe_counter!(ALERT_NOTIFICATIONS_RETRIED, "Staff alert emails failed for now and retried later.");
            describe_counter!(WEBHOOK_DELIVERIES, "Webhook delivery attempts, by outcome (sent, retried, failed).");
            describe_histogram!(SMTP_SEND_DURATION, Unit::Seconds, "Time of one SMTP exchange, whatever its outcome.");
            describe_counter!(SMTP_ERRORS, "Failed SMTP exchanges, by kind (transient, permanent, timeout).");
            describe_gauge!(DB_POOL_CONNECTIONS, "Database pool connections, by state (in_use, idle).");
            describe_gauge!(DB_POOL_WAITING, "Callers waiting for a database connection.");
            describe_counter!(DB_POOL_TIMEOUTS, "Database connection checkouts that timed out.");
            describe_histogram!(
                PHOTO_PROCESSING_DURATION,
                Unit::Seconds,
                "Time to decode, check, measure and re-encode an uploaded photo."
            );
            // Every labelled series exists from the start, at 0: a rate over it is defined.
            counter!(REMINDERS_CLAIMED).absolute(0);
            for channel in Channel::ALL {
                for outcome in Outcome::ALL {
                    counter!(reminder_name(outcome), "channel" => channel.as_str()).absolute(0);
                }
            }
            for outcome in Outcome::ALL {
                counter!(alert_notification_name(outcome)).absolute(0);
                counter!(WEBHOOK_DELIVERIES, "outcome" => outcome.as_str()).absolute(0);
            }
            for kind in SmtpErrorKind::ALL {
                counter!(SMTP_ERRORS, "kind" => kind.as_str()).absolute(0);
            }
        });
        metrics
    }
}

impl Metrics {
    /// A recorder whose pending latencies are folded in every few seconds while it is in use
    /// (call within a Tokio runtime).
    pub fn start() -> Arc<Self> {
        let metrics = Arc::new(Self::default());
        let weak: Weak<Self> = Arc::downgrade(&metrics);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match weak.upgrade() {
                    Some(metrics) => metrics.handle.run_upkeep(),
                    None => break,
                }
            }
        });
        metrics
    }

    /// Runs `f` with this app's recorder: the `metrics` macros inside it record here.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// One answered request: `route` is the pattern that served it.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.record(|| {
            counter!(HTTP_REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
                .increment(1);
            histogram!(HTTP_DURATION, "route" => route.to_owned()).record(elapsed.as_secs_f64());
        });
    }

    /// The alert email outbox by status (a status absent from `counts` is 0).
    pub fn set_alert_emails(&self, counts: &[(String, i64)]) {
        self.record(|| {
            for status in ALERT_EMAIL_STATUSES {
                let n = counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
                // Counts of rows: far below 2^53, exact as a float.
                gauge!(ALERT_EMAILS, "status" => status).set(n as f64);
            }
        });
    }

    /// One reminder delivery attempt on `channel`.
    pub fn reminder(&self, channel: Channel, outcome: Outcome) {
        self.record(|| counter!(reminder_name(outcome), "channel" => channel.as_str()).increment(1));
    }

    /// Reminders claimed by one pass.
    pub fn reminders_claimed(&self, n: usize) {
        self.record(|| counter!(REMINDERS_CLAIMED).increment(u64::try_from(n).unwrap_or(u64::MAX)));
    }

    /// Reminders due now, and how long the oldest of them has waited.
    pub fn set_reminders_due(&self, due: i64, oldest_age: Duration) {
        self.record(|| {
            // Counts of rows: far below 2^53, exact as a float.
            gauge!(REMINDERS_DUE).set(due as f64);
            gauge!(REMINDERS_OLDEST_DUE_AGE).set(oldest_age.as_secs_f64());
        });
    }

    /// One staff alert email attempt.
    pub fn alert_notification(&self, outcome: Outcome) {
        self.record(|| counter!(alert_notification_name(outcome)).increment(1));
    }

    /// One webhook delivery attempt.
    pub fn webhook_delivery(&self, outcome: Outcome) {
        self.record(|| counter!(WEBHOOK_DELIVERIES, "outcome" => outcome.as_str()).increment(1));
    }

    /// One SMTP exchange: how long it took, and why it failed if it did.
    pub fn smtp_send(&self, elapsed: Duration, error: Option<SmtpErrorKind>) {
        self.record(|| {
            histogram!(SMTP_SEND_DURATION).record(elapsed.as_secs_f64());
            if let Some(kind) = error {
                counter!(SMTP_ERRORS, "kind" => kind.as_str()).increment(1);
            }
        });
    }

    /// The database pool now.
    pub fn set_pool(&self, pool: PoolStats) {
        self.record(|| {
            let in_use = pool.connections.saturating_sub(pool.idle);
            gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
            gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
            // Counts of threads: exact as a float.
            gauge!(DB_POOL_WAITING).set(pool.waiting as f64);
            counter!(DB_POOL_TIMEOUTS).absolute(pool.timeouts);
        });
    }

    /// One photo processed (decoded, checked, stored).
    pub fn photo_processed(&self, elapsed: Duration) {
        self.record(|| histogram!(PHOTO_PROCESSING_DURATION).record(elapsed.as_secs_f64()));
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

fn reminder_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Sent => REMINDERS_SENT,
        Outcome::Retried => REMINDERS_RETRIED,
        Outcome::Failed => REMINDERS_FAILED,
    }
}

fn alert_notification_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Sent => ALERT_NOTIFICATIONS_SENT,
        Outcome::Retried => ALERT_NOTIFICATIONS_RETRIED,
        Outcome::Failed => ALERT_NOTIFICATIONS_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(3));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains("# TYPE http_requests_total counter\n"), "{text}");
        assert!(text.contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("# TYPE http_request_duration_seconds histogram\n"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0025\"} 0"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.05\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_count{route=\"/healthz\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_sum{route=\"/healthz\"} 0.033"), "{text}");
    }

    #[test]
    fn each_app_counts_its_own_and_labels_are_escaped() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.observe_request("GET", "/a\"b\\c", 404, Duration::from_millis(1));
        assert!(b.render().lines().all(|l| !l.starts_with("http_requests_total{")), "{}", b.render());
        let text = a.render();
        assert!(text.contains(r#"http_requests_total{method="GET",route="/a\"b\\c",status="404"} 1"#), "{text}");
    }

    #[test]
    fn every_alert_email_status_is_reported() {
        let m = Metrics::default();
        m.set_alert_emails(&[("failed".to_owned(), 2), ("sent".to_owned(), 5)]);
        let text = m.render();
        assert!(text.contains("# TYPE aftercare_alert_emails gauge\n"), "{text}");
        for (status, n) in [("pending", 0), ("sending", 0), ("sent", 5), ("skipped", 0), ("failed", 2)] {
            assert!(text.contains(&format!("aftercare_alert_emails{{status=\"{status}\"}} {n}\n")), "{text}");
        }
    }

    /// Every label of every series, after each kind of recording: the values come from fixed
    /// sets (routes are patterns and are checked in the API tests).
    #[test]
    fn label_values_come_from_fixed_sets() {
        let m = Metrics::default();
        for channel in Channel::ALL {
            for outcome in Outcome::ALL {
                m.reminder(channel, outcome);
            }
        }
        m.reminders_claimed(3);
        m.set_reminders_due(2, Duration::from_secs(90));
        for outcome in Outcome::ALL {
            m.alert_notification(outcome);
            m.webhook_delivery(outcome);
        }
        for kind in SmtpErrorKind::ALL {
            m.smtp_send(Duration::from_millis(20), Some(kind));
        }
        m.smtp_send(Duration::from_millis(20), None);
        m.set_pool(PoolStats { connections: 4, idle: 1, waiting: 2, timeouts: 5 });
        m.photo_processed(Duration::from_millis(300));
        m.set_alert_emails(&[("sent".to_owned(), 1)]);
        let text = m.render();
        let allowed: &[(&str, &[&str])] = &[
            ("channel", &["email", "push"]),
            ("outcome", &["sent", "retried", "failed"]),
            ("kind", &["transient", "permanent", "timeout"]),
            ("state", &["in_use", "idle"]),
            ("status", &ALERT_EMAIL_STATUSES),
            ("le", &[]),
            ("quantile", &[]),
        ];
        let mut seen = 0;
        for line in text.lines().filter(|l| !l.starts_with('#') && l.contains('{')) {
            let labels = line.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map_or("", |(l, _)| l);
            for pair in labels.split(',') {
                let (name, value) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                let value = value.trim_matches('"');
                let Some((_, values)) = allowed.iter().find(|(n, _)| *n == name) else {
                    panic!("unexpected label {name} in {line}")
                };
                assert!(values.is_empty() || values.contains(&value), "{name}={value} in {line}");
                seen += 1;
            }
        }
        assert!(seen > 30, "{text}");
        for name in [
            REMINDERS_DUE,
            REMINDERS_OLDEST_DUE_AGE,
            REMINDERS_CLAIMED,
            REMINDERS_SENT,
            REMINDERS_FAILED,
            REMINDERS_RETRIED,
            ALERT_NOTIFICATIONS_SENT,
            ALERT_NOTIFICATIONS_FAILED,
            ALERT_NOTIFICATIONS_RETRIED,
            WEBHOOK_DELIVERIES,
            SMTP_SEND_DURATION,
            SMTP_ERRORS,
            DB_POOL_CONNECTIONS,
            DB_POOL_WAITING,
            DB_POOL_TIMEOUTS,
            PHOTO_PROCESSING_DURATION,
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} is described:\n{text}");
        }
        assert!(text.contains("# TYPE aftercare_smtp_send_duration_seconds histogram\n"), "{text}");
        assert!(text.contains("aftercare_reminders_sent_total{channel=\"push\"} 1\n"), "{text}");
        assert!(text.contains("aftercare_db_pool_connections{state=\"in_use\"} 3\n"), "{text}");
        assert!(text.contains("aftercare_db_pool_checkout_timeouts_total 5\n"), "{text}");
        assert!(text.contains("aftercare_reminders_oldest_due_age_seconds 90\n"), "{text}");
    }
}
