//! Inserting events: their idempotency keys claimed first, in the same statement.

use std::{collections::HashSet, sync::LazyLock};

use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use warren_shared::model::Provider;

use super::{NewEvent, Plan};
use crate::{error::Result, json_body::JsonbText};

/// Inserts the events whose idempotency key is new (in the database and earlier in the
/// group), in one statement; returns the ids of those inserted.
pub(super) async fn insert_events(
    tx: &Transaction<'_>,
    plan: &Plan,
    events: &[NewEvent],
) -> Result<HashSet<Uuid>> {
    let columns = EventColumns::of(plan, events);
    let rows = tx
        .query(
            &tx.prepare_cached(&INSERT_EVENTS_ALONE).await?,
            &columns.params(),
        )
        .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// Claims the idempotency keys of the events of `$1`…`$13` that carry one, in
/// `event_idempotency_keys` (a table of its own: `events` is partitioned by time, and a
/// unique index there would have to hold the partition key); returns the ids of the events
/// whose key was new. A key taken by a concurrent transaction waits for it, then counts as
/// taken; a key repeated within the group is claimed by its first event. Events without a
/// key pay one empty scan of `$10`.
pub(super) const CLAIM_KEYS: &str = "claimed AS (
         INSERT INTO event_idempotency_keys (idempotency_scope, idempotency_key, event_id)
         SELECT k.scope, k.key, k.id FROM unnest($1::uuid[], $9::uuid[], $10::text[])
             AS k(id, scope, key)
         WHERE k.key IS NOT NULL
         ON CONFLICT DO NOTHING
         RETURNING event_id)";

/// Inserts the events of `$1`…`$13` that carry no key or whose key was claimed
/// ([`CLAIM_KEYS`], which must precede it); returns their ids.
pub(super) const INSERT_EVENTS: &str =
    "INSERT INTO events (id, user_id, source_id, event_type, content_type, raw_body,
         payload, headers, idempotency_scope, idempotency_key, body_sha256,
         initial_deliveries, verified_by)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
         $6::bytea[], $7::jsonb[], $8::jsonb[], $9::uuid[], $10::text[], $11::bytea[],
         $12::int[], $13::text[])
         AS e(id, user_id, source_id, event_type, content_type, raw_body, payload, headers,
              idempotency_scope, idempotency_key, body_sha256, initial_deliveries, verified_by)
     WHERE e.idempotency_key IS NULL OR e.id IN (SELECT event_id FROM claimed)
     RETURNING id";

/// The events of `$1`…`$13` whose idempotency key is new, as a statement of its own.
static INSERT_EVENTS_ALONE: LazyLock<String> =
    LazyLock::new(|| format!("WITH {CLAIM_KEYS} {INSERT_EVENTS}"));

/// Events as the columns of an `unnest`.
pub(super) struct EventColumns<'a> {
    ids: &'a [Uuid],
    users: Vec<Uuid>,
    sources: Vec<Option<Uuid>>,
    types: Vec<&'a str>,
    content_types: Vec<Option<&'a str>>,
    bodies: Vec<&'a [u8]>,
    payloads: Vec<Option<JsonbText<'a>>>,
    headers: Vec<&'a Value>,
    scopes: Vec<Uuid>,
    keys: Vec<Option<&'a str>>,
    hashes: &'a [Vec<u8>],
    deliveries: Vec<i32>,
    verified: Vec<Option<&'static str>>,
}

impl<'a> EventColumns<'a> {
    pub(super) fn of(plan: &'a Plan, events: &'a [NewEvent]) -> Self {
        Self {
            ids: &plan.ids,
            users: events.iter().map(|e| e.user_id).collect(),
            sources: events.iter().map(|e| e.source_id).collect(),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            content_types: events.iter().map(|e| e.content_type.as_deref()).collect(),
            bodies: events.iter().map(|e| e.raw_body.as_ref()).collect(),
            payloads: events
                .iter()
                .map(|e| e.json.then(|| JsonbText(&e.raw_body)))
                .collect(),
            headers: events.iter().map(|e| &e.headers).collect(),
            scopes: events.iter().map(|e| e.idempotency_scope).collect(),
            keys: events
                .iter()
                .map(|e| e.idempotency_key.as_deref())
                .collect(),
            hashes: &plan.hashes,
            // A group holds at most a few thousand events, each with its owner's
            // subscriptions: far below `i32::MAX`.
            deliveries: plan
                .subscriptions
                .iter()
                .map(|s| i32::try_from(s.len()).unwrap_or(i32::MAX))
                .collect(),
            verified: events
                .iter()
                .map(|e| e.verified_by.map(Provider::as_str))
                .collect(),
        }
    }

    /// `$1`…`$13` of [`INSERT_EVENTS`].
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.ids,
            &self.users,
            &self.sources,
            &self.types,
            &self.content_types,
            &self.bodies,
            &self.payloads,
            &self.headers,
            &self.scopes,
            &self.keys,
            &self.hashes,
            &self.deliveries,
            &self.verified,
        ]
    }
}
