//! `warren-deliver`: serve (default), migrate, healthcheck <url>.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use warren_deliver::{config::Settings, error::Result, startup::Worker};
use warren_shared::{db, health, shutdown, telemetry};

/// mimalloc: the services allocate and free small buffers for every request and message,
/// and glibc's allocator took about a quarter of their CPU under load (its transparent huge
/// pages are off: with them, peak RSS grew by a third).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "warren-deliver", version, about = "Warren's delivery workers")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, declare the topology and consume (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when `url` answers 2xx (for container health checks).
    Healthcheck {
        /// The URL to probe, e.g. http://127.0.0.1:8081/healthz.
        url: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = warren_shared::cli::parse();
    if let Err(reason) = telemetry::init(
        "warren-deliver",
        "info,lapin=warn",
        telemetry::Output::Stdout,
    ) {
        eprintln!("error: {reason}");
        return ExitCode::from(2);
    }
    warren_shared::cli::exit_code(run(cli).await.map_err(Into::into))
}

/// What the command line asked for.
async fn run(cli: Cli) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        // The command itself says what it was doing: its error is the migration's own.
        Command::Migrate => Ok(db::migrate(&cli.settings.database).await?),
        Command::Healthcheck { url } => Ok(health::probe(&url).await?),
    }
}

async fn serve(settings: Settings) -> Result<()> {
    let cancel = CancellationToken::new();
    shutdown::cancel_on_signal(cancel.clone());
    Worker::build(settings, cancel)
        .await?
        .run_until_stopped()
        .await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
