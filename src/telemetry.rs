//! Logging: a tracing subscriber (pretty for people, JSON for machines). Fields use dotted
//! names (`account.id`); emails only masked; bodies and secrets never.
//!
//! Lines are written by a thread of their own: a request worker formats its line and hands it
//! over (no write system call, no lock on standard output shared by the workers). Under load
//! the writer sends many lines per write. If standard output stops taking lines (a stuck log
//! collector) and [`WAITING_LINES`] are waiting, further lines are dropped rather than stalling
//! requests or growing memory; [`flush`] writes what is waiting before the process ends.

use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogSettings;

/// Lines that may wait for the writer (a few MiB at most; tracing-appender's default of 128k
/// lines could hold ~50 MiB behind a stuck collector).
pub const WAITING_LINES: usize = 16_384;

/// The writer thread's guard: dropping it writes the lines still waiting.
static WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Installs the global subscriber once; later calls are ignored (tests build many apps).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let (writer, guard) = NonBlockingBuilder::default()
        .thread_name("log-writer")
        .buffered_lines_limit(WAITING_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if settings.format == "json" {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(false).with_writer(writer)).try_init()
    };
    if installed.is_ok() {
        if let Ok(mut slot) = WRITER.lock() {
            *slot = Some(guard);
        }
    }
}

/// Writes the log lines still waiting (call before the process exits).
pub fn flush() {
    if let Ok(mut slot) = WRITER.lock() {
        slot.take();
    }
}
