//! The request a subscriber receives: the exact bytes (or the rendered template), signed with
//! Standard Webhooks, with Warren's headers and the subscription's own. A pure function of
//! the job, the attempt and the clock.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    signing::{SigningSecret, signature_header},
    template::{self, TemplateError, TemplateInput},
};

use crate::store::Job;

/// A request ready to send.
#[derive(Debug)]
pub struct Outbound {
    /// The target.
    pub url: String,
    /// Every header.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The subscription's timeout.
    pub timeout: std::time::Duration,
}

/// Builds attempt `attempt` of a job, identified to the receiver as `attempt_id`.
pub fn build(
    job: &Job,
    attempt: u32,
    attempt_id: Uuid,
    now: OffsetDateTime,
) -> Result<Outbound, TemplateError> {
    let (body, content_type) = body(job)?;
    let mut request = signed(job, &job.delivery_id.to_string(), body, content_type, now);
    let last_attempt = job.round_start + job.subscription.max_attempts;
    let headers = &mut request.headers;
    set(headers, "x-warren-event-id", job.event_id.to_string());
    set(headers, "x-warren-event-type", job.event.event_type.clone());
    set(headers, "x-warren-attempt", attempt.to_string());
    set(headers, "x-warren-max-attempts", last_attempt.to_string());
    set(headers, "x-request-id", attempt_id.to_string());
    Ok(request)
}

/// Builds one request carrying every job of a batch (docs/API.md, "Batches"), identified to
/// the receiver as `batch_id` (its `webhook-id` and `x-request-id`). The jobs are of one
/// subscription; the last one loaded gives its settings (target, keys, headers, timeout).
/// `None` for no jobs.
pub fn build_batch(jobs: &[&Job], batch_id: Uuid, now: OffsetDateTime) -> Option<Outbound> {
    let newest = jobs.last()?;
    let body = batch_body(batch_id, jobs);
    let id = batch_id.to_string();
    let mut request = signed(newest, &id, body, "application/json".into(), now);
    set(
        &mut request.headers,
        "x-warren-batch-size",
        jobs.len().to_string(),
    );
    set(&mut request.headers, "x-request-id", id);
    Some(request)
}

/// Whether a job can travel in a batch: its body is JSON, which the batch's body embeds as
/// it was sent. Anything else goes alone, as without `batch`.
pub fn batchable(job: &Job) -> bool {
    job.event.is_json
        && serde_json::from_slice::<serde::de::IgnoredAny>(&job.event.raw_body).is_ok()
}

/// `{"batch_id", "events": [{"id", "delivery_id", "event_type", "received_at", "payload"}]}`,
/// each payload the exact bytes received (JSON, see [`batchable`]).
fn batch_body(batch_id: Uuid, jobs: &[&Job]) -> Bytes {
    let size = jobs
        .iter()
        .map(|j| j.event.raw_body.len() + 200)
        .sum::<usize>()
        + 64;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(format!("{{\"batch_id\":\"{batch_id}\",\"events\":[").as_bytes());
    for (at, job) in jobs.iter().enumerate() {
        if at > 0 {
            body.push(b',');
        }
        let head = format!(
            "{{\"id\":\"{}\",\"delivery_id\":\"{}\",\"event_type\":{},\"received_at\":{},\"payload\":",
            job.event_id,
            job.delivery_id,
            serde_json::Value::from(job.event.event_type.as_str()),
            serde_json::Value::from(rfc3339(job.event.received_at)),
        );
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(&job.event.raw_body);
        body.push(b'}');
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A request to the job's subscription with `body`, signed as message `msg_id`, with the
/// headers every request carries.
fn signed(
    job: &Job,
    msg_id: &str,
    body: Bytes,
    content_type: String,
    now: OffsetDateTime,
) -> Outbound {
    let timestamp = now.unix_timestamp();
    let signature = signature_header(&job.secrets(now), msg_id, timestamp, &body);
    let mut headers = HeaderMap::new();
    // The subscription's own headers go first so Warren's always win (validation already
    // refuses the reserved names; this keeps that true whatever the database holds).
    for (name, value) in &job.subscription.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    set(&mut headers, "content-type", content_type);
    set(&mut headers, "webhook-id", msg_id.to_owned());
    set(&mut headers, "webhook-timestamp", timestamp.to_string());
    set(&mut headers, "webhook-signature", signature);
    set(
        &mut headers,
        "x-timeout-ms",
        job.subscription.timeout_ms.to_string(),
    );
    set(
        &mut headers,
        "user-agent",
        format!("Warren/{}", warren_shared::VERSION),
    );
    Outbound {
        url: job.subscription.target_url.clone(),
        headers,
        body,
        timeout: std::time::Duration::from_millis(job.subscription.timeout_ms.into()),
    }
}

/// Sets a header, leaving out a value that cannot be one.
fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}

/// The exact bytes received with their content type, or the rendered template (sent as
/// JSON when it is JSON, else as text).
fn body(job: &Job) -> Result<(Bytes, String), TemplateError> {
    match &job.subscription.payload_template {
        None => {
            let content_type = job
                .event
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            Ok((job.event.raw_body.clone(), content_type))
        }
        Some(template) => {
            let received_at = rfc3339(job.event.received_at);
            let input = TemplateInput {
                payload: job.event.payload.as_ref(),
                event_id: &job.event_id.to_string(),
                event_type: &job.event.event_type,
                received_at: &received_at,
            };
            let rendered = template::render(template, &input)?;
            // Templates are usually JSON; anything else goes out as text.
            let content_type = if serde_json::from_str::<serde::de::IgnoredAny>(&rendered).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            Ok((Bytes::from(rendered), content_type.into()))
        }
    }
}

impl Job {
    /// The secrets that sign now: the current one, and the previous one while its rotation
    /// overlap lasts.
    pub fn secrets(&self, now: OffsetDateTime) -> Vec<SigningSecret> {
        let subscription = &self.subscription;
        let previous = subscription.previous_signing_secret.as_deref().filter(|_| {
            subscription
                .previous_secret_expires_at
                .is_some_and(|at| at > now)
        });
        [Some(subscription.signing_secret.as_str()), previous]
            .into_iter()
            .flatten()
            .filter_map(|s| SigningSecret::parse(s).ok())
            .collect()
    }
}
