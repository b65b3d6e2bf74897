//! The sender: a background task in every `warren-ingest` that takes what was raised and
//! tells the owners. Each round it
//!
//! 1. emits the live `notification` event of each new notification, once (claiming them, so
//!    several ingest processes never emit one twice);
//! 2. flushes the digests the throttle held back once their interval has passed;
//! 3. claims the sends that are due (`FOR UPDATE SKIP LOCKED`, then a lease: a sender that
//!    dies mid-send leaves its sends to another once the lease runs out), sends them, and
//!    records each outcome: sent, or tried again after the next wait of
//!    `WARREN_NOTIFY_RETRY_SCHEDULE`, or, after the last, failed.
//!
//! A channel that fails is never notified about: its failures are only recorded on its sends.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio_postgres::Row;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::{model::ChannelKind, retry::RetrySchedule, signing::SigningSecret};

use super::{
    email::Mailer,
    item::{COLUMNS, Message, NotificationItem},
    webhook::WebhookClient,
};
use crate::{config::Settings, error::stored_word, state::AppState};

/// The live event each notification is emitted as.
pub const LIVE_EVENT: &str = "notification";

/// Sends claimed in one round.
const CLAIM: i64 = 64;

/// Sends under way at once.
const CONCURRENCY: usize = 16;

/// How long a claimed send is left to its sender before another may take it: well over the
/// longest a send takes (10 s).
const LEASE: Duration = Duration::from_secs(60);

/// Digests flushed in one round.
const FLUSH: i32 = 100;

/// Notifications announced live in one round.
const ANNOUNCE: i64 = 500;

/// The longest error text kept on a send.
const ERROR_LIMIT: usize = 1_000;

/// What the sender sends with.
pub struct Sender {
    webhooks: WebhookClient,
    mailer: Option<Mailer>,
    schedule: RetrySchedule,
    poll: Duration,
}

impl Sender {
    /// The sender the settings ask for; an error when the SMTP settings are unusable.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            webhooks: WebhookClient::new(settings.allow_target_cidrs.clone())?,
            mailer: Mailer::from_settings(settings)?,
            schedule: settings.notify_retry_schedule.clone(),
            poll: Duration::from_millis(settings.notify_poll_ms.max(10)),
        })
    }
}

/// Sends until `cancel` trips. A round cut short by it leaves its claimed sends to their
/// lease, so nothing is lost (a webhook may get one twice, with the same `webhook-id`).
pub async fn run(state: AppState, sender: Sender, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(sender.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            done = round(&state, &sender) => if let Err(error) = done {
                tracing::warn!(error = format!("{error:#}"), "a notification round failed");
            },
        }
    }
}

async fn round(state: &AppState, sender: &Sender) -> anyhow::Result<()> {
    announce(state).await?;
    flush(state).await?;
    let claimed = claim(state).await?;
    stream::iter(claimed)
        .for_each_concurrent(CONCURRENCY, |send| async move {
            let outcome = deliver(sender, &send).await;
            if let Err(error) = record(state, sender, &send, outcome).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    notification_id = %send.message.id,
                    "a notification send's outcome was not recorded; it will be tried again"
                );
            }
        })
        .await;
    Ok(())
}

/// Emits the live event of each notification not yet announced, once.
async fn announce(state: &AppState) -> anyhow::Result<()> {
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!(
                "UPDATE notifications SET announced = true
                 FROM (SELECT id AS due_id FROM notifications WHERE NOT announced
                       ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
                 WHERE id = due.due_id
                 RETURNING user_id, {COLUMNS}"
            ),
            &[&ANNOUNCE],
        )
        .await?;
    let mut told = rows
        .iter()
        .map(|row| {
            Ok((
                row.get::<_, Uuid>("user_id"),
                NotificationItem::from_row(row)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    told.sort_by_key(|(_, item)| item.id);
    for (user_id, item) in &told {
        state.publisher.tell(*user_id, LIVE_EVENT, item);
    }
    Ok(())
}

/// Raises the digests whose interval has passed with nothing new to carry them.
async fn flush(state: &AppState) -> anyhow::Result<()> {
    let client = state.pool.get().await?;
    let interval = state.settings.notify_min_interval().as_secs_f64();
    client
        .query_one(
            "SELECT warren_notify_flush(make_interval(secs => $1), $2)",
            &[&interval, &FLUSH],
        )
        .await?;
    Ok(())
}

/// One send, claimed, with what it needs.
struct Claimed {
    channel_id: Uuid,
    /// Tries made, this one included.
    attempts: u32,
    kind: ChannelKind,
    target_url: Option<String>,
    signing_secret: Option<String>,
    email: Option<String>,
    message: Message,
}

impl Claimed {
    fn from_row(row: &Row) -> anyhow::Result<Self> {
        let subscription: Option<serde_json::Value> = row.get("subscription");
        Ok(Self {
            channel_id: row.get("channel_id"),
            attempts: u32::try_from(row.get::<_, i32>("attempts"))?,
            kind: stored_word(row.get("kind"))?,
            target_url: row.get("target_url"),
            signing_secret: row.get("signing_secret"),
            email: row.get("email"),
            message: Message {
                id: row.get("notification_id"),
                kind: stored_word(row.get("type"))?,
                at: row.get("created_at"),
                subscription: subscription.map(serde_json::from_value).transpose()?,
                data: row.get("data"),
            },
        })
    }
}

/// Claims the sends that are due, leasing each to this sender.
async fn claim(state: &AppState) -> anyhow::Result<Vec<Claimed>> {
    let client = state.pool.get().await?;
    let rows = client
        .query(
            "WITH due AS (
                 SELECT notification_id, channel_id FROM notification_sends
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at LIMIT $1
                 FOR UPDATE SKIP LOCKED
             ), claimed AS (
                 UPDATE notification_sends s SET attempts = s.attempts + 1,
                     next_attempt_at = now() + make_interval(secs => $2)
                 FROM due
                 WHERE s.notification_id = due.notification_id AND s.channel_id = due.channel_id
                 RETURNING s.notification_id, s.channel_id, s.attempts
             )
             SELECT c.notification_id, c.channel_id, c.attempts, n.type, n.created_at,
                 n.subscription, n.data, ch.kind, ch.target_url, ch.signing_secret, ch.email
             FROM claimed c
             JOIN notifications n ON n.id = c.notification_id
             JOIN notification_channels ch ON ch.id = c.channel_id",
            &[&CLAIM, &LEASE.as_secs_f64()],
        )
        .await?;
    rows.iter().map(Claimed::from_row).collect()
}

/// Tells the channel; `Err` says why it did not arrive.
async fn deliver(sender: &Sender, send: &Claimed) -> Result<(), String> {
    match send.kind {
        ChannelKind::Webhook => {
            let (Some(url), Some(secret)) = (&send.target_url, &send.signing_secret) else {
                return Err("the channel has no target URL or secret".into());
            };
            let secret = SigningSecret::parse(secret).map_err(|e| e.to_string())?;
            sender.webhooks.send(url, &secret, &send.message).await
        }
        ChannelKind::Email => {
            let Some(mailer) = &sender.mailer else {
                return Err("this instance has no SMTP server (WARREN_SMTP_URL)".into());
            };
            let Some(to) = &send.email else {
                return Err("the channel has no address".into());
            };
            mailer.send(to, &send.message).await
        }
    }
}

/// The wait before the next try after `attempts` tries failed, or `None` when that was the
/// last: one try, then one more after each wait of the schedule.
pub fn next_try(schedule: &RetrySchedule, attempts: u32) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    schedule.waits().get(index).copied()
}

/// Records a send's outcome: sent, to be tried again, or failed for good.
async fn record(
    state: &AppState,
    sender: &Sender,
    send: &Claimed,
    outcome: Result<(), String>,
) -> anyhow::Result<()> {
    let client = state.pool.get().await?;
    let (notification_id, channel_id, attempts) = (send.message.id, send.channel_id, send.attempts);
    let Err(error) = outcome else {
        client
            .execute(
                "UPDATE notification_sends SET status = 'sent', sent_at = now(), last_error = NULL
                 WHERE notification_id = $1 AND channel_id = $2",
                &[&notification_id, &channel_id],
            )
            .await?;
        return Ok(());
    };
    // Stored as text: PostgreSQL refuses a NUL, and a server's answer is not ours to trust.
    let error: String = error
        .replace('\0', "\u{FFFD}")
        .chars()
        .take(ERROR_LIMIT)
        .collect();
    let next = next_try(&sender.schedule, attempts);
    match next {
        Some(_) => {
            tracing::info!(%notification_id, %channel_id, attempts, error, "a notification send failed; it will be tried again")
        }
        None => {
            tracing::warn!(%notification_id, %channel_id, attempts, error, "a notification send failed for good")
        }
    }
    // No next try: failed for good (`next_attempt_at` is left as the lease set it).
    client
        .execute(
            "UPDATE notification_sends SET last_error = $3,
                 status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE status END,
                 next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at
                                        ELSE now() + make_interval(secs => $4) END
             WHERE notification_id = $1 AND channel_id = $2",
            &[
                &notification_id,
                &channel_id,
                &error,
                &next.map(|wait| wait.as_secs_f64()),
            ],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_is_tried_once_then_once_after_each_wait_then_given_up() {
        let schedule: RetrySchedule = "5s,15s,30s,1m,2m,5m".parse().expect("a schedule");
        let waits: Vec<Option<Duration>> = (1..=7).map(|n| next_try(&schedule, n)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(
            waits,
            vec![
                secs(5),
                secs(15),
                secs(30),
                secs(60),
                secs(120),
                secs(300),
                None
            ]
        );
        assert_eq!(next_try(&schedule, 0), None);
    }
}
