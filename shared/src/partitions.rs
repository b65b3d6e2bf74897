//! Time partitions of `events`, `deliveries` and `delivery_attempts` (docs/architecture.md,
//! "History that does not slow it down"). Each is partitioned by range of a UUIDv7 id, which
//! sorts by the millisecond it was taken: `events` and `deliveries` by their own id,
//! `delivery_attempts` by `delivery_id` (attempts live with their delivery). A partition
//! holds the ids of one window of `WARREN_PARTITION_SECS` seconds, aligned to the Unix epoch,
//! and is named `<table>_p<the window's start in Unix seconds>` (a second part of a window
//! another partition holds part of is `…_p<start>_<its end in Unix milliseconds>`); the
//! three tables' partitions of a window are made and dropped together. Besides them:
//! `<table>_legacy` (the rows from before partitioning, below the bound V18 set) and the
//! DEFAULT partition `<table>_kept` (rows retention keeps when it drops their partition, and
//! any row whose partition is missing).
//!
//! This module owns them: [`ensure_ahead`] creates the windows ahead of time (both services
//! at start-up, warren-ingest every tick of its maintenance), [`drop_older_than`] drops whole
//! windows past retention, keeping what is still in flight, and [`complete_indexes`] builds a
//! new parent index's piece on a partition that lacks it without locking writes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use time::OffsetDateTime;
use tokio_postgres::{Client, Transaction, error::SqlState};
use uuid::Uuid;

/// The partitioned tables, with the column each is partitioned by, in the order every
/// writer locks them (events, then deliveries, then attempts).
pub const TABLES: [(&str, &str); 3] = [
    ("events", "id"),
    ("deliveries", "id"),
    ("delivery_attempts", "delivery_id"),
];

/// Windows created ahead of the current one by default (the current and the next 3).
pub const AHEAD: u32 = 3;

/// Key of the advisory lock that serialises partition changes between processes ("wrpart").
const LOCK: i64 = 0x7772_7061_7274;

/// How long a partition change waits for its table locks before giving up until the next
/// tick: never long enough to hold ingest behind it (a waiting ACCESS EXCLUSIVE request
/// queues every later statement on the table behind it).
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '300ms'";

/// The same for a drop, which runs every retention tick once a window is due and may try
/// many times: ingest waits at most this long behind one try. A drop first tries to take
/// the three parents at once without waiting ([`at_once`]); a detach also takes
/// SHARE ROW EXCLUSIVE on the tables the foreign keys point at (users, sources,
/// subscriptions), dropping a detached table's foreign keys ACCESS EXCLUSIVE on them.
const DROP_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '50ms'";

/// The smallest UUIDv7 of the millisecond `at`: every id taken before `at` sorts below it.
pub fn first_id_at(at: OffsetDateTime) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

/// The least and the greatest of `ids` (`Uuid::max()` and nil when there are none), for a
/// statement that finds rows by an array of ids to name as a range too: PostgreSQL prunes
/// the partitions of a kept (generic) plan by a range of parameters as the statement starts,
/// but not by an array's elements.
pub fn id_range(ids: impl IntoIterator<Item = Uuid>) -> (Uuid, Uuid) {
    ids.into_iter()
        .fold((Uuid::max(), Uuid::nil()), |(least, greatest), id| {
            (least.min(id), greatest.max(id))
        })
}

/// A range partition: ids in `[lower, upper)`; `lower` is nil for the legacy partition
/// (`FROM (MINVALUE)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its table's name.
    pub name: String,
    /// The first id it holds.
    pub lower: Uuid,
    /// The first id it does not hold.
    pub upper: Uuid,
}

/// The range partitions of `table` (not its DEFAULT one), by lower bound.
pub async fn list(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> anyhow::Result<Vec<Partition>> {
    Ok(from_rows(&client.query(LIST, &[&table]).await?))
}

/// The partitions of the table named by `$1`, for [`from_rows`]: for a caller whose client
/// is not a `tokio_postgres` one.
pub const LIST: &str = "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = $1::text::regclass";

/// The range partitions among [`LIST`]'s rows, by lower bound.
pub fn from_rows(rows: &[tokio_postgres::Row]) -> Vec<Partition> {
    let mut partitions: Vec<Partition> = rows
        .iter()
        .filter_map(|row| parse_bound(row.get(0), row.get(1)))
        .collect();
    partitions.sort_by_key(|p| p.lower);
    partitions
}

/// A partition from its name and `FOR VALUES FROM (…) TO (…)`; `None` for DEFAULT.
fn parse_bound(name: String, bound: &str) -> Option<Partition> {
    let rest = bound.strip_prefix("FOR VALUES FROM (")?;
    let (lower, upper) = rest.split_once(") TO (")?;
    let id = |text: &str| Uuid::parse_str(text.trim_matches('\'')).ok();
    let lower = if lower == "MINVALUE" {
        Uuid::nil()
    } else {
        id(lower)?
    };
    Some(Partition {
        name,
        lower,
        upper: id(upper.strip_suffix(')')?)?,
    })
}

/// The window of `width` holding `at`, counted `offset` windows on: its start in Unix
/// seconds.
fn window_start(at: OffsetDateTime, width: Duration, offset: u32) -> i64 {
    let width = width.as_secs().max(1) as i64;
    at.unix_timestamp().div_euclid(width) * width + i64::from(offset) * width
}

fn at_secs(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The part of `[lower, upper)` that no partition in `existing` covers yet (the windows
/// meet the legacy partition's bound, or an earlier width's windows, part way), if any.
fn uncovered(existing: &[Partition], lower: Uuid, upper: Uuid) -> Option<(Uuid, Uuid)> {
    let mut start = lower;
    for p in existing {
        if p.lower <= start && p.upper > start {
            start = p.upper;
        }
    }
    let end = existing
        .iter()
        .filter(|p| p.lower > start && p.lower < upper)
        .map(|p| p.lower)
        .min()
        .unwrap_or(upper);
    (start < end).then_some((start, end))
}

/// Creates every missing partition from the window holding `now` to `ahead` windows after
/// it, for the three tables; returns the names of the `events` partitions created. Safe to
/// run from several processes at once (an advisory lock serialises them) and cheap when
/// nothing is missing. A window whose tables are busy (`lock_timeout`) is left for the next
/// call; rows of a window never created land in the `_kept` partitions, so nothing fails.
pub async fn ensure_ahead(
    client: &mut Client,
    width: Duration,
    now: OffsetDateTime,
    ahead: u32,
) -> anyhow::Result<Vec<String>> {
    let mut created = Vec::new();
    for offset in 0..=ahead {
        let start = window_start(now, width, offset);
        let end = start + width.as_secs().max(1) as i64;
        if let Some(name) = create_window(client, start, end).await? {
            created.push(name);
        }
    }
    Ok(created)
}

/// Creates the three partitions of the window `[start, end)` (Unix seconds) in one
/// transaction, clipped to what no partition covers; `None` when there was nothing to do.
async fn create_window(
    client: &mut Client,
    start: i64,
    end: i64,
) -> anyhow::Result<Option<String>> {
    let tx = client.transaction().await?;
    // Waiting for another process making partitions is fine; waiting for a table is not.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    tx.batch_execute(LOCK_TIMEOUT).await?;
    let existing = list(&tx, "events").await?;
    let Some((lower, upper)) = uncovered(
        &existing,
        first_id_at(at_secs(start)),
        first_id_at(at_secs(end)),
    ) else {
        return Ok(None);
    };
    let suffix = name_suffix(&existing, start, upper);
    for (table, _) in TABLES {
        let name = format!("{table}_{suffix}");
        let made = tx
            .batch_execute(&format!(
                "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                     INCLUDING STORAGE INCLUDING COMPRESSION);
                 ALTER TABLE {table} ATTACH PARTITION {name}
                     FOR VALUES FROM ('{lower}') TO ('{upper}')"
            ))
            .await;
        match made {
            Ok(()) => {}
            // Rows of this window are in the DEFAULT partition already (it was missing
            // when they came): they stay there, and so do the window's later rows.
            Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => {
                tracing::warn!(partition = %name, "rows of this window are in the _kept partition already; not creating it");
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("creating {name}")),
        }
    }
    tx.commit().await?;
    tracing::info!(partition = %format!("p{start}"), "created the partitions of a window");
    Ok(Some(format!("events_{suffix}")))
}

/// The suffix of the partitions made for the part of the window starting at `start` (Unix
/// seconds) that ends at `upper`: `p<start>`, or, when a partition of that name holds
/// another part of the window already (the legacy bound fell inside it, and the legacy
/// partition was dropped since), `p<start>_<upper's Unix milliseconds>`.
fn name_suffix(existing: &[Partition], start: i64, upper: Uuid) -> String {
    let plain = format!("p{start}");
    if !existing.iter().any(|p| p.name == format!("events_{plain}")) {
        return plain;
    }
    // A UUIDv7's first 48 bits are its Unix milliseconds (`first_id_at`).
    let b = upper.as_bytes();
    let millis = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    format!("{plain}_{millis}")
}

/// What a service does at start-up, after migrating: the current window and [`AHEAD`] more,
/// on a connection of its own. A failure is logged, not fatal: rows of a missing window go
/// to the `_kept` partitions, and warren-ingest tries again every tick.
pub async fn ensure_at_start(settings: &crate::config::DatabaseSettings) {
    let ensured = async {
        let (mut client, _driver) = crate::db::connect(&settings.url).await?;
        ensure_ahead(
            &mut client,
            settings.partition_width(),
            OffsetDateTime::now_utc(),
            AHEAD,
        )
        .await
    };
    match ensured.await {
        Ok(created) if !created.is_empty() => {
            tracing::info!(?created, "created time partitions ahead")
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "could not create the time partitions ahead; retrying later"
        ),
    }
}

/// Drops, oldest first, every window whose partitions end at or below `bound` (the first id
/// past retention), each in a transaction of its own; returns what it dropped (each
/// window's `events` partition and how long its drop took). What must outlive its window
/// is moved back through the parent (into the `_kept` partitions): deliveries still
/// pending, retrying or held, with their attempts, and the events any such delivery (in any
/// partition: replays make new ones) points at. Finished deliveries of the dropped events
/// in later partitions (replays) go too, and so do the dropped events' idempotency keys.
/// The detached tables are dropped once that transaction commits. Stops without error at a
/// window whose tables are busy: the next call goes on from there.
pub async fn drop_older_than(client: &mut Client, bound: Uuid) -> anyhow::Result<Vec<Dropped>> {
    let mut dropped = Vec::new();
    drop_detached(client).await?;
    let events = list(client, "events").await?;
    for window in events.iter().filter(|p| p.upper <= bound) {
        free_keys(client, window).await?;
        match drop_window(client, window).await {
            Ok(done) => dropped.push(done),
            Err(e) if busy(&e) => {
                tracing::info!(partition = %window.name, "its tables are busy: dropping it at the next tick");
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("dropping {}", window.name)),
        }
    }
    Ok(dropped)
}

fn busy(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

/// The ids of the events in `[$1, $2)` that a delivery still in flight or held points at,
/// read through the partial indexes that hold only such deliveries (held, outbox, overdue).
const LIVE_EVENTS: &str = "SELECT event_id FROM deliveries
         WHERE status = 'held' AND event_id >= $1 AND event_id < $2
     UNION SELECT event_id FROM deliveries
         WHERE enqueued AND status IN ('pending', 'retrying') AND event_id >= $1 AND event_id < $2
     UNION SELECT event_id FROM deliveries
         WHERE NOT enqueued AND status IN ('pending', 'retrying') AND event_id >= $1 AND event_id < $2";

/// Keys freed per statement before a window's drop.
const KEY_BATCH: i64 = 10_000;

/// Frees the idempotency keys of the window's events that its drop will remove, in batches
/// before the drop's transaction, so that transaction stays short however many events
/// carried a key. (A key freed here whose event a replay keeps after all is the one thing
/// this can lose: that event is past retention.)
async fn free_keys(client: &Client, window: &Partition) -> anyhow::Result<()> {
    let statement = format!(
        "DELETE FROM event_idempotency_keys WHERE (idempotency_scope, idempotency_key) IN (
             SELECT idempotency_scope, idempotency_key FROM event_idempotency_keys
             WHERE event_id >= $1 AND event_id < $2 AND event_id NOT IN ({LIVE_EVENTS})
             LIMIT $3)"
    );
    while client
        .execute(&statement, &[&window.lower, &window.upper, &KEY_BATCH])
        .await? as i64
        == KEY_BATCH
    {}
    Ok(())
}

/// A window [`drop_older_than`] dropped: its `events` partition's name, and how long the
/// two parts of its drop took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The `events` partition's name (the others' differ only by the table's).
    pub name: String,
    /// Taking the parents' locks, detaching the three partitions and moving back what must
    /// be kept: the part that holds (or waits for) the parents.
    pub detach: Duration,
    /// Dropping the detached tables' foreign keys, then the tables: most of it is removing
    /// their files.
    pub removal: Duration,
}

/// Detaches the window's three partitions, moves back what must be kept, and drops them.
async fn drop_window(client: &mut Client, window: &Partition) -> anyhow::Result<Dropped> {
    let (lower, upper) = (window.lower, window.upper);
    let mut names = Vec::new();
    for (table, _) in TABLES {
        let same = list(client, table)
            .await?
            .into_iter()
            .find(|p| p.lower == lower && p.upper == upper);
        names.push(same.map(|p| p.name));
    }
    let [Some(events), deliveries, attempts] =
        <[Option<String>; 3]>::try_from(names).map_err(|_| anyhow::anyhow!("three tables"))?
    else {
        // Gone since the list was read: another process dropped it.
        return Ok(Dropped {
            name: window.name.clone(),
            detach: Duration::ZERO,
            removal: Duration::ZERO,
        });
    };
    let detached = Detached {
        events: &events,
        deliveries: deliveries.as_deref(),
        attempts: attempts.as_deref(),
        lower,
        upper,
    };
    detached.warm(client).await?;
    let started = Instant::now();
    at_once(client, &detached).await?;
    let detach = started.elapsed();
    // Dropped after the commit, not in it: removing a large table's files takes PostgreSQL
    // a while at commit, with the transaction's locks (the parents') still held. Detached,
    // they are no one's: a process that dies before this leaves them to the next call.
    drop_detached(client).await?;
    let removal = started.elapsed() - detach;
    tracing::info!(
        partition = %events,
        detach_ms = detach.as_millis() as u64,
        removal_ms = removal.as_millis() as u64,
        "dropped a window past retention"
    );
    Ok(Dropped {
        name: events,
        detach,
        removal,
    })
}

/// Tries of taking the locks without waiting before a drop queues for them.
const UNQUEUED_TRIES: u32 = 20;

/// The pause between two of those tries: about a group commit's length.
const UNQUEUED_PAUSE: Duration = Duration::from_millis(5);

/// Work done in a transaction that holds some tables' `ACCESS EXCLUSIVE` locks.
trait UnderLocks {
    /// The tables, as `LOCK TABLE` lists them.
    fn tables(&self) -> String;

    /// The work, in `tx`, which holds the locks.
    async fn run(&self, tx: &Transaction<'_>) -> anyhow::Result<()>;
}

/// Runs `work` in a transaction that takes its tables' locks all at once, and only when
/// they are all free: a lock request that waits queues every later statement on its table
/// behind it, and locks taken table by table would hold the first while waiting for the
/// next. `LOCK TABLE … NOWAIT` up to [`UNQUEUED_TRIES`] times, [`UNQUEUED_PAUSE`] apart;
/// then, for a database so busy that the tables are never all free at once, once waiting
/// (at most [`DROP_LOCK_TIMEOUT`] a table; `LOCK_NOT_AVAILABLE` if that passes).
async fn at_once(client: &mut Client, work: &impl UnderLocks) -> anyhow::Result<()> {
    let tables = work.tables();
    let mut attempt = 1;
    loop {
        let queue = attempt > UNQUEUED_TRIES;
        let tx = client.transaction().await?;
        tx.batch_execute(DROP_LOCK_TIMEOUT).await?;
        let nowait = if queue { "" } else { " NOWAIT" };
        let lock = format!("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE{nowait}");
        match tx.batch_execute(&lock).await {
            Ok(()) => {
                work.run(&tx).await?;
                tx.commit().await?;
                tracing::debug!(%tables, attempt, "took the locks at once");
                return Ok(());
            }
            Err(e) if !queue && e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                tx.rollback().await?;
                tokio::time::sleep(UNQUEUED_PAUSE).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// One window's partitions, about to be detached.
struct Detached<'a> {
    events: &'a str,
    deliveries: Option<&'a str>,
    attempts: Option<&'a str>,
    lower: Uuid,
    upper: Uuid,
}

impl UnderLocks for Detached<'_> {
    fn tables(&self) -> String {
        "events, deliveries, delivery_attempts".into()
    }

    /// Detaches the partitions and moves back through the parents what must outlive them;
    /// deletes what pointed at what goes.
    async fn run(&self, tx: &Transaction<'_>) -> anyhow::Result<()> {
        let Self {
            events,
            deliveries,
            attempts,
            lower,
            upper,
        } = self;
        tx.batch_execute(&format!("ALTER TABLE events DETACH PARTITION {events}"))
            .await?;
        if let Some(deliveries) = deliveries {
            tx.batch_execute(&format!(
                "ALTER TABLE deliveries DETACH PARTITION {deliveries}"
            ))
            .await?;
        }
        if let Some(attempts) = attempts {
            tx.batch_execute(&format!(
                "ALTER TABLE delivery_attempts DETACH PARTITION {attempts}"
            ))
            .await?;
        }
        if let Some(kept) = self.kept_deliveries() {
            tx.batch_execute(&kept).await?;
        }
        tx.execute(&self.kept_events(), &[lower, upper]).await?;
        tx.execute(GONE_DELIVERIES, &[lower, upper]).await?;
        tx.execute(GONE_KEYS, &[lower, upper]).await?;
        Ok(())
    }
}

impl Detached<'_> {
    /// Moves back the deliveries still held, pending or retrying, with their attempts.
    fn kept_deliveries(&self) -> Option<String> {
        let (Some(deliveries), Some(attempts)) = (self.deliveries, self.attempts) else {
            return None;
        };
        Some(format!(
            "WITH kept AS (
                 INSERT INTO deliveries
                 SELECT * FROM {deliveries} WHERE status = 'held'
                 UNION ALL SELECT * FROM {deliveries}
                     WHERE enqueued AND status IN ('pending', 'retrying')
                 UNION ALL SELECT * FROM {deliveries}
                     WHERE NOT enqueued AND status IN ('pending', 'retrying')
                 RETURNING id)
             INSERT INTO delivery_attempts
             SELECT * FROM {attempts} WHERE delivery_id IN (SELECT id FROM kept)"
        ))
    }

    /// Moves back the events a delivery still in flight or held points at (`$1`, `$2`: the
    /// window).
    fn kept_events(&self) -> String {
        format!(
            "INSERT INTO events SELECT * FROM {} WHERE id IN ({LIVE_EVENTS})",
            self.events
        )
    }

    /// Plans, before the locks are taken, what [`UnderLocks::run`] will run under them, so
    /// that it finds the catalog entries of every partition and index it plans over already
    /// read: a connection that never planned over the older partitions reads them first,
    /// tens of milliseconds that would otherwise hold the parents. `EXPLAIN` plans without
    /// running, and an empty `DELETE` plans the `deliveries_deleted` trigger's statement.
    async fn warm(&self, client: &Client) -> anyhow::Result<()> {
        let (lower, upper) = (self.lower, self.upper);
        if let Some(kept) = self.kept_deliveries() {
            client.batch_execute(&format!("EXPLAIN {kept}")).await?;
        }
        for statement in [self.kept_events(), GONE_DELIVERIES.into(), GONE_KEYS.into()] {
            client
                .execute(&format!("EXPLAIN {statement}"), &[&lower, &upper])
                .await?;
        }
        client
            .batch_execute("DELETE FROM deliveries WHERE false")
            .await?;
        Ok(())
    }
}

/// Deletes the finished deliveries (replays, and those made just past the window's end) of
/// events in `[$1, $2)` that are gone now; the `deliveries_deleted` trigger takes their
/// attempts (the events' range is named again so that the planner opens only the
/// partitions that can hold them, not every partition of `events`).
const GONE_DELIVERIES: &str = "DELETE FROM deliveries d WHERE d.event_id >= $1 AND d.event_id < $2
     AND NOT EXISTS (SELECT 1 FROM events e
                     WHERE e.id = d.event_id AND e.id >= $1 AND e.id < $2)";

/// Deletes the idempotency keys of the events in `[$1, $2)` that are gone now.
const GONE_KEYS: &str =
    "DELETE FROM event_idempotency_keys k WHERE k.event_id >= $1 AND k.event_id < $2
     AND NOT EXISTS (SELECT 1 FROM events e
                     WHERE e.id = k.event_id AND e.id >= $1 AND e.id < $2)";

/// Drops the window partitions that were detached but not dropped yet. Their foreign keys
/// go first, in one transaction that takes `ACCESS EXCLUSIVE` on the tables the keys point
/// at (users, sources, subscriptions: dropping a key removes its triggers there)
/// [`at_once`], for the milliseconds the catalog changes take. The tables are then dropped
/// in one `DROP`, which locks nothing but them: its commit removes their files, a while for
/// large tables, while no one waits. (A `TRUNCATE` would rebuild and sync every index
/// first, and a `DROP` of tables that still had their keys would remove the files while it
/// holds the tables ingest reads.) If the keys' tables stay busy, the next call drops them: a
/// detached table is no one's.
async fn drop_detached(client: &mut Client) -> anyhow::Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text,
                    ARRAY(SELECT quote_ident(f.conname) FROM pg_constraint f
                          WHERE f.conrelid = c.oid AND f.contype = 'f' ORDER BY 1),
                    ARRAY(SELECT DISTINCT f.confrelid::regclass::text FROM pg_constraint f
                          WHERE f.conrelid = c.oid AND f.contype = 'f' ORDER BY 1)
             FROM pg_class c
             WHERE c.relkind = 'r' AND NOT c.relispartition
               AND c.relnamespace = 'public'::regnamespace
               AND c.relname ~ '^(events|deliveries|delivery_attempts)_(p[0-9]+(_[0-9]+)?|legacy)$'",
            &[],
        )
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let detached: Vec<KeyedTable> = rows
        .iter()
        .map(|row| KeyedTable {
            name: row.get(0),
            keys: row.get(1),
            referenced: row.get(2),
        })
        .collect();
    let keys = DropKeys(detached.iter().filter(|t| !t.keys.is_empty()).collect());
    let tables = DropTables(&detached);
    let done = async {
        if !keys.0.is_empty() {
            at_once(client, &keys).await?;
        }
        at_once(client, &tables).await
    };
    match done.await {
        Err(e) if busy(&e) => {
            tracing::info!(tables = %tables.tables(), "busy: dropping the detached tables at the next tick");
            Ok(())
        }
        done => done,
    }
}

/// A detached partition, with its foreign keys and the tables they point at.
struct KeyedTable {
    name: String,
    keys: Vec<String>,
    referenced: Vec<String>,
}

/// Detached partitions without their foreign keys, to drop: locks nothing but them.
struct DropTables<'a>(&'a [KeyedTable]);

impl UnderLocks for DropTables<'_> {
    fn tables(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|t| t.name.as_str()).collect();
        names.join(", ")
    }

    async fn run(&self, tx: &Transaction<'_>) -> anyhow::Result<()> {
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", self.tables()))
            .await?;
        Ok(())
    }
}

/// Detached partitions whose foreign keys to drop.
struct DropKeys<'a>(Vec<&'a KeyedTable>);

impl UnderLocks for DropKeys<'_> {
    /// The detached tables and, once each, the tables their keys point at.
    fn tables(&self) -> String {
        let mut tables: Vec<&str> = self.0.iter().map(|t| t.name.as_str()).collect();
        let referenced: BTreeSet<&str> = self
            .0
            .iter()
            .flat_map(|t| t.referenced.iter().map(String::as_str))
            .collect();
        tables.extend(referenced);
        tables.join(", ")
    }

    async fn run(&self, tx: &Transaction<'_>) -> anyhow::Result<()> {
        for table in &self.0 {
            let drops: Vec<String> = table
                .keys
                .iter()
                .map(|key| format!("DROP CONSTRAINT IF EXISTS {key}"))
                .collect();
            tx.batch_execute(&format!("ALTER TABLE {} {}", table.name, drops.join(", ")))
                .await?;
        }
        Ok(())
    }
}

/// Builds, without locking writes, the pieces that partitions lack of a parent index made
/// `ON ONLY` the parent (the legacy partition's piece of `events_payload_idx`), and attaches
/// them, which makes the parent index valid. `CREATE INDEX CONCURRENTLY` on the partition,
/// then `ALTER INDEX … ATTACH PARTITION`. One process at a time (an advisory lock; the
/// others skip); a build that failed half way (an invalid index) is dropped and redone.
pub async fn complete_indexes(client: &Client) -> anyhow::Result<usize> {
    let missing = client
        .query(
            "SELECT p.relname::text AS parent_index, t.relname::text AS parent,
                    part.relname::text AS partition, pg_get_indexdef(p.oid) AS def
             FROM pg_index pi
             JOIN pg_class p ON p.oid = pi.indexrelid
             JOIN pg_class t ON t.oid = pi.indrelid
             JOIN pg_inherits inh ON inh.inhparent = t.oid
             JOIN pg_class part ON part.oid = inh.inhrelid
             WHERE NOT pi.indisvalid AND t.relkind = 'p'
               AND t.relname IN ('events', 'deliveries', 'delivery_attempts')
               AND NOT EXISTS (
                   SELECT 1 FROM pg_inherits ii JOIN pg_index ci ON ci.indexrelid = ii.inhrelid
                   WHERE ii.inhparent = p.oid AND ci.indrelid = part.oid)",
            &[],
        )
        .await?;
    if missing.is_empty() {
        return Ok(0);
    }
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&(LOCK + 1)])
        .await?
        .get(0);
    if !locked {
        return Ok(0);
    }
    let mut built = 0;
    let mut outcome = Ok(());
    for row in &missing {
        let (index, parent, partition): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let child = format!(
            "{partition}_{}",
            index.strip_prefix(&format!("{parent}_")).unwrap_or(&index)
        );
        let def: String = row.get(3);
        let create = def.replacen(
            &format!("INDEX {index} ON ONLY public.{parent} "),
            &format!("INDEX CONCURRENTLY {child} ON public.{partition} "),
            1,
        );
        outcome = build_and_attach(client, &index, &child, &create).await;
        if outcome.is_err() {
            break;
        }
        built += 1;
    }
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&(LOCK + 1)])
        .await;
    outcome?;
    unlocked?;
    Ok(built)
}

async fn build_and_attach(
    client: &Client,
    index: &str,
    child: &str,
    create: &str,
) -> anyhow::Result<()> {
    let valid: Option<bool> = client
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE c.relname = $1",
            &[&child],
        )
        .await?
        .map(|row| row.get(0));
    if valid == Some(false) {
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY {child}"))
            .await?;
    }
    if valid != Some(true) {
        tracing::info!(index = %child, "building a partition's index concurrently");
        client.batch_execute(create).await?;
    }
    client
        .batch_execute(&format!("ALTER INDEX {index} ATTACH PARTITION {child}"))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_sorts_between_ids_taken_before_and_after_it() {
        let at = OffsetDateTime::now_utc() - time::Duration::days(30);
        let bound = first_id_at(at);
        assert_eq!(bound.get_version_num(), 7);
        let secs = |t: OffsetDateTime| u64::try_from(t.unix_timestamp()).expect("after 1970");
        let before = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            secs(at) - 1,
            999_999_999,
        ));
        let after = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs(at) + 1, 0));
        assert!(before < bound, "{before} < {bound}");
        assert!(bound < after, "{bound} < {after}");
        assert!(bound < Uuid::now_v7());
    }

    #[test]
    fn bounds_are_read_from_the_catalog_text() {
        let legacy = parse_bound(
            "events_legacy".into(),
            "FOR VALUES FROM (MINVALUE) TO ('01a252f3-3400-7000-8000-000000000000')",
        )
        .expect("a range");
        assert_eq!(legacy.lower, Uuid::nil());
        assert_eq!(
            legacy.upper.to_string(),
            "01a252f3-3400-7000-8000-000000000000"
        );
        assert_eq!(parse_bound("events_kept".into(), "DEFAULT"), None);
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let at = at_secs(86_400 * 3 + 5);
        assert_eq!(window_start(at, Duration::from_secs(86_400), 0), 86_400 * 3);
        assert_eq!(
            window_start(at, Duration::from_secs(10), 2),
            86_400 * 3 + 20
        );
    }

    #[test]
    fn a_window_is_clipped_to_what_no_partition_covers() {
        let id = |s: i64| first_id_at(at_secs(s));
        let legacy = Partition {
            name: "events_legacy".into(),
            lower: Uuid::nil(),
            upper: id(15),
        };
        let later = Partition {
            name: "events_p25".into(),
            lower: id(25),
            upper: id(30),
        };
        let existing = [legacy, later];
        assert_eq!(uncovered(&existing, id(0), id(10)), None);
        assert_eq!(uncovered(&existing, id(10), id(20)), Some((id(15), id(20))));
        assert_eq!(uncovered(&existing, id(20), id(30)), Some((id(20), id(25))));
        assert_eq!(uncovered(&existing, id(30), id(40)), Some((id(30), id(40))));
    }

    #[test]
    fn an_id_range_spans_its_ids_and_nothing_when_there_are_none() {
        let id = |s: i64| first_id_at(at_secs(s));
        assert_eq!(id_range([id(20), id(5), id(30), id(10)]), (id(5), id(30)));
        assert_eq!(id_range([id(7)]), (id(7), id(7)));
        let (least, greatest) = id_range([]);
        assert!(least > greatest, "an empty range holds no id");
    }

    #[test]
    fn a_second_part_of_a_window_is_named_by_its_end_too() {
        let id = |s: i64| first_id_at(at_secs(s));
        let part = Partition {
            name: "events_p20".into(),
            lower: id(25),
            upper: id(30),
        };
        assert_eq!(name_suffix(&[], 20, id(30)), "p20");
        assert_eq!(name_suffix(std::slice::from_ref(&part), 30, id(40)), "p30");
        assert_eq!(name_suffix(&[part], 20, id(25)), "p20_25000");
    }
}
