//! Audit trail for patient data. Writes record their event inside their own transaction, so a
//! change and its audit entry stand or fall together. Reads hand their event to a buffered
//! writer that stores batches in one transaction: reads stay reads, not one write each.
//! A crash may lose the last quarter of a second of read events, never a write's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::{
    db::{Db, new_id, to_db},
    domain::Role,
    repo::audit::{self, AuditEvent},
    security::caller::AuthUser,
};

/// What happened to patient data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    List,
    Create,
    Update,
    Archive,
    Cancel,
    Override,
    Invite,
    Export,
    Erase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Archive => "archive",
            Action::Cancel => "cancel",
            Action::Override => "override",
            Action::Invite => "invite",
            Action::Export => "export",
            Action::Erase => "erase",
        }
    }
}

/// An event by `user` on a resource of a patient.
pub fn event(
    user: &AuthUser,
    action: Action,
    resource_type: &str,
    resource_id: Option<&str>,
    patient_id: Option<&str>,
    now: DateTime<Utc>,
) -> AuditEvent {
    // A patient acts only on their own record; erasure finds the account's events by it.
    debug_assert!(user.role != Role::Patient || patient_id.is_some(), "a patient's event names the patient");
    AuditEvent {
        id: new_id(),
        clinic_id: user.clinic_id.clone(),
        actor_account_id: Some(user.account_id.clone()),
        actor_role: Some(user.role.as_str().to_owned()),
        action: action.as_str().to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.map(str::to_owned),
        patient_id: patient_id.map(str::to_owned),
        request_id: Some(user.request_id.clone()),
        created_at: to_db(now),
    }
}

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
