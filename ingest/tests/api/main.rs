//! Integration tests of `warren-ingest` against the real PostgreSQL and RabbitMQ.

mod alerts;
mod api_keys;
mod auth;
mod durability;
mod enqueued;
mod erasure;
mod gateway;
mod group_commit;
mod health;
mod held;
mod helpers;
mod ingest;
mod lists;
mod notifications;
mod observe;
mod openapi;
mod ordering;
mod providers;
mod publish;
mod refusals;
mod retention;
mod scoping;
mod sources;
mod storage;
mod subscriptions;
mod topology;
