//! The `history` scenario: does a long history slow Warren down? `max` runs on the empty
//! database; then `--history-events` events (one delivery each, two attempts per delivery)
//! are written over the last `--history-days` days (see [`seed`]) and `max` runs again; the
//! API's history reads are timed on that database (the 7-day stats of the subscription that
//! holds every attempt, the events list's first page, a `contains` search matching one
//! event in a thousand); and the oldest day's partition is dropped while a `rate` load runs,
//! its ingest latency compared with the same load just before.

pub mod seed;

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Client;
use warren_shared::partitions;

use crate::{
    api::Api,
    cli::Plan,
    database,
    phase::{self, Percentiles, PhaseContext, PhaseResult, PhaseSpec},
    rows::Owner,
    settings::LoadShape,
};

/// The longest each read is timed for, however many calls the plan asks for.
const READ_TIME_CAP: Duration = Duration::from_secs(60);

/// What `history` measured besides its phases.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryFigures {
    /// Events written (deliveries too; attempts are twice this).
    pub events: u64,
    /// Over how many days.
    pub days: u32,
    /// Seconds the `COPY`s took (three tables at once).
    pub copy_seconds: f64,
    /// Seconds the statistics' rollups took to build from the written attempts.
    pub rollup_seconds: f64,
    /// Seconds `VACUUM (ANALYZE)` took afterwards.
    pub vacuum_seconds: f64,
    /// The size of the database once written, in MiB.
    pub database_mib: u64,
    /// `GET /api/v1/subscriptions/{id}/stats?window=7d`, one call at a time.
    pub stats_ms: Option<Percentiles>,
    /// The `total` that call answered.
    pub stats_total: u64,
    /// `GET /api/v1/events?limit=50`.
    pub events_page_ms: Option<Percentiles>,
    /// `GET /api/v1/events?limit=50&contains={"customer":{"id":"cus_7"}}`.
    pub contains_ms: Option<Percentiles>,
    /// Events on that search's first page.
    pub contains_found: u64,
    /// The partitions dropped under load and how long the drop took.
    pub drop: Option<DropFigures>,
}

/// One retention drop timed under load.
#[derive(Debug, Clone, Serialize)]
pub struct DropFigures {
    /// The partitions dropped.
    pub partitions: Vec<String>,
    /// Seconds the call that dropped them took (its statements, commit and files).
    pub seconds: f64,
    /// Of those, the detach: taking the parents' locks and the work done holding them.
    pub detach_seconds: f64,
    /// Of those, emptying and dropping the detached tables (mostly removing their files).
    pub removal_seconds: f64,
    /// Calls it took: one gives up when the tables stay locked past its lock timeout.
    pub tries: u32,
}

/// What the scenario works with.
pub struct HistoryRun<'a> {
    /// The run's plan.
    pub plan: &'a Plan,
    /// The signed-up user.
    pub api: &'a Api,
    /// Its source and the subscription every seeded delivery belongs to.
    pub owner: Owner,
    /// Warren's database.
    pub database_url: &'a str,
    /// The phases' context.
    pub ctx: &'a PhaseContext,
    /// A phase of the plan's shape, by name.
    pub phase: &'a (dyn Fn(&str) -> PhaseSpec + Sync),
}

impl HistoryRun<'_> {
    /// Runs the scenario; returns its phases and figures.
    pub async fn run(&self) -> anyhow::Result<(Vec<PhaseResult>, HistoryFigures)> {
        let plan = self.plan;
        let mut phases = vec![phase::run(self.ctx, &(self.phase)("max, empty database")).await];
        let mut figures = self.write().await?;
        let name = format!("max, {} events of history", plan.history_events);
        phases.push(phase::run(self.ctx, &(self.phase)(&name)).await);
        self.time_reads(&mut figures).await?;
        let before = self.rate_phase("rate, before the drop");
        phases.push(phase::run(self.ctx, &before).await);
        let during = self.rate_phase("rate, while the oldest day is dropped");
        let (result, dropped) =
            tokio::join!(phase::run(self.ctx, &during), self.drop_oldest(&during));
        phases.push(result);
        figures.drop = Some(dropped?);
        Ok((phases, figures))
    }

    /// Writes the history, builds its rollups, vacuums, checkpoints.
    async fn write(&self) -> anyhow::Result<HistoryFigures> {
        let plan = self.plan;
        let mut client = database::connect(self.database_url).await?;
        // Up to the start of today (UTC): today's window exists already, begun at migration.
        let end = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
        let shape = seed::Shape {
            events: plan.history_events,
            start: end - time::Duration::days(i64::from(plan.history_days)),
            end,
        };
        eprintln!(
            "warren-bench: writing {} events, deliveries and {} attempts over {} days",
            shape.events,
            shape.events * 2,
            plan.history_days
        );
        partitions(&mut client, shape.start, shape.end).await?;
        let url = self.database_url.to_owned();
        let connect = move || {
            let url = url.clone();
            async move { database::connect(&url).await }
        };
        let copy_seconds = seed::write(connect, &self.owner, shape).await?;
        let started = Instant::now();
        rollups(&client, shape.start).await?;
        let rollup_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        client
            .batch_execute("VACUUM (ANALYZE) events, deliveries, delivery_attempts")
            .await
            .context("vacuuming the written tables")?;
        let vacuum_seconds = started.elapsed().as_secs_f64();
        // Written out now, not by the checkpoint the gigabytes of WAL just started, which
        // would otherwise spread its writes over the minutes of the `max` run that follows
        // and time the disk, not the history.
        if let Err(error) = client.batch_execute("CHECKPOINT").await {
            eprintln!(
                "warren-bench: no CHECKPOINT after writing ({error}); the next run may pay for it"
            );
        }
        let size: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0);
        Ok(HistoryFigures {
            events: shape.events,
            days: plan.history_days,
            copy_seconds,
            rollup_seconds,
            vacuum_seconds,
            database_mib: u64::try_from(size / (1 << 20)).unwrap_or(0),
            stats_ms: None,
            stats_total: 0,
            events_page_ms: None,
            contains_ms: None,
            contains_found: 0,
            drop: None,
        })
    }

    /// Times the three reads, one call at a time, each for at most a minute.
    async fn time_reads(&self, figures: &mut HistoryFigures) -> anyhow::Result<()> {
        let id = self.owner.subscription_id;
        let stats = format!("/api/v1/subscriptions/{id}/stats?window=7d");
        let contains = format!(
            "/api/v1/events?limit=50&contains={}",
            url::form_urlencoded::byte_serialize(br#"{"customer":{"id":"cus_7"}}"#)
                .collect::<String>()
        );
        let (stats_ms, answer) = self.timed(&stats).await?;
        figures.stats_ms = stats_ms;
        figures.stats_total = answer["total"].as_u64().unwrap_or(0);
        figures.events_page_ms = self.timed("/api/v1/events?limit=50").await?.0;
        let (contains_ms, answer) = self.timed(&contains).await?;
        figures.contains_ms = contains_ms;
        figures.contains_found = answer["data"].as_array().map_or(0, |d| d.len() as u64);
        Ok(())
    }

    /// `path` called `stats_calls` times after one untimed call; the percentiles and the
    /// last answer.
    async fn timed(&self, path: &str) -> anyhow::Result<(Option<Percentiles>, serde_json::Value)> {
        let mut answer = self.api.get(path).await?;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let deadline = Instant::now() + READ_TIME_CAP;
        for _ in 0..self.plan.stats_calls {
            if self.ctx.cancel.is_cancelled() || Instant::now() > deadline {
                break;
            }
            let started = Instant::now();
            answer = self.api.get(path).await?;
            latency.record(started.elapsed().as_micros().max(1) as u64)?;
        }
        Ok((Percentiles::of(&latency), answer))
    }

    /// A phase at `--history-rate` events/s, open loop.
    fn rate_phase(&self, name: &str) -> PhaseSpec {
        let mut spec = (self.phase)(name);
        spec.load = LoadShape::Open {
            rate: self.plan.history_rate,
            max_in_flight: 1_024,
        };
        spec
    }

    /// Drops the oldest day's partitions a third of the way into `spec`'s measured window.
    async fn drop_oldest(&self, spec: &PhaseSpec) -> anyhow::Result<DropFigures> {
        tokio::time::sleep(spec.warmup + spec.duration / 3).await;
        let mut client = database::connect(self.database_url).await?;
        let (dropped, seconds, tries) = drop_oldest_day(&mut client).await?;
        Ok(DropFigures {
            partitions: dropped.iter().map(|d| d.name.clone()).collect(),
            seconds,
            detach_seconds: dropped.iter().map(|d| d.detach.as_secs_f64()).sum(),
            removal_seconds: dropped.iter().map(|d| d.removal.as_secs_f64()).sum(),
            tries,
        })
    }
}

/// Warren's partition width unless `WARREN_PARTITION_SECS` says otherwise: a day.
const DAY: Duration = Duration::from_secs(86_400);

/// Creates the time partitions the written history falls into, as a Warren that ran over
/// those days made them. A fresh database's `_legacy` partitions hold nothing but cover
/// everything before its migration: they are dropped first (only when empty).
async fn partitions(
    client: &mut Client,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<()> {
    for (table, _) in partitions::TABLES {
        let legacy = format!("{table}_legacy");
        let exists = client
            .query_opt("SELECT 1 FROM pg_class WHERE relname = $1", &[&legacy])
            .await?
            .is_some();
        if !exists {
            continue;
        }
        let empty: bool = client
            .query_one(&format!("SELECT NOT EXISTS (SELECT 1 FROM {legacy})"), &[])
            .await?
            .get(0);
        anyhow::ensure!(
            empty,
            "{legacy} holds rows: history goes into a fresh database only"
        );
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} DETACH PARTITION {legacy}; DROP TABLE {legacy}"
            ))
            .await
            .with_context(|| format!("dropping the empty {legacy}"))?;
    }
    // `to` is the start of today, whose window exists: the days before it, one window each.
    let days = u32::try_from((to - from).whole_seconds() / DAY.as_secs() as i64)?;
    partitions::ensure_ahead(client, DAY, from, days.saturating_sub(1)).await?;
    Ok(())
}

/// Builds the statistics' rollups of the attempts written since `from`, as Warren's own
/// rebuild does (migrations/V16).
async fn rollups(client: &Client, from: OffsetDateTime) -> anyhow::Result<()> {
    client
        .execute("SELECT warren_rollup_rebuild($1)", &[&from])
        .await
        .context("building the rollups of the written attempts")?;
    Ok(())
}

/// Calls to the drop before the scenario gives up: retention gives up on a window whose
/// tables stay locked past its lock timeout and tries again at its next tick; so does this.
const DROP_TRIES: u32 = 50;

/// Drops the oldest window's partitions, as retention does: tries until a call drops it;
/// returns what it dropped, how long the call that dropped it took, and how many calls it
/// took.
async fn drop_oldest_day(
    client: &mut Client,
) -> anyhow::Result<(Vec<partitions::Dropped>, f64, u32)> {
    let events = partitions::list(&*client, "events").await?;
    let oldest = events
        .iter()
        .find(|p| !p.lower.is_nil())
        .context("no time partition to drop")?;
    for tries in 1..=DROP_TRIES {
        let started = Instant::now();
        let dropped = partitions::drop_older_than(client, oldest.upper).await?;
        if !dropped.is_empty() {
            return Ok((dropped, started.elapsed().as_secs_f64(), tries));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!(
        "{} was not dropped in {DROP_TRIES} tries (its tables stayed busy)",
        oldest.name
    )
}

impl HistoryFigures {
    /// The figures as text, after the phases' tables.
    pub fn table(&self, out: &mut String) {
        use crate::table::{line, percentiles, row};
        line(out, format_args!("\n== history =="));
        row(
            out,
            "written",
            format!(
                "{} events and deliveries, {} attempts over {} days: copied in {:.0} s, rollups {:.0} s, vacuum {:.0} s; {} MiB",
                self.events,
                self.events * 2,
                self.days,
                self.copy_seconds,
                self.rollup_seconds,
                self.vacuum_seconds,
                self.database_mib
            ),
        );
        row(
            out,
            "stats 7d ms",
            format!(
                "{} (total {})",
                percentiles(self.stats_ms),
                self.stats_total
            ),
        );
        row(out, "events page ms", percentiles(self.events_page_ms));
        row(
            out,
            "contains ms",
            format!(
                "{} ({} on the first page)",
                percentiles(self.contains_ms),
                self.contains_found
            ),
        );
        if let Some(drop) = &self.drop {
            row(
                out,
                "oldest day dropped in",
                format!(
                    "{:.3} s: detach {:.3} s, files {:.3} s ({}; call {} of those made)",
                    drop.seconds,
                    drop.detach_seconds,
                    drop.removal_seconds,
                    drop.partitions.join(", "),
                    drop.tries
                ),
            );
        }
    }
}
