//! The live log gateway: socket.io at `/socket.io/`, fed through RabbitMQ, not process
//! memory, so any number of ingest instances can serve browsers.
//!
//! A client connects with `auth: {"token"}` (a session token or an API key), or, as the web
//! app does, with the session cookie from a page of a trusted origin; anything else is refused
//! at connect. Each socket joins its user's room, and ends within a few seconds of its
//! credential ending (logout, key deleted, session expired: see `revocation`).
//!
//! This instance keeps one exclusive, auto-delete queue bound to `warren.logs` under the keys
//! of the users connected to it, and emits each line to that user's room. A socket that
//! cannot keep up loses lines (counted), never slowing anything else: emitting never waits,
//! and the queue itself is capped.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

pub use crate::context::metrics::GatewayMetrics;
use futures_util::StreamExt;
use lapin::{
    Channel,
    options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use serde::Deserialize;
use socketioxide::{
    SocketIo,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    layer::SocketIoLayer,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::{
    amqp,
    config::BrokerSettings,
    live::{Lines, user_key, user_of_key},
};

use crate::{
    auth::{self, AuthUser, session},
    origin::Provenance,
    state::AppState,
};

mod revocation;

/// The event telling a socket its lines now flow (its user's key is bound); sent again after
/// the gateway reconnects to RabbitMQ, since lines in between were lost.
const READY: &str = "live.ready";

fn ready() -> serde_json::Value {
    serde_json::json!({ "at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default() })
}

/// Lines buffered per socket before new ones are dropped for it.
const SOCKET_BUFFER: usize = 256;

/// Lines this instance's queue holds before the oldest are dropped (`drop-head`).
const QUEUE_LIMIT: i64 = 10_000;

/// Whose a socket is and what it connected with, kept in its extensions.
#[derive(Debug, Clone, Copy)]
struct SocketUser(AuthUser);

/// The connect payload: `{"token": "<session token or API key>"}`, or nothing when the
/// session cookie is to be used.
#[derive(Debug, Deserialize)]
struct ConnectAuth {
    token: Option<String>,
}

/// Which users have sockets here, and the queue their keys are bound to.
struct Bindings {
    /// The `warren.logs` exchange.
    exchange: String,
    users: Mutex<HashMap<Uuid, usize>>,
    link: Mutex<Option<(Channel, String)>>,
}

#[derive(Clone)]
struct GatewayState {
    app: AppState,
    bindings: Arc<Bindings>,
}

/// The socket.io layer, with the relay from RabbitMQ running until `cancel` trips (the
/// handle ends once the relay closed its connection).
pub fn layer(
    app: &AppState,
    cancel: CancellationToken,
) -> (SocketIoLayer, tokio::task::JoinHandle<()>) {
    let state = GatewayState {
        app: app.clone(),
        bindings: Arc::new(Bindings {
            exchange: app.publisher.topology().logs_exchange(),
            users: Mutex::default(),
            link: Mutex::default(),
        }),
    };
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(SOCKET_BUFFER)
        .with_state(state.clone())
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    let revocation = revocation::run(io.clone(), app.clone(), cancel.clone());
    let relay = tokio::spawn(async move {
        tokio::join!(relay(io, state, cancel), revocation);
    });
    (layer, relay)
}

/// Refuses a socket without a valid credential; remembers whose it is and what it used.
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<ConnectAuth>,
    State(state): State<GatewayState>,
) -> Result<(), String> {
    let token = connect_token(&socket, auth.ok().and_then(|auth| auth.token), &state.app)?;
    let client = state
        .app
        .pool
        .get()
        .await
        .map_err(|_| "the database is unavailable".to_owned())?;
    let user = auth::resolve(&client, &token)
        .await
        .map_err(|_| "the database is unavailable".to_owned())?
        .ok_or_else(|| "the token is invalid, expired or revoked".to_owned())?;
    socket.extensions.insert(SocketUser(user));
    Ok(())
}

/// The token a socket connects with: `auth: {token}`, else the session cookie of its
/// handshake, which only a page of a trusted origin may use (a browser sends the cookie to
/// sockets that other sites' pages open, and the live log is private).
fn connect_token(
    socket: &SocketRef,
    token: Option<String>,
    app: &AppState,
) -> Result<String, String> {
    if let Some(token) = token {
        return Ok(token);
    }
    let headers = &socket.req_parts().headers;
    let token = session::cookie_token(headers).ok_or_else(|| {
        "send auth: {token} with a session token or API key, or the session cookie".to_owned()
    })?;
    // A browser always names the origin of a WebSocket's page, and of a cross-origin
    // request; a same-origin polling request may name none.
    match app.origins.provenance(headers) {
        Provenance::Foreign(origin) => Err(format!(
            "the session cookie opens a socket only from Warren's own pages, not from `{origin}`"
        )),
        Provenance::Trusted | Provenance::Unknown => Ok(token),
    }
}

async fn on_connect(socket: SocketRef, State(state): State<GatewayState>) {
    let Some(SocketUser(AuthUser { user_id: user, .. })) = socket.extensions.get::<SocketUser>()
    else {
        // Only `authenticate` lets a socket in, and it always says whose: a socket without
        // one is closed, and if the close cannot be sent now it has nothing to hear anyway.
        let _ = socket.disconnect();
        return;
    };
    socket.join(user_key(user));
    state.app.metrics.gateway.sockets.inc();
    if state.bindings.add(user).await
        && let Err(error) = socket.emit(READY, &ready())
    {
        // The socket left already, or its buffer is full: it hears `live.ready` on the
        // gateway's next reconnect, or when it connects again.
        tracing::warn!(%error, "live.ready not sent to a new socket");
    }
    socket.on_disconnect(async move |State(state): State<GatewayState>| {
        state.app.metrics.gateway.sockets.dec();
        state.bindings.remove(user).await;
    });
}

impl Bindings {
    /// Counts a socket of `user`, binding their key when it is the first.
    /// Says whether the key is bound now (else it is bound, and every socket told, when
    /// the relay next attaches to RabbitMQ).
    async fn add(&self, user: Uuid) -> bool {
        let first = {
            let mut users = self.users.lock().expect("the users lock");
            let count = users.entry(user).or_default();
            *count += 1;
            *count == 1
        };
        match self.current() {
            Some((channel, queue)) if first => {
                match self.bind(&channel, &queue, user, true).await {
                    Ok(()) => true,
                    Err(error) => {
                        // The channel failed: the relay reattaches and binds every user.
                        tracing::warn!(%error, "a user's live key not bound");
                        false
                    }
                }
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Uncounts a socket of `user`, unbinding their key when it was the last.
    async fn remove(&self, user: Uuid) {
        let last = {
            let mut users = self.users.lock().expect("the users lock");
            let count = users.entry(user).or_default();
            *count = count.saturating_sub(1);
            let last = *count == 0;
            if last {
                users.remove(&user);
            }
            last
        };
        if last
            && let Some((channel, queue)) = self.current()
            && let Err(error) = self.bind(&channel, &queue, user, false).await
        {
            // The channel failed, and its server-named queue goes with it.
            tracing::warn!(%error, "a user's live key not unbound");
        }
    }

    fn current(&self) -> Option<(Channel, String)> {
        self.link.lock().expect("the link lock").clone()
    }

    /// Uses a new queue, binding every user connected now.
    async fn attach(&self, channel: Channel, queue: String) -> lapin::Result<()> {
        *self.link.lock().expect("the link lock") = Some((channel.clone(), queue.clone()));
        let users: Vec<Uuid> = self
            .users
            .lock()
            .expect("the users lock")
            .keys()
            .copied()
            .collect();
        for user in users {
            self.bind(&channel, &queue, user, true).await?;
        }
        Ok(())
    }

    /// Forgets the link, and hands its channel back to be dropped after the connection's
    /// close (see `amqp::close`).
    fn detach(&self) -> Option<(Channel, String)> {
        self.link.lock().expect("the link lock").take()
    }

    /// Binds (`on`) or unbinds the user's key.
    async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        user: Uuid,
        on: bool,
    ) -> lapin::Result<()> {
        let (exchange, key) = (self.exchange.as_str(), user_key(user));
        if on {
            let options = QueueBindOptions::default();
            channel
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    key.as_str().into(),
                    options,
                    FieldTable::default(),
                )
                .await
        } else {
            channel
                .queue_unbind(
                    queue.into(),
                    exchange.into(),
                    key.as_str().into(),
                    FieldTable::default(),
                )
                .await
        }
    }
}

/// Consumes this instance's queue and emits each line to its user's room, reconnecting
/// whenever the link breaks.
async fn relay(io: SocketIo, state: GatewayState, cancel: CancellationToken) {
    let broker = state.app.settings.broker.clone();
    let mut backoff = Duration::from_millis(100);
    while !cancel.is_cancelled() {
        match amqp::set_up(attach(&io, &broker, &state.bindings)).await {
            Ok((connection, mut consumer)) => {
                backoff = Duration::from_millis(100);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        next = consumer.next() => match next {
                            Some(Ok(delivery)) => emit(&io, &state, delivery.routing_key.as_str(), &delivery.data),
                            _ => break,
                        },
                    }
                }
                let link = state.bindings.detach();
                amqp::close(&connection, "bye").await;
                drop((link, consumer));
            }
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "the live log gateway cannot reach RabbitMQ"
            ),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn attach(
    io: &SocketIo,
    broker: &BrokerSettings,
    bindings: &Bindings,
) -> anyhow::Result<(lapin::Connection, lapin::Consumer)> {
    let connection =
        amqp::connect(broker, "warren-ingest live logs", broker.confirm_timeout()).await?;
    let channel = connection.create_channel().await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(QUEUE_LIMIT));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("drop-head".into()),
    );
    // Server-named, exclusive and auto-deleted: this instance's own, gone with its connection.
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                passive: false,
                durable: false,
                exclusive: true,
                auto_delete: true,
                nowait: false,
            },
            arguments,
        )
        .await?;
    let name = queue.name().as_str().to_owned();
    bindings.attach(channel.clone(), name.clone()).await?;
    // Every socket connected now has its key bound: lines flow from here on.
    if let Err(error) = io.emit(READY, &ready()).await {
        tracing::warn!(%error, "live.ready not sent to the connected sockets");
    }
    // No acks: a live line lost with a crashed gateway is not worth a redelivery.
    let consumer = channel
        .basic_consume(
            name.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_local: false,
                no_ack: true,
                exclusive: true,
                nowait: false,
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, consumer))
}

/// Emits the lines of a message (a batch, or one line) to every socket of their user here, in
/// order; a socket whose buffer is full loses them.
fn emit(io: &SocketIo, state: &GatewayState, key: &str, body: &[u8]) {
    let (Some(_), Ok(lines)) = (user_of_key(key), serde_json::from_slice::<Lines>(body)) else {
        tracing::warn!(key, "unreadable live lines dropped");
        return;
    };
    let metrics = &state.app.metrics.gateway;
    let sockets = io.to(key.to_owned()).sockets();
    for line in lines.into_vec() {
        for socket in &sockets {
            match socket.emit(&line.event, &line.data) {
                Ok(()) => metrics.emitted.inc(),
                Err(_) => metrics.dropped.inc(),
            };
        }
    }
}
