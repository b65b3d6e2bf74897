//! End-to-end tests: a real `warren-ingest` and `warren-deliver` on the real PostgreSQL and
//! RabbitMQ, delivering to a real receiver on the loopback.

mod batches;
mod breakers;
mod brokers;
mod delivery;
mod failures;
mod filters;
mod held;
mod help;
mod helpers;
mod lifecycle;
mod live;
mod loads;
mod notifications;
mod ordered;
mod postgres_tls;
mod protection;
mod rates;
mod records;
mod recovery;
mod rollups;
mod signatures;
