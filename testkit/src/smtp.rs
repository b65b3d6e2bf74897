//! A real SMTP server on the loopback: Python's aiosmtpd with the handler in
//! `tests/verifiers/smtp_sink.py`, which writes each mail it accepts as JSON, decoded as a
//! mail client reads it. Stopped (and its mails removed) when dropped.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

/// The running server.
pub struct TestSmtp {
    port: u16,
    dir: PathBuf,
    child: Child,
}

/// A port nothing listens on now (the system's pick, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The URL an SMTP server on `port` of the loopback has (plain SMTP, no login).
pub fn url_on(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

impl TestSmtp {
    /// Starts a server on a free port.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts a server on `port` and waits (up to 20 s) until it accepts connections.
    pub async fn start_on(port: u16) -> Self {
        let dir = std::env::temp_dir().join(crate::unique_name("smtp"));
        let verifiers = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verifiers");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "smtp_sink.JsonSink"])
            .arg(&dir)
            .env("PYTHONPATH", verifiers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting aiosmtpd (pip install -r tests/verifiers/requirements.txt): {e}")
            });
        let smtp = Self { port, dir, child };
        crate::eventually("aiosmtpd to listen", Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await;
        smtp
    }

    /// Its URL, as `WARREN_SMTP_URL` takes it.
    pub fn url(&self) -> String {
        url_on(self.port)
    }

    /// Every mail received so far, oldest first: `{"mail_from", "rcpt_tos", "from", "to",
    /// "subject", "content_type", "body"}`.
    pub fn mails(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|(_, path)| std::fs::read(path).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// Waits until at least `n` mails arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        crate::eventually(&format!("{n} mail(s)"), timeout, || async {
            let mails = self.mails();
            (mails.len() >= n).then_some(mails)
        })
        .await
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        // Best effort: a server already gone, or a folder never made, is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
