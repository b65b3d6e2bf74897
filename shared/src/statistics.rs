//! The planner's statistics of the history partitions, kept fresh by Warren itself.
//!
//! A partition begins empty and fills through its window; PostgreSQL plans from statistics
//! that `ANALYZE` takes, which autovacuum runs once a table changed by a tenth (when it runs
//! at all: it may be off, or behind on a busy database). Without them the planner prices
//! today's partition as a few pages: the worker's grouped load hashed every stored event
//! (9.5 ms a load against 0.5 by key), a `contains` search walked a minute of dense events
//! row by row (it now names its partitions and bounds so that only the GIN index serves).
//! So the maintenance tick analyses the partitions of `events`, `deliveries` and
//! `delivery_attempts` that changed by more than [`CHANGED`] since their last analysis, the
//! most changed first, a few per tick, skipping any that another process is analysing; and
//! merges the GIN pending list of each (what autovacuum's analysis does, a manual `ANALYZE`
//! does not), which every `contains` search of the partition otherwise reads through.

use tokio_postgres::Client;

use crate::partitions::TABLES;

/// The share of a partition's rows that must have changed since its last analysis.
pub const CHANGED: f64 = 0.1;

/// Rows that must have changed in any case (a partition of a few rows needs no statistics).
pub const AT_LEAST: i64 = 500;

/// Partitions analysed per call at most: the rest wait for the next tick.
const PER_CALL: i64 = 3;

/// Analyses the history partitions that changed enough since their last analysis; returns
/// their names.
pub async fn analyze_changed(client: &Client) -> anyhow::Result<Vec<String>> {
    let parents: Vec<&str> = TABLES.iter().map(|(table, _)| *table).collect();
    let changed: Vec<String> = client
        .query(
            "SELECT format('%I.%I', s.schemaname, s.relname)
             FROM pg_stat_user_tables s
             JOIN pg_inherits i ON i.inhrelid = s.relid
             JOIN pg_class parent ON parent.oid = i.inhparent
             WHERE parent.relname = ANY($1)
               AND parent.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND s.n_mod_since_analyze >= greatest($2::bigint, $3::float8 * s.n_live_tup)
             ORDER BY s.n_mod_since_analyze DESC
             LIMIT $4",
            &[&parents, &AT_LEAST, &CHANGED, &PER_CALL],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for partition in &changed {
        // SKIP_LOCKED: a partition another ingest process is analysing (or one being
        // detached) is left for a later tick rather than waited for.
        client
            .batch_execute(&format!("ANALYZE (SKIP_LOCKED) {partition}"))
            .await?;
        client
            .execute(
                "SELECT gin_clean_pending_list(i.indexrelid)
                 FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = c.relam
                 WHERE i.indrelid = $1::text::regclass AND am.amname = 'gin' AND i.indisvalid",
                &[partition],
            )
            .await?;
    }
    Ok(changed)
}
