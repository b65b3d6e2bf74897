//! The receiver: an HTTP server on 127.0.0.1, on a runtime (and threads) of its own so its
//! CPU can be told from the load generator's, that answers at once and records, per
//! delivery (`webhook-id`), its event (`x-warren-event-id`), when it first arrived, when it
//! was first answered 2xx, and how many times it came.
//!
//! `POST /hook` answers 500 to a configurable share of requests (spread evenly: in every
//! thousand answers exactly that share fail) and 200 to the rest; `POST /fail` always
//! answers 500 (the subscription the backlog is parked for).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use anyhow::Context;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use bytes::Bytes;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::machine::RECEIVER_THREAD;

/// What the receiver knows of one delivery.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Its event.
    pub event_id: Uuid,
    /// When its first attempt arrived.
    pub first_seen: Instant,
    /// When an attempt was first answered 2xx.
    pub succeeded_at: Option<Instant>,
    /// Attempts that arrived.
    pub answers: u32,
    /// Of them, answered 2xx.
    pub ok_answers: u32,
    /// Whether an attempt numbered `x-warren-max-attempts` was answered non-2xx: Warren gives
    /// up on it.
    pub dead: bool,
}

/// Running totals, cheap to read while the load runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Deliveries answered 2xx at least once.
    pub succeeded: AtomicU64,
    /// Deliveries whose last allowed attempt failed.
    pub dead: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests without the Warren headers (not counted anywhere else).
    pub foreign: AtomicU64,
}

/// Everything the receiver records.
pub struct Recorder {
    deliveries: Mutex<HashMap<Uuid, DeliveryRecord>>,
    /// Running totals.
    pub counters: Counters,
    failure_per_mille: u64,
    sequence: AtomicU64,
}

/// What one request said about itself.
struct Arrival {
    delivery_id: Uuid,
    event_id: Uuid,
    last_attempt: bool,
}

impl Recorder {
    fn new(failure_ratio: f64) -> Self {
        Self {
            deliveries: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            failure_per_mille: (failure_ratio * 1_000.0).round() as u64,
            sequence: AtomicU64::new(0),
        }
    }

    /// Whether the next `/hook` answer is a 500. A multiplier coprime with 1,000 spreads the
    /// failures evenly instead of in a run of hundreds.
    fn next_fails(&self) -> bool {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        n.wrapping_mul(7_919) % 1_000 < self.failure_per_mille
    }

    fn record(&self, arrival: Arrival, at: Instant, ok: bool) {
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        let record = deliveries
            .entry(arrival.delivery_id)
            .or_insert_with(|| DeliveryRecord {
                event_id: arrival.event_id,
                first_seen: at,
                succeeded_at: None,
                answers: 0,
                ok_answers: 0,
                dead: false,
            });
        record.answers += 1;
        if ok {
            record.ok_answers += 1;
            if record.succeeded_at.is_none() {
                record.succeeded_at = Some(at);
                self.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            }
        } else if arrival.last_attempt && !record.dead {
            record.dead = true;
            self.counters.dead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs `f` over every delivery recorded so far (holding the receiver up meanwhile: call
    /// it when the load is over).
    pub fn with_deliveries<T>(&self, f: impl FnOnce(&HashMap<Uuid, DeliveryRecord>) -> T) -> T {
        let deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        f(&deliveries)
    }
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it records.
    pub recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts on 127.0.0.1 on a free port, on two threads of its own.
    pub fn start(failure_ratio: f64) -> anyhow::Result<Self> {
        let recorder = Arc::new(Recorder::new(failure_ratio));
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the receiver")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(RECEIVER_THREAD)
            .enable_all()
            .build()
            .context("starting the receiver's runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(recorder.clone());
        std::thread::Builder::new()
            .name(RECEIVER_THREAD.into())
            .spawn(move || runtime.block_on(serve(listener, app, stopped)))
            .context("starting the receiver's thread")?;
        Ok(Self {
            addr,
            recorder,
            stop: Some(stop),
        })
    }

    /// The URL of a path on it.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(listener: std::net::TcpListener, app: Router, stopped: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("warren-bench: the receiver cannot listen: {error}");
            return;
        }
    };
    let shutdown = async {
        let _ = stopped.await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("warren-bench: the receiver stopped: {error}");
    }
}

fn router(recorder: Arc<Recorder>) -> Router {
    Router::new()
        .route("/hook", post(hook))
        .route("/slow", post(slow))
        .route("/fail", post(fail))
        .with_state(recorder)
}

/// Answers 200, or 500 for the configured share; records the delivery either way.
async fn hook(
    State(recorder): State<Arc<Recorder>>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    recorder.counters.requests.fetch_add(1, Ordering::Relaxed);
    let ok = !recorder.next_fails();
    match arrival(&headers) {
        Some(arrival) => recorder.record(arrival, at, ok),
        None => {
            recorder.counters.foreign.fetch_add(1, Ordering::Relaxed);
        }
    }
    if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// How long `/slow` takes to answer.
pub const SLOW: std::time::Duration = std::time::Duration::from_millis(500);

/// `/hook`, answered after [`SLOW`]: keeps deliveries in flight (the fault suite kills the
/// worker while they are).
async fn slow(
    State(recorder): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    tokio::time::sleep(SLOW).await;
    hook(State(recorder), headers, body).await
}

/// Always 500 (parked deliveries, if they ever come back).
async fn fail(State(recorder): State<Arc<Recorder>>, _body: Bytes) -> StatusCode {
    recorder.counters.requests.fetch_add(1, Ordering::Relaxed);
    StatusCode::INTERNAL_SERVER_ERROR
}

/// The delivery, event and attempt headers every Warren request carries.
fn arrival(headers: &HeaderMap) -> Option<Arrival> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| text(name).and_then(|v| v.parse::<u32>().ok());
    let delivery_id = text("webhook-id")?.parse().ok()?;
    let event_id = text("x-warren-event-id")?.parse().ok()?;
    let last_attempt = match (number("x-warren-attempt"), number("x-warren-max-attempts")) {
        (Some(attempt), Some(max)) => attempt >= max,
        _ => false,
    };
    Some(Arrival {
        delivery_id,
        event_id,
        last_attempt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_exactly_the_ratio_and_spread_out() {
        let recorder = Recorder::new(0.3);
        let fails: Vec<bool> = (0..1_000).map(|_| recorder.next_fails()).collect();
        assert_eq!(fails.iter().filter(|f| **f).count(), 300);
        let longest_run = fails.split(|f| !*f).map(<[bool]>::len).max().unwrap_or(0);
        assert!(longest_run < 10, "a run of {longest_run} failures");
    }

    #[test]
    fn a_delivery_counts_once_however_often_it_succeeds() {
        let recorder = Recorder::new(0.0);
        let arrival = || Arrival {
            delivery_id: Uuid::nil(),
            event_id: Uuid::nil(),
            last_attempt: false,
        };
        recorder.record(arrival(), Instant::now(), true);
        recorder.record(arrival(), Instant::now(), true);
        assert_eq!(recorder.counters.succeeded.load(Ordering::Relaxed), 1);
        recorder.with_deliveries(|d| assert_eq!(d[&Uuid::nil()].ok_answers, 2));
    }
}
