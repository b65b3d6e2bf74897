//! The outbound HTTP client: no redirects followed, no proxy from the environment, the SSRF
//! guard applied to every address DNS returns (so the address checked is the address
//! connected to) and to IP-literal targets, and at most 16 KiB of any answer read.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Client, redirect};
use time::OffsetDateTime;
use warren_shared::{
    model::ErrorKind,
    ssrf::{Blocked, GuardedResolver, SsrfGuard, check_literal},
};

use crate::{
    error::{self, Result},
    outbound::Outbound,
};

/// The most of an answer's body read and kept.
pub const EXCERPT_LIMIT: usize = 16 * 1024;

/// What one HTTP try came to.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// When the try began.
    pub started_at: OffsetDateTime,
    /// How long it took, answer body included.
    pub duration: Duration,
    /// The answer's status, if one came.
    pub status_code: Option<u16>,
    /// Why it failed; `None` for a 2xx.
    pub error_kind: Option<ErrorKind>,
    /// The start of the answer's body, or what went wrong.
    pub excerpt: Option<String>,
    /// How long a 429 or 503 asked to wait (`Retry-After`, seconds or an HTTP date).
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    /// When the attempt ended.
    pub fn ended_at(&self) -> OffsetDateTime {
        self.started_at + self.duration
    }

    /// Whether the receiver accepted the delivery (a 2xx).
    pub fn succeeded(&self) -> bool {
        self.error_kind.is_none()
    }
}

/// The client; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: Client,
    guard: SsrfGuard,
}

impl HttpClient {
    /// A client guarded by `guard`.
    pub fn new(guard: SsrfGuard) -> Result<Self> {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self { client, guard })
    }

    /// Sends the request and classifies what came back. Never fails: every outcome is an
    /// attempt to record.
    pub async fn send(&self, outbound: Outbound) -> AttemptResult {
        let started_at = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let answer = self.exchange(outbound).await;
        AttemptResult {
            started_at,
            duration: clock.elapsed(),
            status_code: answer.status_code,
            error_kind: answer.error_kind,
            excerpt: answer.excerpt,
            retry_after: answer.retry_after,
        }
    }

    async fn exchange(&self, outbound: Outbound) -> Answer {
        if let Err(blocked) = self.check_literal(&outbound.url) {
            return Answer::failed(ErrorKind::SsrfBlocked, blocked.to_string());
        }
        let sent = self
            .client
            .post(&outbound.url)
            .headers(outbound.headers)
            .body(outbound.body)
            .timeout(outbound.timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => {
                let (kind, text) = classify(&error);
                return Answer::failed(kind, text);
            }
        };
        let status = response.status();
        let retry_after = match status.as_u16() {
            429 | 503 => response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(retry_after),
            _ => None,
        };
        let (body, body_error) = read_excerpt(&mut response).await;
        let kind = match (status.as_u16(), body_error) {
            (200..=299, None) => None,
            (200..=299, Some(kind)) => Some(kind),
            (300..=399, _) => Some(ErrorKind::Redirect),
            _ => Some(ErrorKind::HttpStatus),
        };
        Answer {
            status_code: Some(status.as_u16()),
            error_kind: kind,
            excerpt: Some(body),
            retry_after,
        }
    }

    /// IP-literal targets never reach the resolver, so they are checked here.
    fn check_literal(&self, url: &str) -> Result<(), Blocked> {
        check_literal(&self.guard, url)
    }
}

/// What came back from one exchange.
struct Answer {
    status_code: Option<u16>,
    error_kind: Option<ErrorKind>,
    excerpt: Option<String>,
    retry_after: Option<Duration>,
}

impl Answer {
    fn failed(kind: ErrorKind, text: String) -> Self {
        Self {
            status_code: None,
            error_kind: Some(kind),
            excerpt: Some(text),
            retry_after: None,
        }
    }
}

/// A `Retry-After` value: whole seconds, or an HTTP date (a date in the past means now).
fn retry_after(value: &http::HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Reads at most [`EXCERPT_LIMIT`] bytes of the body and stops, so a receiver that streams
/// gigabytes costs nothing. A body cut short by the timeout or a reset is reported.
async fn read_excerpt(response: &mut reqwest::Response) -> (String, Option<ErrorKind>) {
    let mut bytes = Vec::new();
    let mut failure = None;
    while bytes.len() < EXCERPT_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => {
                failure = Some(if error.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Body
                });
                break;
            }
        }
    }
    bytes.truncate(EXCERPT_LIMIT);
    (excerpt_text(&bytes), failure)
}

/// The answer's bytes as text PostgreSQL can store: invalid UTF-8 and NUL characters (which
/// a `text` column refuses) become U+FFFD.
fn excerpt_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// The error kind of a failed send, and a short description for the attempt log.
fn classify(error: &reqwest::Error) -> (ErrorKind, String) {
    if let Some(blocked) = find_cause::<Blocked>(error) {
        return (ErrorKind::SsrfBlocked, blocked.to_string());
    }
    let chain = error::chain(error);
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
        ErrorKind::Tls
    } else if error.is_redirect() {
        ErrorKind::Redirect
    } else {
        ErrorKind::Connect
    };
    (kind, chain)
}

fn find_cause<'e, T: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_never_holds_a_nul_or_invalid_utf8() {
        assert_eq!(excerpt_text(b"ok\0\xffdone"), "ok\u{FFFD}\u{FFFD}done");
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let header = |v: &str| http::HeaderValue::from_str(v).expect("a header value");
        assert_eq!(retry_after(&header("120")), Some(Duration::from_secs(120)));
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(60);
        let date = retry_after(&header(&httpdate::fmt_http_date(in_a_minute))).expect("a date");
        assert!(
            date <= Duration::from_secs(60) && date >= Duration::from_secs(58),
            "{date:?}"
        );
        assert_eq!(
            retry_after(&header("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&header("soon")), None);
    }
}
