//! Live log lines: what the socket.io gateway emits to a user's browsers. Every service
//! publishes them to the `warren.logs` topic exchange under `user.<user_id>`; each gateway
//! binds only the keys of the users connected to it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{amqp::Outgoing, topology::Topology};

/// A line on the bus: the socket.io event name and its payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveLine {
    /// `delivery.attempt`, `event.received` or `subscription.updated`.
    pub event: String,
    /// The payload, as API.md describes it for that event.
    pub data: Value,
}

/// The routing key (and socket.io room) of a user's lines.
pub fn user_key(user_id: Uuid) -> String {
    format!("user.{user_id}")
}

/// The user a routing key names.
pub fn user_of_key(key: &str) -> Option<Uuid> {
    key.strip_prefix("user.").and_then(|id| id.parse().ok())
}

/// One attempt, as the live log shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: Uuid,
    /// Its event.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// Its subscription.
    pub subscription_id: Uuid,
    /// The attempt's number.
    pub attempt: u32,
    /// The answer's status, if one came.
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// `succeeded`, `failed` (another attempt follows) or `dead`.
    pub outcome: &'static str,
    /// Why it failed.
    pub error_kind: Option<&'static str>,
    /// When the next attempt is due, after a failure with attempts left.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When the attempt ended.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An event stored, as the live log shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventReceived {
    /// The event.
    pub event_id: Uuid,
    /// Its source, if any.
    pub source_id: Option<Uuid>,
    /// Its type.
    pub event_type: String,
    /// Deliveries it made.
    pub deliveries: usize,
    /// When it was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A subscription's state changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionUpdated {
    /// The subscription.
    pub subscription_id: Uuid,
    /// Whether it takes deliveries.
    pub is_active: bool,
    /// `closed`, `open` or `half_open`.
    pub circuit_state: String,
    /// Why it changed (e.g. why it was disabled), if said.
    pub reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A line for the user's browsers, ready for [`crate::publisher::Publisher::publish_transient`].
pub fn line(topology: &Topology, user_id: Uuid, event: &str, data: &impl Serialize) -> Outgoing {
    let line = LiveLine {
        event: event.to_owned(),
        data: serde_json::to_value(data).expect("a live line serializes"),
    };
    let body = serde_json::to_vec(&line).expect("a live line serializes");
    Outgoing::transient(topology.logs_exchange(), user_key(user_id), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_key_names_them_and_nothing_else_does() {
        let id = Uuid::now_v7();
        assert_eq!(user_of_key(&user_key(id)), Some(id));
        assert_eq!(user_of_key("user.nope"), None);
        assert_eq!(user_of_key(&id.to_string()), None);
    }

    #[test]
    fn a_line_carries_its_event_name_and_payload() {
        let topology = Topology::new("t", crate::topology::QueueKind::Quorum, Default::default());
        let user = Uuid::now_v7();
        let message = line(
            &topology,
            user,
            "event.received",
            &serde_json::json!({"a": 1}),
        );
        assert_eq!(message.exchange, "t.logs");
        assert_eq!(message.routing_key, user_key(user));
        let parsed: LiveLine = serde_json::from_slice(&message.body).expect("a line");
        assert_eq!(parsed.event, "event.received");
        assert_eq!(parsed.data["a"], 1);
    }
}
