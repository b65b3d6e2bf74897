//! Storing an event with its deliveries in a single transaction. Beside this file: which
//! subscriptions an event goes to (`matching.rs`), inserting deliveries (`deliveries.rs`) and
//! inserting events (`events.rs`).

mod deliveries;
mod events;
mod matching;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock},
};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    envelope::Envelope,
    live::{DeliveryHeld, EventReceived},
    model::Provider,
    tokens::body_hash,
};

pub use deliveries::{insert_deliveries, insert_for_events};
pub use matching::{Candidate, Target, matching_subscriptions, stored_filter};

use self::{
    deliveries::{
        DeliveryColumns, DeliveryRow, STATUS_OF_NEW, delivery_rows, first_attempts,
        insert_delivery_rows, made_rows,
    },
    events::{CLAIM_KEYS, EventColumns, INSERT_EVENTS, insert_events},
    matching::matching_each,
};
use crate::error::{ApiError, Result};

/// An event about to be stored.
#[derive(Debug)]
pub struct NewEvent {
    /// The owner.
    pub user_id: Uuid,
    /// The source it came through, if any.
    pub source_id: Option<Uuid>,
    /// What its idempotency key is unique within (the source, or the user for the publish API).
    pub idempotency_scope: Uuid,
    /// The `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
    /// The event type.
    pub event_type: String,
    /// The content type it was sent with.
    pub content_type: Option<String>,
    /// The exact bytes received.
    pub raw_body: Bytes,
    /// Whether `raw_body` is checked JSON ([`crate::json_body::check`]), to be stored parsed
    /// too.
    pub json: bool,
    /// The request headers worth keeping.
    pub headers: Value,
    /// The provider whose signature was verified.
    pub verified_by: Option<Provider>,
    /// The subscriptions it may go to, when they were read with its source (ingest reads
    /// them in the same query); `None`: read when it is stored.
    pub candidates: Option<Arc<[Candidate]>>,
}

/// What storing an event came to.
#[derive(Debug)]
pub enum Stored {
    /// A new event, durable, with one envelope to publish per delivery that is not held.
    Created {
        /// The event id.
        event_id: Uuid,
        /// Deliveries created, held ones included.
        deliveries: usize,
        /// One per delivery created and not held.
        envelopes: Vec<Envelope>,
        /// Its owner.
        user_id: Uuid,
        /// What the live log says of it.
        received: EventReceived,
        /// What the live log says of each of its held deliveries.
        held: Vec<DeliveryHeld>,
    },
    /// The idempotency key was seen before with the same body: the original answer.
    Replayed {
        /// The original event id.
        event_id: Uuid,
        /// How many deliveries the original created.
        deliveries: i32,
    },
}

/// How a group is to be stored: each event's new id, its body's hash, and the subscriptions
/// it goes to (read before anything is written).
pub struct Plan {
    ids: Vec<Uuid>,
    hashes: Vec<Vec<u8>>,
    subscriptions: Vec<Vec<Target>>,
}

impl Plan {
    /// Whether some event goes to an ordered (FIFO) subscription: taking places in a line
    /// needs a transaction of several statements ([`stage_group`]).
    pub fn is_ordered(&self) -> bool {
        self.subscriptions.iter().flatten().any(|t| t.fifo)
    }
}

/// Reads what storing `events` needs: the subscriptions each goes to.
pub async fn plan_group(client: &impl GenericClient, events: &[NewEvent]) -> Result<Plan> {
    Ok(Plan {
        subscriptions: matching_each(client, events).await?,
        ids: events.iter().map(|_| Uuid::now_v7()).collect(),
        hashes: events.iter().map(|e| body_hash(&e.raw_body)).collect(),
    })
}

/// Writes a group of events, each with one pending delivery per matching subscription, into
/// `tx`, for one commit (and one WAL flush) for the group. Returns each event's own outcome
/// in order (a reused idempotency key is that event's answer, not the group's); an error
/// leaves the transaction to be rolled back.
pub async fn stage_group(
    tx: &Transaction<'_>,
    events: &[NewEvent],
    plan: &Plan,
) -> Result<Vec<Result<Stored>>> {
    let inserted = insert_events(tx, plan, events).await?;
    // Each new event's deliveries; none for an event whose key was seen before.
    let mut rows: Vec<DeliveryRow> = events
        .iter()
        .zip(&plan.ids)
        .zip(&plan.subscriptions)
        .filter(|((_, id), _)| inserted.contains(id))
        .flat_map(|((event, &id), subs)| delivery_rows(event.user_id, id, subs))
        .collect();
    let rows = insert_delivery_rows(tx, &mut rows).await?;
    Ok(answers(tx, events, plan, &inserted, &rows).await)
}

/// Each event's outcome: created with its own deliveries (`rows`, in event order), or the
/// original answer for a key seen before.
async fn answers(
    client: &impl GenericClient,
    events: &[NewEvent],
    plan: &Plan,
    inserted: &HashSet<Uuid>,
    rows: &[DeliveryRow],
) -> Vec<Result<Stored>> {
    let mut outcomes = Vec::with_capacity(events.len());
    let mut rest = rows;
    for (index, event) in events.iter().enumerate() {
        let id = plan.ids[index];
        outcomes.push(if inserted.contains(&id) {
            let own = rest.iter().take_while(|row| row.event_id == id).count();
            let (own, after) = rest.split_at(own);
            rest = after;
            Ok(created(event, id, own))
        } else {
            replayed(client, event, &plan.hashes[index]).await
        });
    }
    outcomes
}

/// Writes a group of events with their deliveries in one statement, which PostgreSQL runs
/// and commits as one transaction: one round trip and one WAL flush for the whole group,
/// instead of a round trip for each of begin, events, deliveries and commit. For groups
/// without ordered subscriptions (see [`Plan::is_ordered`]). A delivery whose subscription
/// was deleted since the plan was read is not made. An error means nothing was written,
/// unless the connection broke (then the group may have been committed).
pub async fn store_at_once(
    client: &impl GenericClient,
    events: &[NewEvent],
    plan: &Plan,
) -> Result<Vec<Result<Stored>>, tokio_postgres::Error> {
    let rows: Vec<DeliveryRow> = events
        .iter()
        .zip(&plan.ids)
        .zip(&plan.subscriptions)
        .flat_map(|((event, &id), subs)| delivery_rows(event.user_id, id, subs))
        .collect();
    let columns = EventColumns::of(plan, events);
    let deliveries = DeliveryColumns::of(&rows);
    let mut params = columns.params();
    params.extend(deliveries.params());
    let written = client
        .query(&client.prepare_cached(&STORE_AT_ONCE).await?, &params)
        .await?;
    let (mut inserted, mut made) = (HashSet::new(), HashMap::new());
    for row in &written {
        let id: Uuid = row.get("id");
        if row.get::<_, bool>("is_event") {
            inserted.insert(id);
        } else {
            made.insert(id, row.get::<_, bool>("held"));
        }
    }
    let rows = made_rows(rows, &made);
    Ok(answers(client, events, plan, &inserted, &rows).await)
}

/// Events and their deliveries in one statement: the events whose idempotency key is new,
/// then the deliveries of those events whose subscription still exists, each `pending` or
/// `held` as its subscription stands ([`STATUS_OF_NEW`]). Returns the ids written, each
/// saying whether it is an event's, and a delivery's whether it is held.
static STORE_AT_ONCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {CLAIM_KEYS},
              ev AS ({INSERT_EVENTS}),
              made AS (
                  INSERT INTO deliveries (id, user_id, event_id, subscription_id, status)
                  SELECT d.id, d.user_id, d.event_id, d.subscription_id, {STATUS_OF_NEW}
                  FROM unnest($14::uuid[], $15::uuid[], $16::uuid[], $17::uuid[])
                      AS d(id, user_id, event_id, subscription_id)
                  JOIN subscriptions s ON s.id = d.subscription_id
                  WHERE d.event_id IN (SELECT id FROM ev)
                  RETURNING id, status = 'held' AS held)
         SELECT id, true AS is_event, false AS held FROM ev
         UNION ALL SELECT id, false, held FROM made"
    )
});

/// What the committed event is answered with.
fn created(event: &NewEvent, event_id: Uuid, rows: &[DeliveryRow]) -> Stored {
    let envelopes = first_attempts(rows);
    let at = OffsetDateTime::now_utc();
    let held = rows
        .iter()
        .filter(|row| row.held)
        .map(|row| DeliveryHeld {
            delivery_id: row.id,
            event_id,
            event_type: event.event_type.clone(),
            subscription_id: row.target.id,
            at,
        })
        .collect();
    Stored::Created {
        event_id,
        held,
        received: EventReceived {
            event_id,
            source_id: event.source_id,
            event_type: event.event_type.clone(),
            deliveries: rows.len(),
            held: rows.iter().filter(|row| row.held).count(),
            at,
        },
        deliveries: rows.len(),
        envelopes,
        user_id: event.user_id,
    }
}

/// The answer for a repeated idempotency key: the original, if the body is the same.
async fn replayed(client: &impl GenericClient, event: &NewEvent, hash: &[u8]) -> Result<Stored> {
    let row = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT e.id, e.body_sha256, e.initial_deliveries
             FROM event_idempotency_keys k JOIN events e ON e.id = k.event_id
             WHERE k.idempotency_scope = $1 AND k.idempotency_key = $2",
                )
                .await?,
            &[&event.idempotency_scope, &event.idempotency_key],
        )
        .await?;
    if row.get::<_, Vec<u8>>("body_sha256") != hash {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used with a different body".into(),
        ));
    }
    Ok(Stored::Replayed {
        event_id: row.get("id"),
        deliveries: row.get("initial_deliveries"),
    })
}
