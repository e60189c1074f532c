//! Prometheus metrics, through the `metrics` facade: requests by method, route and status, a
//! latency histogram per route, and the staff alert email outbox by status. Routes are patterns
//! (`/api/v1/patients/{id}`), never raw paths, so the label set stays small and holds no
//! identifiers.
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

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The statuses of the alert email outbox, each always reported.
pub const ALERT_EMAIL_STATUSES: [&str; 5] = ["pending", "sending", "sent", "skipped", "failed"];

/// How often latencies recorded since the last scrape are folded into the histograms (they wait
/// in a list until then, so memory stays flat when nothing scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let builder = PrometheusBuilder::new();
        // Fails only for an empty list of buckets.
        let builder = match builder.set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &BUCKETS) {
            Ok(builder) => builder,
            Err(_) => PrometheusBuilder::new(),
        };
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

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
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
}
