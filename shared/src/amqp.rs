//! Connecting to RabbitMQ, and the messages Warren publishes: where each envelope goes and
//! with which properties.

use std::{
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::{Context, bail};
use lapin::{
    BasicProperties, Connection, ConnectionProperties, DefaultConnectionBuilder,
    tcp::OwnedTLSConfig, types::ShortString, uri::AMQPUri,
};
use rand::Rng;
use rustls_pki_types::{CertificateDer, pem::PemObject};

use crate::{
    broker_url::{BrokerUrl, node_name},
    config::BrokerSettings,
    envelope::Envelope,
    retry::jittered,
    topology::{DELIVER_ROUTING_KEY, Topology},
};

/// How to reach the broker: the nodes `AMQP_URL` lists and the TLS roots for `amqps://`.
/// Built once at start-up ([`BrokerLink::from_settings`]) so a bad URL or CA file stops the
/// service there, then used by every connect.
#[derive(Debug, Clone)]
pub struct BrokerLink {
    url: BrokerUrl,
    tls: OwnedTLSConfig,
    heartbeat_secs: u16,
}

impl BrokerLink {
    /// Parses `AMQP_URL` and reads the CA file, if any.
    pub fn from_settings(settings: &BrokerSettings) -> anyhow::Result<Self> {
        let url: BrokerUrl = settings.url.parse()?;
        let cert_chain = match &settings.ca_file {
            Some(path) => Some(read_ca_file(path)?),
            None => None,
        };
        Ok(Self {
            url,
            tls: OwnedTLSConfig {
                identity: None,
                cert_chain,
            },
            heartbeat_secs: settings.heartbeat_secs,
        })
    }

    /// The nodes, in the order `AMQP_URL` lists them.
    pub fn url(&self) -> &BrokerUrl {
        &self.url
    }
}

/// Reads a PEM file of CA certificates, refusing one that holds none.
fn read_ca_file(path: &Path) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading WARREN_AMQP_CA_FILE {}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("WARREN_AMQP_CA_FILE {} is not PEM", path.display()))?;
    if certificates.is_empty() {
        bail!(
            "WARREN_AMQP_CA_FILE {} holds no PEM certificate",
            path.display()
        );
    }
    Ok(pem)
}

/// The node index the last successful connect used: connecting starts there, so a process
/// stays on a node that works and moves on, in `AMQP_URL`'s order, when it fails.
static LAST_GOOD_NODE: AtomicUsize = AtomicUsize::new(0);

/// Opens a connection named `name` (as the management console shows it), with heartbeats so
/// a silent link is noticed, trying each node in turn (each for at most `timeout`).
pub async fn connect(
    settings: &BrokerSettings,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Connection> {
    connect_link(&BrokerLink::from_settings(settings)?, name, timeout).await
}

/// [`connect`] with the URL and CA already loaded.
pub async fn connect_link(
    link: &BrokerLink,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Connection> {
    let nodes = link.url.nodes();
    let start = LAST_GOOD_NODE.load(Ordering::Relaxed) % nodes.len();
    let mut last_error = None;
    for index in (start..nodes.len()).chain(0..start) {
        let node = &nodes[index];
        match connect_node(link, node, name, timeout).await {
            Ok(connection) => {
                LAST_GOOD_NODE.store(index, Ordering::Relaxed);
                return Ok(connection);
            }
            Err(error) => {
                if nodes.len() > 1 {
                    tracing::warn!(node = %node_name(node), error = %format!("{error:#}"), "RabbitMQ node unreachable, trying the next");
                }
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("AMQP_URL lists no node")))
}

/// A node's URL with the heartbeat added unless `AMQP_URL` names one.
fn node_uri(link: &BrokerLink, node: &AMQPUri) -> AMQPUri {
    let mut uri = node.clone();
    uri.query.heartbeat.get_or_insert(link.heartbeat_secs);
    uri
}

async fn connect_node(
    link: &BrokerLink,
    node: &AMQPUri,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Connection> {
    let uri = node_uri(link, node);
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let builder = DefaultConnectionBuilder::new()
        .context("the AMQP client's runtime")?
        .with_uri(uri)
        .with_properties(properties)
        .with_tls_config(link.tls.clone());
    let node = node_name(node);
    tokio::time::timeout(timeout, builder.connect())
        .await
        .with_context(|| format!("connecting to RabbitMQ at {node} timed out"))?
        .with_context(|| format!("connecting to RabbitMQ at {node}"))
}

/// The longest a link's setup (connection, channels, declarations, consumers) may take
/// before it is given up and tried again.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a single call that is not part of a setup (a close, a consumer's cancel, a
/// binding) waits for the broker's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Sets up a link with `setup`, giving up after [`SETUP_TIMEOUT`]: an AMQP call waits for the
/// broker's answer without a limit of its own, and one made on a link that died under it
/// can wait forever (see [`close`]).
pub async fn set_up<T, E>(setup: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    let set_up = tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .context("setting up the link to RabbitMQ timed out")?;
    Ok(set_up?)
}

/// Makes one AMQP call, waiting at most [`ANSWER_TIMEOUT`] for its answer: `None` when none
/// came in time (the link may have died under it, see [`close`]).
pub async fn answered<T>(call: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(ANSWER_TIMEOUT, call).await.ok()
}

/// Closes a connection, waiting at most [`ANSWER_TIMEOUT`] for the broker's `close-ok`.
///
/// Unbounded, a close could wait forever: when the socket dies, lapin's I/O loop ends at
/// once but marks the connection failed a moment later (through its internal command queue),
/// and a close sent in between still sees a connection that is up, so it waits for an
/// answer no loop will ever read. A publisher that hit this stopped reconnecting for good
/// after RabbitMQ restarted, and the fault suite's post-mortem caught it.
///
/// Keep the connection's channels' handles until this returns. A channel whose last handle
/// is dropped while its connection is up closes itself in the background; when the
/// connection's close overtakes that, lapin logs the clash at `error` ("Connection error:
/// invalid channel state: Closing (channel.close)"), on every clean stop. Once the connection
/// is closed, dropping a handle sends nothing.
pub async fn close(connection: &Connection, reason: &str) {
    // A close that fails or goes unanswered leaves the connection gone all the same, which is
    // what was asked: only worth a line for someone following the link closely.
    match answered(connection.close(200, reason.into())).await {
        Some(Ok(())) => {}
        Some(Err(error)) => tracing::debug!(%error, reason, "closing the RabbitMQ link failed"),
        None => tracing::debug!(reason, "RabbitMQ did not answer the close in time"),
    }
}

/// One message ready to publish: where it goes, what it carries, and for how long it may wait.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The exchange.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The body.
    pub body: Vec<u8>,
    /// Per-message TTL, for messages parked in a wait queue for less than the tier's TTL.
    pub expiration: Option<Duration>,
    /// The message id operators see in the management console (the delivery id).
    pub message_id: Option<String>,
}

impl Outgoing {
    /// An envelope to be attempted now: to the main queue, or, for a delivery in a FIFO
    /// line, to its subscription's ordered shard.
    pub fn deliver_now(topology: &Topology, envelope: &Envelope) -> Self {
        let Envelope::DeliverV1(deliver) = envelope;
        let (exchange, routing_key) = if deliver.ordered {
            let shard = topology.shard_of(deliver.subscription_id);
            (
                topology.ordered_exchange(),
                topology.ordered_routing_key(shard),
            )
        } else {
            (topology.deliver_exchange(), DELIVER_ROUTING_KEY.to_owned())
        };
        Self {
            exchange,
            routing_key,
            body: envelope.to_bytes(),
            expiration: None,
            message_id: Some(envelope_id(envelope)),
        }
    }

    /// An envelope parked in the wait queue that holds `wait`, with jitter.
    pub fn deliver_after(
        topology: &Topology,
        envelope: &Envelope,
        wait: Duration,
        rng: &mut impl Rng,
    ) -> Self {
        Self::deliver_exactly_after(topology, envelope, jittered(wait, rng))
    }

    /// An envelope parked in the wait queue that holds `wait`, for exactly that long (as a
    /// receiver's `Retry-After` asks, or until a circuit's recovery).
    pub fn deliver_exactly_after(topology: &Topology, envelope: &Envelope, wait: Duration) -> Self {
        let tier = topology.tier_for(wait);
        let wait = wait.min(tier.ttl);
        Self {
            exchange: topology.retry_exchange(),
            routing_key: tier.name,
            body: envelope.to_bytes(),
            expiration: Some(wait),
            message_id: Some(envelope_id(envelope)),
        }
    }

    /// An envelope copied to the graveyard for operators.
    pub fn graveyard(topology: &Topology, envelope: &Envelope) -> Self {
        Self {
            exchange: topology.graveyard_exchange(),
            routing_key: String::new(),
            body: envelope.to_bytes(),
            expiration: None,
            message_id: Some(envelope_id(envelope)),
        }
    }

    /// A transient JSON message (a live log line): not persisted, not worth a confirm wait
    /// beyond the usual, and dropped by the broker when nobody listens.
    pub fn transient(exchange: String, routing_key: String, body: Vec<u8>) -> Self {
        Self {
            exchange,
            routing_key,
            body,
            expiration: None,
            message_id: None,
        }
    }

    /// The AMQP properties: persistent (survives a broker restart) unless transient.
    pub fn properties(&self) -> BasicProperties {
        let mut properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_delivery_mode(if self.message_id.is_some() { 2 } else { 1 });
        if let Some(id) = &self.message_id {
            properties = properties.with_message_id(id.as_str().into());
        }
        if let Some(wait) = self.expiration {
            properties = properties.with_expiration(wait.as_millis().to_string().into());
        }
        properties
    }
}

fn envelope_id(envelope: &Envelope) -> String {
    match envelope {
        Envelope::DeliverV1(d) => d.delivery_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::{envelope::DeliverV1, retry::RetrySchedule, topology::QueueKind};

    fn envelope() -> Envelope {
        Envelope::DeliverV1(DeliverV1 {
            delivery_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            subscription_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            attempt: 2,
            ordered: false,
        })
    }

    #[test]
    fn an_ordered_envelope_goes_to_its_subscriptions_shard_and_retries_through_the_tiers() {
        let topology =
            Topology::new("t", QueueKind::Quorum, RetrySchedule::default()).with_ordered_shards(8);
        let Envelope::DeliverV1(mut deliver) = envelope();
        assert_eq!(
            Outgoing::deliver_now(&topology, &envelope()).exchange,
            "t.deliver"
        );
        deliver.ordered = true;
        let ordered = Envelope::DeliverV1(deliver.clone());
        let now = Outgoing::deliver_now(&topology, &ordered);
        assert_eq!(now.exchange, "t.ordered");
        assert_eq!(
            now.routing_key,
            format!("ordered.{}", topology.shard_of(deliver.subscription_id))
        );
        let later = Outgoing::deliver_exactly_after(&topology, &ordered, Duration::from_secs(5));
        assert_eq!(later.exchange, "t.retry");
    }

    #[test]
    fn a_retry_goes_to_its_tier_with_a_jittered_expiration_within_the_ttl() {
        let topology = Topology::new("t", QueueKind::Quorum, RetrySchedule::default());
        let message = Outgoing::deliver_after(
            &topology,
            &envelope(),
            Duration::from_secs(30),
            &mut rand::rng(),
        );
        assert_eq!(message.exchange, "t.retry");
        assert_eq!(message.routing_key, "30s");
        let wait = message.expiration.expect("an expiration");
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(24));
    }

    #[test]
    fn a_wait_longer_than_every_tier_is_capped_at_the_longest() {
        let topology = Topology::new("t", QueueKind::Quorum, RetrySchedule::default());
        let message = Outgoing::deliver_after(
            &topology,
            &envelope(),
            Duration::from_secs(86_400),
            &mut rand::rng(),
        );
        assert_eq!(message.routing_key, "6h");
        assert!(message.expiration.expect("an expiration") <= Duration::from_secs(21_600));
    }

    fn settings(url: &str, ca_file: Option<&Path>) -> BrokerSettings {
        let mut settings: BrokerSettings = crate::config::defaults();
        settings.url = url.to_owned();
        settings.ca_file = ca_file.map(Path::to_path_buf);
        settings
    }

    #[test]
    fn the_heartbeat_is_added_unless_the_url_names_one() {
        let link = BrokerLink::from_settings(&settings("amqp://h1,h2/%2f?heartbeat=3", None))
            .expect("a valid URL");
        let mut both = settings("amqp://h1,h2/%2f", None);
        both.heartbeat_secs = 10;
        let defaulted = BrokerLink::from_settings(&both).expect("a valid URL");
        assert_eq!(
            node_uri(&link, &link.url.nodes()[1]).query.heartbeat,
            Some(3)
        );
        assert_eq!(
            node_uri(&defaulted, &defaulted.url.nodes()[1])
                .query
                .heartbeat,
            Some(10)
        );
    }

    #[test]
    fn a_missing_or_certificateless_ca_file_is_refused_at_start_up() {
        let dir = std::env::temp_dir().join(format!("warren-ca-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("works");
        let missing = dir.join("missing.pem");
        let error =
            BrokerLink::from_settings(&settings("amqps://h", Some(&missing))).expect_err("refused");
        assert!(
            format!("{error:#}").contains("reading WARREN_AMQP_CA_FILE"),
            "{error:#}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("works");
        let error =
            BrokerLink::from_settings(&settings("amqps://h", Some(&empty))).expect_err("refused");
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error:#}"
        );
        let bad_url =
            BrokerLink::from_settings(&settings("amqps://u:pw@h:0", None)).expect_err("refused");
        assert!(bad_url.to_string().contains("port"), "{bad_url:#}");
        std::fs::remove_dir_all(dir).expect("works");
    }
}
