//! Storing an event with its deliveries in a single transaction.

use std::collections::{BTreeMap, HashMap, HashSet, hash_map::Entry};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    envelope::{DeliverV1, Envelope},
    live::EventReceived,
    matching::event_type_matches,
    model::Provider,
    tokens::body_hash,
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
    /// The parsed body, when it was JSON.
    pub payload: Option<Value>,
    /// The request headers worth keeping.
    pub headers: Value,
    /// The provider whose signature was verified.
    pub verified_by: Option<Provider>,
}

/// What storing an event came to.
#[derive(Debug)]
pub enum Stored {
    /// A new event, durable, with one envelope to publish per delivery.
    Created {
        /// The event id.
        event_id: Uuid,
        /// One per delivery created.
        envelopes: Vec<Envelope>,
        /// Its owner.
        user_id: Uuid,
        /// What the live log says of it.
        received: EventReceived,
    },
    /// The idempotency key was seen before with the same body: the original answer.
    Replayed {
        /// The original event id.
        event_id: Uuid,
        /// How many deliveries the original created.
        deliveries: i32,
    },
}

/// Writes a group of events, each with one pending delivery per matching subscription, into
/// `tx`, for one commit (and one WAL flush) for the group. Returns each event's own outcome
/// in order (a reused idempotency key is that event's answer, not the group's); an error
/// leaves the transaction to be rolled back.
pub async fn stage_group(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<Vec<Result<Stored>>> {
    let subscriptions = matching_each(tx, events).await?;
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let hashes: Vec<Vec<u8>> = events.iter().map(|e| body_hash(&e.raw_body)).collect();
    let inserted = insert_events(tx, &ids, events, &hashes, &subscriptions).await?;
    // Each new event's deliveries; none for an event whose key was seen before.
    let mut rows: Vec<DeliveryRow> = events
        .iter()
        .zip(&ids)
        .zip(&subscriptions)
        .filter(|((_, id), _)| inserted.contains(id))
        .flat_map(|((event, &id), subs)| delivery_rows(event.user_id, id, subs))
        .collect();
    insert_delivery_rows(tx, &mut rows).await?;
    let mut outcomes = Vec::with_capacity(events.len());
    // The rows are in event order: each new event's own are the next `subscriptions` of them.
    let mut rest = rows.as_slice();
    for (index, event) in events.iter().enumerate() {
        outcomes.push(if inserted.contains(&ids[index]) {
            let (own, after) = rest.split_at(subscriptions[index].len());
            rest = after;
            Ok(created(event, ids[index], own))
        } else {
            replayed(tx, event, &hashes[index]).await
        });
    }
    Ok(outcomes)
}

/// The subscriptions each event goes to, asking once per owner and source in the group.
async fn matching_each(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<Vec<Vec<Target>>> {
    let mut candidates: HashMap<(Uuid, Option<Uuid>), Vec<Candidate>> = HashMap::new();
    let mut matched = Vec::with_capacity(events.len());
    for event in events {
        let of_source = match candidates.entry((event.user_id, event.source_id)) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                entry.insert(subscriptions_of(tx, event.user_id, event.source_id).await?)
            }
        };
        matched.push(taking(of_source, &event.event_type));
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

/// A subscription an event may go to, and the event types it takes.
struct Candidate {
    target: Target,
    event_types: Vec<String>,
}

/// The candidates that take events of this type.
fn taking(candidates: &[Candidate], event_type: &str) -> Vec<Target> {
    candidates
        .iter()
        .filter(|c| event_type_matches(&c.event_types, event_type))
        .map(|c| c.target)
        .collect()
}

/// What the committed event is answered with.
fn created(event: &NewEvent, event_id: Uuid, rows: &[DeliveryRow]) -> Stored {
    let envelopes = first_attempts(rows);
    Stored::Created {
        event_id,
        received: EventReceived {
            event_id,
            source_id: event.source_id,
            event_type: event.event_type.clone(),
            deliveries: envelopes.len(),
            at: OffsetDateTime::now_utc(),
        },
        envelopes,
        user_id: event.user_id,
    }
}

/// A delivery to insert.
#[derive(Debug)]
struct DeliveryRow {
    id: Uuid,
    user_id: Uuid,
    event_id: Uuid,
    target: Target,
    /// Its place in a FIFO line, taken just before the insert.
    fifo_seq: Option<i64>,
}

/// One new pending delivery of the event per subscription.
fn delivery_rows(user_id: Uuid, event_id: Uuid, targets: &[Target]) -> Vec<DeliveryRow> {
    targets
        .iter()
        .map(|&target| DeliveryRow {
            id: Uuid::now_v7(),
            user_id,
            event_id,
            target,
            fifo_seq: None,
        })
        .collect()
}

/// Gives each delivery to a FIFO subscription the next places in its line, in row order.
/// Taking a place locks the line's counter until the transaction ends, so for one
/// subscription the order of places is the order of commits; lines are locked in
/// subscription-id order, so two transactions cannot deadlock on them.
async fn take_places(client: &impl GenericClient, rows: &mut [DeliveryRow]) -> Result<()> {
    let mut lines: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate().filter(|(_, r)| r.target.fifo) {
        lines.entry(row.target.id).or_default().push(index);
    }
    if lines.is_empty() {
        return Ok(());
    }
    let statement = client
        .prepare_cached(
            "INSERT INTO fifo_sequences (subscription_id, next_seq) VALUES ($1, $2)
             ON CONFLICT (subscription_id)
             DO UPDATE SET next_seq = fifo_sequences.next_seq + excluded.next_seq
             RETURNING next_seq",
        )
        .await?;
    for (subscription_id, indexes) in lines {
        let taken = indexes.len() as i64;
        let last: i64 = client
            .query_one(&statement, &[&subscription_id, &taken])
            .await?
            .get(0);
        for (offset, index) in indexes.into_iter().enumerate() {
            rows[index].fifo_seq = Some(last - taken + 1 + offset as i64);
        }
    }
    Ok(())
}

/// Inserts pending deliveries, all in one statement, FIFO ones with their places.
async fn insert_delivery_rows(client: &impl GenericClient, rows: &mut [DeliveryRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    take_places(client, rows).await?;
    let column = |pick: fn(&DeliveryRow) -> Uuid| rows.iter().map(pick).collect::<Vec<Uuid>>();
    let (ids, users, events, subscriptions) = (
        column(|r| r.id),
        column(|r| r.user_id),
        column(|r| r.event_id),
        column(|r| r.target.id),
    );
    let places: Vec<Option<i64>> = rows.iter().map(|r| r.fifo_seq).collect();
    client
        .execute(
            &client
                .prepare_cached(
                    "INSERT INTO deliveries (id, user_id, event_id, subscription_id, fifo_seq)
                     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int8[])",
                )
                .await?,
            &[&ids, &users, &events, &subscriptions, &places],
        )
        .await?;
    Ok(())
}

/// Inserts one pending delivery of the event per subscription; returns the envelopes of
/// their first attempts, to publish once the transaction commits.
pub async fn insert_deliveries(
    client: &impl GenericClient,
    user_id: Uuid,
    event_id: Uuid,
    targets: &[Target],
) -> Result<Vec<Envelope>> {
    let mut rows = delivery_rows(user_id, event_id, targets);
    insert_delivery_rows(client, &mut rows).await?;
    Ok(first_attempts(&rows))
}

/// The envelopes of new deliveries' first attempts.
fn first_attempts(rows: &[DeliveryRow]) -> Vec<Envelope> {
    rows.iter()
        .map(|row| {
            Envelope::DeliverV1(DeliverV1 {
                delivery_id: row.id,
                event_id: row.event_id,
                subscription_id: row.target.id,
                user_id: row.user_id,
                attempt: 1,
                ordered: row.fifo_seq.is_some(),
            })
        })
        .collect()
}

/// The owner's active subscriptions that take events of this type from this source
/// (subscriptions without a source take every source's; an event without a source reaches
/// only those).
pub async fn matching_subscriptions(
    client: &impl GenericClient,
    user_id: Uuid,
    source_id: Option<Uuid>,
    event_type: &str,
) -> Result<Vec<Target>> {
    Ok(taking(
        &subscriptions_of(client, user_id, source_id).await?,
        event_type,
    ))
}

/// The owner's active subscriptions that take events from this source, with their event
/// types.
async fn subscriptions_of(
    client: &impl GenericClient,
    user_id: Uuid,
    source_id: Option<Uuid>,
) -> Result<Vec<Candidate>> {
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "SELECT id, event_types, ordering = 'fifo' AS fifo FROM subscriptions
             WHERE user_id = $1 AND is_active AND (source_id IS NULL OR source_id = $2)",
                )
                .await?,
            &[&user_id, &source_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Candidate {
            target: Target {
                id: row.get("id"),
                fifo: row.get("fifo"),
            },
            event_types: row.get("event_types"),
        })
        .collect())
}

/// Inserts the events whose idempotency key is new (in the database and earlier in the
/// group), in one statement; returns the ids of those inserted.
async fn insert_events(
    tx: &Transaction<'_>,
    ids: &[Uuid],
    events: &[NewEvent],
    hashes: &[Vec<u8>],
    subscriptions: &[Vec<Target>],
) -> Result<HashSet<Uuid>> {
    let deliveries = subscriptions
        .iter()
        .map(|s| i32::try_from(s.len()))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let users: Vec<Uuid> = events.iter().map(|e| e.user_id).collect();
    let sources: Vec<Option<Uuid>> = events.iter().map(|e| e.source_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let content_types: Vec<Option<&str>> =
        events.iter().map(|e| e.content_type.as_deref()).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.raw_body.as_ref()).collect();
    let payloads: Vec<Option<&Value>> = events.iter().map(|e| e.payload.as_ref()).collect();
    let headers: Vec<&Value> = events.iter().map(|e| &e.headers).collect();
    let scopes: Vec<Uuid> = events.iter().map(|e| e.idempotency_scope).collect();
    let keys: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.idempotency_key.as_deref())
        .collect();
    let verified: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.verified_by.map(Provider::as_str))
        .collect();
    let rows = tx
        .query(
            &tx.prepare_cached(
                "INSERT INTO events (id, user_id, source_id, event_type, content_type, raw_body,
                 payload, headers, idempotency_scope, idempotency_key, body_sha256,
                 initial_deliveries, verified_by)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                 $6::bytea[], $7::jsonb[], $8::jsonb[], $9::uuid[], $10::text[], $11::bytea[],
                 $12::int[], $13::text[])
             ON CONFLICT ON CONSTRAINT events_idempotency_key DO NOTHING
             RETURNING id",
            )
            .await?,
            &[
                &ids,
                &users,
                &sources,
                &types,
                &content_types,
                &bodies,
                &payloads,
                &headers,
                &scopes,
                &keys,
                &hashes,
                &deliveries,
                &verified,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// The answer for a repeated idempotency key: the original, if the body is the same.
async fn replayed(tx: &Transaction<'_>, event: &NewEvent, hash: &[u8]) -> Result<Stored> {
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT id, body_sha256, initial_deliveries FROM events
             WHERE idempotency_scope = $1 AND idempotency_key = $2",
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
