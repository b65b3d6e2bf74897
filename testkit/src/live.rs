//! socket.io clients for the live log: a real client (rust_socketio) that records every
//! event it receives, and the raw engine.io polling handshake, for a refused connection and
//! for a "browser" that connects and then never reads.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::FutureExt;
use rust_socketio::{
    Payload,
    asynchronous::{Client, ClientBuilder},
};
use serde_json::{Value, json};

/// A connected client and the events it received, in order.
pub struct LiveClient {
    client: Client,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    closed: Arc<AtomicBool>,
}

impl LiveClient {
    /// Connects to `base` (`http://127.0.0.1:<port>`) with `auth: {token}`.
    pub async fn connect(base: &str, token: &str) -> Self {
        Self::connect_with(ClientBuilder::new(base).auth(json!({"token": token}))).await
    }

    /// Connects to `base` as a browser does: no `auth`, the session cookie
    /// (`warren_session=<token>`) and its page's `Origin` on the handshake.
    pub async fn connect_with_cookie(base: &str, cookie: &str, origin: &str) -> Self {
        let builder = ClientBuilder::new(base)
            .opening_header("cookie", cookie)
            .opening_header("origin", origin);
        Self::connect_with(builder).await
    }

    async fn connect_with(builder: ClientBuilder) -> Self {
        let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (sink, close_flag) = (received.clone(), closed.clone());
        let client = builder
            .namespace("/")
            .reconnect(false)
            .on("close", move |_, _| {
                close_flag.store(true, Ordering::SeqCst);
                async {}.boxed()
            })
            .on_any(move |event, payload, _| {
                let sink = sink.clone();
                async move {
                    if let Payload::Text(values) = payload {
                        let value = values.into_iter().next().unwrap_or(Value::Null);
                        sink.lock()
                            .expect("the received lock")
                            .push((event.to_string(), value));
                    }
                }
                .boxed()
            })
            .connect()
            .await
            .expect("the socket.io client connects");
        let live = Self {
            client,
            received,
            closed,
        };
        // Lines flow once the gateway has bound this user's key; it says so.
        live.wait_for("live.ready", Duration::from_secs(15), |_| true)
            .await;
        live
    }

    /// The log lines received so far (every event but the gateway's own `live.ready`).
    pub fn lines(&self) -> Vec<(String, Value)> {
        self.received()
            .into_iter()
            .filter(|(event, _)| event != "live.ready")
            .collect()
    }

    /// Every event received so far.
    pub fn received(&self) -> Vec<(String, Value)> {
        self.received.lock().expect("the received lock").clone()
    }

    /// Waits for an event named `event` whose payload satisfies `matches`; panics after
    /// `timeout`.
    pub async fn wait_for(
        &self,
        event: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        match self.try_wait_for(event, timeout, matches).await {
            Some(payload) => payload,
            None => panic!(
                "no live `{event}` line within {timeout:?}; got {:?}",
                self.received()
            ),
        }
    }

    /// Like [`LiveClient::wait_for`], but `None` after `timeout`.
    pub async fn try_wait_for(
        &self,
        event: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self
                .received()
                .into_iter()
                .find(|(name, payload)| name == event && matches(payload))
                .map(|(_, payload)| payload);
            if found.is_some() || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the server disconnected this client within `timeout`.
    pub async fn closed_within(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.closed.load(Ordering::SeqCst) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Disconnects.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The engine.io polling transport, step by step.
pub struct Polling {
    http: reqwest::Client,
    url: String,
}

impl Polling {
    /// Opens an engine.io session and asks to join namespace `/` with `auth: {token}`;
    /// returns the session and the server's answer to the join (`40…` accepted, `44…`
    /// refused).
    pub async fn join(base: &str, token: &str) -> (Self, String) {
        Self::join_with(base, json!({"token": token}), &[]).await
    }

    /// Like [`Polling::join`], with any `auth` payload (`null` sends none) and these headers
    /// on the handshake (`cookie`, `origin`).
    pub async fn join_with(base: &str, auth: Value, headers: &[(&str, &str)]) -> (Self, String) {
        let http = reqwest::Client::new();
        let open = format!("{base}/socket.io/?EIO=4&transport=polling");
        let mut handshake = http.get(&open);
        for (name, value) in headers {
            handshake = handshake.header(*name, *value);
        }
        let handshake = handshake
            .send()
            .await
            .expect("the handshake")
            .text()
            .await
            .expect("text");
        let open_packet: Value =
            serde_json::from_str(handshake.trim_start_matches('0')).expect("an open packet");
        let sid = open_packet["sid"].as_str().expect("a session id");
        let url = format!("{open}&sid={sid}");
        let auth = match auth {
            Value::Null => "40".to_owned(),
            auth => format!("40{auth}"),
        };
        http.post(&url)
            .body(auth)
            .send()
            .await
            .expect("the connect packet");
        let polling = Self { http, url };
        let mut answer = None;
        for _ in 0..20 {
            // A poll may carry engine.io packets first (a ping is `2`); packets are separated
            // by the record separator. The join's answer is the first socket.io packet (`4…`);
            // an accepted socket then gets `live.ready` once it is in its user's room, and
            // only from then on is it sent lines.
            let body = polling.poll().await;
            for packet in body.split('\u{1e}') {
                if answer.is_none() && packet.starts_with('4') {
                    answer = Some(packet.to_owned());
                }
                if packet.starts_with("42") && packet.contains("\"live.ready\"") {
                    return (polling, answer.unwrap_or_default());
                }
            }
            if let Some(refused) = answer.as_ref().filter(|a| !a.starts_with("40")) {
                return (polling, refused.clone());
            }
        }
        panic!("the server never answered the join, or never said live.ready");
    }

    /// Polls once: whatever the server buffered for this session.
    pub async fn poll(&self) -> String {
        self.http
            .get(&self.url)
            .send()
            .await
            .expect("a poll")
            .text()
            .await
            .expect("text")
    }
}
