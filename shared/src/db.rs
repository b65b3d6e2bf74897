//! The PostgreSQL pool and the migrations, which are embedded in the binaries from
//! `migrations/` and applied by both services at start-up (under an advisory lock, so two
//! services starting together do not race) and by the `migrate` subcommand. Every connection,
//! pooled or not, goes through [`tls::target`], so each honours the URL's `sslmode`.

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio::task::JoinHandle;

use crate::config::DatabaseSettings;

pub mod tls;
mod verify;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// An arbitrary, fixed key for the migration advisory lock ("warren" in ASCII).
const MIGRATION_LOCK: i64 = 0x7761_7272_656e;

/// Whether a pool's commits wait for the WAL to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commits {
    /// `synchronous_commit` as the server sets it (on by default): a commit returns once
    /// durable. Ingest's pool: a 202 promises the event is on disk.
    Durable,
    /// `synchronous_commit = off`: a commit returns before its WAL is flushed (the WAL writer
    /// flushes within a few hundred milliseconds), so concurrent bookkeeping commits stop
    /// queueing on the WAL lock. Only a PostgreSQL crash can lose such a commit, and nothing
    /// written this way is a promise to anyone: the deliver worker's attempt records and
    /// state moves are redone by redelivery (a lost move leaves the delivery as it was, which
    /// the outbox's overdue sweep hands to the broker again), so at-least-once holds.
    Relaxed,
}

/// How a pool's sessions plan their statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// PostgreSQL's defaults: for the API's queries, whose filters and sizes vary.
    Default,
    /// For a pool whose every statement finds its rows by key (the deliver worker's): each
    /// prepared statement is planned once per connection, not at every execution
    /// (`plan_cache_mode = force_generic_plan`), and that plan walks the indexes even when it
    /// was made while the tables were nearly empty (`enable_seqscan = off` prices sequential
    /// scans out; one is still used where no index could serve) and joins by key
    /// (`enable_hashjoin = off`, `enable_mergejoin = off`: planned on empty tables, the
    /// grouped load hashed every stored event to join a few deliveries to theirs, and went on
    /// doing so as the events grew: 9.5 ms and a thousand buffers a load after thirty
    /// seconds of `max`, against 0.5 ms and 371 buffers once joined by key). Planning the worker's
    /// grouped statements afresh each time cost as much PostgreSQL CPU as running them.
    /// And no parallel workers (`max_parallel_workers_per_gather = 0`): over a long history
    /// the generic plan of the grouped load gathered parallel workers for a lookup of a few
    /// rows, starting and stopping them at every execution (delivered/s fell by two thirds
    /// with a million events stored).
    KeyLookups,
}

/// The planner settings that make a statement find its rows by key, whatever the tables'
/// statistics say ([`Plans::KeyLookups`] has them for a session, [`BY_KEY_LOCAL`] for a
/// transaction).
const BY_KEY: [(&str, &str); 3] = [
    ("enable_seqscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
];

/// [`BY_KEY`] for one transaction of a pool that plans by PostgreSQL's defaults, whose
/// statement must find its rows by key even on tables never analysed (a database begun
/// moments ago, or today's partition): run it first in the transaction.
pub static BY_KEY_LOCAL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    BY_KEY
        .iter()
        .map(|(name, value)| format!("SET LOCAL {name} = {value};"))
        .collect::<Vec<_>>()
        .join(" ")
});

/// Whether a PostgreSQL error means the database is away rather than the query wrong:
/// no SQL state at all (I/O, closed connection), connection exceptions (class 08),
/// shutdown and start-up (57P01..57P03), or exhausted resources (class 53).
pub fn unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(code, "57P01" | "57P02" | "57P03")
        }
    }
}

/// A pool that fails fast: waiting for, creating and recycling a connection each give up
/// after the configured timeout rather than holding a request while the database is away.
pub fn pool(settings: &DatabaseSettings, commits: Commits) -> anyhow::Result<Pool> {
    pool_with(settings, commits, Plans::Default)
}

/// [`pool`], with its sessions planning as `plans` says.
pub fn pool_with(
    settings: &DatabaseSettings,
    commits: Commits,
    plans: Plans,
) -> anyhow::Result<Pool> {
    let tls::Target {
        mut config, tls, ..
    } = tls::target(&settings.url).context("DATABASE_URL")?;
    let mut options = Vec::new();
    if commits == Commits::Relaxed {
        options.push("-c synchronous_commit=off");
    }
    let by_key: Vec<String> = BY_KEY
        .iter()
        .map(|(name, value)| format!("-c {name}={value}"))
        .collect();
    if plans == Plans::KeyLookups {
        options.extend([
            "-c plan_cache_mode=force_generic_plan",
            "-c max_parallel_workers_per_gather=0",
        ]);
        options.extend(by_key.iter().map(String::as_str));
    }
    add_options(&mut config, &options);
    config.connect_timeout(settings.timeout());
    config.keepalives_idle(std::time::Duration::from_secs(30));
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeout = Some(settings.timeout());
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: timeout,
            create: timeout,
            recycle: timeout,
        })
        .build()
        .context("building the PostgreSQL pool")
}

/// Adds session settings (`-c name=value`) to those the URL's `options` already give.
fn add_options(config: &mut tokio_postgres::Config, extra: &[&str]) {
    if extra.is_empty() {
        return;
    }
    let options = config
        .get_options()
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    config.options(&options);
}

/// A connection of its own, outside any pool (migrations, tests, the bench), secured as the
/// URL's `sslmode` says; the connection is driven on a task, whose handle ends with it.
pub async fn connect(url: &str) -> anyhow::Result<(tokio_postgres::Client, Driver)> {
    connect_to(tls::target(url)?).await
}

/// The task driving a connection made by [`connect`]; it ends when the connection does.
pub type Driver = JoinHandle<Result<(), tokio_postgres::Error>>;

async fn connect_to(target: tls::Target) -> anyhow::Result<(tokio_postgres::Client, Driver)> {
    let tls::Target { config, tls, .. } = target;
    let (client, connection) = config.connect(tls).await?;
    Ok((client, tokio::spawn(connection)))
}

/// Applies every pending migration; safe to call from several processes at once.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    migrate_up_to(settings, None).await
}

/// Applies the pending migrations up to `version` (every one when `None`): tests build a
/// database as an older Warren left it.
pub async fn migrate_up_to(
    settings: &DatabaseSettings,
    version: Option<i32>,
) -> anyhow::Result<()> {
    let mut target = tls::target(&settings.url).context("DATABASE_URL")?;
    // The runner's `CREATE TABLE IF NOT EXISTS` of its history table draws a NOTICE at every
    // start ("already exists, skipping"), which tokio-postgres logs at `info`: this session
    // hears only warnings and errors.
    add_options(&mut target.config, &["-c client_min_messages=warning"]);
    let (mut client, driver) = connect_to(target)
        .await
        .context("connecting to PostgreSQL to migrate")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("taking the migration lock")?;
    let mut runner = embedded::migrations::runner();
    if let Some(version) = version {
        runner = runner.set_target(refinery::Target::Version(version));
    }
    let report = runner
        .run_async(&mut client)
        .await
        .context("applying migrations");
    // Closing the connection releases the advisory lock whatever happened above.
    drop(client);
    // The driver's own error is the failure `report` already carries (a broken link).
    if let Some(Err(error)) = crate::shutdown::joined("the migration connection", driver.await) {
        tracing::debug!(%error, "the migration connection ended with an error");
    }
    let report = report?;
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "applied migration"
        );
    }
    Ok(())
}
