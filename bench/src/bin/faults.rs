//! `warren-faults`: the fault suite (see `warren_bench::faults`). Prints one line per fault
//! with lost, unexpected and duplicates, writes the JSON if asked, and fails if any fault
//! lost a delivery or delivered what was never accepted.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use tokio_util::sync::CancellationToken;
use warren_bench::{
    cli::Cli as BenchCli,
    faults::{self, Fault, SuiteOptions},
    machine,
};

/// Warren's fault suite: real faults against the real services, then a check that every
/// accepted event was delivered. It acts on the machine's PostgreSQL and RabbitMQ (restarts
/// them), so run it when nothing else uses them.
#[derive(Debug, Parser)]
#[command(name = "warren-faults", version, about)]
struct Args {
    /// The faults to inject (default: all of them, in order).
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Vec<Fault>,
    /// Events per second while each fault runs.
    #[arg(long, default_value_t = 150.0)]
    rate: f64,
    /// How long the load runs per fault, in seconds (the fault comes a third of the way in).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// The longest wait for the deliveries after the load, in seconds.
    #[arg(long, default_value_t = 120)]
    drain_seconds: u64,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Warren's release binaries (default: the workspace's target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut bench = vec!["warren-bench".to_owned()];
    if let Some(dir) = &args.bin_dir {
        bench.extend(["--bin-dir".to_owned(), dir.display().to_string()]);
    }
    let cli = BenchCli::parse_from(bench);
    let options = SuiteOptions {
        cli: &cli,
        faults: if args.faults.is_empty() {
            Fault::ALL.to_vec()
        } else {
            args.faults.clone()
        },
        rate: args.rate,
        duration: Duration::from_secs(args.seconds),
        drain_timeout: Duration::from_secs(args.drain_seconds),
    };
    let runtime = match machine::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warren-faults: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        faults::run_suite(&options, &cancel).await
    });
    let results = match results {
        Ok(results) => results,
        Err(error) => {
            eprintln!("warren-faults: the suite broke: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.json
        && let Err(error) = serde_json::to_vec_pretty(&results)
            .map_err(anyhow::Error::from)
            .and_then(|json| Ok(std::fs::write(path, json)?))
    {
        eprintln!("warren-faults: writing {}: {error:#}", path.display());
        return ExitCode::FAILURE;
    }
    if results.iter().all(|r| r.passed()) {
        ExitCode::SUCCESS
    } else {
        eprintln!("warren-faults: a fault broke Warren's promise (see the FAIL lines)");
        ExitCode::FAILURE
    }
}
