//! Ingest's lookup of sources by token: the handle the server's state holds, grouped like the
//! group commit so requests arriving together share one query.

use std::{
    collections::{HashMap, hash_map::Entry},
    num::NonZeroU32,
    sync::Arc,
};

use deadpool_postgres::Pool;
use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::{
    group::{Grouping, Queue},
    model::Provider,
};

use super::event_store::{Candidate, Target, stored_filter};
use crate::error::{ApiError, Result, stored_word};

/// What ingest needs to know about the source a token names.
#[derive(Debug, Clone)]
pub struct IngestSource {
    /// The source.
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// How its events are verified.
    pub provider: Provider,
    /// The provider's shared secret.
    pub verification_secret: Option<String>,
    /// Events accepted per second at most, if limited.
    pub rate_limit_per_sec: Option<NonZeroU32>,
    /// The owner's active subscriptions that take this source's events (whatever their
    /// type), read in the same query: matching an event to them needs no query of its own.
    pub subscriptions: Arc<[Candidate]>,
}

/// Ingest's lookup of sources by token, grouped: requests arriving together share one
/// query (the same [`Queue`] as the group commit: a lone request is a group of one and waits
/// at most a timer tick). Nothing is cached, so a deleted source, a changed verification secret
/// or a disabled owner takes effect at once.
#[derive(Clone)]
pub struct SourceLookup {
    queue: Queue<String, Result<Option<IngestSource>>>,
}

/// Most tokens looked up in one query.
const LOOKUP_GROUP: usize = 256;

/// Lookups in flight at once (each holds a pool connection while it runs).
const LOOKUP_WRITERS: usize = 2;

impl SourceLookup {
    /// Starts the lookups on `pool`.
    pub fn start(pool: Pool) -> Self {
        let grouping = Grouping::counted(LOOKUP_GROUP, LOOKUP_WRITERS);
        let queue = Queue::start(grouping, move |tokens| {
            let pool = pool.clone();
            async move { look_up(&pool, tokens).await }
        });
        Self { queue }
    }

    /// The source `token` names, if any.
    pub async fn by_token(&self, token: String) -> Result<Option<IngestSource>> {
        self.queue
            .submit(token)
            .await
            .map_err(|stopped| ApiError::Internal(stopped.into()))?
    }
}

/// Each token's source, in the tokens' order (a token may come more than once: requests
/// for the same source arrive together); a failed query fails each of them.
async fn look_up(pool: &Pool, tokens: Vec<String>) -> Vec<Result<Option<IngestSource>>> {
    match by_tokens(pool, &tokens).await {
        Ok(found) => tokens.iter().map(|t| Ok(found.get(t).cloned())).collect(),
        Err(error) => error.for_waiters(tokens.len()),
    }
}

/// The sources some tokens name, by token, each with its candidate subscriptions.
async fn by_tokens(pool: &Pool, tokens: &[String]) -> Result<HashMap<String, IngestSource>> {
    let client = pool.get().await?;
    let rows = client
        .query(&client.prepare_cached(BY_TOKENS).await?, &[&tokens])
        .await?;
    let mut found: HashMap<String, (IngestSource, Vec<Candidate>)> = HashMap::new();
    for row in &rows {
        let token: String = row.get("token");
        let (_, candidates) = match found.entry(token) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert((source_of(row)?, Vec::new())),
        };
        if let Some(id) = row.get::<_, Option<Uuid>>("subscription_id") {
            candidates.push(Candidate {
                target: Target {
                    id,
                    fifo: row.get("fifo"),
                },
                event_types: row.get("event_types"),
                filter: stored_filter(row.get("filter"))?,
                active: row.get("is_active"),
            });
        }
    }
    Ok(found
        .into_iter()
        .map(|(token, (source, candidates))| {
            let subscriptions = candidates.into();
            (
                token,
                IngestSource {
                    subscriptions,
                    ..source
                },
            )
        })
        .collect())
}

/// Sources by token, one row per subscription that takes their events, active or not (an
/// inactive one holds them), or one row without a subscription: those of the owner bound to
/// the source or to every source. A disabled user's sources are not found (ingest answers
/// 404) from the moment it is disabled: nothing is cached.
const BY_TOKENS: &str =
    "SELECT src.token, src.id, src.user_id, src.provider, src.verification_secret,
            src.rate_limit_per_sec,
            s.id AS subscription_id, s.event_types, s.ordering = 'fifo' AS fifo, s.is_active,
            s.filter::text AS filter
     FROM sources src
     JOIN users u ON u.id = src.user_id
     LEFT JOIN subscriptions s ON s.user_id = src.user_id
         AND (s.source_id IS NULL OR s.source_id = src.id)
     WHERE src.token = ANY($1) AND u.disabled_at IS NULL";

fn source_of(row: &Row) -> Result<IngestSource> {
    Ok(IngestSource {
        id: row.get("id"),
        user_id: row.get("user_id"),
        provider: stored_word(row.get("provider"))?,
        verification_secret: row.get("verification_secret"),
        rate_limit_per_sec: row
            .get::<_, Option<i32>>("rate_limit_per_sec")
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new),
        subscriptions: Arc::new([]),
    })
}
