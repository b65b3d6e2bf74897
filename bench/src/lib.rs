//! `warren-bench`: Warren's own end-to-end benchmark. It starts Warren (or points at one),
//! starts a receiver on loopback, creates a user, a source and subscriptions through the
//! public API, drives `POST /ingest/{token}`, and reports accepted events/s, ingest latency,
//! delivered/s, end-to-end latency, errors, duplicates, and the memory and CPU of every
//! process involved, as a table and as JSON. `BENCHMARKS.md` says how to run each scenario
//! and what it measured.
//!
//! It is a command-line tool from end to end: every failure ends the run, so errors are
//! `anyhow` with context, and the one thing guaranteed on any failure is the teardown.

#![forbid(unsafe_code)]

pub mod abuse;
pub mod activity;
pub mod api;
pub mod arrivals;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod database;
pub mod faults;
pub mod history;
pub mod load;
pub mod machine;
pub mod observe;
pub mod order;
pub mod pauses;
pub mod phase;
pub mod receiver;
pub mod report;
pub mod rows;
pub mod scenario;
pub mod seed;
pub mod settings;
pub mod table;
pub mod warren;
