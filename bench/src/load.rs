//! The load generator: `POST /ingest/{token}` with JSON bodies of a chosen size, in a closed
//! loop (N senders, each waiting for its answer), an open loop (a fixed rate whatever the
//! answers do), or paced streams (N senders keeping to a rate between them, each sending its
//! own numbered events one after the other). Every answer is tallied: its latency (from the
//! intended send time in the open loop and the streams, so a stall of Warren's shows instead
//! of silently slowing the sender), its status, and, for a 202, the event id and the
//! deliveries it made (and its place in its stream), to match with the receiver.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::settings::LoadShape;

/// A JSON body of exactly the chosen size, with a per-request sequence number written in.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    bytes: Vec<u8>,
    seq_at: usize,
}

/// Digits of the sequence number.
const SEQ_DIGITS: usize = 12;

impl BodyTemplate {
    /// `{"type":"bench.event","seq":"000000000000","pad":"xx…"}`, padded to `size` bytes
    /// (or as short as that can be).
    pub fn new(size: usize) -> Self {
        let head = format!(
            "{{\"type\":\"bench.event\",\"seq\":\"{}\",\"pad\":\"",
            "0".repeat(SEQ_DIGITS)
        );
        let tail = "\"}";
        let pad = size.saturating_sub(head.len() + tail.len());
        let text = format!("{head}{}{tail}", "x".repeat(pad));
        let seq_at = head.find("\"seq\":\"").map_or(0, |i| i + 7);
        Self {
            bytes: text.into_bytes(),
            seq_at,
        }
    }

    /// The body for request `seq`.
    pub fn render(&self, seq: u64) -> Bytes {
        let mut bytes = self.bytes.clone();
        let digits = format!(
            "{:0width$}",
            seq % 10u64.pow(SEQ_DIGITS as u32),
            width = SEQ_DIGITS
        );
        bytes[self.seq_at..self.seq_at + SEQ_DIGITS].copy_from_slice(digits.as_bytes());
        Bytes::from(bytes)
    }

    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the body is empty (never).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// When a phase's load starts, when its measurement starts, and when both end.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The first send.
    pub start: Instant,
    /// The end of the warm-up.
    pub measure_from: Instant,
    /// No send is started at or after this.
    pub end: Instant,
}

impl Window {
    /// A window starting now.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            measure_from: start + warmup,
            end: start + warmup + duration,
        }
    }

    /// Whether a send intended at `at` is measured.
    pub fn measures(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.end
    }
}

/// An accepted event.
#[derive(Debug, Clone, Copy)]
pub struct SentEvent {
    /// When it was meant to be sent (when it was sent, in the closed loop).
    pub intended: Instant,
    /// Whether it was sent inside the measurement.
    pub measured: bool,
    /// Deliveries Warren made for it.
    pub deliveries: u32,
    /// Its place in its sender's stream (streams only).
    pub stream: Option<StreamPosition>,
}

/// Where an event is in the stream of the sender that sent it. A sender sends each event
/// of its stream only once the one before it was answered, so the events a stream got 202s
/// for committed in the order of their `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// The sender (stream).
    pub stream: u32,
    /// The event's number in the stream, from 0.
    pub seq: u64,
}

/// Everything the load recorded.
#[derive(Debug)]
pub struct Tally {
    /// Ingest latency of measured requests, whatever the answer, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The same, of the requests answered 202 only.
    pub accepted_latency_us: Histogram<u64>,
    /// Measured requests sent.
    pub sent: u64,
    /// Measured requests answered 202.
    pub accepted: u64,
    /// Answers other than 202 (by status) and failed requests (by kind), measured or not.
    pub errors: BTreeMap<String, u64>,
    /// Every accepted event, warm-up included.
    pub events: HashMap<Uuid, SentEvent>,
}

impl Tally {
    /// An empty tally.
    pub(crate) fn new() -> Self {
        Self {
            latency_us: histogram(),
            accepted_latency_us: histogram(),
            sent: 0,
            accepted: 0,
            errors: BTreeMap::new(),
            events: HashMap::new(),
        }
    }

    /// Deliveries Warren said it made, for every accepted event.
    pub fn expected_deliveries(&self) -> u64 {
        self.events.values().map(|e| u64::from(e.deliveries)).sum()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// What ingest answered.
enum Answer {
    Accepted { id: Uuid, deliveries: u32 },
    Refused(String),
}

#[derive(Deserialize)]
struct Accepted {
    id: Uuid,
    deliveries: u32,
}

/// The shared state of one phase's load.
pub struct Load {
    client: reqwest::Client,
    url: String,
    body: BodyTemplate,
    window: Window,
    seq: AtomicU64,
    tally: Mutex<Tally>,
    /// Deliveries promised by 202 answers so far (read while draining).
    pub expected: AtomicU64,
    cancel: CancellationToken,
}

impl Load {
    /// A load on `url` over `window`.
    pub fn new(
        client: reqwest::Client,
        url: String,
        body: BodyTemplate,
        window: Window,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            url,
            body,
            window,
            seq: AtomicU64::new(0),
            tally: Mutex::new(Tally::new()),
            expected: AtomicU64::new(0),
            cancel,
        })
    }

    /// Runs the load to the end of its window; returns once every request has been answered.
    pub async fn run(self: &Arc<Self>, shape: LoadShape) {
        match shape {
            LoadShape::Closed { concurrency } => self.closed(concurrency).await,
            LoadShape::Open {
                rate,
                max_in_flight,
            } => self.open(rate, max_in_flight).await,
            LoadShape::Streams { streams, rate } => self.streams(streams, rate).await,
        }
    }

    /// Reads the tally so far.
    pub fn with_tally<T>(&self, f: impl FnOnce(&Tally) -> T) -> T {
        f(&self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The tally, once the load is over.
    pub fn into_tally(self: Arc<Self>) -> Tally {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *tally, Tally::new())
    }

    fn stopped(&self) -> bool {
        Instant::now() >= self.window.end || self.cancel.is_cancelled()
    }

    async fn closed(self: &Arc<Self>, concurrency: usize) {
        let senders: Vec<_> = (0..concurrency)
            .map(|_| {
                let load = self.clone();
                tokio::spawn(async move {
                    while !load.stopped() {
                        load.send(Instant::now(), None).await;
                    }
                })
            })
            .collect();
        for sender in senders {
            // Their counts are in the tally; one that panicked has said so on stderr.
            let _ = sender.await;
        }
    }

    /// Request `i` is due at `start + i / rate`; each is its own task, so a slow answer never
    /// delays the next send. Past `max_in_flight`, requests wait for a slot, and that wait
    /// counts in their latency.
    async fn open(self: &Arc<Self>, rate: f64, max_in_flight: usize) {
        let slots = Arc::new(Semaphore::new(max_in_flight));
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut tasks = JoinSet::new();
        for i in 0u64.. {
            let due = self.window.start + period.mul_f64(i as f64);
            if due >= self.window.end || self.cancel.is_cancelled() {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let (load, slots) = (self.clone(), slots.clone());
            tasks.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                load.send(due, None).await;
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    /// `streams` senders, sender `s` sending the events of stream `s` one after the other:
    /// event `j` of stream `s` is due at `start + (j * streams + s) / rate`, so the streams
    /// interleave evenly; a sender still waiting for an earlier answer sends late, and its
    /// latency counts from the due time.
    async fn streams(self: &Arc<Self>, streams: usize, rate: f64) {
        let period = Duration::from_secs_f64(1.0 / rate);
        let senders: Vec<_> = (0..streams)
            .map(|s| {
                let load = self.clone();
                tokio::spawn(async move {
                    let stream = u32::try_from(s).unwrap_or(u32::MAX);
                    for seq in 0u64.. {
                        let slot = seq * streams as u64 + s as u64;
                        let intended = load.window.start + period.mul_f64(slot as f64);
                        if intended >= load.window.end || load.cancel.is_cancelled() {
                            break;
                        }
                        tokio::time::sleep_until(intended.into()).await;
                        load.send(intended, Some(StreamPosition { stream, seq }))
                            .await;
                    }
                })
            })
            .collect();
        for sender in senders {
            // Their counts are in the tally; one that panicked has said so on stderr.
            let _ = sender.await;
        }
    }

    async fn send(&self, intended: Instant, stream: Option<StreamPosition>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let answer = self.post(seq).await;
        let done = Instant::now();
        self.record(intended, done, answer, stream);
    }

    async fn post(&self, seq: u64) -> Answer {
        let request = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.render(seq));
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Answer::Refused(transport_kind(&error)),
        };
        let status = response.status();
        let body = response.bytes().await;
        match (status.as_u16(), body) {
            (202, Ok(body)) => match serde_json::from_slice::<Accepted>(&body) {
                Ok(a) => Answer::Accepted {
                    id: a.id,
                    deliveries: a.deliveries,
                },
                Err(_) => Answer::Refused("202 with an unreadable body".into()),
            },
            (_, Err(error)) => Answer::Refused(transport_kind(&error)),
            (code, Ok(_)) => Answer::Refused(code.to_string()),
        }
    }

    fn record(
        &self,
        intended: Instant,
        done: Instant,
        answer: Answer,
        stream: Option<StreamPosition>,
    ) {
        let measured = self.window.measures(intended);
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let micros = u64::try_from(done.duration_since(intended).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if measured {
            tally.sent += 1;
            // Fails only past the histogram's ten minutes: no run falls that far behind.
            let _ = tally.latency_us.record(micros);
        }
        match answer {
            Answer::Accepted { id, deliveries } => {
                if measured {
                    tally.accepted += 1;
                    // As above.
                    let _ = tally.accepted_latency_us.record(micros);
                }
                self.expected
                    .fetch_add(u64::from(deliveries), Ordering::Relaxed);
                let event = SentEvent {
                    intended,
                    measured,
                    deliveries,
                    stream,
                };
                tally.events.insert(id, event);
            }
            Answer::Refused(kind) => *tally.errors.entry(kind).or_insert(0) += 1,
        }
    }
}

fn transport_kind(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("transport: {kind}")
}

/// An HTTP client for the load: keep-alive, an idle pool as large as the load needs, no
/// proxy, HTTP/1.1 (what providers send).
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(60))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_the_chosen_size_and_is_json() {
        let template = BodyTemplate::new(1_024);
        let body = template.render(42);
        assert_eq!(body.len(), 1_024);
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(json["seq"], "000000000042");
        assert_eq!(json["type"], "bench.event");
    }

    #[test]
    fn a_tiny_size_still_makes_valid_json() {
        let body = BodyTemplate::new(1).render(7);
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
    }

    #[test]
    fn only_sends_inside_the_window_are_measured() {
        let window = Window::starting_now(Duration::from_secs(1), Duration::from_secs(1));
        assert!(!window.measures(window.start));
        assert!(window.measures(window.measure_from));
        assert!(!window.measures(window.end));
    }
}
