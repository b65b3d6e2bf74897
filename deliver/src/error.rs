//! The worker's one error type, and the one place where what it fails on becomes an
//! [`Error`] and is told apart: an outage that passes (PostgreSQL or RabbitMQ away for a
//! moment, the worker stopping) from a fault to look at.
//!
//! A failed attempt is not an error: the target's answer, a template that cannot render, a
//! blocked address are all [`crate::http::AttemptResult`]s, recorded like any other.

use std::{net::SocketAddr, sync::Arc};

use uuid::Uuid;
use warren_shared::{db, group::Stopped, model::UnknownWord, publisher::PublishError};

/// The worker's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the worker can fail on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL refused a statement, or the connection broke.
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// The pool gave no connection (PostgreSQL unreachable, or the pool closed).
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A call on a RabbitMQ channel or connection failed.
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    /// Declaring the topology failed (different arguments on an existing queue, say).
    #[error("declaring the topology")]
    Declare(#[source] lapin::Error),
    /// The broker did not take a message (not connected, no confirm in time, a nack).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A FIFO line's ring for its next head was not published, even after waiting for a
    /// link: the head is not recorded, and its envelope comes back.
    #[error("the ring for the next head was not published")]
    Ring(#[source] PublishError),
    /// A stored number is out of the range the worker holds it in.
    #[error("a stored number is out of range")]
    OutOfRange(#[from] std::num::TryFromIntError),
    /// A stored word (a status, a circuit state) the worker does not know.
    #[error(transparent)]
    UnknownWord(#[from] UnknownWord),
    /// A stored JSON value (a subscription's headers) has the wrong shape.
    #[error("a stored JSON value has the wrong shape")]
    Json(#[from] serde_json::Error),
    /// A subscription's token bucket is missing right after it was made.
    #[error("no rate budget for {0}")]
    NoRateBudget(Uuid),
    /// A grouped writer (loads, records, breaker updates) has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// One failure shared by every item of a group: a grouped statement, or a batch whose
    /// protections could not be checked.
    #[error(transparent)]
    Grouped(Arc<Error>),
    /// The outbound HTTP client could not be built.
    #[error("building the HTTP client")]
    HttpClient(#[from] reqwest::Error),
    /// The health listener could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The health server failed.
    #[error("the health server")]
    HealthServer(#[source] std::io::Error),
    /// A task the worker waits for panicked.
    #[error("a task panicked")]
    Panicked(#[from] tokio::task::JoinError),
    /// The RabbitMQ settings (`AMQP_URL`, its CA file) are not usable.
    #[error("the RabbitMQ settings")]
    BrokerSettings(#[source] anyhow::Error),
    /// Migrating the database failed.
    #[error("migrating the database")]
    Migrate(#[source] anyhow::Error),
    /// Anything else a helper of `warren-shared` failed on (the database pool's settings, a
    /// health probe, a link's setup).
    #[error(transparent)]
    Shared(#[from] anyhow::Error),
}

impl Error {
    /// One failure for each item of a group that failed as a whole.
    pub fn grouped(self) -> Arc<Error> {
        Arc::new(self)
    }

    /// Whether this is an outage that passes on its own (PostgreSQL or RabbitMQ unreachable,
    /// a link closing, the worker stopping), rather than a fault to look at: a delivery that
    /// could not be handled for it is parked with a warning, not an error.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(error) => db::unavailable(error),
            Error::Pool(deadpool_postgres::PoolError::Backend(error)) => db::unavailable(error),
            Error::Pool(_)
            | Error::Broker(_)
            | Error::Publish(_)
            | Error::Ring(_)
            | Error::Stopped(_) => true,
            Error::Grouped(error) => error.is_transient(),
            _ => false,
        }
    }

    /// Whether PostgreSQL refused the statement itself (a row it cannot take), rather than
    /// being away or the pool giving no connection: a group of rows it refused is worth
    /// trying again row by row, one that could not reach it is not.
    pub fn refused_by_the_database(&self) -> bool {
        match self {
            Error::Database(error) => !db::unavailable(error),
            Error::Grouped(error) => error.refused_by_the_database(),
            _ => false,
        }
    }

    /// The error and its causes on one line (`a: b: c`), as it is logged.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

/// Any error and its causes on one line (`a: b: c`).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        line.push_str(": ");
        line.push_str(&current.to_string());
        cause = current.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_cause_once() {
        let io = std::io::Error::other("address in use");
        let error = Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            source: io,
        };
        assert_eq!(error.chain(), "binding 127.0.0.1:8081: address in use");
        let grouped = Error::Grouped(Error::NoRateBudget(Uuid::nil()).grouped());
        assert_eq!(
            grouped.chain(),
            "no rate budget for 00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn a_broker_or_a_stopped_writer_passes_and_a_bad_stored_value_does_not() {
        assert!(Error::Publish(PublishError::Disconnected).is_transient());
        assert!(Error::Grouped(Error::Stopped(Stopped).grouped()).is_transient());
        let out_of_range = u32::try_from(-1_i32).map_err(Error::from);
        assert!(out_of_range.is_err_and(|e| !e.is_transient()));
        assert!(!Error::NoRateBudget(Uuid::nil()).refused_by_the_database());
    }
}
