//! Building and running a worker: a function of its settings and a shutdown token, so tests
//! start it with their own database and topology prefix.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower_http::set_header::SetResponseHeaderLayer;
use warren_shared::{amqp, db, health, metrics, publisher::Publisher};

use crate::{
    breakers::Breakers,
    config::Settings,
    context::Context,
    error::{Error, Result},
    http::HttpClient,
    limits::{Bulkhead, RateLimiter},
    lines::Lines,
    metrics::DeliverMetrics,
    records::Recorder,
    store::Loader,
    worker,
};

/// A built worker, ready to run.
pub struct Worker {
    settings: Settings,
    context: Arc<Context>,
    registry: Arc<Registry>,
    listener: TcpListener,
    cancel: CancellationToken,
    /// Dropped once the worker has stopped consuming and drained (or was never run): only
    /// then may the publisher close.
    consumed: DropGuard,
}

impl Worker {
    /// Migrates the database, starts the publisher and binds the health listener.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> Result<Self> {
        // AMQP_URL and its CA file first: a typo there would only show as endless reconnects.
        amqp::BrokerLink::from_settings(&settings.broker).map_err(Error::BrokerSettings)?;
        db::migrate(&settings.database)
            .await
            .map_err(Error::Migrate)?;
        warren_shared::partitions::ensure_at_start(&settings.database).await;
        let pool = db::pool_with(
            &settings.database,
            db::Commits::Relaxed,
            db::Plans::KeyLookups,
        )?;
        let (metrics, registry) = DeliverMetrics::registered();
        let consumed = CancellationToken::new();
        let publisher = Publisher::start(
            settings.broker.clone(),
            "warren-deliver publisher",
            metrics.publisher.clone(),
            publishing_until(cancel.clone(), consumed.clone()),
        );
        let http = HttpClient::new(settings.allow_target_cidrs.clone())?;
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: settings.http_addr,
                source,
            })?;
        let context = Arc::new(Context {
            loader: Loader::start(pool.clone()),
            recorder: Recorder::start(pool.clone()),
            limiter: RateLimiter::new(pool.clone()),
            breakers: Breakers::start_notifying(
                pool.clone(),
                settings.thresholds(),
                settings.notify_min_interval(),
            ),
            pool,
            publisher,
            http,
            consuming: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(metrics),
            thresholds: settings.thresholds(),
            bulkhead: Bulkhead::new(settings.max_in_flight_per_subscription),
            lines: Lines::default(),
            notify_min_interval: settings.notify_min_interval(),
        });
        Ok(Self {
            settings,
            context,
            registry: Arc::new(registry),
            listener,
            cancel,
            consumed: consumed.drop_guard(),
        })
    }

    /// What the worker handles deliveries with (tests step it through `handle_delivery`).
    pub fn context(&self) -> Arc<Context> {
        self.context.clone()
    }

    /// The port of the health server.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Consumes until the token trips, then drains in-flight deliveries and exits.
    pub async fn run_until_stopped(self) -> Result<()> {
        let Self {
            settings,
            context,
            registry,
            listener,
            cancel,
            consumed,
        } = self;
        let health = axum::serve(listener, health_router(context.clone(), registry))
            .with_graceful_shutdown(cancel.clone().cancelled_owned());
        let health = tokio::spawn(async move { health.await });
        worker::consume(
            context.clone(),
            settings.broker.clone(),
            settings.prefetch,
            settings.shutdown_grace(),
            cancel.clone(),
        )
        .await;
        cancel.cancel();
        drop(consumed);
        context
            .publisher
            .closed(std::time::Duration::from_secs(2))
            .await;
        health.await?.map_err(Error::HealthServer)?;
        tracing::info!("warren-deliver stopped");
        Ok(())
    }
}

/// The publisher's own shutdown token: it trips once `cancel` has and `consumed` too. The
/// deliveries still in flight when the signal comes publish their retries, rings and parks
/// while they drain; a publisher closed at the signal made each of them a warning and left
/// its retry to the outbox relay.
fn publishing_until(cancel: CancellationToken, consumed: CancellationToken) -> CancellationToken {
    let publishing = CancellationToken::new();
    let stop = publishing.clone();
    tokio::spawn(async move {
        cancel.cancelled().await;
        consumed.cancelled().await;
        stop.cancel();
    });
    publishing
}

/// `/healthz`, `/readyz` and `/metrics`, every answer with `X-Content-Type-Options: nosniff`.
fn health_router(context: Arc<Context>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
                    metrics::render(&registry),
                )
            }),
        )
        .with_state(context)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

async fn readyz(State(context): State<Arc<Context>>) -> Response {
    let database = async {
        let client = context.pool.get().await.ok()?;
        client.query_one("SELECT 1", &[]).await.ok()
    };
    let database = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), database).await,
        Ok(Some(_))
    );
    let broker = context.publisher.is_connected() && context.consuming.load(Ordering::Relaxed);
    let (status, content_type, body) = health::readiness(database, broker);
    let status = StatusCode::from_u16(status).expect("a valid status");
    (status, [(header::CONTENT_TYPE, content_type)], Json(body)).into_response()
}
