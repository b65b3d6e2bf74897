//! Logging: bunyan JSON lines on stdout (or any sink), filtered by `RUST_LOG`.

use tracing::{Subscriber, subscriber::set_global_default};
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_subscriber::{EnvFilter, Registry, fmt::MakeWriter, layer::SubscriberExt};

/// A subscriber that writes bunyan JSON to `sink`, at `default_filter` unless `RUST_LOG` says
/// otherwise. Split from [`init_subscriber`] so tests can send logs to `std::io::sink`.
pub fn get_subscriber<Sink>(
    name: &str,
    default_filter: &str,
    sink: Sink,
) -> impl Subscriber + Sync + Send
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    Registry::default()
        .with(filter)
        .with(JsonStorageLayer)
        .with(BunyanFormattingLayer::new(name.into(), sink))
}

/// Installs `subscriber` for the whole process and routes `log` records into it.
pub fn init_subscriber(subscriber: impl Subscriber + Sync + Send) {
    let _ = tracing_log::LogTracer::init();
    set_global_default(subscriber).expect("the tracing subscriber is set once");
}
