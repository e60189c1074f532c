//! Outgoing mail: a `Mailer` over lettre's SMTP and file transports plus an in-memory one for
//! tests, and templates compiled into the binary (`templates/<name>/{subject.txt, body.txt,
//! body.html}`). Recipients appear in logs only masked.

pub mod templates;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, header},
};
use secrecy::ExposeSecret;

use crate::{
    config::Settings,
    security::mask_email,
    telemetry::metrics::{Metrics, SmtpErrorKind},
};

/// A rendered email, ready for any transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Deterministic `Message-ID` (without angle brackets, see [`message_id`]), so receivers can
    /// deduplicate.
    pub message_id: Option<String>,
    pub reply_to: Option<String>,
    /// Extra headers such as `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
}

/// How a failed send should be treated.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying later: connection errors, timeouts, 4xx replies.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Retrying will not help: 5xx replies, invalid addresses.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        /// Bounds the whole exchange (connect, every command, the message), not only each read:
        /// a server that answers a byte at a time would otherwise hold a send for ever.
        timeout: Duration,
        /// Set when [`Mailer::answers_again`] found the server not answering.
        unanswered: Arc<AtomicBool>,
        /// Where each exchange's latency and failure kind are counted (see [`Mailer::observed`]).
        metrics: Option<Arc<Metrics>>,
    },
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
        from: Mailbox,
    },
    Memory {
        outbox: Arc<Mutex<Vec<Email>>>,
        from: Mailbox,
    },
    /// Builds every message and discards it (benchmarks: the cost of everything but the wire).
    Null {
        from: Mailbox,
    },
}

impl Mailer {
    /// SMTP when `mail.smtp_url` is set, otherwise `.eml` files under `<data_dir>/mail/`.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox =
            settings.mail.from.parse().map_err(|e| anyhow::anyhow!("AFTERCARE__MAIL__FROM is not a mailbox: {e}"))?;
        match &settings.mail.smtp_url {
            Some(url) => {
                let timeout = Duration::from_secs(settings.mail.timeout_secs.max(1));
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("AFTERCARE__MAIL__SMTP_URL is unusable: {e}"))?
                    .timeout(Some(timeout))
                    .build();
                Ok(Self::Smtp { transport, from, timeout, unanswered: Arc::default(), metrics: None })
            }
            None => {
                let dir = settings.data_dir.join("mail");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create the mail directory {}: {e}", dir.display()))?;
                Ok(Self::File { transport: AsyncFileTransport::new(&dir), dir, from })
            }
        }
    }

    /// A mailer that keeps messages in memory (tests).
    pub fn memory(from: &str) -> anyhow::Result<Self> {
        let from = from.parse().map_err(|e| anyhow::anyhow!("bad from address: {e}"))?;
        Ok(Self::Memory { outbox: Arc::default(), from })
    }

    /// A mailer that builds messages and throws them away.
    pub fn null(from: &str) -> anyhow::Result<Self> {
        Ok(Self::Null { from: from.parse().map_err(|e| anyhow::anyhow!("bad from address: {e}"))? })
    }

    /// This mailer with its SMTP exchanges counted in `metrics` (the other transports have no
    /// exchange to count).
    pub fn observed(self, metrics: Arc<Metrics>) -> Self {
        match self {
            Self::Smtp { transport, from, timeout, unanswered, .. } => {
                Self::Smtp { transport, from, timeout, unanswered, metrics: Some(metrics) }
            }
            other => other,
        }
    }

    /// The messages a memory mailer holds; empty for the others.
    pub fn outbox(&self) -> Vec<Email> {
        match self {
            Self::Memory { outbox, .. } => outbox.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            _ => Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { .. } => "smtp".to_owned(),
            Self::File { dir, .. } => format!("files in {}", dir.display()),
            Self::Memory { .. } => "memory".to_owned(),
            Self::Null { .. } => "null".to_owned(),
        }
    }

    fn from(&self) -> &Mailbox {
        match self {
            Self::Smtp { from, .. } | Self::File { from, .. } | Self::Memory { from, .. } | Self::Null { from } => from,
        }
    }

    /// Whether the mail server answers again after the previous call found it not answering
    /// (SMTP only; the other transports are never down). It is asked with a NOOP on a pooled
    /// connection or a new one, bounded by the mail timeout. A server that answers but refuses
    /// messages is not "back": only one that did not answer at all can come back.
    pub async fn answers_again(&self) -> bool {
        let Self::Smtp { transport, timeout, unanswered, .. } = self else { return false };
        let answers = matches!(tokio::time::timeout(*timeout, transport.test_connection()).await, Ok(Ok(true)));
        if answers {
            unanswered.swap(false, Ordering::AcqRel)
        } else {
            unanswered.store(true, Ordering::Release);
            false
        }
    }

    /// Builds the MIME message: plain text and HTML alternatives.
    pub fn build_message(&self, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Permanent(format!("invalid recipient {}", mask_email(&email.to))))?;
        let mut builder = Message::builder().from(self.from().clone()).to(to).subject(&email.subject);
        if let Some(id) = &email.message_id {
            builder = builder.message_id(Some(format!("<{id}>")));
        }
        if let Some(reply_to) = &email.reply_to
            && let Ok(mb) = reply_to.parse::<Mailbox>()
        {
            builder = builder.reply_to(mb);
        }
        for (name, value) in &email.headers {
            let name = header::HeaderName::new_from_ascii(name.clone())
                .map_err(|_| MailError::Permanent(format!("invalid header name {name}")))?;
            builder = builder.raw_header(header::HeaderValue::new(name, value.clone()));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| MailError::Permanent(format!("cannot build message: {e}")))
    }

    /// Sends one email.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = self.build_message(email)?;
        let result = match self {
            Self::Smtp { transport, timeout, metrics, .. } => {
                let started = std::time::Instant::now();
                let (result, kind) = match tokio::time::timeout(*timeout, transport.send(message)).await {
                    Ok(Ok(_)) => (Ok(()), None),
                    Ok(Err(e)) => {
                        let kind = if e.is_timeout() {
                            SmtpErrorKind::Timeout
                        } else if e.is_permanent() {
                            SmtpErrorKind::Permanent
                        } else {
                            SmtpErrorKind::Transient
                        };
                        (Err(classify_smtp(e)), Some(kind))
                    }
                    Err(_) => (
                        Err(MailError::Transient(format!("SMTP exchange took longer than {} s", timeout.as_secs()))),
                        Some(SmtpErrorKind::Timeout),
                    ),
                };
                if let Some(metrics) = metrics {
                    metrics.smtp_send(started.elapsed(), kind);
                }
                result
            }
            Self::File { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transient(format!("cannot write mail file: {e}"))),
            Self::Memory { outbox, .. } => {
                outbox.lock().unwrap_or_else(|p| p.into_inner()).push(email.clone());
                Ok(())
            }
            Self::Null { .. } => {
                let _bytes = message.formatted();
                Ok(())
            }
        };
        match &result {
            Ok(()) => tracing::info!(mail.to = %mask_email(&email.to), mail.transport = %self.describe(), "mail sent"),
            Err(e) => {
                tracing::warn!(mail.to = %mask_email(&email.to), error = %crate::security::redact(&e.to_string()), "mail not sent")
            }
        }
        result
    }
}

/// A `Message-ID` (without angle brackets) on the service's own domain, the host of its public
/// URL: `local` names the message (`reminder-<id>`), so a retry carries the same id and receivers
/// can deduplicate.
pub fn message_id(local: &str, public_url: &str) -> String {
    let domain = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "aftercare.localhost".to_owned());
    format!("{local}@{domain}")
}

/// SMTP 5xx and malformed messages are permanent; connection trouble and 4xx are transient.
fn classify_smtp(e: lettre::transport::smtp::Error) -> MailError {
    if e.is_permanent() { MailError::Permanent(e.to_string()) } else { MailError::Transient(e.to_string()) }
}
