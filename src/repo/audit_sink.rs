//! The buffered writer for read events of the audit trail: reads hand their event to it, and it
//! stores them in batches, one transaction each, so reads stay reads rather than one write each.
//! A crash may lose the last quarter of a second of read events, never a write's (writes record
//! their event in their own transaction).

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::{
    db::Db,
    repo::audit::{self, AuditEvent},
};

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// The buffered writer for read events.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Message>,
    /// Ends the writer's gathering early (a flush, or a filling queue).
    hurry: Arc<Notify>,
}

/// Events stored per transaction at most. A transaction writes each index page it touches once,
/// whatever number of events share it: under a read load of thousands a second, one transaction
/// for the whole linger rather than one per 1,000 events writes far fewer pages per event (the
/// patient index gets one page per patient read; see docs/performance.md, item 29). Bounded for the memory of the batch and
/// for how long it holds SQLite's write lock (tens of ms).
const BATCH: usize = 5_000;
/// Room for this many queued messages (senders wait beyond it).
const CAPACITY: usize = 16_384;
/// How long the writer gathers read events before storing them.
const LINGER: std::time::Duration = std::time::Duration::from_millis(250);

impl AuditSink {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (tx, mut rx) = mpsc::channel::<Message>(CAPACITY);
        let hurry = Arc::new(Notify::new());
        let woken = hurry.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Gather for LINGER: each commit costs every other connection its page cache on
                // SQLite and a WAL flush on PostgreSQL, so a few large transactions a second, not
                // one per event. The writer sleeps meanwhile instead of waking for each event (a
                // cross-thread wake-up per read); a flush or a half-full queue ends it early.
                if matches!(first, Message::Event(_)) {
                    tokio::select! {
                        () = tokio::time::sleep(LINGER) => {}
                        () = woken.notified() => {}
                    }
                }
                let mut next = Some(first);
                loop {
                    let (mut events, mut waiters) = (Vec::new(), Vec::new());
                    while let Some(message) = next.take().or_else(|| rx.try_recv().ok()) {
                        match message {
                            Message::Event(e) => events.push(*e),
                            Message::Flush(done) => waiters.push(done),
                        }
                        if events.len() >= BATCH {
                            break;
                        }
                    }
                    let full = events.len() >= BATCH;
                    if !events.is_empty() {
                        let count = events.len();
                        let stored = db
                            .write(move |c| -> Result<usize, crate::db::DbError> {
                                Ok(audit::insert_events(c, &events)?)
                            })
                            .await;
                        if let Err(e) = stored {
                            tracing::error!(error = %e, audit.events = count, "audit events not stored");
                        }
                    }
                    // Every event queued before a flush was taken before it, so it is stored now.
                    for done in waiters {
                        let _ = done.send(());
                    }
                    if !full {
                        break;
                    }
                }
            }
        });
        Self { tx, hurry }
    }

    /// Queues a read event (waits only if the queue is full).
    pub async fn record(&self, event: AuditEvent) {
        if self.tx.send(Message::Event(Box::new(event))).await.is_err() {
            tracing::error!("audit writer stopped; event dropped");
        }
        if self.tx.capacity() < CAPACITY / 2 {
            self.hurry.notify_one();
        }
    }

    /// Returns once every event queued before the call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            self.hurry.notify_one();
            let _ = wait.await;
        }
    }
}
