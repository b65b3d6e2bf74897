//! Ending the sockets whose credential ended: every [`RECHECK`] (and at once when this process
//! revoked one itself) the gateway asks the database which of its sockets' credentials still
//! stand, and disconnects the sockets of the others.
//!
//! Why a re-check rather than a broadcast: the database is where a logout, a deleted key or a
//! disabled user is recorded, whichever ingest process handled it, so asking it needs no
//! message that could be lost (a broadcast over RabbitMQ is gone while the broker is away, a
//! NOTIFY while the listening connection is), and it also sees what no one announces: a
//! session that simply expired, a user deleted. It costs one indexed query per process every
//! two seconds, and only while that process has sockets.

use std::{collections::HashSet, time::Duration};

use socketioxide::{SocketIo, extract::SocketRef};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::SocketUser;
use crate::{
    auth::{self, Credential},
    state::AppState,
};

/// How often the sockets' credentials are re-checked. The contract gives 5 s from the end of
/// a credential to the end of its sockets; this leaves room for a slow query.
pub const RECHECK: Duration = Duration::from_secs(2);

/// Re-checks the sockets every [`RECHECK`], or when this process revoked a credential, until
/// `cancel` trips.
pub async fn run(io: SocketIo, app: AppState, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RECHECK) => {}
            _ = app.revocations.next() => {}
        }
        sweep(&io, &app).await;
    }
}

/// Disconnects every socket whose credential ended. With the database away, a session that
/// expired still ends its sockets (its expiry is known); what else ended is seen once the
/// database answers again.
async fn sweep(io: &SocketIo, app: &AppState) {
    let sockets = connected(io);
    if sockets.is_empty() {
        return;
    }
    let credentials: Vec<Credential> = sockets.iter().map(|(_, user)| user.0.credential).collect();
    let standing = standing(app, &credentials).await;
    let now = OffsetDateTime::now_utc();
    for (socket, SocketUser(user)) in sockets {
        let expired = user.expires_at.is_some_and(|at| at <= now);
        let revoked = standing
            .as_ref()
            .is_some_and(|standing| !standing.contains(&user.credential));
        if expired || revoked {
            end(socket, app);
        }
    }
}

/// This process's sockets, each with what it connected with.
fn connected(io: &SocketIo) -> Vec<(SocketRef, SocketUser)> {
    io.sockets()
        .into_iter()
        .filter_map(|socket| {
            let user = socket.extensions.get::<SocketUser>()?;
            Some((socket, user))
        })
        .collect()
}

/// The credentials that still stand, or `None` when the database cannot say in time (a
/// stalled database must not hold up the expiries the sweep can judge alone).
async fn standing(app: &AppState, credentials: &[Credential]) -> Option<HashSet<Credential>> {
    let ask = async {
        let client = app.pool.get().await?;
        auth::standing(&client, credentials).await
    };
    tokio::time::timeout(RECHECK, ask)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {RECHECK:?}"))
        .and_then(|result| result.map_err(anyhow::Error::from))
        .inspect_err(|error| {
            tracing::warn!(
                error = format!("{error:#}"),
                "the live gateway cannot re-check its sockets' credentials"
            );
        })
        .ok()
}

/// Takes a socket out of its user's room, so it hears nothing more, and disconnects it.
fn end(socket: SocketRef, app: &AppState) {
    socket.leave_all();
    let id = socket.id;
    match socket.disconnect() {
        Ok(()) => {
            tracing::info!(socket = %id, "a live socket's credential ended; disconnected it");
            app.metrics.gateway.revoked.inc();
        }
        // Its buffer is full, so the disconnect cannot be sent now. It is out of the room and
        // hears nothing more; the next sweep tries again, and engine.io's heartbeat ends a
        // client that never reads.
        Err(error) => {
            tracing::debug!(socket = %id, %error, "the disconnect waits for the next sweep")
        }
    }
}
