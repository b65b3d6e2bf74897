//! The messages that travel through the broker. They carry ids and the attempt number, never
//! the payload: PostgreSQL is the source of truth, RabbitMQ only the transport.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A message on the delivery queues, tagged and versioned so a new shape can be rolled out
/// while old messages still sit in wait queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Envelope {
    /// Make one attempt of one delivery.
    #[serde(rename = "deliver.v1")]
    DeliverV1(DeliverV1),
}

/// Make attempt `attempt` of delivery `delivery_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverV1 {
    /// The delivery (one event × one subscription); also the `webhook-id` the receiver sees.
    pub delivery_id: Uuid,
    /// The event being delivered.
    pub event_id: Uuid,
    /// The subscription it is delivered to.
    pub subscription_id: Uuid,
    /// The owner, for the live log's routing key.
    pub user_id: Uuid,
    /// The attempt this message asks for (1-based, counted over the delivery's whole life).
    pub attempt: u32,
    /// Whether the delivery has a place in its subscription's FIFO line: then the envelope
    /// is a doorbell for that line and travels through the subscription's ordered shard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
}

impl Envelope {
    /// The envelope as the bytes published to the broker.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes")
    }

    /// Parses a message body; `None` for anything that is not a known envelope (poison).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_tagged_with_its_version() {
        let envelope = Envelope::DeliverV1(DeliverV1 {
            delivery_id: Uuid::nil(),
            event_id: Uuid::nil(),
            subscription_id: Uuid::nil(),
            user_id: Uuid::nil(),
            attempt: 2,
            ordered: false,
        });
        let json: serde_json::Value = serde_json::from_slice(&envelope.to_bytes()).expect("json");
        assert_eq!(json["type"], "deliver.v1");
        assert_eq!(json["attempt"], 2);
        assert!(
            json.get("ordered").is_none(),
            "unordered envelopes keep their shape"
        );
        assert_eq!(Envelope::from_bytes(&envelope.to_bytes()), Some(envelope));
    }

    #[test]
    fn an_ordered_envelope_says_so_and_round_trips() {
        let envelope = Envelope::DeliverV1(DeliverV1 {
            delivery_id: Uuid::nil(),
            event_id: Uuid::nil(),
            subscription_id: Uuid::nil(),
            user_id: Uuid::nil(),
            attempt: 1,
            ordered: true,
        });
        let json: serde_json::Value = serde_json::from_slice(&envelope.to_bytes()).expect("json");
        assert_eq!(json["ordered"], true);
        assert_eq!(Envelope::from_bytes(&envelope.to_bytes()), Some(envelope));
    }

    #[test]
    fn anything_else_is_poison() {
        assert_eq!(Envelope::from_bytes(b"{\"type\":\"deliver.v9\"}"), None);
        assert_eq!(Envelope::from_bytes(b"not json"), None);
    }
}
