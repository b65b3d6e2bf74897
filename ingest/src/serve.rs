//! The HTTP server loop: hyper with the limits a public endpoint needs, each request told its
//! client's address, and a graceful stop.
//!
//! - A connection must send a request's headers within the header read timeout, also while
//!   idle between keep-alive requests; one that does not is closed (a client sending half its
//!   headers, or nothing, holds nothing for long).
//! - At most `max_connections` are open at once; further clients wait in the kernel's accept
//!   queue until one closes, so a flood of connections cannot exhaust file descriptors or
//!   memory.
//! - The body's deadline is a layer of the router (`startup::router`), answered with a 408.
//! - hyper's own bare refusals (431, 400, 414) get a problem body ([`ProblemIo`]).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{Request, body::Incoming, server::conn::http1::Builder};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::{config::Settings, refusals::ProblemIo};

/// What a connection may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers (or stay idle between
    /// requests).
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    /// The limits the settings ask for (at least one connection, at least a second).
    pub fn of(settings: &Settings) -> Self {
        Self {
            max_connections: settings.max_connections.max(1),
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` trips, then lets the requests in hand
/// finish. Each request carries its client's address as [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let builder = builder(limits);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &permits) => accepted,
            () = shutdown.cancelled() => None,
        };
        let Some((permit, stream, peer)) = accepted else {
            break;
        };
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(Body::new)
            });
        let connection = builder
            .serve_connection(
                TokioIo::new(ProblemIo::new(stream)),
                TowerToHyperService::new(service),
            )
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(error = %error, "a connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// HTTP/1.1 (with upgrades, for live sockets), with the header read timeout on a tokio
/// timer. HTTP/1.1 only, as before: hyper-util's automatic HTTP/2 detection reads the first
/// bytes without any timeout, so a client sending nothing would hold its connection for ever.
fn builder(limits: ConnectionLimits) -> Builder {
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
}

/// The next connection, once one of the permits is free. `None` only if the semaphore was
/// closed, which nothing does.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(OwnedSemaphorePermit, TcpStream, SocketAddr)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(error = %error, "setting TCP_NODELAY");
                }
                return Some((permit, stream, peer));
            }
            // Out of file descriptors, or a connection reset before it was accepted: wait a
            // moment instead of spinning, as hyper's and axum's own loops do.
            Err(error) => {
                tracing::warn!(error = %error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
