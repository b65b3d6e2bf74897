//! The settings the command line resolves and the load, its phases and the scenarios read:
//! how the load is generated, and the defaults the command line takes from a scenario's
//! parts. It imports none of them, so each can import it.

use serde::Serialize;

/// How the load is generated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LoadShape {
    /// `concurrency` senders, each waiting for its answer before sending again.
    Closed {
        /// Senders.
        concurrency: usize,
    },
    /// Events at a fixed rate whatever the answers do.
    Open {
        /// Events per second.
        rate: f64,
        /// Requests in flight at most.
        max_in_flight: usize,
    },
    /// `streams` senders, each sending its own numbered stream of events, each event only
    /// once the one before it was answered: so the events of one stream commit in the order
    /// they were sent. The senders keep to `rate` between them; one that falls behind sends
    /// as soon as it can, its latency still counted from the intended send time.
    Streams {
        /// Senders, one stream each.
        streams: usize,
        /// Events per second over all the streams.
        rate: f64,
    },
}

/// `abuse`: attackers unless `--concurrency` says otherwise.
pub const ATTACKERS: usize = 64;

/// `abuse`: legitimate events/s sent beside the attack unless `--rate` says otherwise.
pub const LEGIT_RATE: f64 = 50.0;
