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
    let msg_id = job.delivery_id.to_string();
    let timestamp = now.unix_timestamp();
    let signature = signature_header(&job.secrets(now), &msg_id, timestamp, &body);
    let last_attempt = job.round_start + job.subscription.max_attempts;

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
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("content-type", content_type);
    set("webhook-id", msg_id);
    set("webhook-timestamp", timestamp.to_string());
    set("webhook-signature", signature);
    set("x-warren-event-id", job.event_id.to_string());
    set("x-warren-event-type", job.event.event_type.clone());
    set("x-warren-attempt", attempt.to_string());
    set("x-warren-max-attempts", last_attempt.to_string());
    set("x-request-id", attempt_id.to_string());
    set("x-timeout-ms", job.subscription.timeout_ms.to_string());
    set("user-agent", format!("Warren/{}", warren_shared::VERSION));

    Ok(Outbound {
        url: job.subscription.target_url.clone(),
        headers,
        body,
        timeout: std::time::Duration::from_millis(job.subscription.timeout_ms.into()),
    })
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
            let received_at = job
                .event
                .received_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
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
