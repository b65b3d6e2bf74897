//! `warren-ingest`: serve (default), migrate, healthcheck <url>, definitions, apply <file>.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use warren_ingest::{apply, config::Settings, startup::Application};
use warren_shared::{db, health, shutdown, telemetry};

/// mimalloc: the services allocate and free small buffers for every request and message,
/// and glibc's allocator took about a quarter of their CPU under load (its transparent huge
/// pages are off: with them, peak RSS grew by a third).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "warren-ingest",
    version,
    about = "Warren's HTTP edge: ingest, management API, outbox relay"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, declare the topology and serve (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when `url` answers 2xx (for container health checks).
    Healthcheck {
        /// The URL to probe, e.g. http://127.0.0.1:8080/healthz.
        url: String,
    },
    /// Create and update one user's sources and subscriptions from a YAML file
    /// (docs/configuration.md), in one transaction; `${VAR}` in a value reads the environment.
    Apply {
        /// The YAML file.
        file: std::path::PathBuf,
        /// Also delete the user's sources and subscriptions the file does not name.
        #[arg(long)]
        prune: bool,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the broker topology as RabbitMQ definitions (rabbitmq/definitions.json), with
    /// a user for the services, ready for `load_definitions` on a blank broker.
    Definitions {
        /// The vhost to render for.
        #[arg(long, default_value = "/")]
        vhost: String,
        /// The services' broker user.
        #[arg(long, default_value = "warren")]
        user: String,
        /// Its password. The default is for local development only; never shown from the
        /// environment, and may be read from `WARREN_DEFINITIONS_PASSWORD_FILE`.
        #[arg(
            long,
            env = "WARREN_DEFINITIONS_PASSWORD",
            hide_env_values = true,
            default_value = "warren-dev-only"
        )]
        password: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = warren_shared::cli::parse();
    // `apply` prints its plan on stdout: only warnings and errors go to the log (stderr).
    let logs = if matches!(cli.command, Some(Command::Apply { .. })) {
        telemetry::init("warren-ingest", "warn", telemetry::Output::Stderr)
    } else {
        telemetry::init("warren-ingest", "info", telemetry::Output::Stdout)
    };
    if let Err(reason) = logs {
        eprintln!("error: {reason}");
        return ExitCode::from(2);
    }
    warren_shared::cli::exit_code(run(cli).await)
}

/// What the command line asked for.
async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        Command::Migrate => db::migrate(&cli.settings.database).await,
        Command::Healthcheck { url } => health::probe(&url).await,
        Command::Apply {
            file,
            prune,
            dry_run,
        } => {
            let options = apply::Options {
                file,
                prune,
                dry_run,
            };
            // An error is one line (exit_code): the place in the file and the reason, or
            // the failed step.
            apply_file(&cli.settings, &options).await
        }
        Command::Definitions {
            vhost,
            user,
            password,
        } => {
            let topology = cli.settings.broker.topology();
            let definitions = topology.definitions_with_user(&vhost, &user, &password);
            println!("{}", serde_json::to_string_pretty(&definitions)?);
            Ok(())
        }
    }
}

/// Applies a file and prints each step, then a summary line.
async fn apply_file(settings: &Settings, options: &apply::Options) -> anyhow::Result<()> {
    let lookup = |name: &str| std::env::var(name).ok();
    let steps = apply::run(settings, options, &lookup).await?;
    for step in &steps {
        println!("{step}");
    }
    println!("{}", apply::summary(&steps, options.dry_run));
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    shutdown::cancel_on_signal(cancel.clone());
    Application::build(settings, cancel)
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
