//! A loopback SMTP sink: one port per replica (so every message is traced to its sender), enough
//! of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, pipelining), and three
//! modes a drill switches between:
//!
//! - [`Mode::Up`]: accepts every message (`250` after the end of data);
//! - [`Mode::Refuse`]: answers `421` (service not available, closing) to a new connection and to
//!   the next command of an open session, as a server going down for maintenance does;
//! - [`Mode::Hang`]: accepts connections and reads, but never answers: a new connection gets no
//!   greeting, an open session no reply (not even to a message's end of data).
//!
//! A message counts as received only when it was answered `250`; it is recorded by its
//! Message-ID (`reminder-<id>@…`, `alert-<alert>-<account>@…`, anything else is "other").

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::watch,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Up,
    Refuse,
    Hang,
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    /// The replica (port index) it came from.
    pub port: usize,
    pub at: Instant,
}

pub struct Sink {
    pub ports: Vec<u16>,
    inner: Arc<Inner>,
    mode: Arc<watch::Sender<Mode>>,
}

#[derive(Default)]
struct Inner {
    /// Message-ID (without angle brackets) → every time it was accepted.
    ids: Mutex<HashMap<String, Vec<Received>>>,
    per_port: Vec<AtomicUsize>,
    total: AtomicUsize,
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(256)
}

impl Sink {
    /// Listens on `ports` loopback ports, in [`Mode::Up`].
    pub async fn start(ports: usize) -> anyhow::Result<Self> {
        let inner =
            Arc::new(Inner { per_port: (0..ports).map(|_| AtomicUsize::new(0)).collect(), ..Default::default() });
        let (mode, _) = watch::channel(Mode::Up);
        let mode = Arc::new(mode);
        let mut bound = Vec::new();
        for idx in 0..ports {
            let listener = bind(0)?;
            bound.push(listener.local_addr()?.port());
            let (inner, mode) = (inner.clone(), mode.subscribe());
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(session(inner.clone(), idx, socket, mode.clone()));
                }
            });
        }
        Ok(Self { ports: bound, inner, mode })
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn total(&self) -> usize {
        self.inner.total.load(Ordering::SeqCst)
    }

    pub fn port_count(&self, idx: usize) -> usize {
        self.inner.per_port.get(idx).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Every accepted Message-ID with the times it was accepted.
    pub fn received(&self) -> HashMap<String, Vec<Received>> {
        self.inner.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Accepted messages whose Message-ID starts with `prefix`, by the rest of the local part
    /// (`reminder-` → reminder ids).
    pub fn received_with(&self, prefix: &str) -> HashMap<String, Vec<Received>> {
        self.received()
            .into_iter()
            .filter_map(|(id, got)| {
                let local = id.split('@').next()?.strip_prefix(prefix)?.to_owned();
                Some((local, got))
            })
            .collect()
    }
}

/// Holds a connection without answering until the client gives up.
async fn hold(mut socket: impl tokio::io::AsyncRead + Unpin) {
    let mut buf = [0_u8; 4096];
    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn session(inner: Arc<Inner>, idx: usize, socket: TcpStream, mode: watch::Receiver<Mode>) {
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let current = *mode.borrow();
    match current {
        Mode::Hang => return hold(read).await,
        Mode::Refuse => {
            let _ = write.write_all(b"421 4.3.2 sink.drills service not available, closing\r\n").await;
            return;
        }
        Mode::Up => {}
    }
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 sink.drills ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let now = *mode.borrow();
        match now {
            Mode::Hang => return hold(lines).await,
            Mode::Refuse => {
                let _ = write.write_all(b"421 4.3.2 sink.drills service not available, closing\r\n").await;
                return;
            }
            Mode::Up => {}
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
        let reply: &[u8] = match verb.as_slice() {
            b"EHLO" | b"HELO" => b"250-sink.drills\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            b"DATA" => {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let mut id = None;
                let mut in_headers = true;
                loop {
                    line.clear();
                    if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    if in_headers {
                        if line == b"\r\n" {
                            in_headers = false;
                        } else if line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
                            let value = String::from_utf8_lossy(&line[11..]);
                            id = Some(value.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
                        }
                    }
                }
                // The end of data is where the server takes responsibility: a hang or a refusal
                // now means the message was not accepted.
                let now = *mode.borrow();
                match now {
                    Mode::Hang => return hold(lines).await,
                    Mode::Refuse => {
                        let _ = write.write_all(b"421 4.3.2 sink.drills service not available, closing\r\n").await;
                        return;
                    }
                    Mode::Up => {}
                }
                if write.write_all(b"250 2.0.0 queued\r\n").await.is_err() {
                    return;
                }
                inner.total.fetch_add(1, Ordering::SeqCst);
                if let Some(c) = inner.per_port.get(idx) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                let id = id.unwrap_or_else(|| "(no Message-ID)".to_owned());
                let mut ids = inner.ids.lock().unwrap_or_else(|p| p.into_inner());
                ids.entry(id).or_default().push(Received { port: idx, at: Instant::now() });
                continue;
            }
            b"QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
