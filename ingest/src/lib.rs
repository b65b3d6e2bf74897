//! `warren-ingest`: the HTTP edge. Providers POST events to `/ingest/{token}`; users manage
//! sources and subscriptions and inspect events and deliveries under `/api/v1`; the outbox
//! relay publishes whatever the broker never confirmed.

pub mod admin;
pub mod alerts;
pub mod apply;
pub mod auth;
pub mod config;
pub mod context;
pub mod dead_letters;
pub mod deliveries;
pub mod dispatch;
pub mod error;
pub mod event_headers;
pub mod events;
pub mod extract;
pub mod gateway;
pub mod health;
pub mod held;
pub mod ingest;
pub mod json_body;
pub mod lines;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod origin;
pub mod outbox;
pub mod owned;
pub mod pagination;
pub mod queues;
pub mod quotas;
pub mod refusals;
pub mod retention;
pub mod serve;
pub mod sources;
pub mod startup;
pub mod state;
pub mod stats;
pub mod subscriptions;
pub mod throttle;
pub mod validation;
pub mod verify;
pub mod web;
