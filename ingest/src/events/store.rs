//! Storing an event with its deliveries in a single transaction.

use std::collections::{HashMap, HashSet, hash_map::Entry};

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
    let rows: Vec<Vec<DeliveryRow>> = events
        .iter()
        .zip(&ids)
        .zip(&subscriptions)
        .map(|((event, &id), subs)| {
            if inserted.contains(&id) {
                delivery_rows(event.user_id, id, subs)
            } else {
                Vec::new()
            }
        })
        .collect();
    insert_delivery_rows(tx, &rows.concat()).await?;
    let mut outcomes = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        outcomes.push(if inserted.contains(&ids[index]) {
            Ok(created(event, ids[index], &rows[index]))
        } else {
            replayed(tx, event, &hashes[index]).await
        });
    }
    Ok(outcomes)
}

/// The subscriptions each event goes to, asking once per owner and source in the group.
async fn matching_each(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<Vec<Vec<Uuid>>> {
    let mut candidates: HashMap<(Uuid, Option<Uuid>), Vec<Candidate>> = HashMap::new();
    let mut matched = Vec::with_capacity(events.len());
    for event in events {
        let of_source = match candidates.entry((event.user_id, event.source_id)) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                entry.insert(subscriptions_of(tx, event.user_id, event.source_id).await?)
            }
        };
        matched.push(
            of_source
                .iter()
                .filter(|(_, types)| event_type_matches(types, &event.event_type))
                .map(|(id, _)| *id)
                .collect(),
        );
    }
    Ok(matched)
}

/// A subscription an event may go to: its id and the event types it takes.
type Candidate = (Uuid, Vec<String>);

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

/// A delivery to insert: its id, owner, event and subscription.
type DeliveryRow = (Uuid, Uuid, Uuid, Uuid);

/// One new pending delivery of the event per subscription.
fn delivery_rows(user_id: Uuid, event_id: Uuid, subscriptions: &[Uuid]) -> Vec<DeliveryRow> {
    subscriptions
        .iter()
        .map(|&subscription_id| (Uuid::now_v7(), user_id, event_id, subscription_id))
        .collect()
}

/// Inserts pending deliveries, all in one statement.
async fn insert_delivery_rows(client: &impl GenericClient, rows: &[DeliveryRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |pick: fn(&DeliveryRow) -> Uuid| rows.iter().map(pick).collect::<Vec<Uuid>>();
    let (ids, users, events, subscriptions) = (
        column(|r| r.0),
        column(|r| r.1),
        column(|r| r.2),
        column(|r| r.3),
    );
    client
        .execute(
            &client
                .prepare_cached(
                    "INSERT INTO deliveries (id, user_id, event_id, subscription_id)
                     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[])",
                )
                .await?,
            &[&ids, &users, &events, &subscriptions],
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
    subscriptions: &[Uuid],
) -> Result<Vec<Envelope>> {
    let rows = delivery_rows(user_id, event_id, subscriptions);
    insert_delivery_rows(client, &rows).await?;
    Ok(first_attempts(&rows))
}

/// The envelopes of new deliveries' first attempts.
fn first_attempts(rows: &[DeliveryRow]) -> Vec<Envelope> {
    rows.iter()
        .map(|&(delivery_id, user_id, event_id, subscription_id)| {
            Envelope::DeliverV1(DeliverV1 {
                delivery_id,
                event_id,
                subscription_id,
                user_id,
                attempt: 1,
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
) -> Result<Vec<Uuid>> {
    Ok(subscriptions_of(client, user_id, source_id)
        .await?
        .into_iter()
        .filter(|(_, types)| event_type_matches(types, event_type))
        .map(|(id, _)| id)
        .collect())
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
                    "SELECT id, event_types FROM subscriptions
             WHERE user_id = $1 AND is_active AND (source_id IS NULL OR source_id = $2)",
                )
                .await?,
            &[&user_id, &source_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get("id"), row.get("event_types")))
        .collect())
}

/// Inserts the events whose idempotency key is new (in the database and earlier in the
/// group), in one statement; returns the ids of those inserted.
async fn insert_events(
    tx: &Transaction<'_>,
    ids: &[Uuid],
    events: &[NewEvent],
    hashes: &[Vec<u8>],
    subscriptions: &[Vec<Uuid>],
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
