//! Shutdown is a token passed down, tripped by SIGTERM or Ctrl-C; then each service waits
//! for its tasks to end ([`joined`], [`join_within`]).

use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if let Err(error) = ctrl_c.await {
        tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
    }
}

/// A task's end, as awaited at shutdown: its output, or `None` when it did not finish. A
/// panic is logged as the error it is (the panic's message went to stderr only); a task
/// cancelled by its runtime is no fault.
pub fn joined<T>(task: &str, joined: Result<T, JoinError>) -> Option<T> {
    match joined {
        Ok(output) => Some(output),
        Err(error) if error.is_panic() => {
            tracing::error!(task, %error, "a task panicked");
            None
        }
        Err(error) => {
            tracing::debug!(task, %error, "a task was cancelled");
            None
        }
    }
}

/// Waits at most `limit` for a task to end at shutdown (see [`joined`]); one still running
/// then is left behind with a warning.
pub async fn join_within<T>(task: &str, limit: Duration, handle: JoinHandle<T>) -> Option<T> {
    match tokio::time::timeout(limit, handle).await {
        Ok(ended) => joined(task, ended),
        Err(_) => {
            tracing::warn!(
                task,
                limit_ms = limit.as_millis() as u64,
                "a task did not end in time; stopping without it"
            );
            None
        }
    }
}
