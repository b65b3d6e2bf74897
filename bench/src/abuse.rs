//! The `abuse` scenario's parts: the flood of worst-case ingest requests sent at a source
//! that verifies Standard Webhooks signatures, the `/healthz` prober, and their figures.
//!
//! The attackers are a closed loop of senders, each on its own connection, cycling through
//! [`MIX`]: requests Warren must refuse, each built to cost it as much as a refusal can (the
//! largest body it takes, a signature header of thousands of candidates, as many and as
//! large headers as hyper reads, or one HMAC over the whole body). Beside them a prober asks
//! `/healthz` every [`PROBE_EVERY`] on a connection of its own, as a load balancer would: one
//! probe at a time, each timed from its send to its answer; a tick that comes while a probe
//! is still out is skipped (and counted), so a slow answer is not counted again in every
//! probe queued behind it.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use warren_shared::signing::SigningSecret;

use crate::{
    load::{BodyTemplate, Window},
    phase::Percentiles,
};

/// Candidates in a many-candidates signature header (Warren refuses more than 16 unchecked).
pub const CANDIDATES: usize = 2_000;

/// Warren's default `WARREN_MAX_BODY_BYTES`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How often `/healthz` is asked.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);

/// What the issue asks of `/healthz` under the flood: p99 under this many milliseconds.
pub const HEALTHZ_P99_BUDGET_MS: f64 = 50.0;

/// Headers hyper reads at most by default (more is a 431).
const HYPER_MAX_HEADERS: usize = 100;

/// Headers a request carries besides the padding: `host`, `content-type`,
/// `content-length`, `accept`, `webhook-id`, `webhook-timestamp`, `webhook-signature`, and
/// a margin for what the client adds.
const OWN_HEADERS: usize = 10;

/// The size of each padding header's value in a max-headers request: 90 of them, about
/// 360 KB, under hyper's 400 KiB read buffer.
const PAD_VALUE_BYTES: usize = 4_000;

/// One kind of worst-case request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The largest body Warren takes, a `webhook-signature` of [`CANDIDATES`] candidates:
    /// refused 401 before any HMAC.
    ManyCandidates,
    /// The largest body, 16 wrong candidates and a current timestamp: refused 401 after one
    /// HMAC over the whole body.
    WrongSignature,
    /// As `wrong-signature`, with as many headers as hyper reads (about 90 of 4,000 bytes).
    MaxHeaders,
    /// More headers than hyper reads (120): refused 431 before Warren sees the request
    /// (with a small body, which is never read).
    TooManyHeaders,
    /// One byte over the largest body, wrong signature: refused 413.
    OverBody,
}

impl Kind {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ManyCandidates => "many-candidates",
            Kind::WrongSignature => "wrong-signature",
            Kind::MaxHeaders => "max-headers",
            Kind::TooManyHeaders => "too-many-headers",
            Kind::OverBody => "over-body",
        }
    }
}

/// The attack's mix, one request of each entry in turn: 30 % many candidates, 30 % wrong
/// signatures, 20 % max headers, 10 % too many headers, 10 % over the body limit.
pub const MIX: [Kind; 10] = [
    Kind::ManyCandidates,
    Kind::WrongSignature,
    Kind::MaxHeaders,
    Kind::ManyCandidates,
    Kind::WrongSignature,
    Kind::TooManyHeaders,
    Kind::ManyCandidates,
    Kind::WrongSignature,
    Kind::MaxHeaders,
    Kind::OverBody,
];

/// A prepared request of one kind: everything but the id and the timestamp.
struct Prepared {
    kind: Kind,
    headers: HeaderMap,
    body: Bytes,
    /// Bytes sent: the body and the headers (name, value, `: ` and CRLF each).
    bytes: u64,
}

impl Prepared {
    fn new(kind: Kind, max_body: usize, wrong: &str) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let signature = match kind {
            Kind::ManyCandidates => vec![wrong; CANDIDATES].join(" "),
            _ => vec![wrong; 16].join(" "),
        };
        headers.insert("webhook-signature", HeaderValue::from_str(&signature)?);
        let pads = match kind {
            Kind::MaxHeaders => HYPER_MAX_HEADERS - OWN_HEADERS,
            Kind::TooManyHeaders => HYPER_MAX_HEADERS + 20,
            _ => 0,
        };
        let pad_value = match kind {
            Kind::MaxHeaders => "p".repeat(PAD_VALUE_BYTES),
            _ => "p".repeat(16),
        };
        for i in 0..pads {
            let name = HeaderName::from_bytes(format!("x-pad-{i:03}").as_bytes())?;
            headers.insert(name, HeaderValue::from_str(&pad_value)?);
        }
        let body_size = match kind {
            Kind::TooManyHeaders => 1_024,
            Kind::OverBody => max_body + 1,
            _ => max_body,
        };
        let body = BodyTemplate::new(body_size).render(0);
        let header_bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        Ok(Self {
            kind,
            headers,
            bytes: (body.len() + header_bytes) as u64,
            body,
        })
    }
}

/// What the attack recorded in the measured window.
#[derive(Debug)]
struct AttackTally {
    /// By answer (status, or `transport: …`): requests and bytes sent.
    by_status: BTreeMap<String, (u64, u64)>,
    /// By kind, then answer: requests.
    by_kind: BTreeMap<Kind, BTreeMap<String, u64>>,
    /// Time to the answer, in microseconds.
    latency_us: Histogram<u64>,
}

/// The flood.
pub struct Attack {
    client: reqwest::Client,
    url: String,
    prepared: Vec<Prepared>,
    window: Window,
    seq: AtomicU64,
    tally: Mutex<AttackTally>,
    cancel: CancellationToken,
}

/// The attack's settings, as reported.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AttackSettings {
    /// Closed-loop senders, one connection each.
    pub attackers: usize,
    /// The largest body Warren takes (what its bodies are, one byte more for `over-body`).
    pub max_body_bytes: usize,
    /// Candidates in a `many-candidates` signature header.
    pub candidates: usize,
}

impl Attack {
    /// A flood of `settings.attackers` senders on the verified source at `url`, over `window`.
    pub fn new(
        url: String,
        settings: AttackSettings,
        window: Window,
        cancel: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(60))
            .build()?;
        // A real signature, by a secret that is not the source's: it decodes, and is wrong.
        let other = SigningSecret::generate().sign("msg_bench", 0, b"");
        let wrong = other
            .split(' ')
            .next()
            .unwrap_or("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .to_owned();
        let mut prepared = Vec::new();
        for kind in [
            Kind::ManyCandidates,
            Kind::WrongSignature,
            Kind::MaxHeaders,
            Kind::TooManyHeaders,
            Kind::OverBody,
        ] {
            prepared.push(Prepared::new(kind, settings.max_body_bytes, &wrong)?);
        }
        Ok(Arc::new(Self {
            client,
            url,
            prepared,
            window,
            seq: AtomicU64::new(0),
            tally: Mutex::new(AttackTally {
                by_status: BTreeMap::new(),
                by_kind: BTreeMap::new(),
                latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            }),
            cancel,
        }))
    }

    /// Runs `attackers` senders to the end of the window.
    pub async fn run(self: &Arc<Self>, attackers: usize) {
        let senders: Vec<_> = (0..attackers)
            .map(|_| {
                let attack = self.clone();
                tokio::spawn(async move {
                    while Instant::now() < attack.window.end && !attack.cancel.is_cancelled() {
                        attack.send().await;
                    }
                })
            })
            .collect();
        for sender in senders {
            // Their counts are in the tally; one that panicked has said so on stderr.
            let _ = sender.await;
        }
    }

    async fn send(&self) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let kind = MIX[(seq % MIX.len() as u64) as usize];
        let Some(prepared) = self.prepared.iter().find(|p| p.kind == kind) else {
            return;
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let started = Instant::now();
        let answer = match self
            .client
            .post(&self.url)
            .headers(prepared.headers.clone())
            .header("webhook-id", format!("msg_abuse_{seq}"))
            .header("webhook-timestamp", timestamp.to_string())
            .body(prepared.body.clone())
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16().to_string();
                match response.bytes().await {
                    Ok(_) => status,
                    Err(_) => format!("{status}, then a transport error"),
                }
            }
            Err(error) => transport(&error),
        };
        if !self.window.measures(started) {
            return;
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        // Fails only past the histogram's ten minutes, beyond the client's timeout.
        let _ = tally.latency_us.record(micros.max(1));
        let entry = tally.by_status.entry(answer.clone()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += prepared.bytes;
        *tally
            .by_kind
            .entry(kind)
            .or_default()
            .entry(answer)
            .or_insert(0) += 1;
    }

    /// The attack's figures, once it is over.
    pub fn figures(&self, settings: AttackSettings) -> AttackFigures {
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = (self.window.end - self.window.measure_from).as_secs_f64();
        let by_status: BTreeMap<_, _> = tally
            .by_status
            .iter()
            .map(|(status, &(requests, bytes))| {
                let figures = StatusFigures {
                    requests,
                    requests_per_sec: requests as f64 / seconds,
                    bytes_per_sec: bytes as f64 / seconds,
                };
                (status.clone(), figures)
            })
            .collect();
        let requests: u64 = tally.by_status.values().map(|(r, _)| r).sum();
        let bytes: u64 = tally.by_status.values().map(|(_, b)| b).sum();
        AttackFigures {
            settings,
            mix: self
                .prepared
                .iter()
                .map(|p| KindFigures {
                    kind: p.kind,
                    share: MIX.iter().filter(|k| **k == p.kind).count() as f64 / MIX.len() as f64,
                    bytes_per_request: p.bytes,
                    headers: p.headers.len() + 2,
                    answers: tally.by_kind.get(&p.kind).cloned().unwrap_or_default(),
                })
                .collect(),
            measured_seconds: seconds,
            requests,
            requests_per_sec: requests as f64 / seconds,
            bytes_per_sec: bytes as f64 / seconds,
            by_status,
            latency_ms: Percentiles::of(&tally.latency_us),
        }
    }
}

fn transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() {
        "body"
    } else {
        "request"
    };
    format!("transport: {kind}")
}

/// One kind of request in the attack, and what it was answered.
#[derive(Debug, Clone, Serialize)]
pub struct KindFigures {
    /// The kind.
    pub kind: Kind,
    /// Its share of the requests sent.
    pub share: f64,
    /// Bytes in each (body and headers).
    pub bytes_per_request: u64,
    /// Headers in each, about (the client adds `host` and `content-length`).
    pub headers: usize,
    /// Answers in the measured window, by status or transport error.
    pub answers: BTreeMap<String, u64>,
}

/// Requests answered one way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StatusFigures {
    /// Requests in the measured window.
    pub requests: u64,
    /// Per second.
    pub requests_per_sec: f64,
    /// Bytes sent in them, per second.
    pub bytes_per_sec: f64,
}

/// What the flood sent and was answered, in the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct AttackFigures {
    /// Its settings.
    pub settings: AttackSettings,
    /// Each kind of request.
    pub mix: Vec<KindFigures>,
    /// The measured window, in seconds.
    pub measured_seconds: f64,
    /// Requests started in the window.
    pub requests: u64,
    /// Per second.
    pub requests_per_sec: f64,
    /// Bytes sent per second.
    pub bytes_per_sec: f64,
    /// By answer: status, or the transport error (a connection Warren closed or reset).
    pub by_status: BTreeMap<String, StatusFigures>,
    /// Time from sending to the answer.
    pub latency_ms: Option<Percentiles>,
}

/// What the `/healthz` prober saw in a measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeFigures {
    /// Probes sent in the window.
    pub probes: u64,
    /// Ticks skipped because the probe before was still out.
    pub skipped: u64,
    /// Of the probes, not answered 200 (or not at all).
    pub failures: u64,
    /// Time from each probe's send to its answer.
    pub latency_ms: Option<Percentiles>,
}

/// Asks `base_url/healthz` every [`PROBE_EVERY`] over `window` on a connection of its own,
/// one probe at a time, each timed from its send; ticks that come while a probe is out are
/// skipped.
pub async fn probe(base_url: &str, window: Window, cancel: CancellationToken) -> ProbeFigures {
    let mut figures = ProbeFigures {
        probes: 0,
        skipped: 0,
        failures: 0,
        latency_ms: None,
    };
    let client = match reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(_) => return figures,
    };
    let Ok(mut latency) = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3) else {
        return figures;
    };
    let url = format!("{base_url}/healthz");
    let mut due = window.start;
    while due < window.end && !cancel.is_cancelled() {
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        let ok = match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.is_ok() && status.as_u16() == 200
            }
            Err(_) => false,
        };
        let answered = Instant::now();
        let mut next = due + PROBE_EVERY;
        while next < answered {
            if window.measures(next) {
                figures.skipped += 1;
            }
            next += PROBE_EVERY;
        }
        if window.measures(sent) {
            figures.probes += 1;
            figures.failures += u64::from(!ok);
            let micros = u64::try_from((answered - sent).as_micros()).unwrap_or(u64::MAX);
            // Fails only past the histogram's ten minutes, beyond the client's timeout.
            let _ = latency.record(micros.max(1));
        }
        due = next;
    }
    figures.latency_ms = Percentiles::of(&latency);
    figures
}

/// The `abuse` scenario's figures besides its two phases (legitimate ingest without and
/// during the attack).
#[derive(Debug, Clone, Serialize)]
pub struct AbuseFigures {
    /// `/healthz` with no attack.
    pub healthz_without: ProbeFigures,
    /// `/healthz` during the attack.
    pub healthz_during: ProbeFigures,
    /// Whether `/healthz`'s p99 during the attack was under [`HEALTHZ_P99_BUDGET_MS`].
    pub healthz_p99_under_budget: Option<bool>,
    /// The attack.
    pub attack: AttackFigures,
}

impl AbuseFigures {
    /// Puts the figures together.
    pub fn new(without: ProbeFigures, during: ProbeFigures, attack: AttackFigures) -> Self {
        Self {
            healthz_p99_under_budget: during.latency_ms.map(|p| p.p99 < HEALTHZ_P99_BUDGET_MS),
            healthz_without: without,
            healthz_during: during,
            attack,
        }
    }
}

/// `WARREN_MAX_BODY_BYTES` as the started Warren is given it, or Warren's default.
pub fn max_body_bytes(warren_env: &[String]) -> usize {
    warren_env
        .iter()
        .filter_map(|kv| kv.strip_prefix("WARREN_MAX_BODY_BYTES="))
        .filter_map(|v| v.trim().parse().ok())
        .next_back()
        .unwrap_or(DEFAULT_MAX_BODY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_limit_comes_from_the_last_setting() {
        assert_eq!(max_body_bytes(&[]), DEFAULT_MAX_BODY_BYTES);
        let env = [
            "WARREN_MAX_BODY_BYTES=10".to_owned(),
            "WARREN_MAX_BODY_BYTES=20".to_owned(),
        ];
        assert_eq!(max_body_bytes(&env), 20);
    }

    #[test]
    fn each_kind_is_built_as_described() {
        let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let many = Prepared::new(Kind::ManyCandidates, 1_000, wrong).expect("built");
        let signature = many.headers.get("webhook-signature").expect("a signature");
        assert_eq!(
            signature.to_str().expect("text").split(' ').count(),
            CANDIDATES
        );
        assert_eq!(many.body.len(), 1_000);
        let max = Prepared::new(Kind::MaxHeaders, 1_000, wrong).expect("built");
        assert!(max.headers.len() + 4 <= HYPER_MAX_HEADERS);
        assert!(max.bytes < 400 * 1024);
        let over = Prepared::new(Kind::TooManyHeaders, 1_000, wrong).expect("built");
        assert!(over.headers.len() > HYPER_MAX_HEADERS);
        let body = Prepared::new(Kind::OverBody, 1_000, wrong).expect("built");
        assert_eq!(body.body.len(), 1_001);
    }
}
