//! Which subscriptions an event goes to: its owner's, by source, event type and payload
//! filter.

use std::{
    cell::OnceCell,
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
};

use deadpool_postgres::GenericClient;
use uuid::Uuid;
use warren_shared::{
    containment::{self, Json},
    matching::event_type_matches,
};

use super::NewEvent;
use crate::error::{ApiError, Result};

/// The subscriptions each event goes to: from the candidates read with its source, or asking
/// once per owner and source in the group.
pub(super) async fn matching_each(
    client: &impl GenericClient,
    events: &[NewEvent],
) -> Result<Vec<Vec<Target>>> {
    let mut read: HashMap<(Uuid, Option<Uuid>), Vec<Candidate>> = HashMap::new();
    let mut matched = Vec::with_capacity(events.len());
    for event in events {
        let of_source: &[Candidate] = match (
            &event.candidates,
            read.entry((event.user_id, event.source_id)),
        ) {
            (Some(candidates), _) => candidates,
            (None, Entry::Occupied(entry)) => entry.into_mut(),
            (None, Entry::Vacant(entry)) => {
                entry.insert(subscriptions_of(client, event.user_id, event.source_id).await?)
            }
        };
        let body = event.json.then_some(&event.raw_body[..]);
        matched.push(taking(of_source, &event.event_type, body));
    }
    Ok(matched)
}

/// A subscription an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The subscription.
    pub id: Uuid,
    /// Whether it takes its deliveries in order (a FIFO line).
    pub fifo: bool,
}

/// A subscription an event may go to, and the events it takes.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The subscription.
    pub target: Target,
    /// Its event-type filter.
    pub event_types: Vec<String>,
    /// Its payload filter: only events whose JSON payload contains it.
    pub filter: Option<Arc<Json>>,
    /// Whether it was active when read. Events still go to one that is not (as `held`
    /// deliveries); only a replay to every subscription leaves it out.
    pub active: bool,
}

/// The candidates that take an event of this type and, for those with a payload filter,
/// this JSON `body` (`None`: not JSON, which no filter takes). The body is parsed only if
/// some candidate of the type has a filter, and then once.
fn taking(candidates: &[Candidate], event_type: &str, body: Option<&[u8]>) -> Vec<Target> {
    let payload = OnceCell::new();
    let parsed = || payload.get_or_init(|| body.and_then(containment::parse));
    candidates
        .iter()
        .filter(|c| event_type_matches(&c.event_types, event_type))
        .filter(|c| match &c.filter {
            None => true,
            Some(filter) => parsed()
                .as_ref()
                .is_some_and(|p| containment::contains(p, filter)),
        })
        .map(|c| c.target)
        .collect()
}

/// A stored payload filter, as `filter::text` reads it (PostgreSQL's own rendering, always
/// JSON).
pub fn stored_filter(text: Option<&str>) -> Result<Option<Arc<Json>>> {
    text.map(|text| {
        containment::parse(text.as_bytes())
            .map(Arc::new)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a stored filter is not JSON")))
    })
    .transpose()
}

/// The owner's active subscriptions that take events of this type and payload (`None`: not
/// JSON) from this source (subscriptions without a source take every source's; an event
/// without a source reaches only those).
pub async fn matching_subscriptions(
    client: &impl GenericClient,
    user_id: Uuid,
    source_id: Option<Uuid>,
    event_type: &str,
    payload: Option<&str>,
) -> Result<Vec<Target>> {
    let mut candidates = subscriptions_of(client, user_id, source_id).await?;
    candidates.retain(|c| c.active);
    Ok(taking(&candidates, event_type, payload.map(str::as_bytes)))
}

/// The owner's subscriptions that take events from this source, active or not, with their
/// event types.
async fn subscriptions_of(
    client: &impl GenericClient,
    user_id: Uuid,
    source_id: Option<Uuid>,
) -> Result<Vec<Candidate>> {
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "SELECT id, event_types, ordering = 'fifo' AS fifo, is_active,
                 filter::text AS filter FROM subscriptions
             WHERE user_id = $1 AND (source_id IS NULL OR source_id = $2)",
                )
                .await?,
            &[&user_id, &source_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                target: Target {
                    id: row.get("id"),
                    fifo: row.get("fifo"),
                },
                event_types: row.get("event_types"),
                filter: stored_filter(row.get("filter"))?,
                active: row.get("is_active"),
            })
        })
        .collect()
}
