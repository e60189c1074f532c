//! A real SMTP server on loopback that keeps what it receives: enough of RFC 5321 for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT). It can answer RCPT with a chosen reply to
//! exercise transient and permanent failures.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<String>>>,
    /// When set, RCPT is answered with this line (e.g. `451 4.3.0 try later`).
    pub rcpt_reply: Arc<Mutex<Option<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            messages: Arc::default(),
            rcpt_reply: Arc::default(),
        };
        let accepting = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let session = accepting.clone();
                tokio::spawn(async move { session.serve(socket).await });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    async fn serve(&self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "EHLO" | "HELO" => "250-sink.test\r\n250 8BITMIME\r\n".to_owned(),
                "RCPT" => match self.rcpt_reply.lock().unwrap().clone() {
                    Some(custom) => format!("{custom}\r\n"),
                    None => "250 2.1.5 OK\r\n".to_owned(),
                },
                "DATA" => {
                    let _ = write.write_all(b"354 go ahead\r\n").await;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    self.messages.lock().unwrap().push(data);
                    "250 2.0.0 queued\r\n".to_owned()
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => "250 OK\r\n".to_owned(),
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// An SMTP server that never finishes its greeting: a continuation line (`220-`) every 300 ms.
/// Each read arrives well within a per-command timeout, so only a bound on the whole exchange
/// ends a send to it. Returns its port.
pub async fn start_dripping() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                while socket.write_all(b"220-still thinking\r\n").await.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            });
        }
    });
    port
}
