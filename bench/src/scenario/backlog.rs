//! The `backlog` scenario's setup: deliveries parked in the wait queues whose TTL outlasts
//! the run, between its two `rate` phases.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::context::{Run, Setup};
use crate::{api::NewSubscription, broker, report::BacklogSetup, rows::Owner, seed};

impl Run<'_> {
    /// Parks the backlog: a subscription of its own whose target always answers 500 (it only
    /// takes `bench.parked` events, so the load never reaches it), its deliveries written as
    /// failed once and waiting, and their envelopes published into the wait queues whose
    /// TTL outlasts the rest of the run.
    pub(super) async fn park(&self, setup: &Setup) -> anyhow::Result<BacklogSetup> {
        let prefix = self
            .warren
            .prefix
            .as_deref()
            .context("backlog needs --topology-prefix with --url")?;
        let client = self.database("backlog").await?;
        let target = self.receiver.url("/fail");
        let new = NewSubscription {
            event_types: &["bench.parked"],
            ..NewSubscription::new("bench-parked", &target, setup.owner.source_id)
        };
        let owner = Owner {
            subscription_id: setup.api.create_subscription(&new).await?,
            ..setup.owner
        };
        let (queues, wait) = self.long_wait_queues(prefix).await?;
        eprintln!(
            "warren-bench: parking {} deliveries in {}",
            self.plan.backlog,
            queues.join(", ")
        );
        let started = Instant::now();
        let envelopes = seed::parked(&client, &owner, self.plan.backlog, wait).await?;
        let database_seconds = started.elapsed().as_secs_f64();
        let publish = broker::park(&self.cli.amqp_url, &queues, &envelopes).await?;
        let messages_in_queues = self.queued(prefix, &queues, self.plan.backlog).await?;
        Ok(BacklogSetup {
            parked: self.plan.backlog,
            queues,
            database_seconds,
            publish_seconds: publish.as_secs_f64(),
            messages_in_queues,
        })
    }

    /// The wait queues whose TTL outlasts the second phase with a margin, and the shortest
    /// such TTL.
    pub(super) async fn long_wait_queues(
        &self,
        prefix: &str,
    ) -> anyhow::Result<(Vec<String>, Duration)> {
        let plan = self.plan;
        let needed = plan.warmup + plan.duration + plan.drain_timeout + Duration::from_secs(600);
        let retry = format!("{prefix}.retry.");
        let long: Vec<_> = self
            .management
            .queues(prefix)
            .await?
            .into_iter()
            .filter(|q| q.name.starts_with(&retry) && q.ttl().is_some_and(|t| t >= needed))
            .collect();
        let Some(shortest) = long.iter().filter_map(|q| q.ttl()).min() else {
            bail!(
                "no wait queue of {prefix} holds messages for {} s or more; use a retry schedule with a longer wait",
                needed.as_secs()
            );
        };
        Ok((long.into_iter().map(|q| q.name).collect(), shortest))
    }

    /// Messages in `queues` once the management API's figures catch up (they refresh every
    /// few seconds), or after 30 s.
    pub(super) async fn queued(
        &self,
        prefix: &str,
        queues: &[String],
        expected: u64,
    ) -> anyhow::Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.management.queues(prefix).await?;
            let count: u64 = all
                .iter()
                .filter(|q| queues.contains(&q.name))
                .filter_map(|q| q.messages)
                .sum();
            if count >= expected || Instant::now() > deadline {
                return Ok(count);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
