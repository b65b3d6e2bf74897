//! Storing an event with its deliveries in a single transaction.

use std::{
    cell::OnceCell,
    collections::{BTreeMap, HashMap, HashSet, hash_map::Entry},
    sync::{Arc, LazyLock},
};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use warren_shared::{
    containment::{self, Json},
    envelope::{DeliverV1, Envelope},
    live::{DeliveryHeld, EventReceived},
    matching::event_type_matches,
    model::Provider,
    tokens::body_hash,
};

use crate::{
    error::{ApiError, Result},
    json_body::JsonbText,
};

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

/// A new delivery's status, from its subscription `s` as the inserting statement sees it:
/// `held` while the subscription is not active, and while it releases deliveries held
/// before (a new one waits behind them, so a FIFO line keeps its order and the release its
/// pace); `pending` otherwise. Decided by the insert itself, not when the subscriptions were
/// read: a FIFO delivery's statement runs after its place in line is taken, under the line's
/// lock, which the sweeper also takes before it ends a release (`ingest/src/held.rs`).
const STATUS_OF_NEW: &str = "CASE WHEN s.is_active AND s.held_sweep IS DISTINCT FROM 'release' \
     THEN 'pending' ELSE 'held' END";

/// The rows the database made, each marked held or not; those it did not make (their
/// subscription was deleted since the plan was read) are left out.
fn made_rows(rows: Vec<DeliveryRow>, made: &HashMap<Uuid, bool>) -> Vec<DeliveryRow> {
    rows.into_iter()
        .filter_map(|row| {
            let held = *made.get(&row.id)?;
            Some(DeliveryRow { held, ..row })
        })
        .collect()
}

/// The subscriptions each event goes to: from the candidates read with its source, or asking
/// once per owner and source in the group.
async fn matching_each(
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

/// A delivery to insert.
#[derive(Debug)]
struct DeliveryRow {
    id: Uuid,
    user_id: Uuid,
    event_id: Uuid,
    target: Target,
    /// Its place in a FIFO line, taken just before the insert.
    fifo_seq: Option<i64>,
    /// Made `held` (its subscription is not active): no envelope is published for it.
    held: bool,
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
            held: false,
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

/// Inserts deliveries, all in one statement, FIFO ones with their places, each pending or
/// held as its subscription stands; returns those made (not those whose subscription was
/// deleted since it was read), marked.
async fn insert_delivery_rows(
    client: &impl GenericClient,
    rows: &mut Vec<DeliveryRow>,
) -> Result<Vec<DeliveryRow>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    take_places(client, rows).await?;
    let columns = DeliveryColumns::of(rows);
    let places: Vec<Option<i64>> = rows.iter().map(|r| r.fifo_seq).collect();
    let made = client
        .query(
            &client.prepare_cached(&INSERT_DELIVERIES).await?,
            &[&columns.params()[..], &[&places]].concat(),
        )
        .await?;
    let made: HashMap<Uuid, bool> = made
        .iter()
        .map(|row| (row.get("id"), row.get("held")))
        .collect();
    Ok(made_rows(std::mem::take(rows), &made))
}

/// Inserts the deliveries of `$1`…`$5` whose subscription exists; returns their ids and
/// whether each is held.
static INSERT_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries (id, user_id, event_id, subscription_id, fifo_seq, status)
         SELECT d.id, d.user_id, d.event_id, d.subscription_id, d.fifo_seq, {STATUS_OF_NEW}
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int8[])
             AS d(id, user_id, event_id, subscription_id, fifo_seq)
         JOIN subscriptions s ON s.id = d.subscription_id
         RETURNING id, status = 'held' AS held"
    )
});

/// Deliveries as the columns of an `unnest`.
struct DeliveryColumns {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    events: Vec<Uuid>,
    subscriptions: Vec<Uuid>,
}

impl DeliveryColumns {
    /// The four columns, as parameters in this order.
    fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.ids, &self.users, &self.events, &self.subscriptions]
    }

    fn of(rows: &[DeliveryRow]) -> Self {
        let column = |pick: fn(&DeliveryRow) -> Uuid| rows.iter().map(pick).collect();
        Self {
            ids: column(|r| r.id),
            users: column(|r| r.user_id),
            events: column(|r| r.event_id),
            subscriptions: column(|r| r.target.id),
        }
    }
}

/// Inserts one delivery of the event per subscription; returns the envelopes of their first
/// attempts (none for a held one), to publish once the transaction commits.
pub async fn insert_deliveries(
    client: &impl GenericClient,
    user_id: Uuid,
    event_id: Uuid,
    targets: &[Target],
) -> Result<Vec<Envelope>> {
    let mut rows = delivery_rows(user_id, event_id, targets);
    let rows = insert_delivery_rows(client, &mut rows).await?;
    Ok(first_attempts(&rows))
}

/// Inserts one delivery to `target` for each of `event_ids`, in that order (a FIFO
/// subscription's places follow it); returns the envelopes of their first attempts.
pub async fn insert_for_events(
    client: &impl GenericClient,
    user_id: Uuid,
    target: Target,
    event_ids: &[Uuid],
) -> Result<Vec<Envelope>> {
    let mut rows: Vec<DeliveryRow> = event_ids
        .iter()
        .flat_map(|&event_id| delivery_rows(user_id, event_id, &[target]))
        .collect();
    let rows = insert_delivery_rows(client, &mut rows).await?;
    Ok(first_attempts(&rows))
}

/// The envelopes of new deliveries' first attempts; held ones have none.
fn first_attempts(rows: &[DeliveryRow]) -> Vec<Envelope> {
    rows.iter()
        .filter(|row| !row.held)
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

/// Inserts the events whose idempotency key is new (in the database and earlier in the
/// group), in one statement; returns the ids of those inserted.
async fn insert_events(
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
const CLAIM_KEYS: &str = "claimed AS (
         INSERT INTO event_idempotency_keys (idempotency_scope, idempotency_key, event_id)
         SELECT k.scope, k.key, k.id FROM unnest($1::uuid[], $9::uuid[], $10::text[])
             AS k(id, scope, key)
         WHERE k.key IS NOT NULL
         ON CONFLICT DO NOTHING
         RETURNING event_id)";

/// Inserts the events of `$1`…`$13` that carry no key or whose key was claimed
/// ([`CLAIM_KEYS`], which must precede it); returns their ids.
const INSERT_EVENTS: &str =
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
struct EventColumns<'a> {
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
    fn of(plan: &'a Plan, events: &'a [NewEvent]) -> Self {
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
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
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
