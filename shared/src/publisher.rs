//! A publisher that confirms every message and heals itself.
//!
//! It owns one connection (RabbitMQ throttles publishing connections, so they are kept apart
//! from consuming ones) and one channel in confirm mode. A supervisor task connects, declares
//! the topology, and reconnects with backoff whenever the link breaks; while it is down,
//! publishing fails at once rather than waiting, and callers fall back on the outbox.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use futures_util::{StreamExt, future::try_join_all};
use lapin::{
    Channel, Connection, PublisherConfirm,
    options::{BasicPublishOptions, ConfirmSelectOptions},
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    amqp::{Outgoing, close, connect, set_up},
    config::BrokerSettings,
    live,
    metrics::{PublisherMetrics, ReasonLabel},
    topology::Topology,
};

/// Why a publish did not get a positive confirm.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No link to the broker right now.
    #[error("not connected to RabbitMQ")]
    Disconnected,
    /// The broker did not confirm in time.
    #[error("RabbitMQ did not confirm within {0:?}")]
    Timeout(Duration),
    /// The broker refused the message (e.g. a full queue with `reject-publish`).
    #[error("RabbitMQ refused the message (nack)")]
    Nacked,
    /// The message reached no queue and came back.
    #[error("the message was returned unroutable by {exchange}")]
    Unroutable {
        /// The exchange that returned it.
        exchange: String,
    },
    /// The channel or connection failed.
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

impl PublishError {
    /// A one-word reason, for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::Disconnected => "disconnected",
            PublishError::Timeout(_) => "timeout",
            PublishError::Nacked => "nack",
            PublishError::Unroutable { .. } => "unroutable",
            PublishError::Amqp(_) => "amqp",
        }
    }
}

/// Cheap to clone; every clone publishes over the same link.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: BrokerSettings,
    metrics: PublisherMetrics,
    topology: Topology,
    name: String,
    link: RwLock<Option<Link>>,
    broken: Notify,
    connected: Notify,
    /// When a nack last made the publisher reconnect (see [`NACK_RECONNECT_EVERY`]).
    nack_reconnect: std::sync::Mutex<Option<std::time::Instant>>,
    supervisor: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Live log lines waiting to travel in batches (see [`live::BATCH_WINDOW`]).
    lines: mpsc::Sender<(uuid::Uuid, Vec<u8>)>,
}

/// Most live lines waiting for their batch; beyond it, new lines are dropped (the live log
/// is a view, and a publisher that cannot keep up must not grow without bound).
const MAX_WAITING_LINES: usize = 16_384;

#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    channel: Channel,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often, at most, nacks make the publisher reconnect. A quorum queue that refused
/// publishes (`reject-publish` at its length limit) can keep refusing a channel after the
/// limit is lifted (RabbitMQ issue #12206); a new channel is not refused. A queue that is
/// really full refuses the new one too, and the outbox keeps the deliveries meanwhile.
const NACK_RECONNECT_EVERY: Duration = Duration::from_secs(5);

impl Publisher {
    /// Starts the supervisor; the returned publisher connects in the background and keeps
    /// reconnecting until `cancel` trips.
    pub fn start(
        settings: BrokerSettings,
        name: &str,
        metrics: PublisherMetrics,
        cancel: CancellationToken,
    ) -> Self {
        let topology = settings.topology();
        let (lines, waiting) = mpsc::channel(MAX_WAITING_LINES);
        let inner = Arc::new(Inner {
            settings,
            metrics,
            topology,
            name: name.to_owned(),
            link: RwLock::new(None),
            broken: Notify::new(),
            nack_reconnect: std::sync::Mutex::new(None),
            connected: Notify::new(),
            supervisor: std::sync::Mutex::new(None),
            lines,
        });
        let supervisor = tokio::spawn(supervise(inner.clone(), cancel.clone()));
        *inner.supervisor.lock().expect("the supervisor lock") = Some(supervisor);
        let publisher = Self { inner };
        tokio::spawn(tell_in_batches(publisher.clone(), waiting, cancel));
        publisher
    }

    /// Waits (at most `limit`) for the supervisor to close its connection after the
    /// cancellation token tripped, so the broker sees a clean close, not a dropped socket.
    pub async fn closed(&self, limit: Duration) {
        let supervisor = self
            .inner
            .supervisor
            .lock()
            .expect("the supervisor lock")
            .take();
        if let Some(supervisor) = supervisor {
            crate::shutdown::join_within("the publisher's supervisor", limit, supervisor).await;
        }
    }

    /// The topology it declares and publishes into.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Whether a link is up right now.
    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    /// Waits until a link is up, at most `timeout`; says whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_connected() {
            let notified = self.inner.connected.notified();
            if self.is_connected() {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_connected();
            }
        }
        true
    }

    /// Publishes every message and waits for all their confirms. Succeeds only when each was
    /// routed to a queue and acked; a failure of the link also schedules a reconnect.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> Result<(), PublishError> {
        self.send_all(messages).await?.confirmed().await
    }

    /// Sends every message now and returns their confirms, to be awaited (with
    /// [`Sent::confirmed`]) where waiting suits the caller: the messages are on their way
    /// whether or not anyone waits.
    pub async fn send_all(&self, messages: &[Outgoing]) -> Result<Sent, PublishError> {
        let link = self.current().ok_or(PublishError::Disconnected)?;
        let deadline = tokio::time::Instant::now() + self.inner.settings.confirm_timeout();
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            match tokio::time::timeout_at(deadline, send(&link.channel, message, true)).await {
                Ok(Ok(confirm)) => pending.push((confirm, message.exchange.clone())),
                Ok(Err(error)) => return Err(self.settle(&link, error)),
                Err(_) => return Err(self.settle(&link, self.timeout())),
            }
        }
        Ok(Sent {
            publisher: self.clone(),
            link,
            pending,
            deadline,
        })
    }

    fn timeout(&self) -> PublishError {
        PublishError::Timeout(self.inner.settings.confirm_timeout())
    }

    /// Counts a failed publish and, if the link may be at fault, schedules a reconnect;
    /// returns the error.
    fn settle(&self, link: &Link, error: PublishError) -> PublishError {
        self.count_failure(&error);
        let still_current = self
            .current()
            .is_some_and(|c| Arc::ptr_eq(&c.connection, &link.connection));
        let reconnect = match &error {
            PublishError::Nacked => self.nack_reconnect_due(),
            _ => true,
        };
        if reconnect && still_current {
            tracing::warn!(error = %error, "publish failed; reconnecting to RabbitMQ");
            self.inner.broken.notify_one();
        }
        error
    }

    /// Whether a nack should make the publisher reconnect now (at most every
    /// [`NACK_RECONNECT_EVERY`]).
    fn nack_reconnect_due(&self) -> bool {
        let mut last = self
            .inner
            .nack_reconnect
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < NACK_RECONNECT_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Tells a user's browsers something (a live log line: `event` with `data`), off the
    /// caller's path: the line waits up to [`live::BATCH_WINDOW`] for the user's other lines,
    /// and they travel together, as [`Publisher::publish_transient`] sends them.
    pub fn tell(&self, user_id: uuid::Uuid, event: &str, data: &impl serde::Serialize) {
        match live::encode(event, data) {
            Ok(line) => {
                // A full queue drops the line (see `MAX_WAITING_LINES`), as does a publisher
                // that stopped: a live line lost costs nothing.
                let _ = self.inner.lines.try_send((user_id, line));
            }
            Err(error) => tracing::warn!(error = %error, event, "live line not encoded"),
        }
    }

    /// Publishes without asking for a return or waiting for the confirm, off the caller's
    /// path: for live log lines, which nobody may be listening for and whose loss costs
    /// nothing. Never slows the caller, even when the broker throttles.
    pub fn publish_transient(&self, message: Outgoing) {
        let Some(link) = self.current() else {
            return;
        };
        tokio::spawn(async move {
            // Not mandatory: a line for a user with no browser open is simply dropped.
            let publish = send(&link.channel, &message, false);
            // A live line not sent in time, or on a channel that failed, is lost, which
            // costs nothing (see above); the link's own failures are the supervisor's.
            let _ = tokio::time::timeout(Duration::from_secs(1), publish).await;
        });
    }

    /// Publishes one message; see [`Publisher::publish_all`].
    pub async fn publish(&self, message: Outgoing) -> Result<(), PublishError> {
        self.publish_all(std::slice::from_ref(&message)).await
    }

    fn count_failure(&self, error: &PublishError) {
        self.inner
            .metrics
            .failures
            .get_or_create(&ReasonLabel {
                reason: error.reason(),
            })
            .inc();
    }

    fn current(&self) -> Option<Link> {
        let link = self
            .inner
            .link
            .read()
            .expect("the link lock is never poisoned")
            .clone();
        link.filter(|l| l.connection.status().connected() && l.channel.status().connected())
    }
}

/// Sends the lines told, in batches: after the first line of a window, waits out
/// [`live::BATCH_WINDOW`], then publishes each user's lines of the window in one message per
/// [`live::MAX_BATCH`]. Ends when `cancel` trips, sending what waits.
async fn tell_in_batches(
    publisher: Publisher,
    mut waiting: mpsc::Receiver<(uuid::Uuid, Vec<u8>)>,
    cancel: CancellationToken,
) {
    loop {
        // Lines already waiting go before the stop, so none told before it is left behind.
        let first = tokio::select! {
            biased;
            first = waiting.recv() => match first {
                Some(first) => first,
                None => return,
            },
            () = cancel.cancelled() => return,
        };
        tokio::select! {
            () = tokio::time::sleep(live::BATCH_WINDOW) => {}
            () = cancel.cancelled() => {}
        }
        let mut by_user: Vec<(uuid::Uuid, Vec<Vec<u8>>)> = Vec::new();
        let mut next = Some(first);
        while let Some((user, line)) = next {
            match by_user.iter_mut().find(|(u, _)| *u == user) {
                Some((_, lines)) => lines.push(line),
                None => by_user.push((user, vec![line])),
            }
            next = waiting.try_recv().ok();
        }
        let topology = publisher.topology();
        for (user, lines) in &by_user {
            for chunk in lines.chunks(live::MAX_BATCH) {
                publisher.publish_transient(live::batch(topology, *user, chunk));
            }
        }
    }
}

/// Messages sent and not yet confirmed (see [`Publisher::send_all`]).
pub struct Sent {
    publisher: Publisher,
    link: Link,
    pending: Vec<(PublisherConfirm, String)>,
    deadline: tokio::time::Instant,
}

impl Sent {
    /// Waits for every confirm, until the confirm timeout counted from the send. Succeeds
    /// only when each message was routed to a queue and acked.
    pub async fn confirmed(self) -> Result<(), PublishError> {
        let Self {
            publisher,
            link,
            pending,
            deadline,
        } = self;
        let messages = pending.len();
        let result = match tokio::time::timeout_at(deadline, all_confirmed(pending)).await {
            Ok(result) => result,
            Err(_) => Err(publisher.timeout()),
        };
        match result {
            Ok(()) => {
                publisher.inner.metrics.confirms.inc_by(messages as u64);
                Ok(())
            }
            Err(error) => Err(publisher.settle(&link, error)),
        }
    }
}

/// Sends one message. A `mandatory` message that reaches no queue comes back instead of
/// vanishing.
async fn send(
    channel: &Channel,
    message: &Outgoing,
    mandatory: bool,
) -> Result<PublisherConfirm, PublishError> {
    Ok(channel
        .basic_publish(
            message.exchange.as_str().into(),
            message.routing_key.as_str().into(),
            BasicPublishOptions {
                mandatory,
                immediate: false,
            },
            &message.body,
            message.properties(),
        )
        .await?)
}

async fn all_confirmed(pending: Vec<(PublisherConfirm, String)>) -> Result<(), PublishError> {
    let (confirms, exchanges): (Vec<_>, Vec<_>) = pending.into_iter().unzip();
    let confirmations = try_join_all(confirms).await?;
    for (confirmation, exchange) in confirmations.into_iter().zip(exchanges) {
        if confirmation.is_nack() {
            return Err(PublishError::Nacked);
        }
        if confirmation.take_message().is_some() {
            return Err(PublishError::Unroutable { exchange });
        }
    }
    Ok(())
}

/// Keeps a link up until cancelled: connect, declare, wait for it to break, back off, repeat.
async fn supervise(inner: Arc<Inner>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match set_up(establish(&inner)).await {
            Ok(link) => {
                backoff = Duration::from_millis(100);
                *inner.link.write().expect("the link lock is never poisoned") = Some(link.clone());
                inner.connected.notify_waiters();
                inner.metrics.connects.inc();
                tracing::info!(name = %inner.name, "publisher connected to RabbitMQ");
                let cancelled = wait_until_broken(&inner, &link, &cancel).await;
                *inner.link.write().expect("the link lock is never poisoned") = None;
                close(&link.connection, "bye").await;
                if cancelled {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(name = %inner.name, error = format!("{error:#}"), "publisher cannot reach RabbitMQ")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn establish(inner: &Inner) -> anyhow::Result<Link> {
    let timeout = inner.settings.confirm_timeout();
    let connection = connect(&inner.settings, &inner.name, timeout).await?;
    let channel = connection.create_channel().await?;
    inner.topology.declare(&channel).await?;
    channel
        .confirm_select(ConfirmSelectOptions { nowait: false })
        .await?;
    Ok(Link {
        connection: Arc::new(connection),
        channel,
    })
}

/// Returns when the link breaks (`false`) or shutdown is requested (`true`).
async fn wait_until_broken(inner: &Inner, link: &Link, cancel: &CancellationToken) -> bool {
    let mut events = link.connection.events_listener();
    // Events only reach listeners that existed when they happened; the status check catches a
    // link that broke before this listener was made.
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return true,
            _ = inner.broken.notified() => return false,
            _ = check.tick() => if !link.connection.status().connected() || !link.channel.status().connected() {
                return false;
            },
            event = events.next() => match event {
                Some(lapin::Event::Error(error)) => {
                    tracing::warn!(name = %inner.name, error = %error, "publisher lost RabbitMQ");
                    return false;
                }
                Some(_) => {}
                None => return false,
            },
        }
    }
}
