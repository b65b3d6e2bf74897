//! Raising notifications: one occurrence of something an owner is told about, stored in the
//! caller's transaction by the `warren_notify` SQL function (migration V11). It applies the
//! throttle (at most one notification of a type for a subscription within the minimum
//! interval; what it holds back is counted into the next one as `data.count`) and queues one
//! send per channel that takes the type. `warren-ingest` does the sending; both services raise.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::model::NotificationType;

/// The minimum interval between two notifications of one type for one subscription when
/// `WARREN_NOTIFY_MIN_INTERVAL_SECS` is not set.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(600);

/// One occurrence to tell a subscription's owner about.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// The subscription it is about (its owner is told).
    pub subscription_id: Uuid,
    /// What happened.
    pub kind: NotificationType,
    /// The details, a JSON object; `count` is added.
    pub data: Value,
}

impl Occurrence {
    /// An occurrence of `kind` about a subscription, with its details.
    pub fn new(subscription_id: Uuid, kind: NotificationType, data: Value) -> Self {
        Self {
            subscription_id,
            kind,
            data,
        }
    }
}

/// Raises `occurrence` in the caller's transaction (or on its own, given a plain client).
/// Returns the notification made, or `None` when the throttle held it back (it is counted
/// into the next) or the subscription is gone. The throttle's row stays locked until the
/// caller's transaction ends.
pub async fn raise(
    client: &impl GenericClient,
    occurrence: &Occurrence,
    min_interval: Duration,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let statement = client
        .prepare_cached(
            "SELECT warren_notify(s.user_id, s.id, $2, $3, make_interval(secs => $4))
             FROM subscriptions s WHERE s.id = $1",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &occurrence.subscription_id,
                &occurrence.kind.as_str(),
                &occurrence.data,
                &min_interval.as_secs_f64(),
            ],
        )
        .await?;
    Ok(row.and_then(|row| row.get(0)))
}

/// Raises each occurrence, in subscription order (so two transactions raising for the same
/// subscriptions take the throttle's row locks in the same order and cannot deadlock).
pub async fn raise_all(
    client: &impl GenericClient,
    occurrences: &mut [Occurrence],
    min_interval: Duration,
) -> Result<(), tokio_postgres::Error> {
    occurrences.sort_by_key(|o| (o.subscription_id, o.kind.as_str()));
    for occurrence in occurrences.iter() {
        raise(client, occurrence, min_interval).await?;
    }
    Ok(())
}

/// Stores a `notification.test` for one channel of `user_id` and queues its send to that
/// channel only; returns its id. Tests are never throttled.
pub async fn raise_test(
    client: &impl GenericClient,
    user_id: Uuid,
    channel_id: Uuid,
) -> Result<Uuid, tokio_postgres::Error> {
    let data = serde_json::json!({"channel_id": channel_id, "count": 1});
    let row = client
        .query_one(
            "SELECT warren_notification($1, NULL, $2, $3, $4)",
            &[
                &user_id,
                &NotificationType::NotificationTest.as_str(),
                &data,
                &channel_id,
            ],
        )
        .await?;
    Ok(row.get(0))
}
