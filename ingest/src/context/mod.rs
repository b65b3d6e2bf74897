//! The ground floor of `warren-ingest`: the parts the server's state ([`crate::state`]) holds
//! — the group commit and the event store under it, the grouped source lookup, the metrics.
//! Nothing here imports `state` or a module that does, so the domain modules depend on the
//! state and the state on these, never the reverse.

pub mod event_store;
pub mod group_commit;
pub mod metrics;
pub mod source_lookup;
