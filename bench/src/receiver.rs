//! The receiver: an HTTP server on 127.0.0.1, on a runtime (and threads) of its own so its
//! CPU can be told from the load generator's, that answers at once and records, per
//! delivery (`webhook-id`), its event (`x-warren-event-id`), when it first arrived, when it
//! was first answered 2xx, and how many times it came.
//!
//! `POST /hook` answers 500 to a configurable share of requests (spread evenly: in every
//! thousand answers exactly that share fail) and 200 to the rest; `POST /slow` is `/hook`
//! after half a second; `POST /fail` always answers 500 (the subscription the backlog is
//! parked for); `POST /flap` walks each delivery through 200, 500, 429 with `Retry-After`, a
//! timeout and a connection reset (see [`Flap`]); `POST /ordered/{k}` is `/hook` for the
//! `k`-th ordered subscription, its deliveries recorded with `k` and their order of arrival;
//! `POST /outage` is `/hook` while the receiver is up and, while it is down
//! ([`Recorder::set_down`]), resets the connection without an answer, as a receiver whose
//! process is gone would (the attempt recorded as failed).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode, body::Incoming, server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::{
    arrivals::{Arrival, arrival, arrivals},
    machine::RECEIVER_THREAD,
};

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
    /// The ordered subscription it came for (`/ordered/{k}`), if any.
    pub line: Option<u32>,
    /// The place of its first attempt among every attempt the receiver recorded (from 0).
    pub first_arrival: u64,
    /// The place of the attempt that finished it: the first answered 2xx, or the last
    /// allowed one answered non-2xx.
    pub finished_arrival: Option<u64>,
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
    /// Attempts recorded so far (taken under the deliveries' lock, so it orders them).
    arrivals: AtomicU64,
    /// Whether `/outage` is down.
    down: AtomicBool,
}

impl Recorder {
    fn new(failure_ratio: f64) -> Self {
        Self {
            deliveries: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            failure_per_mille: (failure_ratio * 1_000.0).round() as u64,
            sequence: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            down: AtomicBool::new(false),
        }
    }

    /// Takes `/outage` down (every request on it reset without an answer) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Whether `/outage` is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// Whether the next `/hook` answer is a 500. A multiplier coprime with 1,000 spreads the
    /// failures evenly instead of in a run of hundreds.
    fn next_fails(&self) -> bool {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        n.wrapping_mul(7_919) % 1_000 < self.failure_per_mille
    }

    fn record(&self, arrival: Arrival, at: Instant, ok: bool) {
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        let place = self.arrivals.fetch_add(1, Ordering::Relaxed);
        let record = deliveries
            .entry(arrival.delivery_id)
            .or_insert_with(|| DeliveryRecord {
                event_id: arrival.event_id,
                first_seen: at,
                succeeded_at: None,
                answers: 0,
                ok_answers: 0,
                dead: false,
                line: arrival.line,
                first_arrival: place,
                finished_arrival: None,
            });
        record.answers += 1;
        if ok {
            record.ok_answers += 1;
            if record.succeeded_at.is_none() {
                record.succeeded_at = Some(at);
                record.finished_arrival.get_or_insert(place);
                self.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            }
        } else if arrival.last_attempt && !record.dead {
            record.dead = true;
            record.finished_arrival.get_or_insert(place);
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
        let serving = recorder.clone();
        std::thread::Builder::new()
            .name(RECEIVER_THREAD.into())
            .spawn(move || runtime.block_on(serve(listener, serving, stopped)))
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
            // Fails only if the server has stopped already, which is what this asks.
            let _ = stop.send(());
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    recorder: Arc<Recorder>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("warren-bench: the receiver cannot listen: {error}");
            return;
        }
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        tokio::spawn(serve_connection(stream, recorder.clone()));
    }
}

/// Serves one connection (HTTP/1.1, keep-alive) until the client closes it or `/flap`
/// resets it.
async fn serve_connection(stream: tokio::net::TcpStream, recorder: Arc<Recorder>) {
    // A second handle on the socket, so a reset can be arranged while hyper owns the first.
    let Ok((stream, socket)) = stream.into_std().and_then(|stream| {
        let socket = stream.try_clone()?;
        Ok((tokio::net::TcpStream::from_std(stream)?, Arc::new(socket)))
    }) else {
        return;
    };
    let service = service_fn(move |request| respond(recorder.clone(), socket.clone(), request));
    // A connection ends here however it ends (reset on purpose too): no one is left to tell.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The connection was reset on purpose (the error hyper closes it with).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset by /flap")
    }
}

impl std::error::Error for Reset {}

async fn respond(
    recorder: Arc<Recorder>,
    socket: Arc<std::net::TcpStream>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Reset> {
    let (parts, body) = request.into_parts();
    // Read the body as any receiver would before answering (a batch's names its deliveries).
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    if parts.method != Method::POST {
        return Ok(answer(StatusCode::METHOD_NOT_ALLOWED));
    }
    let path = parts.uri.path();
    let status = match path {
        "/hook" => hook(&recorder, &parts.headers, &body, None),
        "/slow" => {
            tokio::time::sleep(SLOW).await;
            hook(&recorder, &parts.headers, &body, None)
        }
        "/fail" => {
            recorder.counters.requests.fetch_add(1, Ordering::Relaxed);
            StatusCode::INTERNAL_SERVER_ERROR
        }
        "/flap" => return flap(&recorder, &parts.headers, &socket).await,
        "/outage" if recorder.is_down() => return outage(&recorder, &parts.headers, &socket),
        "/outage" => hook(&recorder, &parts.headers, &body, None),
        _ => match ordered_line(path) {
            Some(line) => hook(&recorder, &parts.headers, &body, Some(line)),
            None => StatusCode::NOT_FOUND,
        },
    };
    Ok(answer(status))
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The path of the `k`-th ordered subscription.
pub fn ordered_path(line: usize) -> String {
    format!("/ordered/{line}")
}

/// `k` of `/ordered/{k}`.
fn ordered_line(path: &str) -> Option<u32> {
    path.strip_prefix("/ordered/")?.parse().ok()
}

/// Answers 200, or 500 for the configured share; records each delivery the request carries
/// either way (with the ordered subscription it came for, if any).
fn hook(recorder: &Recorder, headers: &HeaderMap, body: &[u8], line: Option<u32>) -> StatusCode {
    let at = Instant::now();
    recorder.counters.requests.fetch_add(1, Ordering::Relaxed);
    let ok = !recorder.next_fails();
    let carried = arrivals(headers, body);
    if carried.is_empty() {
        recorder.counters.foreign.fetch_add(1, Ordering::Relaxed);
    }
    for arrival in carried {
        recorder.record(Arrival { line, ..arrival }, at, ok);
    }
    if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// How long `/slow` takes to answer: keeps deliveries in flight (the fault suite stops the
/// worker while they are).
pub const SLOW: Duration = Duration::from_millis(500);

/// How long `/flap` holds a request it means to time out: longer than the fault suite's
/// subscription timeout ([`FLAP_TIMEOUT_MS`]).
const FLAP_HOLD: Duration = Duration::from_secs(3);

/// The delivery timeout, in milliseconds, of a subscription pointed at `/flap`.
pub const FLAP_TIMEOUT_MS: u32 = 1_000;

/// What `/flap` does with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flap {
    /// 200.
    Ok,
    /// 500.
    ServerError,
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// No answer within the subscription's timeout.
    Timeout,
    /// The connection reset (RST) without an answer.
    Reset,
}

impl Flap {
    const CYCLE: [Flap; 5] = [
        Flap::Ok,
        Flap::ServerError,
        Flap::TooManyRequests,
        Flap::Timeout,
        Flap::Reset,
    ];

    /// A delivery's attempts walk the cycle from a place its id picks: every kind of
    /// answer comes up about as often, and each delivery meets a 200 within five attempts.
    pub fn of(delivery_id: Uuid, attempt: u32) -> Flap {
        let start = (delivery_id.as_u128() % 5) as usize;
        Self::CYCLE[(start + attempt.saturating_sub(1) as usize) % Self::CYCLE.len()]
    }
}

/// A `/flap` or `/outage` request counted, and when it came with the one delivery it
/// carries (none: counted as foreign).
fn counted(recorder: &Recorder, headers: &HeaderMap) -> (Instant, Option<Arrival>) {
    let at = Instant::now();
    recorder.counters.requests.fetch_add(1, Ordering::Relaxed);
    let carried = arrival(headers);
    if carried.is_none() {
        recorder.counters.foreign.fetch_add(1, Ordering::Relaxed);
    }
    (at, carried)
}

async fn flap(
    recorder: &Recorder,
    headers: &HeaderMap,
    socket: &std::net::TcpStream,
) -> Result<Response<Full<Bytes>>, Reset> {
    let (at, arrival) = counted(recorder, headers);
    let Some(arrival) = arrival else {
        return Ok(answer(StatusCode::OK));
    };
    let flap = Flap::of(arrival.delivery_id, arrival.attempt);
    recorder.record(arrival, at, flap == Flap::Ok);
    match flap {
        Flap::Ok => Ok(answer(StatusCode::OK)),
        Flap::ServerError => Ok(answer(StatusCode::INTERNAL_SERVER_ERROR)),
        Flap::TooManyRequests => {
            let mut response = answer(StatusCode::TOO_MANY_REQUESTS);
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            Ok(response)
        }
        Flap::Timeout => {
            tokio::time::sleep(FLAP_HOLD).await;
            Ok(answer(StatusCode::GATEWAY_TIMEOUT))
        }
        Flap::Reset => reset(socket),
    }
}

/// `/outage` while it is down: the attempt recorded as failed, the connection reset.
fn outage(
    recorder: &Recorder,
    headers: &HeaderMap,
    socket: &std::net::TcpStream,
) -> Result<Response<Full<Bytes>>, Reset> {
    if let (at, Some(arrival)) = counted(recorder, headers) {
        recorder.record(arrival, at, false);
    }
    reset(socket)
}

/// Ends the request with a reset (RST) of its connection instead of an answer.
fn reset(socket: &std::net::TcpStream) -> Result<Response<Full<Bytes>>, Reset> {
    // A zero linger turns the close that follows the error into a reset. Should setting it
    // fail, the close is an orderly one: still no answer, which is all a caller needs.
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
    Err(Reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver that never fails, and a client for it.
    fn started() -> (Receiver, reqwest::Client) {
        let receiver = Receiver::start(0.0).expect("a receiver");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        (receiver, client)
    }

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
            attempt: 1,
            last_attempt: false,
            line: None,
        };
        recorder.record(arrival(), Instant::now(), true);
        recorder.record(arrival(), Instant::now(), true);
        assert_eq!(recorder.counters.succeeded.load(Ordering::Relaxed), 1);
        recorder.with_deliveries(|d| assert_eq!(d[&Uuid::nil()].ok_answers, 2));
    }

    #[tokio::test]
    async fn ordered_paths_record_their_line_and_the_order_of_arrival() {
        let (receiver, client) = started();
        let deliveries: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for (i, delivery) in deliveries.iter().enumerate() {
            let answer = client
                .post(receiver.url(&ordered_path(i % 2)))
                .header("webhook-id", delivery.to_string())
                .header("x-warren-event-id", Uuid::now_v7().to_string())
                .body("{}")
                .send()
                .await
                .expect("an answer");
            assert_eq!(answer.status(), 200);
        }
        let answer = client
            .post(receiver.url("/ordered/x"))
            .body("{}")
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 404);
        receiver.recorder.with_deliveries(|d| {
            for (i, delivery) in deliveries.iter().enumerate() {
                assert_eq!(d[delivery].line, Some(i as u32 % 2));
                assert_eq!(d[delivery].first_arrival, i as u64);
                assert_eq!(d[delivery].finished_arrival, Some(i as u64));
            }
        });
    }

    #[tokio::test]
    async fn outage_resets_every_request_while_down_and_answers_once_back_up() {
        let (receiver, client) = started();
        let delivery = Uuid::now_v7();
        let send = || {
            client
                .post(receiver.url("/outage"))
                .header("webhook-id", delivery.to_string())
                .header("x-warren-event-id", Uuid::now_v7().to_string())
                .body("{}")
                .send()
        };
        receiver.recorder.set_down(true);
        for _ in 0..2 {
            let error = send().await.expect_err("no answer while down");
            assert!(
                format!("{error:?}").contains("ConnectionReset"),
                "{error:?}"
            );
        }
        receiver.recorder.set_down(false);
        assert_eq!(send().await.expect("an answer").status(), 200);
        receiver.recorder.with_deliveries(|d| {
            assert_eq!(d[&delivery].answers, 3);
            assert_eq!(d[&delivery].ok_answers, 1);
        });
        assert_eq!(
            receiver.recorder.counters.succeeded.load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn every_delivery_meets_each_flap_once_in_five_attempts() {
        for _ in 0..100 {
            let delivery = Uuid::now_v7();
            let flaps: Vec<Flap> = (1..=5).map(|attempt| Flap::of(delivery, attempt)).collect();
            for flap in Flap::CYCLE {
                assert_eq!(flaps.iter().filter(|f| **f == flap).count(), 1, "{flaps:?}");
            }
        }
    }

    #[tokio::test]
    async fn flap_answers_each_way_it_says() {
        let receiver = Receiver::start(0.0).expect("a receiver");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(u64::from(FLAP_TIMEOUT_MS)))
            .build()
            .expect("a client");
        let delivery = Uuid::now_v7();
        for attempt in 1..=5u32 {
            let sent = client
                .post(receiver.url("/flap"))
                .header("webhook-id", delivery.to_string())
                .header("x-warren-event-id", Uuid::now_v7().to_string())
                .header("x-warren-attempt", attempt.to_string())
                .header("x-warren-max-attempts", "8")
                .body("{}")
                .send()
                .await;
            match Flap::of(delivery, attempt) {
                Flap::Ok => assert_eq!(sent.expect("an answer").status(), 200),
                Flap::ServerError => assert_eq!(sent.expect("an answer").status(), 500),
                Flap::TooManyRequests => {
                    let answer = sent.expect("an answer");
                    assert_eq!(answer.status(), 429);
                    assert_eq!(answer.headers()["retry-after"], "1");
                }
                Flap::Timeout => assert!(sent.expect_err("no answer in time").is_timeout()),
                Flap::Reset => {
                    let error = sent.expect_err("no answer at all");
                    assert!(
                        format!("{error:?}").contains("ConnectionReset"),
                        "{error:?}"
                    );
                }
            }
        }
        receiver.recorder.with_deliveries(|d| {
            assert_eq!(d[&delivery].answers, 5);
            assert_eq!(d[&delivery].ok_answers, 1);
        });
    }
}
