//! `GET /api/v1/queues`: depth, unacked and consumers of each Warren queue, so the web app
//! can show the backlog per wait tier. Read from RabbitMQ's management API; when that is
//! unreachable, from passive declares (which know ready messages and consumers, not unacked).

use anyhow::Context;
use axum::{Json, extract::State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use warren_shared::{amqp, broker_url::BrokerUrl, config::BrokerSettings, topology::Topology};

use crate::{
    auth::{AuthUser, require_operator},
    error::{ApiError, Problem, Result},
    state::AppState,
};

/// The queue route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(queues))
}

/// One Warren queue as the broker sees it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueBody {
    /// The queue's name.
    pub name: String,
    /// `deliver` (the main queue), `retry` (a wait queue), `ordered` (a shard of FIFO
    /// subscriptions' doorbells) or `graveyard`.
    pub kind: &'static str,
    /// For a wait queue, its tier (`5s`, `2m`, …).
    pub tier: Option<String>,
    /// Messages in the queue (ready and unacked).
    pub messages: i64,
    /// Delivered to a worker, not yet acked; `null` without the management API.
    messages_unacked: Option<i64>,
    consumers: i64,
}

/// Every Warren queue, main queue first, then the wait tiers shortest first, then the
/// ordered shards, then the graveyard.
#[utoipa::path(get, path = "/api/v1/queues", tag = "operations",
    responses((status = 200, body = Vec<QueueBody>), (status = 403, body = Problem, description = "Not an operator"),
        (status = 503, body = Problem)), security(("bearer" = [])))]
async fn queues(State(state): State<AppState>, user: AuthUser) -> Result<Json<Vec<QueueBody>>> {
    require_operator(&state, &user).await?;
    Ok(Json(snapshot(&state).await.map_err(ApiError::Unavailable)?))
}

/// Every Warren queue as the broker sees it now: from the management API, or from passive
/// declares when that is unreachable.
pub async fn snapshot(state: &AppState) -> anyhow::Result<Vec<QueueBody>> {
    let mut queues = expected(state.publisher.topology());
    if let Err(error) = from_management(state, &mut queues).await {
        tracing::debug!(
            error = format!("{error:#}"),
            "management API unavailable; using passive declares"
        );
        from_passive(&state.settings.broker, &mut queues).await?;
    }
    Ok(queues)
}

fn expected(topology: &Topology) -> Vec<QueueBody> {
    let queue = |name: String, kind, tier| QueueBody {
        name,
        kind,
        tier,
        messages: 0,
        messages_unacked: None,
        consumers: 0,
    };
    let mut queues = vec![queue(topology.deliver_queue(), "deliver", None)];
    for tier in topology.tiers() {
        queues.push(queue(topology.retry_queue(&tier), "retry", Some(tier.name)));
    }
    for shard in topology.ordered_shards() {
        queues.push(queue(topology.ordered_queue(shard), "ordered", None));
    }
    queues.push(queue(topology.graveyard_queue(), "graveyard", None));
    queues
}

/// The broker's vhost and credentials, from the AMQP URL (the AMQP default `guest`/`guest`
/// for what it leaves out, as the broker client does), the same for every node it lists.
fn vhost_and_credentials(amqp_url: &str) -> anyhow::Result<(String, String, Option<String>)> {
    let url: BrokerUrl = amqp_url.parse()?;
    Ok((
        url.vhost().to_owned(),
        url.username().to_owned(),
        Some(url.password().to_owned()),
    ))
}

async fn from_management(state: &AppState, queues: &mut [QueueBody]) -> anyhow::Result<()> {
    let (vhost, user, password) = vhost_and_credentials(&state.settings.broker.url)?;
    let mut url =
        url::Url::parse(&state.settings.rabbitmq_management_url).context("the management URL")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("the management URL cannot take a path"))?
        .pop_if_empty()
        .extend(["api", "queues", vhost.as_str()]);
    url.set_query(Some(
        "columns=name,messages,messages_unacknowledged,consumers",
    ));
    let listed: Vec<Value> = state
        .http
        .get(url)
        .basic_auth(user, password)
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    for queue in queues.iter_mut() {
        if let Some(found) = listed.iter().find(|q| q["name"] == queue.name.as_str()) {
            queue.messages = found["messages"].as_i64().unwrap_or(0);
            queue.messages_unacked = Some(found["messages_unacknowledged"].as_i64().unwrap_or(0));
            queue.consumers = found["consumers"].as_i64().unwrap_or(0);
        }
    }
    Ok(())
}

async fn from_passive(broker: &BrokerSettings, queues: &mut [QueueBody]) -> anyhow::Result<()> {
    use lapin::{options::QueueDeclareOptions, types::FieldTable};
    let connection = amqp::connect(
        broker,
        "warren-ingest queue stats",
        broker.confirm_timeout(),
    )
    .await?;
    // Each channel is dropped after the connection's close (see `amqp::close`).
    let mut channels = Vec::with_capacity(queues.len());
    for queue in queues.iter_mut() {
        // A fresh channel per queue: a passive declare of a missing queue closes its channel.
        let channel = connection.create_channel().await?;
        let declared = channel
            .queue_declare(
                queue.name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if let Ok(declared) = declared {
            queue.messages = declared.message_count().into();
            queue.consumers = declared.consumer_count().into();
        }
        channels.push(channel);
    }
    amqp::close(&connection, "bye").await;
    drop(channels);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vhost_and_credentials_come_from_the_amqp_url() {
        let (vhost, user, password) =
            vhost_and_credentials("amqp://guest:s%40cret@h:5672/%2f").expect("parses");
        assert_eq!(
            (vhost.as_str(), user.as_str(), password.as_deref()),
            ("/", "guest", Some("s@cret"))
        );
        let (vhost, ..) = vhost_and_credentials("amqp://u:p@h/prod").expect("parses");
        assert_eq!(vhost, "prod");
        let (vhost, ..) = vhost_and_credentials("amqp://u:p@h1:5672,h2:5672/prod").expect("parses");
        assert_eq!(vhost, "prod");
        let (vhost, user, password) = vhost_and_credentials("amqp://h").expect("parses");
        assert_eq!(
            (vhost.as_str(), user.as_str(), password.as_deref()),
            ("/", "guest", Some("guest"))
        );
    }
}
