//! Building and running the server: a function of its settings, its listener and a shutdown
//! token, so tests start it on port 0 with their own database and topology prefix.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, MatchedPath},
    http::{HeaderValue, Request, header},
    routing::get,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::RequestBodyDeadlineLayer,
    trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer},
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use warren_shared::{amqp, db, publisher::Publisher, shutdown};

use crate::{
    admin, alerts, auth,
    config::Settings,
    dead_letters, deliveries, dispatch,
    error::ApiError,
    events, gateway, health, held, ingest, lines,
    metrics::{self, IngestMetrics},
    notifications,
    openapi::{self, ApiDoc},
    outbox, queues, refusals, retention, serve, sources,
    state::{AppState, Shared},
    stats, subscriptions,
    throttle::{self, Throttles},
    web,
};

/// A built server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    alert_webhook: Option<alerts::Webhook>,
    /// Sends notifications to their channels.
    notifier: notifications::send::Sender,
    /// The enqueued marker's task and what stops it, once no request can hand it more.
    marker: (tokio::task::JoinHandle<()>, CancellationToken),
    cancel: CancellationToken,
}

impl Application {
    /// Migrates the database, starts the publisher (which declares the topology once it
    /// reaches RabbitMQ) and binds the listener. The broker may be down: ingest still accepts
    /// events and the outbox relay publishes them later. `cancel` stops everything.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding {}", settings.http_addr))?;
        Self::build_on(settings, listener, cancel).await
    }

    /// Like [`Application::build`], on a listener bound already (tests bind port 0 first so
    /// the public URL can name the real port).
    pub async fn build_on(
        settings: Settings,
        listener: TcpListener,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        // Read first, so a misconfigured alert webhook stops the start-up before anything runs.
        let alert_webhook = alerts::Webhook::from_settings(&settings)?;
        // Likewise the SMTP settings, so a typo does not silently lose mails.
        let notifier = notifications::send::Sender::from_settings(&settings)
            .context("the notification sender's settings")?;
        let origins = settings.trusted_origins()?;
        // And AMQP_URL and its CA file: a typo there would only show as endless reconnects.
        amqp::BrokerLink::from_settings(&settings.broker).context("the RabbitMQ settings")?;
        db::migrate(&settings.database)
            .await
            .context("migrating the database")?;
        warren_shared::partitions::ensure_at_start(&settings.database).await;
        let pool = db::pool(&settings.database, db::Commits::Durable)?;
        let (metrics, registry) = IngestMetrics::registered();
        let publisher = Publisher::start(
            settings.broker.clone(),
            "warren-ingest",
            metrics.publisher.clone(),
            cancel.clone(),
        );
        let committer = events::Committer::start(
            pool.clone(),
            settings.group_commit(),
            metrics.event_commits.clone(),
        );
        let sources = sources::SourceLookup::start(pool.clone());
        let marker_stop = CancellationToken::new();
        let (marker, marker_task) = dispatch::Marker::start(
            pool.clone(),
            dispatch::Marker::delay_for(settings.outbox_grace()),
            marker_stop.clone(),
        );
        let login_limits = throttle::LoginLimits::of(&settings);
        let state = AppState::new(Shared {
            committer,
            sources,
            marker,
            pool,
            publisher,
            settings: Arc::new(settings),
            metrics: Arc::new(metrics),
            registry: Arc::new(registry),
            http: reqwest::Client::new(),
            origins,
            revocations: Default::default(),
            throttles: Throttles::new(login_limits),
        });
        Ok(Self {
            listener,
            state,
            alert_webhook,
            notifier,
            marker: (marker_task, marker_stop),
            cancel,
        })
    }

    /// The port it listens on (the real one when built with port 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The shared state, for tests that reach behind the API.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the token trips, then drains in-flight requests and stops the relay.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            alert_webhook,
            notifier,
            marker,
            cancel,
        } = self;
        let relay = tokio::spawn(outbox::run(state.clone(), cancel.clone()));
        let retention = tokio::spawn(retention::run(state.clone(), cancel.clone()));
        let held_sweeper = tokio::spawn(held::sweep::run(state.clone(), cancel.clone()));
        let alerting = tokio::spawn(alerts::run(state.clone(), alert_webhook, cancel.clone()));
        let notifying = tokio::spawn(notifications::send::run(
            state.clone(),
            notifier,
            cancel.clone(),
        ));
        let failing = tokio::spawn(notifications::failing::run(state.clone(), cancel.clone()));
        let pruning = tokio::spawn(notifications::retention::run(state.clone(), cancel.clone()));
        let forgetting = tokio::spawn({
            let (state, cancel) = (state.clone(), cancel.clone());
            async move { throttle::prune(&state.throttles, cancel).await }
        });
        let (live, live_relay) = gateway::layer(&state, cancel.clone());
        let publisher = state.publisher.clone();
        let (dispatched, confirm_timeout) = (
            state.marker.clone(),
            state.settings.broker.confirm_timeout(),
        );
        tracing::info!(addr = %listener.local_addr()?, "warren-ingest listening");
        let limits = serve::ConnectionLimits::of(&state.settings);
        // The live sockets' answers (socket.io's polling) are not the router's: they too are
        // never sniffed.
        let app = router(state).layer(live).layer(nosniff());
        serve::serve(listener, app, limits, cancel.clone()).await;
        cancel.cancel();
        // The background tasks end with the token; one that panicked is logged, and stopping
        // goes on either way.
        shutdown::joined("the outbox relay", relay.await);
        shutdown::joined("the retention sweep", retention.await);
        shutdown::joined("the held sweeper", held_sweeper.await);
        shutdown::joined("alerting", alerting.await);
        let (notifying, failing, pruning, forgetting) =
            tokio::join!(notifying, failing, pruning, forgetting);
        shutdown::joined("sending notifications", notifying);
        shutdown::joined("the failing-channel check", failing);
        shutdown::joined("notifications' retention", pruning);
        shutdown::joined("forgetting throttles", forgetting);
        // Every request has been answered: what the broker confirms is marked now.
        dispatched.settle(confirm_timeout).await;
        let (marker, marker_stop) = marker;
        marker_stop.cancel();
        shutdown::join_within("the enqueued marker", Duration::from_secs(5), marker).await;
        // Close the broker connections cleanly before the process exits.
        shutdown::join_within("the live relay", Duration::from_secs(2), live_relay).await;
        publisher.closed(Duration::from_secs(2)).await;
        Ok(())
    }
}

/// Every route, with request ids, a span per request, the body limit and its deadline, every
/// error answered as problem+json, and the security headers: `X-Content-Type-Options:
/// nosniff` on every answer, `Cache-Control: no-store` on every answer of the API
/// (`/api/v1/…` and ingest: sign-up, login, API keys, sources and subscriptions show tokens,
/// keys and secrets), and the web app's `Content-Security-Policy` (see [`web`]).
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.max_body_bytes;
    let body_deadline = state.settings.body_read_timeout();
    let ingest = ingest::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::count_ingest,
    ));
    let (api, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ingest)
        .merge(auth::router())
        .merge(sources::router())
        .merge(subscriptions::router())
        .merge(held::router())
        .merge(lines::router())
        .merge(stats::router())
        .merge(events::router())
        .merge(deliveries::router())
        .merge(dead_letters::router())
        .merge(queues::router())
        .merge(admin::router())
        .merge(notifications::router())
        .split_for_parts();
    let document = Arc::new(openapi::finish(document));
    Router::new()
        .merge(api.layer(no_store()))
        .merge(health::router())
        .merge(metrics::router())
        .route(
            "/api/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .fallback(web::fallback(&state.settings.web_dir))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(axum::middleware::map_response(refusals::problem_body))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyDeadlineLayer::new(body_deadline))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(request_log())
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(nosniff())
}

/// `X-Content-Type-Options: nosniff`: browsers take every answer as the type it says.
fn nosniff() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )
}

/// `Cache-Control: no-store`: no cache, the browser's included, keeps an answer that may show
/// a token, key or secret.
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// One `info` line per request, when its answer is ready: the status and how long it took,
/// with the span's method and route. (Nothing when it arrives; a 5xx's cause is logged where
/// it is answered, `ApiError::problem`, so the trace layer's own failure line, at `error` for
/// every 5xx, `/readyz`'s 503 at start-up included, is only for `debug`.)
fn request_log() -> DefaultOnResponse {
    DefaultOnResponse::new()
        .level(tracing::Level::INFO)
        .latency_unit(tower_http::LatencyUnit::Millis)
}

/// The span of one request. It names the matched route, never the raw path: an ingest path
/// carries the source token, which is a credential.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        event_id = tracing::field::Empty,
    )
}
