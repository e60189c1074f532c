//! Logging: a tracing subscriber (pretty for people, JSON for machines). Fields use dotted
//! names (`account.id`); emails only masked; bodies and secrets never.
//!
//! Lines are written by a thread of their own: a request worker formats its line and hands it
//! over (no write system call, no lock on standard output shared by the workers). Under load
//! the writer sends many lines per write. If standard output stops taking lines (a stuck log
//! collector) and [`WAITING_LINES`] are waiting, further lines are dropped rather than stalling
//! requests or growing memory; [`flush`] writes what is waiting before the process ends.
//!
//! JSON lines are written by [`JsonLines`]: the shape of tracing-subscriber's own JSON format
//! (`json().flatten_event(true).with_current_span(true).with_span_list(false)`) at a third of its
//! cost. That format writes through serde_json and an `io::Write` adaptor that checks each
//! piece, and parses the request span's fields back from their stored JSON for every line: the
//! closing line of a request cost ~22,000 instructions (now ~5,000), a tenth of a small read.

use std::{fmt, sync::Mutex};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::Record,
};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::Writer,
        time::{FormatTime, SystemTime},
    },
    prelude::*,
    registry::LookupSpan,
};

use crate::{
    config::LogSettings,
    http::json::{JsonWriter, log_timestamp},
};

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
        registry
            .with(tracing_subscriber::fmt::layer().fmt_fields(SpanFields).event_format(JsonLines).with_writer(writer))
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().with_target(false).with_writer(writer)).try_init()
    };
    if installed.is_ok()
        && let Ok(mut slot) = WRITER.lock()
    {
        *slot = Some(guard);
    }
}

/// Writes the log lines still waiting (call before the process exits).
pub fn flush() {
    if let Ok(mut slot) = WRITER.lock() {
        slot.take();
    }
}

/// One JSON object a line: `timestamp` (UTC, microseconds), `level`, the event's fields (its
/// message as `message`), `target`, and `span`: the fields of the span the event happened in
/// (`request.id`, `http.method` for a request) and its `name`. The span's fields are stored as
/// JSON when the span is made ([`SpanFields`]) and written here as stored.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        // Events of the `log` crate (dependencies) carry their real target in their fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut out = JsonWriter::with_capacity(320);
        out.raw("{\"timestamp\":");
        let mut buf = [0u8; 30];
        match log_timestamp(std::time::SystemTime::now(), &mut buf) {
            Some(timestamp) => out.str(timestamp),
            None => {
                let mut timestamp = String::with_capacity(32);
                SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
                out.str(&timestamp);
            }
        }
        out.raw(",\"level\":");
        out.str(meta.level().as_str());
        event.record(&mut FieldsVisitor { out: &mut out, text: String::new() });
        out.raw(",\"target\":");
        out.str(meta.target());
        if let Some(span) = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current()) {
            let extensions = span.extensions();
            let stored = extensions.get::<FormattedFields<N>>().map_or("{}", |f| f.fields.as_str());
            out.raw(",\"span\":{");
            match stored.strip_prefix('{').and_then(|f| f.strip_suffix('}')) {
                Some("") => {}
                Some(fields) => {
                    out.raw(fields);
                    out.raw(",");
                }
                // Not written by `SpanFields`: said so rather than breaking the line's JSON.
                None => out.raw("\"field_error\":\"the span's fields are not a JSON object\","),
            }
            out.raw("\"name\":");
            out.str(span.name());
            out.raw("}");
        }
        out.raw("}");
        let line = out.finish().map_err(|_| fmt::Error)?;
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)?;
        writer.write_char('\n')
    }
}

/// A span's fields, stored as a JSON object when the span is made, as tracing-subscriber's
/// `JsonFields` stores them (names in order, `r#` taken off a raw name, `log.` fields left out, the
/// last value of a name kept) without building a `serde_json` map for each span: a request's span
/// cost ~6,400 instructions to make, ~3,500 now.
pub struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut pairs = Pairs::default();
        fields.record(&mut pairs);
        writer.write_str(&pairs.object())
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        let mut pairs = Pairs::default();
        if !current.fields.is_empty() {
            // Written by `format_fields`: an object of names and values.
            let stored: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&current.fields).map_err(|_| fmt::Error)?;
            for (name, value) in stored {
                pairs.0.push((name, serde_json::to_string(&value).map_err(|_| fmt::Error)?));
            }
        }
        fields.record(&mut pairs);
        current.fields = pairs.object();
        Ok(())
    }
}

/// Names and their values written as JSON, in the order recorded.
#[derive(Default)]
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn push(&mut self, name: &str, write: impl FnOnce(&mut JsonWriter)) {
        let mut out = JsonWriter::with_capacity(48);
        write(&mut out);
        let value = out.finish().ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| "null".into());
        self.0.push((name.to_owned(), value));
    }

    /// `{"name":value,…}`, names in order, the last value of a name.
    fn object(mut self) -> String {
        // Stable: of equal names, the one recorded last is last.
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = JsonWriter::with_capacity(128);
        out.raw("{");
        let mut first = true;
        for (i, (name, value)) in self.0.iter().enumerate() {
            if self.0.get(i + 1).is_some_and(|next| next.0 == *name) {
                continue;
            }
            if !first {
                out.raw(",");
            }
            first = false;
            out.str(name);
            out.raw(":");
            out.raw(value);
        }
        out.raw("}");
        out.finish().ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default()
    }
}

impl Visit for Pairs {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), |out| out.value(&value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), |out| out.value(&value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), |out| out.value(&value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), |out| out.bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), |out| out.str(value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.push(field.name(), |out| out.value(value));
    }

    /// As `JsonFields`: only here are `log.` fields left out and `r#` taken off.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.push(name.strip_prefix("r#").unwrap_or(name), |out| out.str(&format!("{value:?}")));
    }
}

/// An event's fields as `,"name":value` pairs: numbers and booleans as JSON numbers and
/// booleans (a float that is not finite as `null`), everything else as text (`Debug`, or
/// `Display` for `%` fields and errors), as tracing-subscriber's JSON format writes them.
struct FieldsVisitor<'a> {
    out: &'a mut JsonWriter,
    text: String,
}

impl FieldsVisitor<'_> {
    fn key(&mut self, field: &Field) {
        self.out.raw(",");
        self.out.str(field.name());
        self.out.raw(":");
    }
}

impl Visit for FieldsVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        self.out.value(&value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.out.value(&value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.out.value(&value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.bool(value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.str(value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write as _;
        self.text.clear();
        // Writing into a `String` fails only if the value's own `Debug` does; its text so far stays.
        let _ = write!(self.text, "{value:?}");
        self.key(field);
        self.out.str(&self.text);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use serde_json::Value;
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

    #[derive(Debug)]
    struct Shown {
        #[allow(dead_code)]
        text: &'static str,
    }

    /// The same events, logged under a request span and outside any, once with our format
    /// and once with tracing-subscriber's own JSON format as we configured it before.
    fn both_ways(log: impl Fn()) -> (Vec<String>, Vec<String>) {
        let (ours, theirs) = (Lines::default(), Lines::default());
        let subscriber = Registry::default().with(
            tracing_subscriber::fmt::layer().fmt_fields(SpanFields).event_format(JsonLines).with_writer(ours.clone()),
        );
        tracing::subscriber::with_default(subscriber, &log);
        let subscriber = Registry::default().with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(theirs.clone()),
        );
        tracing::subscriber::with_default(subscriber, &log);
        (ours.taken(), theirs.taken())
    }

    #[test]
    fn the_schedulers_start_up_lines_are_below_the_default_level() {
        let lines = Lines::default();
        let subscriber = Registry::default().with(EnvFilter::new(filter_directives("info"))).with(
            tracing_subscriber::fmt::layer().fmt_fields(SpanFields).event_format(JsonLines).with_writer(lines.clone()),
        );
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

    #[test]
    fn lines_are_those_of_tracing_subscribers_json_format() {
        let (ours, theirs) = both_ways(|| {
            let span = tracing::info_span!("request", request.id = %"0193-abc", http.method = %"GET");
            span.in_scope(|| {
                tracing::info!(http.route = %"/api/v1/patients/{id}", http.status = 200u16, latency_ms = 1.25, "request done");
                tracing::warn!(
                    error = %"quote \" backslash \\ newline \n tab \t bell \u{7} é 😀",
                    count = -3i64,
                    big = u64::MAX,
                    ok = false,
                    ratio = f64::NAN,
                    shown = ?Shown { text: "x\"y" },
                    "something odd: {}",
                    "\u{1f}"
                );
            });
            tracing::error!(target: "aftercare::elsewhere", "outside any span");
            tracing::info_span!("quiet").in_scope(|| tracing::debug!("a span without fields"));
            // Fields of every kind, out of order, a raw name, a name twice, fields recorded later.
            let span = tracing::info_span!(
                "job",
                zeta = 1.5f64,
                r#type = ?"t\"q",
                alpha = -2i64,
                ok = true,
                bytes = tracing::field::Empty,
                later = tracing::field::Empty,
                text = "plain"
            );
            span.record("later", 7u64);
            span.in_scope(|| tracing::info!("with recorded fields"));
            span.record("zeta", "again");
            span.record("bytes", &b"ab"[..]);
            span.in_scope(|| tracing::info!("with fields recorded twice"));
            let empty = tracing::info_span!("empty", later = tracing::field::Empty);
            empty.record("later", "now");
            empty.in_scope(|| tracing::info!("with a field recorded into none"));
        });
        assert_eq!(ours.len(), 7, "{ours:?}");
        assert_eq!(ours.len(), theirs.len(), "{theirs:?}");
        for (mine, other) in ours.iter().zip(&theirs) {
            let (my_time, my_value) = without_timestamp(mine);
            let (their_time, their_value) = without_timestamp(other);
            assert_eq!(my_value, their_value, "\nours:   {mine}\ntheirs: {other}");
            assert_eq!(my_time.len(), their_time.len(), "{my_time} vs {their_time}");
            assert!(my_time.ends_with('Z') && my_time.as_bytes().get(10) == Some(&b'T'), "{my_time}");
        }
        // And the bytes are the same but for the time.
        let strip = |line: &str| line.split_once(r#","level":"#).map(|(_, rest)| rest.to_owned());
        for (mine, other) in ours.iter().zip(&theirs) {
            assert_eq!(strip(mine), strip(other));
        }
        assert!(ours[0].contains(r#""message":"request done""#), "{}", ours[0]);
        assert!(
            ours[0].ends_with(r#""span":{"http.method":"GET","request.id":"0193-abc","name":"request"}}"#),
            "{}",
            ours[0]
        );
        assert!(ours[3].ends_with(r#""span":{"name":"quiet"}}"#), "{}", ours[3]);
    }
}
