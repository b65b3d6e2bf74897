//! RabbitMQ: its version (management API), the wait queues of a topology and their depth,
//! deleting a topology after a run, and parking envelopes straight into wait queues.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::try_join_all;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::ShortString,
};
use serde::{Deserialize, Serialize};
use warren_shared::envelope::{DeliverV1, Envelope};

/// The management API, with the AMQP URL's credentials and vhost.
#[derive(Clone)]
pub struct Management {
    client: reqwest::Client,
    base: String,
    user: String,
    password: String,
    vhost: String,
}

/// RabbitMQ's and Erlang's versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerInfo {
    /// RabbitMQ's version.
    pub rabbitmq_version: String,
    /// Erlang's version.
    pub erlang_version: String,
}

/// One queue as the management API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueInfo {
    /// Its name.
    pub name: String,
    /// Messages in it (ready and unacknowledged); absent until the first stats tick.
    #[serde(default)]
    pub messages: Option<u64>,
    /// Its consumers; absent until the first stats tick.
    #[serde(default)]
    pub consumers: Option<u64>,
    /// Its `x-` arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

impl QueueInfo {
    /// The queue's `x-message-ttl`, if it has one.
    pub fn ttl(&self) -> Option<Duration> {
        self.arguments
            .get("x-message-ttl")
            .and_then(serde_json::Value::as_u64)
            .map(Duration::from_millis)
    }
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

impl Management {
    /// The management API at `base`, with the user, password and vhost of `amqp_url`.
    pub fn new(base: &str, amqp_url: &str) -> anyhow::Result<Self> {
        let amqp = url::Url::parse(amqp_url).context("the AMQP URL is not a URL")?;
        let vhost = match amqp.path().trim_start_matches('/') {
            "" => "%2F".to_owned(),
            path => path.to_owned(),
        };
        Ok(Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            user: percent_decode(amqp.username()),
            password: percent_decode(amqp.password().unwrap_or("guest")),
            vhost,
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .get(&url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .with_context(|| format!("asking RabbitMQ's management API ({url})"))?;
        if !response.status().is_success() {
            bail!(
                "RabbitMQ's management API answered {} to {url}",
                response.status()
            );
        }
        Ok(response.json().await?)
    }

    /// RabbitMQ's and Erlang's versions.
    pub async fn info(&self) -> anyhow::Result<BrokerInfo> {
        self.get("/api/overview").await
    }

    /// Every queue whose name starts with `prefix.`.
    pub async fn queues(&self, prefix: &str) -> anyhow::Result<Vec<QueueInfo>> {
        let all: Vec<QueueInfo> = self
            .get(&format!(
                "/api/queues/{}?columns=name,messages,consumers,arguments",
                self.vhost
            ))
            .await?;
        let prefix = format!("{prefix}.");
        Ok(all
            .into_iter()
            .filter(|q| q.name.starts_with(&prefix))
            .collect())
    }

    /// Deletes every queue and exchange whose name starts with `prefix.`.
    pub async fn delete_topology(&self, prefix: &str) -> anyhow::Result<()> {
        for queue in self.queues(prefix).await? {
            self.delete(&format!("/api/queues/{}/{}", self.vhost, queue.name))
                .await?;
        }
        let exchanges: Vec<Named> = self
            .get(&format!("/api/exchanges/{}?columns=name", self.vhost))
            .await?;
        let prefix = format!("{prefix}.");
        for exchange in exchanges.iter().filter(|e| e.name.starts_with(&prefix)) {
            self.delete(&format!("/api/exchanges/{}/{}", self.vhost, exchange.name))
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .delete(&url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .with_context(|| format!("deleting {url}"))?;
        if !response.status().is_success() && response.status() != 404 {
            bail!(
                "RabbitMQ's management API answered {} to DELETE {url}",
                response.status()
            );
        }
        Ok(())
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, v)| v.into_owned())
}

/// How many publishes wait for their confirms together.
const CONFIRM_BATCH: usize = 2_000;

/// Publishes one envelope per delivery straight into the wait queues (round robin, through
/// the default exchange), persistent and confirmed, as Warren parks a retry. Returns how long
/// it took.
pub async fn park(
    amqp_url: &str,
    queues: &[String],
    envelopes: &[DeliverV1],
) -> anyhow::Result<Duration> {
    if queues.is_empty() {
        bail!("no wait queue to park the backlog in");
    }
    let started = Instant::now();
    let connection = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .context("connecting to RabbitMQ to park the backlog")?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions { nowait: false })
        .await?;
    let mut queue = queues.iter().cycle();
    for batch in envelopes.chunks(CONFIRM_BATCH) {
        publish_confirmed(&channel, batch, &mut queue).await?;
    }
    // Every envelope is confirmed by now: a close that fails loses nothing.
    let _ = connection.close(200, "parked".into()).await;
    Ok(started.elapsed())
}

/// Publishes a batch, then waits for all its confirms together.
async fn publish_confirmed<'q>(
    channel: &Channel,
    batch: &[DeliverV1],
    queue: &mut impl Iterator<Item = &'q String>,
) -> anyhow::Result<()> {
    let mut confirms = Vec::with_capacity(batch.len());
    for (envelope, queue) in batch.iter().zip(queue) {
        let body = Envelope::DeliverV1(envelope.clone()).to_bytes();
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                // Mandatory: a message that reaches no queue must come back, not vanish.
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &body,
                properties(envelope),
            )
            .await?;
        confirms.push(confirm);
    }
    for confirmation in try_join_all(confirms).await? {
        if confirmation.is_nack() || confirmation.take_message().is_some() {
            bail!("RabbitMQ refused a parked envelope");
        }
    }
    Ok(())
}

/// Persistent JSON, with the delivery id as message id, as Warren publishes envelopes.
fn properties(envelope: &DeliverV1) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_message_id(envelope.delivery_id.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_vhost_come_from_the_amqp_url() {
        let management = Management::new(
            "http://127.0.0.1:15672/",
            "amqp://guest:gu%40st@127.0.0.1:5672/%2f",
        )
        .expect("settings");
        assert_eq!(management.user, "guest");
        assert_eq!(management.password, "gu@st");
        assert_eq!(management.vhost, "%2f");
        assert_eq!(management.base, "http://127.0.0.1:15672");
    }

    #[test]
    fn a_queue_tells_its_ttl() {
        let queue: QueueInfo = serde_json::from_str(
            r#"{"name": "w.retry.6h", "messages": 3, "arguments": {"x-message-ttl": 21600000}}"#,
        )
        .expect("a queue");
        assert_eq!(queue.ttl(), Some(Duration::from_secs(21_600)));
    }
}
