//! Logging: a tracing subscriber (pretty for people, JSON for machines). Fields use dotted
//! names (`account.id`); emails only masked; bodies and secrets never.
//!
//! Lines are written by a thread of their own: a request worker formats its line and hands it
//! over (no write system call, no lock on standard output shared by the workers). Under load
//! the writer sends many lines per write. If standard output stops taking lines (a stuck log
//! collector) and [`WAITING_LINES`] are waiting, further lines are dropped rather than stalling
//! requests or growing memory; [`flush`] writes what is waiting before the process ends.
//!
//! JSON lines are tracing-subscriber's own JSON format, one object a line: `timestamp` (UTC,
//! microseconds), `level`, the event's fields flattened beside its `message`, `target`, and
//! `span`: the fields of the span the event happened in (`request.id`, `http.method` for a
//! request) and its `name`. The formatter writes what the call sites give it: masking (emails
//! through `security::mask_email`, free text through `security::redact`) is done there, and no
//! call site logs a body, a token or a password.

pub mod metrics;

use std::sync::Mutex;

use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, Layer, fmt::MakeWriter, prelude::*, registry::LookupSpan};

use crate::config::LogSettings;

/// Lines that may wait for the writer (a few MiB at most; tracing-appender's default of 128k
/// lines could hold ~50 MiB behind a stuck collector).
pub const WAITING_LINES: usize = 16_384;

/// The writer thread's guard: dropping it writes the lines still waiting.
static WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// The filter of a configured level: tokio-cron-scheduler logs its start-up ("Uninited", "Job
/// creator created" once per job) at INFO, which is noise to an operator; it is shown from WARN
/// unless the level is `debug`/`trace` or names the crate itself. `RUST_LOG`, when set, wins.
pub fn filter_directives(level: &str) -> String {
    let verbose = matches!(level.trim().to_ascii_lowercase().as_str(), "debug" | "trace");
    if verbose || level.contains("tokio_cron_scheduler") {
        level.to_owned()
    } else {
        format!("{level},tokio_cron_scheduler=warn")
    }
}

/// Installs the global subscriber once; later calls are ignored (tests build many apps).
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_directives(&settings.level)));
    let (writer, guard) = NonBlockingBuilder::default()
        .thread_name("log-writer")
        .buffered_lines_limit(WAITING_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if settings.format == "json" {
        registry.with(json_lines(writer)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().with_target(false).with_writer(writer)).try_init()
    };
    if installed.is_ok()
        && let Ok(mut slot) = WRITER.lock()
    {
        *slot = Some(guard);
    }
}

/// tracing-subscriber's JSON format as the service writes it: the event's fields beside its
/// message, the current span's fields under `span`, no list of the spans around it.
pub fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

/// Writes the log lines still waiting (call before the process exits).
pub fn flush() {
    if let Ok(mut slot) = WRITER.lock() {
        slot.take();
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use serde_json::{Value, json};
    use tracing_subscriber::{Registry, fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Lines {
        fn taken(&self) -> Vec<String> {
            let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
            String::from_utf8(bytes).unwrap_or_default().lines().map(str::to_owned).collect()
        }
    }

    /// The events `log` makes, written as the service writes them.
    fn lines(log: impl Fn()) -> Vec<String> {
        let out = Lines::default();
        let subscriber = Registry::default().with(json_lines(out.clone()));
        tracing::subscriber::with_default(subscriber, log);
        out.taken()
    }

    #[test]
    fn the_schedulers_start_up_lines_are_below_the_default_level() {
        let lines = Lines::default();
        let subscriber =
            Registry::default().with(EnvFilter::new(filter_directives("info"))).with(json_lines(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tokio_cron_scheduler::job_scheduler", "Job creator created");
            tracing::warn!(target: "tokio_cron_scheduler::job_scheduler", "a job failed");
            tracing::info!("scheduler started");
        });
        let messages: Vec<String> = lines
            .taken()
            .iter()
            .map(|l| without_timestamp(l).1["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(messages, ["a job failed", "scheduler started"]);
        assert_eq!(filter_directives("debug"), "debug", "a debugging operator sees everything");
        assert_eq!(filter_directives("warn"), "warn,tokio_cron_scheduler=warn");
    }

    fn without_timestamp(line: &str) -> (String, Value) {
        let mut value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let timestamp = value.as_object_mut().and_then(|o| o.remove("timestamp"));
        (timestamp.and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default(), value)
    }

    /// The names log collectors and dashboards rely on: `timestamp`, `level`, `message` beside
    /// the event's own fields, `target`, and the request span's fields under `span`.
    #[test]
    fn a_line_is_one_json_object_with_the_request_span_fields() {
        let lines = lines(|| {
            let span = tracing::info_span!("request", request.id = %"0193-abc", http.method = %"GET");
            span.in_scope(|| {
                tracing::info!(http.route = %"/api/v1/patients/{id}", http.status = 200u16, latency_ms = 1.25, "request done");
                tracing::warn!(error = %"quote \" newline \n é", count = -3i64, ok = false, "odd: {}", "\u{1f}");
            });
            tracing::error!(target: "aftercare::elsewhere", "outside any span");
            let job = tracing::info_span!("job", r#type = "sweep", later = tracing::field::Empty);
            job.record("later", 7u64);
            job.in_scope(|| tracing::info!("with a field recorded later"));
        });
        assert_eq!(lines.len(), 4, "{lines:?}");
        let values: Vec<Value> = lines
            .iter()
            .map(|line| {
                let (time, value) = without_timestamp(line);
                assert!(time.len() == 27 && time.ends_with('Z') && time.as_bytes().get(10) == Some(&b'T'), "{time}");
                value
            })
            .collect();
        let request = json!({"http.method": "GET", "request.id": "0193-abc", "name": "request"});
        assert_eq!(
            values[0],
            json!({
                "level": "INFO", "message": "request done", "http.route": "/api/v1/patients/{id}",
                "http.status": 200, "latency_ms": 1.25, "target": "aftercare::telemetry::tests", "span": request,
            })
        );
        assert_eq!(
            values[1],
            json!({
                "level": "WARN", "message": "odd: \u{1f}", "error": "quote \" newline \n é", "count": -3,
                "ok": false, "target": "aftercare::telemetry::tests", "span": request,
            })
        );
        assert_eq!(
            values[2],
            json!({"level": "ERROR", "message": "outside any span", "target": "aftercare::elsewhere"})
        );
        assert_eq!(values[3]["span"], json!({"type": "sweep", "later": 7, "name": "job"}));
    }
}
