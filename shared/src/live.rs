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
    /// `delivery.attempt`, `delivery.held`, `event.received` or `subscription.updated` (or
    /// another event the gateway passes on as it is).
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
    /// Deliveries it made, held ones included.
    pub deliveries: usize,
    /// Of those, how many are held (their subscription is not active).
    #[serde(default)]
    pub held: usize,
    /// When it was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A delivery kept as `held`: its subscription is not active (paused or disabled), so it is
/// not attempted until the subscription is enabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryHeld {
    /// The delivery.
    pub delivery_id: Uuid,
    /// Its event.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// Its subscription.
    pub subscription_id: Uuid,
    /// When it was held.
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

/// How long a line waits for others of its user to travel with it in one message. Every
/// attempt and every event makes a line; sent one message each, they cost the broker and both
/// services about as much as the deliveries themselves. A person watching the live log does
/// not see 50 ms.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Most lines in one message; a busier user's window is split.
pub const MAX_BATCH: usize = 512;

/// A line as it travels inside a batch: `{"event": …, "data": …}`.
pub fn encode(event: &str, data: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&LiveLine {
        event: event.to_owned(),
        data: serde_json::to_value(data)?,
    })
}

/// A message carrying one user's lines (each from [`encode`]), in order, as a JSON array.
pub fn batch(topology: &Topology, user_id: Uuid, lines: &[Vec<u8>]) -> Outgoing {
    let mut body = Vec::with_capacity(2 + lines.iter().map(|l| l.len() + 1).sum::<usize>());
    body.push(b'[');
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.push(b']');
    Outgoing::transient(topology.logs_exchange(), user_key(user_id), body)
}

/// What a message on `warren.logs` holds: a batch of lines, or one line alone (as a publisher
/// from before batching sends it, so a rolling upgrade loses nothing).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Lines {
    /// Several lines, in order.
    Batch(Vec<LiveLine>),
    /// One line.
    One(LiveLine),
}

impl Lines {
    /// The lines, in order.
    pub fn into_vec(self) -> Vec<LiveLine> {
        match self {
            Lines::Batch(lines) => lines,
            Lines::One(line) => vec![line],
        }
    }
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
    fn a_batch_carries_its_users_lines_in_order() {
        let topology = Topology::new("t", crate::topology::QueueKind::Quorum, Default::default());
        let user = Uuid::now_v7();
        let lines: Vec<Vec<u8>> = (0..3)
            .map(|n| encode("event.received", &serde_json::json!({"n": n})).expect("encoded"))
            .collect();
        let message = batch(&topology, user, &lines);
        assert_eq!(message.exchange, "t.logs");
        assert_eq!(message.routing_key, user_key(user));
        let parsed: Lines = serde_json::from_slice(&message.body).expect("lines");
        let parsed = parsed.into_vec();
        assert_eq!(parsed.len(), 3);
        for (n, line) in parsed.iter().enumerate() {
            assert_eq!(line.event, "event.received");
            assert_eq!(line.data["n"], n);
        }
    }

    #[test]
    fn a_lone_line_from_an_older_publisher_is_read_too() {
        let body = br#"{"event": "delivery.attempt", "data": {"a": 1}}"#;
        let parsed = serde_json::from_slice::<Lines>(body)
            .expect("a line")
            .into_vec();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].event, "delivery.attempt");
        assert_eq!(parsed[0].data["a"], 1);
    }
}
