//! What Warren's PostgreSQL backends were doing during the measured window, sampled from
//! `pg_stat_activity` every 50 ms (an "active session history"): for each statement and
//! wait event, how many backends were in it on average. A backend on the CPU shows as
//! `CPU`; one waiting for the WAL shows `LWLock:WALWrite` or `IO:WALSync`; row locks show as
//! `Lock:transactionid`. Cheap: one small query per sample on a connection of its own.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::database;

/// How often the sampler looks.
const EVERY: Duration = Duration::from_millis(50);

/// Rows kept in the report.
const TOP: usize = 10;

/// The sampled activity of a window.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// Samples taken.
    pub samples: u64,
    /// Backends active on average, all statements together.
    pub average_active: f64,
    /// The busiest (wait, statement) pairs, busiest first.
    pub top: Vec<ActivityRow>,
}

/// One (wait, statement) pair.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityRow {
    /// `CPU`, or the wait event (`type:event`).
    pub wait: String,
    /// The statement's first characters.
    pub statement: String,
    /// Backends in it on average.
    pub average_active: f64,
}

/// Samples from `from` until `until`; `None` if the database cannot be reached.
pub async fn sample(database_url: String, from: Instant, until: Instant) -> Option<Activity> {
    let client = database::connect(&database_url).await.ok()?;
    tokio::time::sleep_until(from.into()).await;
    let mut counts: HashMap<(String, String), u64> = HashMap::new();
    let mut samples = 0u64;
    let mut tick = tokio::time::interval(EVERY);
    while Instant::now() < until {
        tick.tick().await;
        let Ok(rows) = client
            .query(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'),
                        left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
                 FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'active'
                   AND pid <> pg_backend_pid()",
                &[],
            )
            .await
        else {
            continue;
        };
        samples += 1;
        for row in rows {
            *counts.entry((row.get(0), row.get(1))).or_insert(0) += 1;
        }
    }
    Some(summarize(counts, samples))
}

fn summarize(counts: HashMap<(String, String), u64>, samples: u64) -> Activity {
    let per_sample = |n: u64| n as f64 / samples.max(1) as f64;
    let total: u64 = counts.values().sum();
    let mut rows: Vec<ActivityRow> = counts
        .into_iter()
        .map(|((wait, statement), n)| ActivityRow {
            wait,
            statement,
            average_active: per_sample(n),
        })
        .collect();
    rows.sort_by(|a, b| b.average_active.total_cmp(&a.average_active));
    rows.truncate(TOP);
    Activity {
        samples,
        average_active: per_sample(total),
        top: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_pairs_come_first_as_averages_per_sample() {
        let counts = HashMap::from([
            (("CPU".to_owned(), "SELECT 1".to_owned()), 10),
            (("LWLock:WALWrite".to_owned(), "COMMIT".to_owned()), 30),
        ]);
        let activity = summarize(counts, 20);
        assert_eq!(activity.top[0].wait, "LWLock:WALWrite");
        assert_eq!(activity.top[0].average_active, 1.5);
        assert_eq!(activity.average_active, 2.0);
    }
}
