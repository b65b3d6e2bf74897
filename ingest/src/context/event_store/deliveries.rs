//! Inserting deliveries: FIFO ones with their places in line, each `pending` or `held` as
//! its subscription stands.

use std::{
    collections::{BTreeMap, HashMap},
    sync::LazyLock,
};

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use warren_shared::envelope::{DeliverV1, Envelope};

use super::Target;
use crate::error::Result;

/// A new delivery's status, from its subscription `s` as the inserting statement sees it:
/// `held` while the subscription is not active, and while it releases deliveries held
/// before (a new one waits behind them, so a FIFO line keeps its order and the release its
/// pace); `pending` otherwise. Decided by the insert itself, not when the subscriptions were
/// read: a FIFO delivery's statement runs after its place in line is taken, under the line's
/// lock, which the sweeper also takes before it ends a release (`ingest/src/held.rs`).
pub(super) const STATUS_OF_NEW: &str = "CASE WHEN s.is_active AND s.held_sweep IS DISTINCT FROM 'release' \
     THEN 'pending' ELSE 'held' END";

/// The rows the database made, each marked held or not; those it did not make (their
/// subscription was deleted since the plan was read) are left out.
pub(super) fn made_rows(rows: Vec<DeliveryRow>, made: &HashMap<Uuid, bool>) -> Vec<DeliveryRow> {
    rows.into_iter()
        .filter_map(|row| {
            let held = *made.get(&row.id)?;
            Some(DeliveryRow { held, ..row })
        })
        .collect()
}

/// A delivery to insert.
#[derive(Debug)]
pub(super) struct DeliveryRow {
    pub(super) id: Uuid,
    pub(super) user_id: Uuid,
    pub(super) event_id: Uuid,
    pub(super) target: Target,
    /// Its place in a FIFO line, taken just before the insert.
    pub(super) fifo_seq: Option<i64>,
    /// Made `held` (its subscription is not active): no envelope is published for it.
    pub(super) held: bool,
}

/// One new pending delivery of the event per subscription.
pub(super) fn delivery_rows(user_id: Uuid, event_id: Uuid, targets: &[Target]) -> Vec<DeliveryRow> {
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
pub(super) async fn insert_delivery_rows(
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
pub(super) struct DeliveryColumns {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    events: Vec<Uuid>,
    subscriptions: Vec<Uuid>,
}

impl DeliveryColumns {
    /// The four columns, as parameters in this order.
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.ids, &self.users, &self.events, &self.subscriptions]
    }

    pub(super) fn of(rows: &[DeliveryRow]) -> Self {
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
pub(super) fn first_attempts(rows: &[DeliveryRow]) -> Vec<Envelope> {
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
