//! Built-in alerts: a background check that raises an alert — a log line at warn, the
//! `warren_alerts_firing{alert}` gauge, and, when configured, a webhook Warren signs itself
//! (Standard Webhooks, `WARREN_ALERT_WEBHOOK_SECRET`) — when
//!
//! - `outbox_stale`: a delivery has waited longer than the threshold for its first publish
//!   (the broker is unreachable or refusing);
//! - `backlog_stale`: a delivery in the broker has been due longer than the threshold
//!   without being attempted (no worker consuming, or workers far behind);
//! - `tier_deep`: a wait tier holds more messages than the threshold (one per tier);
//! - `subscription_disabled`: Warren disabled a subscription (one per subscription; one its
//!   owner paused is no alert).
//!
//! Each alert is sent once when it starts firing (`alert.fired`) and once when it stops
//! (`alert.resolved`). Every ingest process checks on its own.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::signing::{SigningSecret, signature_header};

pub use crate::context::metrics::AlertLabel;
use crate::{config::Settings, queues, state::AppState};

/// One condition that holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// `outbox_stale`, `backlog_stale`, `tier_deep` or `subscription_disabled`.
    pub alert: &'static str,
    /// What it is about: a tier, a subscription id, or `warren` for the whole service.
    pub subject: String,
    /// For people.
    pub summary: String,
}

impl Condition {
    /// A condition of the whole service.
    fn service(alert: &'static str, summary: String) -> Self {
        Self {
            alert,
            subject: "warren".into(),
            summary,
        }
    }

    fn key(&self) -> (String, String) {
        (self.alert.to_owned(), self.subject.clone())
    }
}

/// Where alerts go besides the log and the gauge.
pub struct Webhook {
    url: String,
    secret: SigningSecret,
}

impl Webhook {
    /// The webhook the settings ask for: none without a URL, an error with a URL but no
    /// valid `whsec_` secret (checked at start-up, so a typo does not silence alerts).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.alert_webhook_url.clone() else {
            return Ok(None);
        };
        url::Url::parse(&url).context("WARREN_ALERT_WEBHOOK_URL is not a URL")?;
        let secret = settings.alert_webhook_secret.as_deref().context(
            "WARREN_ALERT_WEBHOOK_URL needs WARREN_ALERT_WEBHOOK_SECRET (a whsec_ secret)",
        )?;
        let secret = SigningSecret::parse(secret)
            .context("WARREN_ALERT_WEBHOOK_SECRET is not a whsec_ secret")?;
        Ok(Some(Self { url, secret }))
    }
}

/// Checks every `WARREN_ALERT_INTERVAL_SECS` until `cancel` trips.
pub async fn run(state: AppState, webhook: Option<Webhook>, cancel: CancellationToken) {
    let interval = Duration::from_secs(state.settings.alert_interval_secs.max(1));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut firing: BTreeMap<(String, String), Condition> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = match check(&state).await {
            Ok(conditions) => conditions,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "alert checks failed");
                continue;
            }
        };
        let now: BTreeMap<_, _> = now.into_iter().map(|c| (c.key(), c)).collect();
        // The gauge first: whoever hears of a change can already read it.
        set_gauges(&state, &firing, &now);
        for (key, condition) in &now {
            if !firing.contains_key(key) {
                tracing::warn!(alert = condition.alert, subject = %condition.subject, "{}", condition.summary);
                notify(&state, webhook.as_ref(), "alert.fired", condition).await;
            }
        }
        for (key, condition) in &firing {
            if !now.contains_key(key) {
                tracing::info!(alert = condition.alert, subject = %condition.subject, "resolved: {}", condition.summary);
                notify(&state, webhook.as_ref(), "alert.resolved", condition).await;
            }
        }
        firing = now;
    }
}

fn set_gauges(
    state: &AppState,
    before: &BTreeMap<(String, String), Condition>,
    now: &BTreeMap<(String, String), Condition>,
) {
    // One `set` per alert (never a reset then a count), so a scrape never sees a dip.
    let mut counts: BTreeMap<&str, i64> = before.keys().map(|(a, _)| (a.as_str(), 0)).collect();
    for (alert, _) in now.keys() {
        *counts.entry(alert.as_str()).or_insert(0) += 1;
    }
    for (alert, count) in counts {
        state
            .metrics
            .alerts_firing
            .get_or_create(&AlertLabel {
                alert: alert.to_owned(),
            })
            .set(count);
    }
}

/// Every condition that holds now.
pub async fn check(state: &AppState) -> anyhow::Result<Vec<Condition>> {
    let settings = &state.settings;
    let client = state.pool.get().await?;
    let mut conditions = Vec::new();
    let ages = client
        .query_one(
            "SELECT
                 (SELECT extract(epoch FROM now() - min(updated_at))::float8 FROM deliveries
                  WHERE NOT enqueued AND status IN ('pending', 'retrying')) AS outbox,
                 (SELECT extract(epoch FROM now() - min(coalesce(next_attempt_at, updated_at)))::float8
                  FROM deliveries WHERE enqueued AND status IN ('pending', 'retrying')) AS backlog",
            &[],
        )
        .await?;
    let age_over = |column: &str, threshold: u64| {
        ages.get::<_, Option<f64>>(column)
            .filter(|&age| age > threshold as f64)
    };
    if let Some(age) = age_over("outbox", settings.alert_outbox_age_secs) {
        conditions.push(Condition::service(
            "outbox_stale",
            format!(
                "a delivery has waited {age:.0} s to be published to RabbitMQ (threshold {} s)",
                settings.alert_outbox_age_secs
            ),
        ));
    }
    if let Some(age) = age_over("backlog", settings.alert_backlog_age_secs) {
        conditions.push(Condition::service(
            "backlog_stale",
            format!(
                "a delivery has been due for {age:.0} s without an attempt (threshold {} s)",
                settings.alert_backlog_age_secs
            ),
        ));
    }
    let disabled = client
        .query(
            "SELECT id, name, coalesce(disabled_reason, '') AS reason FROM subscriptions
             WHERE NOT is_active AND disabled_reason IS DISTINCT FROM 'paused'
             ORDER BY id LIMIT 1000",
            &[],
        )
        .await?;
    conditions.extend(disabled.iter().map(|row| Condition {
        alert: "subscription_disabled",
        subject: row.get::<_, Uuid>("id").to_string(),
        summary: format!(
            "subscription {:?} is disabled: {}",
            row.get::<_, String>("name"),
            row.get::<_, String>("reason")
        ),
    }));
    drop(client);
    match queues::snapshot(state).await {
        Ok(queues) => conditions.extend(
            queues
                .iter()
                .filter(|q| q.kind == "retry" && q.messages > settings.alert_tier_depth)
                .map(|q| Condition {
                    alert: "tier_deep",
                    subject: q.tier.clone().unwrap_or_else(|| q.name.clone()),
                    summary: format!(
                        "wait queue {} holds {} messages (threshold {})",
                        q.name, q.messages, settings.alert_tier_depth
                    ),
                }),
        ),
        Err(error) => tracing::debug!(error = format!("{error:#}"), "queue depths unavailable"),
    }
    Ok(conditions)
}

/// The body of an alert webhook.
#[derive(Serialize)]
struct AlertMessage<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    alert: &'a str,
    subject: &'a str,
    summary: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// POSTs the alert, signed; a failure is logged (the log line and the gauge still tell).
async fn notify(state: &AppState, webhook: Option<&Webhook>, kind: &str, condition: &Condition) {
    let Some(webhook) = webhook else {
        return;
    };
    let message = AlertMessage {
        kind,
        alert: condition.alert,
        subject: &condition.subject,
        summary: &condition.summary,
        at: OffsetDateTime::now_utc(),
    };
    let Ok(body) = serde_json::to_vec(&message) else {
        return;
    };
    let id = format!("alert_{}", Uuid::now_v7().simple());
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let signature = signature_header(std::slice::from_ref(&webhook.secret), &id, timestamp, &body);
    let started = Instant::now();
    let sent = state
        .http
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    if let Err(error) = sent {
        tracing::warn!(error = %error, elapsed_ms = started.elapsed().as_millis() as u64, "the alert webhook failed");
    }
}
