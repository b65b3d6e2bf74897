//! `warren-deliver`: consumes delivery envelopes, POSTs signed requests to subscribers,
//! records every attempt, and routes failures through wait queues or to the graveyard.

pub mod acks;
pub mod batch;
pub mod batching;
pub mod breakers;
pub mod budget;
pub mod circuit;
pub mod config;
pub mod context;
pub mod decision;
pub mod error;
pub mod handler;
pub mod http;
pub mod limits;
pub mod lines;
pub mod messages;
pub mod metrics;
pub mod notices;
pub mod ordered;
pub mod outbound;
pub mod protection;
pub mod records;
pub mod rings;
pub mod startup;
pub mod store;
pub mod worker;
