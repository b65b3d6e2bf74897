//! Group commit: events arriving at once are stored in one transaction, so a burst of
//! requests costs one commit and one WAL flush instead of one each. Unless an event goes to
//! an ordered subscription, the transaction is a single statement: one round trip.
//!
//! Requests hand their event to a [`Queue`] and wait: a few writers take turns at it, one
//! taking every event waiting (up to a bound) and committing them together while the next
//! gathers those that arrive meanwhile. Under light load a group is one event and costs what
//! it always did. Each request is answered only after its group's commit is durable.

use deadpool_postgres::Pool;
use prometheus_client::metrics::counter::Counter;
use warren_shared::group::{Grouping, Queue};

use super::event_store::{NewEvent, Stored, plan_group, stage_group, store_at_once};
use crate::{
    config::GroupCommit,
    error::{ApiError, Result},
};

/// Where requests hand over their events; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    queue: Queue<NewEvent, Result<Stored>>,
}

impl Committer {
    /// Starts the writers on `pool`, counting committed transactions in `commits`. They
    /// stop once every `Committer` is dropped and the queue is empty.
    pub fn start(pool: Pool, settings: GroupCommit, commits: Counter) -> Self {
        let grouping = Grouping {
            max_items: settings.max_events,
            max_weight: settings.max_bytes,
            writers: settings.writers,
            linger: settings.linger,
        };
        let weigh = |event: &NewEvent| event.raw_body.len();
        let queue = Queue::start_weighed(grouping, weigh, move |events| {
            let (pool, commits) = (pool.clone(), commits.clone());
            async move { commit_group(&pool, events, &commits).await }
        });
        Self { queue }
    }

    /// Stores the event with its deliveries; returns once the commit is durable.
    pub async fn store(&self, event: NewEvent) -> Result<Stored> {
        self.queue
            .submit(event)
            .await
            .map_err(|stopped| ApiError::Internal(stopped.into()))?
    }
}

/// Stores a group of events in one transaction and returns each one's outcome, in order;
/// `commits` counts the transactions committed. If the group fails before its commit for a
/// reason other than the database being away (a statement one event made fail), nothing of
/// it was stored and each event is tried again on its own, so one bad event cannot fail the
/// others. If the database is away, or the commit itself failed, every event gets the error.
pub async fn commit_group(
    pool: &Pool,
    events: Vec<NewEvent>,
    commits: &Counter,
) -> Vec<Result<Stored>> {
    match try_commit(pool, &events, commits).await {
        Ok(outcomes) => outcomes,
        Err(Failure::BeforeCommit(error))
            if events.len() > 1 && !matches!(error, ApiError::Unavailable(_)) =>
        {
            tracing::warn!(error = %error, events = events.len(), "a group failed; storing its events one by one");
            let mut outcomes = Vec::with_capacity(events.len());
            for event in &events {
                outcomes.push(
                    match try_commit(pool, std::slice::from_ref(event), commits).await {
                        Ok(mut outcome) => outcome.pop().unwrap_or_else(|| Err(lost())),
                        Err(Failure::BeforeCommit(error)) => Err(refused_event(error)),
                        Err(Failure::Commit(error)) => Err(error),
                    },
                );
            }
            outcomes
        }
        Err(Failure::BeforeCommit(error)) if events.len() == 1 => vec![Err(refused_event(error))],
        Err(Failure::BeforeCommit(error) | Failure::Commit(error)) => {
            error.for_waiters(events.len())
        }
    }
}

/// What an event stored alone is told when PostgreSQL refused its data (SQLSTATE class 22,
/// a data exception): 422 with PostgreSQL's reason. Ingest's checks let through no JSON that
/// PostgreSQL's `jsonb` refuses in its common forms, but its numeric limits (e.g. more than
/// 16,383 digits after the point, as `1e-20000` asks) depend on the server's version, so the
/// database stays the judge. Any other failure is left as it is.
fn refused_event(error: ApiError) -> ApiError {
    let ApiError::Internal(cause) = &error else {
        return error;
    };
    match cause
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::as_db_error)
    {
        Some(db) if db.code().code().starts_with("22") => {
            ApiError::Unprocessable(format!("the event cannot be stored: {}", db.message()))
        }
        _ => error,
    }
}

/// How a group failed.
enum Failure {
    /// Before its commit: nothing of it was stored.
    BeforeCommit(ApiError),
    /// At its commit: it may or may not have been stored.
    Commit(ApiError),
}

async fn try_commit(
    pool: &Pool,
    events: &[NewEvent],
    commits: &Counter,
) -> std::result::Result<Vec<Result<Stored>>, Failure> {
    let before = |error: ApiError| Failure::BeforeCommit(error);
    let mut client = pool.get().await.map_err(|e| before(e.into()))?;
    let plan = plan_group(&client, events).await.map_err(before)?;
    let outcomes = if plan.is_ordered() {
        let tx = client.transaction().await.map_err(|e| before(e.into()))?;
        let outcomes = stage_group(&tx, events, &plan).await.map_err(before)?;
        tx.commit().await.map_err(|e| Failure::Commit(e.into()))?;
        outcomes
    } else {
        store_at_once(&client, events, &plan)
            .await
            .map_err(Failure::of_statement)?
    };
    commits.inc();
    Ok(outcomes)
}

impl Failure {
    /// How a statement that commits by itself failed: PostgreSQL answering with an error
    /// means it rolled back; no answer at all (a broken connection) leaves it unknown.
    fn of_statement(error: tokio_postgres::Error) -> Self {
        if error.as_db_error().is_some() {
            Failure::BeforeCommit(error.into())
        } else {
            Failure::Commit(error.into())
        }
    }
}

fn lost() -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "a stored group had no outcome for an event"
    ))
}
