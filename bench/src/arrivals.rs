//! What a request to the receiver says about the deliveries it carries: one, named by the
//! headers every Warren request has; or, for a batch subscription's request
//! (`x-warren-batch-size`), each event of its body.

use hyper::HeaderMap;
use serde::Deserialize;
use uuid::Uuid;

/// What one request said about itself.
pub struct Arrival {
    /// Its delivery (`webhook-id`).
    pub delivery_id: Uuid,
    /// Its event (`x-warren-event-id`).
    pub event_id: Uuid,
    /// Its attempt number (`x-warren-attempt`, from 1).
    pub attempt: u32,
    /// Whether it is the delivery's last allowed attempt.
    pub last_attempt: bool,
    /// The ordered subscription it came for (`/ordered/{k}`).
    pub line: Option<u32>,
}

/// Every delivery a request carries: a batch's events, or the one its headers name; none for
/// a request that is not Warren's.
pub fn arrivals(headers: &HeaderMap, body: &[u8]) -> Vec<Arrival> {
    if headers.contains_key("x-warren-batch-size") {
        batch(body)
    } else {
        arrival(headers).into_iter().collect()
    }
}

/// A batch's body, as far as the receiver reads it.
#[derive(Deserialize)]
struct Batch {
    events: Vec<BatchEvent>,
}

#[derive(Deserialize)]
struct BatchEvent {
    id: Uuid,
    delivery_id: Uuid,
}

/// The events of a batch: each a delivery's attempt (a batch names no attempt numbers, so
/// none counts as a last attempt).
fn batch(body: &[u8]) -> Vec<Arrival> {
    let Ok(batch) = serde_json::from_slice::<Batch>(body) else {
        return Vec::new();
    };
    batch
        .events
        .into_iter()
        .map(|event| Arrival {
            delivery_id: event.delivery_id,
            event_id: event.id,
            attempt: 1,
            last_attempt: false,
            line: None,
        })
        .collect()
}

/// The delivery, event and attempt headers every Warren request carries.
pub fn arrival(headers: &HeaderMap) -> Option<Arrival> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| text(name).and_then(|v| v.parse::<u32>().ok());
    let delivery_id = text("webhook-id")?.parse().ok()?;
    let event_id = text("x-warren-event-id")?.parse().ok()?;
    let attempt = number("x-warren-attempt").unwrap_or(1);
    let last_attempt = number("x-warren-max-attempts").is_some_and(|max| attempt >= max);
    Some(Arrival {
        delivery_id,
        event_id,
        attempt,
        last_attempt,
        line: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_carries_each_of_its_events_and_a_plain_request_the_one_its_headers_name() {
        let (delivery, event) = (Uuid::now_v7(), Uuid::now_v7());
        let body = format!(
            r#"{{"batch_id":"{}","events":[{{"id":"{event}","delivery_id":"{delivery}","event_type":"t","received_at":"2026-01-01T00:00:00Z","payload":{{"a":[1]}}}},{{"id":"{event}","delivery_id":"{event}","event_type":"t","received_at":"2026-01-01T00:00:00Z","payload":1}}]}}"#,
            Uuid::now_v7()
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-warren-batch-size", "2".parse().expect("a value"));
        let carried = arrivals(&headers, body.as_bytes());
        assert_eq!(carried.len(), 2);
        assert_eq!(
            (carried[0].delivery_id, carried[0].event_id),
            (delivery, event)
        );
        assert!(arrivals(&headers, b"not json").is_empty());

        let mut single = HeaderMap::new();
        single.insert("webhook-id", delivery.to_string().parse().expect("a value"));
        single.insert(
            "x-warren-event-id",
            event.to_string().parse().expect("a value"),
        );
        assert_eq!(arrivals(&single, b"{}").len(), 1);
        assert!(arrivals(&HeaderMap::new(), b"{}").is_empty());
    }
}
