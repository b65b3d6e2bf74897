//! What every handler can reach.

use std::sync::Arc;

use deadpool_postgres::Pool;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use warren_shared::publisher::Publisher;

use crate::{
    config::Settings,
    context::{group_commit::Committer, metrics::IngestMetrics, source_lookup::SourceLookup},
    dispatch::Marker,
    origin::TrustedOrigins,
    throttle::Throttles,
};

/// Shared by all handlers. A clone is one reference count: axum clones the state for every
/// request, and cloning each shared part (a dozen counts, channel handles among them) showed
/// in ingest's profile.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of a server with these parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The PostgreSQL pool.
    pub pool: Pool,
    /// Where ingest and the publish API store events (group commit).
    pub committer: Committer,
    /// Finds the source an ingest URL's token names (grouped lookups).
    pub sources: SourceLookup,
    /// Marks what the broker confirmed as enqueued, in batches.
    pub marker: Marker,
    /// The confirmed publisher.
    pub publisher: Publisher,
    /// The settings the server started with.
    pub settings: Arc<Settings>,
    /// What the server counts.
    pub metrics: Arc<IngestMetrics>,
    /// Where the metrics are registered, for `/metrics`.
    pub registry: Arc<Registry>,
    /// An HTTP client for the broker's management API.
    pub http: reqwest::Client,
    /// The origins whose pages may write with the session cookie.
    pub origins: TrustedOrigins,
    /// Where revoking a credential tells this process's live gateway.
    pub revocations: Revocations,
    /// Failed logins and sources' ingest rates, counted.
    pub throttles: Throttles,
}

/// Tells this process's live gateway that a credential was revoked (a logout, an API key
/// deleted; later an operator disabling a user), so it re-checks its sockets now instead of at
/// its next sweep. The gateways of other processes notice at their own sweep, a few seconds
/// on: the database, not this nudge, says which credentials stand.
#[derive(Debug, Default)]
pub struct Revocations(Notify);

impl Revocations {
    /// Says a credential was revoked. Several nudges before the gateway looks make one
    /// re-check.
    pub fn revoked(&self) {
        self.0.notify_one();
    }

    /// Waits for the next nudge.
    pub async fn next(&self) {
        self.0.notified().await;
    }
}
