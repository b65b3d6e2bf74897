//! Logging, filtered by `RUST_LOG`: compact lines for a person when the output is a terminal,
//! bunyan JSON lines otherwise (a pipe, a file, a container's log); `WARREN_LOG_FORMAT`
//! (`json`, `human` or `auto`) overrides the choice. Either way a line is an event: spans add
//! their fields (a request's route and id, a delivery's ids) to their events' lines but write
//! no lines of their own.

use std::io::IsTerminal;

use tracing::{Event, Subscriber, subscriber::set_global_default};
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    fmt::MakeWriter,
    layer::{Context, SubscriberExt},
    registry::LookupSpan,
};

/// The environment variable that chooses the format.
pub const FORMAT_VAR: &str = "WARREN_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Bunyan JSON, one object a line: for log collectors.
    Json,
    /// `tracing-subscriber`'s compact lines, coloured when `colour`: for people.
    Human {
        /// Whether the lines carry ANSI colours (only on a terminal).
        colour: bool,
    },
}

impl Format {
    /// The format `setting` (`WARREN_LOG_FORMAT`'s value) asks for, for an output that is
    /// or is not a `terminal`: `json` and `human` as said; unset, empty or `auto`, human
    /// lines at a terminal and JSON elsewhere. Anything else is an error that says what is
    /// accepted.
    pub fn choose(setting: Option<&str>, terminal: bool) -> Result<Self, String> {
        match setting.map(str::trim).unwrap_or_default() {
            "" | "auto" => Ok(if terminal {
                Format::Human { colour: true }
            } else {
                Format::Json
            }),
            "json" => Ok(Format::Json),
            "human" => Ok(Format::Human { colour: terminal }),
            other => Err(format!(
                "{FORMAT_VAR} is {other:?}; it takes json, human or auto"
            )),
        }
    }
}

/// Where a process writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard output (the services).
    Stdout,
    /// Standard error (commands whose standard output is their result).
    Stderr,
}

/// Installs the process's subscriber: writes to `output` in the format `WARREN_LOG_FORMAT`
/// and the output's being a terminal choose, at `default_filter` unless `RUST_LOG` says
/// otherwise. Fails, before anything is installed, on a `WARREN_LOG_FORMAT` it does not know.
pub fn init(name: &str, default_filter: &str, output: Output) -> Result<(), String> {
    let setting = std::env::var(FORMAT_VAR).ok();
    let terminal = match output {
        Output::Stdout => std::io::stdout().is_terminal(),
        Output::Stderr => std::io::stderr().is_terminal(),
    };
    let format = Format::choose(setting.as_deref(), terminal)?;
    match output {
        Output::Stdout => {
            init_subscriber(subscriber(name, default_filter, format, std::io::stdout))
        }
        Output::Stderr => {
            init_subscriber(subscriber(name, default_filter, format, std::io::stderr))
        }
    }
    Ok(())
}

/// A subscriber that writes bunyan JSON to `sink`, at `default_filter` unless `RUST_LOG` says
/// otherwise (tests send it to `std::io::sink`).
pub fn get_subscriber<Sink>(
    name: &str,
    default_filter: &str,
    sink: Sink,
) -> impl Subscriber + Sync + Send
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(name, default_filter, Format::Json, sink)
}

/// A subscriber that writes `format` to `sink`, at `default_filter` unless `RUST_LOG` says
/// otherwise.
pub fn subscriber<Sink>(
    name: &str,
    default_filter: &str,
    format: Format,
    sink: Sink,
) -> impl Subscriber + Sync + Send
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let (json, human) = match format {
        Format::Json => (
            Some(
                JsonStorageLayer
                    .and_then(EventsOnly(BunyanFormattingLayer::new(name.into(), sink))),
            ),
            None,
        ),
        Format::Human { colour } => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false)
                    .with_ansi(colour)
                    .with_writer(sink),
            ),
        ),
    };
    Registry::default().with(filter).with(json).with(human)
}

/// Installs `subscriber` for the whole process and routes `log` records into it.
pub fn init_subscriber(subscriber: impl Subscriber + Sync + Send) {
    // Fails only if a `log` logger is already set (a test that installed one): keep it.
    let _ = tracing_log::LogTracer::init();
    set_global_default(subscriber).expect("the tracing subscriber is set once");
}

/// Passes events on to the layer it wraps, and nothing about spans: bunyan's layer writes a
/// line when a span opens and another when it closes (`[REQUEST - START]`,
/// `[REQUEST - END]`), which doubled every request and delivery. The span's fields still
/// reach its events' lines through [`JsonStorageLayer`].
struct EventsOnly<L>(L);

impl<S, L> Layer<S> for EventsOnly<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }
}

#[cfg(test)]
mod tests;
