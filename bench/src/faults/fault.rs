//! The faults the suite injects, and what each asks of its Warren, its subscription and its
//! receiver.

use clap::ValueEnum;
use serde::Serialize;

use crate::receiver::FLAP_TIMEOUT_MS;

/// A fault the suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `kill -9` of `warren-deliver` with deliveries in flight, then a restart.
    KillDeliver,
    /// `kill -9` of `warren-deliver` while a batch subscription's deliveries gather in its
    /// memory (batches of up to 100, 2 s) and batches are in flight, then a restart: none of
    /// a half-full batch may be lost.
    KillDeliverBatch,
    /// `kill -9` of `warren-ingest` under load (commits without publishes are the outbox's),
    /// then a restart.
    KillIngest,
    /// SIGTERM to `warren-deliver` under load (a graceful drain), then a restart.
    TermDeliver,
    /// Two `warren-deliver` processes restarted one after the other under load (each
    /// SIGTERM, a restart, ready again before the next): no duplicates may come of it.
    RollingRestartDeliver,
    /// `rabbitmqctl close_all_connections`.
    RabbitmqCloseConnections,
    /// `rabbitmqctl stop_app`, 5 s, `rabbitmqctl start_app`.
    RabbitmqStopStart,
    /// A fast restart of PostgreSQL (ingest answers 503 while it is away).
    PostgresRestart,
    /// No process fault: the receiver answers 500 to 30 % of attempts.
    ReceiverFailures,
    /// No process fault: the receiver flaps — each delivery's attempts meet 200, 500, 429
    /// with `Retry-After`, a timeout and a connection reset, in a turn its id picks.
    ReceiverFlaps,
    /// The receiver goes down (every attempt reset) until Warren disables the subscription
    /// (thresholds lowered for the run), stays down a little longer while events keep coming
    /// (held), comes back, and the subscription is enabled with `{"held": "deliver"}`: every
    /// accepted event must reach it, a delivery given up on counting as lost.
    ReceiverOutage,
    /// The link to RabbitMQ (through a TCP proxy) goes silent for 25 s — heartbeats and
    /// confirm timeouts must notice — then every connection on it is reset.
    AmqpStallReset,
    /// `kill -9` of one of two `warren-deliver` processes while a FIFO subscription's line
    /// moves, then a restart: its deliveries must still arrive in commit order.
    OrderedKillDeliver,
    /// `rabbitmqctl stop_app`, 5 s, `start_app` while a FIFO subscription's line moves: its
    /// deliveries must still arrive in commit order.
    OrderedRabbitmqStopStart,
    /// The broker refuses publishes: the worker stops, a policy caps the main queue at 50
    /// messages (`reject-publish` nacks the rest) for 5 s, then the cap goes and the worker
    /// comes back; the outbox must publish what was refused.
    BrokerNacks,
    /// Warren on a three-node RabbitMQ cluster of the suite's own (`AMQP_URL` lists the
    /// three, quorum queues): `kill -9` of the node leading the main queue, started again
    /// 5 s later.
    ClusterKillLeader,
    /// The same cluster: `kill -9` of the node Warren's connections are on, started again
    /// 5 s later.
    ClusterKillConnected,
}

impl Fault {
    /// Every fault, in the order the suite runs them.
    pub const ALL: [Fault; 17] = [
        Fault::KillDeliver,
        Fault::KillDeliverBatch,
        Fault::KillIngest,
        Fault::TermDeliver,
        Fault::RollingRestartDeliver,
        Fault::RabbitmqCloseConnections,
        Fault::RabbitmqStopStart,
        Fault::PostgresRestart,
        Fault::ReceiverFailures,
        Fault::ReceiverFlaps,
        Fault::ReceiverOutage,
        Fault::BrokerNacks,
        Fault::AmqpStallReset,
        Fault::OrderedKillDeliver,
        Fault::OrderedRabbitmqStopStart,
        Fault::ClusterKillLeader,
        Fault::ClusterKillConnected,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }

    /// Where the subscription points: a receiver that takes 500 ms when the worker is the
    /// one killed, so deliveries are in flight when it goes.
    pub(super) fn target_path(self) -> &'static str {
        match self {
            Fault::KillDeliver
            | Fault::KillDeliverBatch
            | Fault::TermDeliver
            | Fault::RollingRestartDeliver => "/slow",
            Fault::ReceiverFlaps => "/flap",
            Fault::ReceiverOutage => "/outage",
            _ => "/hook",
        }
    }

    /// The subscription's attempts per round: Warren's most for an outage, so no delivery
    /// is given up on before the subscription is disabled (the release starts a new round).
    pub(super) fn max_attempts(self) -> Option<u32> {
        (self == Fault::ReceiverOutage).then_some(20)
    }

    /// Settings for this fault's Warren, beside the retry schedule and the broker's address.
    pub(super) fn warren_env(self) -> Vec<String> {
        let mut env = vec![
            // The outbox and its sweep pick up what a fault left behind within the drain.
            "WARREN_REDELIVER_AFTER_SECS=30".to_owned(),
            // Reconnections and relays are logged at info: a failure's post-mortem shows them.
            "RUST_LOG=info".to_owned(),
            // Partitions five seconds wide, kept ten: windows are created and dropped whole
            // while the fault runs, and what is still in flight must survive the drops.
            "WARREN_PARTITION_SECS=5".to_owned(),
            "WARREN_RETENTION_SECS=10".to_owned(),
            "WARREN_RETENTION_INTERVAL_SECS=1".to_owned(),
        ];
        if self.receiver_fails() {
            // As in the bench's retry-mix: with answers failing at random the circuit would
            // open within seconds and hold deliveries for its recovery time (and a long
            // enough run of failures would disable the subscription); these faults load the
            // wait queues instead.
            env.push("WARREN_CIRCUIT_FAILURES=1000000".to_owned());
            env.push("WARREN_DISABLE_AFTER_FAILURES=1000000".to_owned());
        }
        if self == Fault::ReceiverOutage {
            // Disabled within a couple of seconds of the outage instead of after a hundred
            // failures an hour apart: the circuit opens after 5 failures and probes every
            // 250 ms, each failed probe one more failure in a row.
            env.push(format!(
                "WARREN_DISABLE_AFTER_FAILURES={OUTAGE_DISABLE_AFTER}"
            ));
            env.push("WARREN_CIRCUIT_FAILURES=5".to_owned());
            env.push("WARREN_CIRCUIT_RECOVERY_MS=250".to_owned());
        }
        env
    }

    /// Promised deliveries lost, of those `undelivered` by the end of the drain and those
    /// `dead` (given up on). Dead ones count only under an outage: there every accepted
    /// event must reach the receiver, since the subscription holds what it cannot deliver;
    /// under the receiver's own failures, giving up after the last attempt is the promise.
    pub(super) fn lost(self, undelivered: u64, dead: u64) -> u64 {
        if self == Fault::ReceiverOutage {
            undelivered + dead
        } else {
            undelivered
        }
    }

    /// The subscription's `batch` (most events, longest wait in ms): long enough a wait that
    /// a group is always gathering when the worker is killed.
    pub(super) fn batch(self) -> Option<(u16, u32)> {
        (self == Fault::KillDeliverBatch).then_some((100, 2_000))
    }

    /// The subscription's delivery timeout: short where the receiver times out on purpose.
    pub(super) fn timeout_ms(self) -> Option<u32> {
        (self == Fault::ReceiverFlaps).then_some(FLAP_TIMEOUT_MS)
    }

    /// Whether the subscription is FIFO (`/ordered/0` at the receiver, paced streams, the
    /// order checked).
    pub(super) fn ordered(self) -> bool {
        matches!(
            self,
            Fault::OrderedKillDeliver | Fault::OrderedRabbitmqStopStart
        )
    }

    /// How many `warren-deliver` processes run.
    pub(super) fn delivers(self) -> usize {
        if matches!(
            self,
            Fault::RollingRestartDeliver | Fault::OrderedKillDeliver
        ) {
            2
        } else {
            1
        }
    }

    /// A graceful stop finishes what it started: no duplicates may come of it.
    pub(super) fn allows_duplicates(self) -> bool {
        !matches!(self, Fault::TermDeliver | Fault::RollingRestartDeliver)
    }

    /// Whether the receiver fails on purpose, so the circuit breaker is set out of the way.
    pub(super) fn receiver_fails(self) -> bool {
        matches!(self, Fault::ReceiverFailures | Fault::ReceiverFlaps)
    }

    pub(super) fn failure_ratio(self) -> f64 {
        if self == Fault::ReceiverFailures {
            0.3
        } else {
            0.0
        }
    }
}

/// Consecutive failures that disable the subscription under [`Fault::ReceiverOutage`].
const OUTAGE_DISABLE_AFTER: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_outage_lowers_the_thresholds_and_counts_a_dead_delivery_as_lost() {
        let outage = Fault::ReceiverOutage;
        let env = outage.warren_env();
        let setting = |key: &str| {
            env.iter()
                .rev()
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let disable_after = setting("WARREN_DISABLE_AFTER_FAILURES").expect("lowered");
        let circuit_failures = setting("WARREN_CIRCUIT_FAILURES").expect("set");
        assert!(
            circuit_failures < disable_after && disable_after <= 20,
            "the circuit opens, then a few probes disable it"
        );
        assert!(setting("WARREN_CIRCUIT_RECOVERY_MS").expect("short") <= 1_000);
        // No delivery may run out of attempts before the subscription is disabled.
        assert!(outage.max_attempts().expect("set") > u32::try_from(disable_after).expect("small"));
        assert_eq!(outage.target_path(), "/outage");
        assert!(outage.allows_duplicates() && !outage.receiver_fails());
        assert_eq!(outage.lost(0, 2), 2, "given up on is lost");
        assert_eq!(
            Fault::ReceiverFailures.lost(0, 2),
            0,
            "the last attempt failed"
        );
        assert!(Fault::ALL.contains(&outage));
        assert_eq!(outage.name(), "receiver-outage");
    }

    #[test]
    fn only_the_batch_fault_batches_and_its_worker_is_killed_with_batches_in_flight() {
        let fault = Fault::KillDeliverBatch;
        assert_eq!(fault.batch(), Some((100, 2_000)));
        assert_eq!(
            fault.target_path(),
            "/slow",
            "a batch in flight when it dies"
        );
        assert!(Fault::ALL.contains(&fault) && fault.allows_duplicates());
        assert_eq!(fault.name(), "kill-deliver-batch");
        assert!(
            Fault::ALL
                .iter()
                .filter(|f| **f != fault)
                .all(|f| f.batch().is_none())
        );
    }

    #[test]
    fn the_ordered_faults_run_fifo_subscriptions_and_the_others_do_not() {
        assert!(Fault::OrderedKillDeliver.ordered() && Fault::OrderedRabbitmqStopStart.ordered());
        assert!(!Fault::KillDeliver.ordered());
        assert_eq!(Fault::OrderedKillDeliver.delivers(), 2);
    }
}
