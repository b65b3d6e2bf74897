//! Handing committed deliveries to the broker, and remembering which ones it confirmed.
//!
//! A delivery's `enqueued` flag says the envelope for its next attempt is confirmed in the
//! broker. Whatever is not confirmed (broker down, a crash between commit and publish) stays
//! `false` and the outbox relay publishes it later.

use deadpool_postgres::{GenericClient, Pool};
use uuid::Uuid;
use warren_shared::{amqp::Outgoing, envelope::Envelope, publisher::Publisher};

/// Publishes envelopes for attempts due now and, once the broker confirmed them all, marks
/// them enqueued in the background. A failure is logged and left to the outbox relay: the
/// deliveries are already durable.
pub async fn publish_now(pool: &Pool, publisher: &Publisher, envelopes: Vec<Envelope>) {
    if envelopes.is_empty() {
        return;
    }
    let messages: Vec<Outgoing> = envelopes
        .iter()
        .map(|e| Outgoing::deliver_now(publisher.topology(), e))
        .collect();
    match publisher.publish_all(&messages).await {
        Ok(()) => {
            let pool = pool.clone();
            tokio::spawn(async move {
                let marked = mark_enqueued_relaxed(&pool, &envelopes).await;
                if let Err(error) = marked {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not mark deliveries enqueued; the outbox will republish them"
                    );
                }
            });
        }
        Err(error) => {
            tracing::warn!(error = %error, deliveries = envelopes.len(), "publish failed; the outbox relay will retry");
        }
    }
}

/// Marks deliveries enqueued without waiting for the WAL flush: losing the mark (only a
/// PostgreSQL crash can) means the outbox publishes the envelope again, a duplicate that
/// at-least-once allows, while waiting for it would queue every ingest commit behind it.
async fn mark_enqueued_relaxed(pool: &Pool, envelopes: &[Envelope]) -> anyhow::Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    mark_enqueued(&tx, envelopes).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks deliveries enqueued, but only those still waiting for the attempt their envelope
/// asks for: a worker may already have moved a delivery on, and its own retry envelope must
/// not be mistaken for this one.
pub async fn mark_enqueued(
    client: &impl GenericClient,
    envelopes: &[Envelope],
) -> anyhow::Result<()> {
    let (ids, attempts): (Vec<Uuid>, Vec<i32>) = envelopes
        .iter()
        .map(|Envelope::DeliverV1(d)| (d.delivery_id, d.attempt as i32))
        .unzip();
    client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE deliveries AS d SET enqueued = true
             FROM unnest($1::uuid[], $2::int[]) AS x(id, attempt)
             WHERE d.id = x.id AND d.attempt_count = x.attempt - 1
               AND d.status IN ('pending', 'retrying') AND NOT d.enqueued",
                )
                .await?,
            &[&ids, &attempts],
        )
        .await?;
    Ok(())
}
