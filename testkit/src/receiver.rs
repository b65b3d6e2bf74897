//! A subscriber's server on port 0 that records every request (before answering) and
//! answers what the test says.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use tokio::sync::Notify;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path it was sent to.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, byte for byte.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// How to answer one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status to answer with.
    pub status: u16,
    /// How long to wait before answering.
    pub delay: Duration,
    /// How many bytes of body to answer with (all `x`).
    pub body_len: usize,
    /// A `Retry-After` header to answer with.
    pub retry_after: Option<String>,
}

impl Reply {
    /// Answer `status` at once.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            body_len: 0,
            retry_after: None,
        }
    }

    /// Answer `status` after `delay`.
    pub fn after(delay: Duration, status: u16) -> Self {
        Self {
            status,
            delay,
            body_len: 0,
            retry_after: None,
        }
    }

    /// Answer `status` with a body of `body_len` bytes.
    pub fn with_body(status: u16, body_len: usize) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            body_len,
            retry_after: None,
        }
    }

    /// Answer `status` with `Retry-After: <value>`.
    pub fn retry_after(status: u16, value: impl Into<String>) -> Self {
        Self {
            retry_after: Some(value.into()),
            ..Self::status(status)
        }
    }
}

type Plan = Arc<dyn Fn(usize, &Received) -> Reply + Send + Sync>;

struct Inner {
    received: Mutex<Vec<Received>>,
    plan: Mutex<Plan>,
    arrived: Notify,
}

/// The receiver; dropping it stops the server.
pub struct TestReceiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl TestReceiver {
    /// Starts a receiver that answers 200 to everything.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            received: Mutex::new(Vec::new()),
            plan: Mutex::new(Arc::new(|_, _| Reply::status(200))),
            arrived: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        let addr = listener.local_addr().expect("a local address");
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            inner,
            server,
        }
    }

    /// The URL of a path on this receiver (`/hook` → `http://127.0.0.1:<port>/hook`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers every request with `reply`.
    pub fn always(&self, reply: Reply) {
        self.plan(move |_, _| reply.clone());
    }

    /// Answers the n-th request (0-based) with `replies[n]`, and `then` after the list ends.
    pub fn sequence(&self, replies: Vec<Reply>, then: Reply) {
        self.plan(move |n, _| replies.get(n).cloned().unwrap_or_else(|| then.clone()));
    }

    /// Answers by a function of the request's index and the request.
    pub fn plan(&self, plan: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static) {
        *self.inner.plan.lock().expect("the plan lock") = Arc::new(plan);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .expect("the received lock")
            .clone()
    }

    /// Waits until at least `n` requests arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inner.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "the receiver got {} request(s) within {timeout:?}, expected {n}",
                    self.received().len()
                );
            }
        }
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let request = Received {
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
    };
    let reply = {
        let mut received = inner.received.lock().expect("the received lock");
        let plan = inner.plan.lock().expect("the plan lock").clone();
        let reply = plan(received.len(), &request);
        received.push(request);
        reply
    };
    inner.arrived.notify_waiters();
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        axum::response::IntoResponse::into_response((status, "x".repeat(reply.body_len)));
    if let Some(value) = reply.retry_after.as_deref().and_then(|v| v.parse().ok()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}
