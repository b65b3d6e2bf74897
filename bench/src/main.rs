//! `warren-bench`: parse the command line, run the scenario on a runtime whose threads are
//! named (so the load generator's CPU can be told apart), print the report, write the JSON.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use warren_bench::{cli::Cli, machine, report::Report, scenario};

/// mimalloc, as Warren's services use: the load generator and the receiver share the machine
/// with what they measure, so what they spend on allocating is taken from Warren.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match machine::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warren-bench: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The run is a task, not the `block_on` future, so it runs on the named worker threads.
    let outcome = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
        tokio::spawn(scenario::run(cli.clone(), cancel)).await
    });
    match outcome {
        Ok(Ok(report)) => finish(&cli, &report),
        Ok(Err(error)) => {
            eprintln!("warren-bench: the run broke: {error:#}");
            ExitCode::FAILURE
        }
        Err(panic) => {
            eprintln!("warren-bench: the run panicked: {panic}");
            ExitCode::FAILURE
        }
    }
}

async fn cancel_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("warren-bench: interrupted; stopping the load and tearing down");
        cancel.cancel();
    }
}

/// Prints the table, writes the JSON, and fails only if the run itself broke.
fn finish(cli: &Cli, report: &Report) -> ExitCode {
    println!("{}", report.table());
    if let Some(path) = &cli.json {
        let written = serde_json::to_vec_pretty(report)
            .map_err(anyhow::Error::from)
            .and_then(|json| Ok(std::fs::write(path, json)?));
        if let Err(error) = written {
            eprintln!("warren-bench: writing {}: {error:#}", path.display());
            return ExitCode::FAILURE;
        }
    }
    match scenario::broken(report) {
        Some(reason) => {
            eprintln!("warren-bench: the path is broken: {reason}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
