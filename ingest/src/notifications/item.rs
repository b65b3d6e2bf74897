//! A notification as its owner sees it: an item of the in-app list, and the payload of the
//! live `notification` socket.io event.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;
use warren_shared::model::NotificationType;

use crate::error::{Result, stored_word};

/// The columns [`NotificationItem::from_row`] reads.
pub const COLUMNS: &str =
    "id, type, created_at, subscription_id, data, read_at IS NOT NULL AS read";

/// One notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationItem {
    /// Its id (also the `webhook-id` a webhook channel receives).
    pub id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// When it was raised.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The subscription it is about; `null` for `notification.test`.
    pub subscription_id: Option<Uuid>,
    /// The details; `count` is how many occurrences it stands for (more than one when the
    /// minimum interval held some back).
    #[schema(value_type = Object)]
    pub data: Value,
    /// Whether its owner marked it read.
    pub read: bool,
}

impl NotificationItem {
    /// The item a row of [`COLUMNS`] holds.
    pub fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            kind: stored_word(row.get("type"))?,
            at: row.get("created_at"),
            subscription_id: row.get("subscription_id"),
            data: row.get("data"),
            read: row.get("read"),
        })
    }
}

/// The subscription a notification is about, as it was when raised.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SubscriptionRef {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Where it delivers.
    pub target_url: String,
}

/// What a channel is told: the body a webhook channel receives, and what a mail says.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The notification's id (the `webhook-id`).
    pub id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// When it was raised.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The subscription; `null` for `notification.test`.
    pub subscription: Option<SubscriptionRef>,
    /// The details, with `count`.
    pub data: Value,
}

impl Message {
    /// How many occurrences it stands for (1 unless the throttle held some back).
    pub fn count(&self) -> u64 {
        self.data["count"].as_u64().unwrap_or(1)
    }
}
