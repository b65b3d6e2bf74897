//! Group commit: events arriving at once are stored in one transaction, so a burst of
//! requests costs one commit and one WAL flush instead of one each.
//!
//! Requests hand their event to a queue and wait. A few writers take turns at it: one takes
//! every event waiting (up to a bound) and commits them together, while the next gathers
//! those that arrive meanwhile. Nothing waits on a timer: under light load a group is one
//! event and costs what it always did; under load the groups grow by themselves. Each request
//! is answered only after its group's commit is durable.

use std::sync::Arc;

use deadpool_postgres::Pool;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::store::{NewEvent, Stored, stage_group};
use crate::error::{ApiError, Result, database_unavailable};

/// How the groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Most events in one transaction.
    pub max_events: usize,
    /// Transactions in flight at once (each holds a pool connection while it runs).
    pub writers: usize,
}

/// Where requests hand over their events; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
}

struct Job {
    event: NewEvent,
    answer: oneshot::Sender<Result<Stored>>,
}

impl Committer {
    /// Starts the writers on `pool`, counting committed transactions in `commits`. They
    /// stop once every `Committer` is dropped and the queue is empty.
    pub fn start(pool: Pool, settings: GroupCommit, commits: Counter) -> Self {
        let max_events = settings.max_events.max(1);
        let (queue, jobs) = mpsc::channel(max_events * settings.writers.max(1) * 4);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(write(
                pool.clone(),
                jobs.clone(),
                max_events,
                commits.clone(),
            ));
        }
        Self { queue }
    }

    /// Stores the event with its deliveries; returns once the commit is durable.
    pub async fn store(&self, event: NewEvent) -> Result<Stored> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Job { event, answer })
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the committer has stopped")))?;
        answered
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the committer dropped an event")))?
    }
}

/// One writer: takes a group from the queue, commits it, answers each request.
async fn write(
    pool: Pool,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_events: usize,
    commits: Counter,
) {
    loop {
        let group = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < max_events
                && let Ok(job) = jobs.try_recv()
            {
                group.push(job);
            }
            group
        };
        let (events, answers): (Vec<NewEvent>, Vec<_>) =
            group.into_iter().map(|job| (job.event, job.answer)).unzip();
        let outcomes = commit_group(&pool, events, &commits).await;
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            let _ = answer.send(outcome);
        }
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
        Err(Failure::BeforeCommit(error)) if events.len() > 1 && !is_unavailable(&error) => {
            tracing::warn!(error = %error, events = events.len(), "a group failed; storing its events one by one");
            let mut outcomes = Vec::with_capacity(events.len());
            for event in &events {
                outcomes.push(
                    match try_commit(pool, std::slice::from_ref(event), commits).await {
                        Ok(mut outcome) => outcome.pop().unwrap_or_else(|| Err(lost())),
                        Err(Failure::BeforeCommit(error) | Failure::Commit(error)) => Err(error),
                    },
                );
            }
            outcomes
        }
        Err(Failure::BeforeCommit(error) | Failure::Commit(error)) => {
            events.iter().map(|_| Err(replicate(&error))).collect()
        }
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
    let tx = client.transaction().await.map_err(|e| before(e.into()))?;
    let outcomes = stage_group(&tx, events).await.map_err(before)?;
    tx.commit().await.map_err(|e| Failure::Commit(e.into()))?;
    commits.inc();
    Ok(outcomes)
}

fn is_unavailable(error: &ApiError) -> bool {
    matches!(error, ApiError::Unavailable(_))
        || matches!(error, ApiError::Internal(e)
            if e.downcast_ref::<tokio_postgres::Error>().is_some_and(database_unavailable))
}

/// The group's error, for each of its requests.
fn replicate(error: &ApiError) -> ApiError {
    let cause = |e: &anyhow::Error| anyhow::anyhow!("{e:#}");
    match error {
        ApiError::Unavailable(e) => ApiError::Unavailable(cause(e)),
        ApiError::Internal(e) => ApiError::Internal(cause(e)),
        other => ApiError::Internal(anyhow::anyhow!("{other}")),
    }
}

fn lost() -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "a stored group had no outcome for an event"
    ))
}
