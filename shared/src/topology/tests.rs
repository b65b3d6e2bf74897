use std::time::Duration;

use serde_json::Value;

use super::*;

fn production() -> Topology {
    Topology::new("warren", QueueKind::Quorum, RetrySchedule::default())
}

#[test]
fn wait_queues_are_named_by_tier_and_dead_letter_to_the_main_exchange() {
    let queues = production().queues();
    let wait = queues
        .iter()
        .find(|q| q.name == "warren.retry.30s")
        .expect("a 30 s tier");
    assert_eq!(wait.arguments["x-message-ttl"], Arg::Int(30_000));
    assert_eq!(
        wait.arguments["x-dead-letter-exchange"],
        Arg::Str("warren.deliver".into())
    );
    assert_eq!(
        wait.arguments["x-dead-letter-routing-key"],
        Arg::Str(DELIVER_ROUTING_KEY.into())
    );
}

#[test]
fn quorum_queues_that_dead_letter_do_so_at_least_once() {
    for queue in production().queues() {
        if queue.arguments.contains_key("x-dead-letter-exchange") {
            assert_eq!(
                queue.arguments["x-dead-letter-strategy"],
                Arg::Str("at-least-once".into()),
                "{}",
                queue.name
            );
            assert_eq!(
                queue.arguments["x-overflow"],
                Arg::Str("reject-publish".into())
            );
        }
    }
}

#[test]
fn classic_queues_carry_no_quorum_only_arguments() {
    let topology = Topology::new("warren", QueueKind::Classic, RetrySchedule::default());
    for queue in topology.queues() {
        assert_eq!(queue.arguments["x-queue-type"], Arg::Str("classic".into()));
        assert!(!queue.arguments.contains_key("x-delivery-limit"));
        assert!(!queue.arguments.contains_key("x-dead-letter-strategy"));
    }
}

#[test]
fn the_park_tier_joins_the_retry_tiers_once() {
    let names: Vec<String> = production().tiers().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["1s", "5s", "30s", "2m", "10m", "1h", "3h", "6h"]);
    let with_one_second: RetrySchedule = "1s,5s".parse().expect("valid");
    let topology = Topology::new("t", QueueKind::Quorum, with_one_second);
    assert_eq!(topology.tiers().len(), 2);
    assert_eq!(production().tier_for(Duration::from_millis(300)).name, "1s");
    assert_eq!(production().tier_for(Duration::from_secs(4)).name, "5s");
}

#[test]
fn a_delay_lands_in_the_shortest_tier_that_holds_it() {
    let secs = Duration::from_secs;
    assert_eq!(production().tier_for(secs(31)).name, "2m");
    assert_eq!(production().tier_for(secs(100_000)).name, "6h");
}

#[test]
fn every_tier_is_bound_under_its_own_name() {
    let bindings = production().bindings();
    let tiers = production().tiers();
    for tier in tiers {
        assert!(bindings.iter().any(|b| b.exchange == "warren.retry"
            && b.routing_key == tier.name
            && b.queue == format!("warren.retry.{}", tier.name)));
    }
}

#[test]
fn ordered_shards_take_one_active_consumer_each_and_keep_a_subscription_on_one_shard() {
    let topology = production().with_ordered_shards(4);
    let shards: Vec<QueueSpec> = topology
        .queues()
        .into_iter()
        .filter(|q| q.name.starts_with("warren.ordered."))
        .collect();
    assert_eq!(shards.len(), 4);
    for shard in &shards {
        assert_eq!(shard.arguments["x-single-active-consumer"], Arg::Bool(true));
        assert_eq!(
            shard.arguments["x-dead-letter-exchange"],
            Arg::Str("warren.graveyard".into())
        );
    }
    assert!(
        topology
            .bindings()
            .iter()
            .any(|b| b.exchange == "warren.ordered"
                && b.routing_key == "ordered.3"
                && b.queue == "warren.ordered.3")
    );
    let id = uuid::Uuid::now_v7();
    assert_eq!(topology.shard_of(id), topology.shard_of(id));
    assert!(topology.shard_of(id) < 4);
    let spread: std::collections::BTreeSet<u16> = (0..200)
        .map(|_| topology.shard_of(uuid::Uuid::now_v7()))
        .collect();
    assert_eq!(spread.len(), 4, "subscriptions spread over every shard");
}

#[test]
fn the_broker_user_is_hashed_as_rabbitmq_does_and_allowed_only_warrens_names() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let definitions = production().definitions_with_user("/", "warren", "secret");
    let hash = definitions["users"][0]["password_hash"]
        .as_str()
        .expect("a hash");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .expect("base64");
    let (salt, digest) = bytes.split_at(4);
    let mut expected = Sha256::new();
    expected.update(salt);
    expected.update(b"secret");
    assert_eq!(digest, expected.finalize().as_slice());
    assert_eq!(
        definitions["permissions"][0]["configure"],
        "^(warren\\.|amq\\.gen-)"
    );
}

#[test]
fn the_checked_in_definitions_file_is_the_rendered_topology() {
    let file = include_str!("../../../rabbitmq/definitions.json");
    let on_disk: Value = serde_json::from_str(file).expect("definitions.json is JSON");
    let rendered = production().definitions_with_user("/", "warren", "warren-dev-only");
    for key in [
        "vhosts",
        "exchanges",
        "queues",
        "bindings",
        "users",
        "permissions",
    ] {
        assert_eq!(
            on_disk[key], rendered[key],
            "rabbitmq/definitions.json `{key}` drifted from the code; regenerate it with \
             `cargo run -p warren-ingest -- definitions > rabbitmq/definitions.json`"
        );
    }
}
