//! Storing an event with its deliveries in a single transaction.

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

/// Stores the event and one pending delivery per matching subscription in one transaction.
/// Returns only once the commit is durable; any failure leaves nothing behind.
pub async fn store(client: &mut deadpool_postgres::Object, event: NewEvent) -> Result<Stored> {
    let tx = client.transaction().await?;
    let subscriptions =
        matching_subscriptions(&tx, event.user_id, event.source_id, &event.event_type).await?;
    let event_id = Uuid::now_v7();
    let hash = body_hash(&event.raw_body);
    let inserted = insert_event(&tx, event_id, &event, &hash, subscriptions.len()).await?;
    if !inserted {
        return replayed(&tx, &event, &hash).await;
    }
    let envelopes = insert_deliveries(&tx, event.user_id, event_id, &subscriptions).await?;
    tx.commit().await?;
    let received = EventReceived {
        event_id,
        source_id: event.source_id,
        event_type: event.event_type,
        deliveries: envelopes.len(),
        at: OffsetDateTime::now_utc(),
    };
    Ok(Stored::Created {
        event_id,
        envelopes,
        user_id: event.user_id,
        received,
    })
}

/// Inserts one pending delivery of the event per subscription; returns the envelopes of
/// their first attempts, to publish once the transaction commits.
pub async fn insert_deliveries(
    client: &impl GenericClient,
    user_id: Uuid,
    event_id: Uuid,
    subscriptions: &[Uuid],
) -> Result<Vec<Envelope>> {
    let delivery_ids: Vec<Uuid> = subscriptions.iter().map(|_| Uuid::now_v7()).collect();
    client
        .execute(
            &client
                .prepare_cached(
                    "INSERT INTO deliveries (id, user_id, event_id, subscription_id)
             SELECT unnest($1::uuid[]), $2, $3, unnest($4::uuid[])",
                )
                .await?,
            &[&delivery_ids, &user_id, &event_id, &subscriptions],
        )
        .await?;
    let envelopes = delivery_ids
        .into_iter()
        .zip(subscriptions)
        .map(|(delivery_id, &subscription_id)| {
            Envelope::DeliverV1(DeliverV1 {
                delivery_id,
                event_id,
                subscription_id,
                user_id,
                attempt: 1,
            })
        })
        .collect();
    Ok(envelopes)
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
        .filter(|row| event_type_matches(&row.get::<_, Vec<String>>("event_types"), event_type))
        .map(|row| row.get("id"))
        .collect())
}

/// Inserts the event unless its idempotency key exists; says whether it did.
async fn insert_event(
    tx: &Transaction<'_>,
    id: Uuid,
    event: &NewEvent,
    hash: &[u8],
    deliveries: usize,
) -> Result<bool> {
    let deliveries = i32::try_from(deliveries).map_err(|e| ApiError::Internal(e.into()))?;
    let verified_by = event.verified_by.map(Provider::as_str);
    let row = tx
        .query_opt(
            &tx.prepare_cached("INSERT INTO events (id, user_id, source_id, event_type, content_type, raw_body, payload, headers,
                 idempotency_scope, idempotency_key, body_sha256, initial_deliveries, verified_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT ON CONSTRAINT events_idempotency_key DO NOTHING
             RETURNING id").await?,
            &[
                &id,
                &event.user_id,
                &event.source_id,
                &event.event_type,
                &event.content_type,
                &event.raw_body.as_ref(),
                &event.payload,
                &event.headers,
                &event.idempotency_scope,
                &event.idempotency_key,
                &hash,
                &deliveries,
                &verified_by,
            ],
        )
        .await?;
    Ok(row.is_some())
}

/// The answer for a repeated idempotency key: the original, if the body is the same.
async fn replayed(tx: &Transaction<'_>, event: &NewEvent, hash: &[u8]) -> Result<Stored> {
    let row = tx
        .query_one(
            "SELECT id, body_sha256, initial_deliveries FROM events
             WHERE idempotency_scope = $1 AND idempotency_key = $2",
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
