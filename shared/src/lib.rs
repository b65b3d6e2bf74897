//! What both Warren services share: configuration, the PostgreSQL pool and migrations, the
//! RabbitMQ connection, topology and publisher, the envelope, the domain vocabulary, Standard
//! Webhooks signing, the SSRF guard, raising notifications, and telemetry.

pub mod amqp;
pub mod broker_url;
pub mod cli;
pub mod config;
pub mod containment;
pub mod db;
pub mod envelope;
pub mod group;
pub mod health;
pub mod live;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod partitions;
pub mod publisher;
pub mod retry;
pub mod shutdown;
pub mod signing;
pub mod ssrf;
pub mod statistics;
pub mod telemetry;
pub mod template;
pub mod tokens;
pub mod topology;

/// The version both binaries report (`user-agent: Warren/<version>`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
