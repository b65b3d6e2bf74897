//! The Warren under test: either started here — the release binaries on a fresh database
//! and a topology prefix of their own, on free loopback ports, logs under
//! `target/bench-logs/` — and torn down after (processes stopped, topology deleted, database
//! dropped), or one already running that `--url` points at.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, bail};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::{
    broker::{Management, QueueInfo},
    cli::Cli,
    database, machine,
};

/// The Warren a run measures.
pub struct Warren {
    /// Its ingest and API base URL.
    pub base_url: String,
    /// Its database, when known (always when started here).
    pub database_url: Option<String>,
    /// Its topology prefix, when known.
    pub prefix: Option<String>,
    started: Option<Started>,
}

/// Processes started here and what they use.
struct Started {
    /// `warren-ingest` first, then each `warren-deliver`.
    processes: Vec<Process>,
    /// What every process was started with (each adds its own listening address), so a
    /// fault can start one again.
    env: Vec<(String, String)>,
    bin_dir: PathBuf,
    run_id: String,
    database: String,
    admin_url: String,
    /// `--keep-database`: not dropped at the stop.
    keep_database: bool,
    management: Management,
    /// Logs written so far (each respawn starts a new one).
    logs: usize,
}

/// One started process of Warren.
struct Process {
    /// Its binary.
    name: &'static str,
    /// Running, unless a fault stopped it.
    child: Option<Child>,
    /// Its latest log.
    log: PathBuf,
    /// Its `/readyz`.
    ready_url: String,
    /// Its own setting: where it listens.
    address: (String, String),
}

/// Peak memory and CPU of one started process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessFigures {
    /// The binary.
    pub name: String,
    /// Peak resident set (`VmHWM`), in MiB.
    pub peak_rss_mib: Option<f64>,
    /// CPU seconds (user + system) since it started.
    pub cpu_seconds: Option<f64>,
    /// Where its output went.
    pub log: String,
}

/// One of Warren's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `warren-ingest`.
    Ingest,
    /// The `n`th `warren-deliver` (from 0).
    Deliver(usize),
}

impl Service {
    /// Its place among the started processes.
    fn index(self) -> usize {
        match self {
            Service::Ingest => 0,
            Service::Deliver(n) => n + 1,
        }
    }
}

/// How a started Warren is set up.
pub struct Options<'a> {
    /// The command line.
    pub cli: &'a Cli,
    /// `WARREN_RETRY_SCHEDULE`, if not Warren's default.
    pub retry_schedule: Option<&'a str>,
    /// Further settings, KEY=VALUE, later ones winning.
    pub extra_env: &'a [String],
    /// A name unique to this run (database, prefix and log names derive from it).
    pub run_id: &'a str,
    /// How many `warren-deliver` processes to run (at least one).
    pub delivers: usize,
}

impl Warren {
    /// The running Warren at `url`.
    pub fn external(cli: &Cli, url: &str) -> Self {
        Self {
            base_url: url.trim_end_matches('/').to_owned(),
            database_url: cli.database_url.clone(),
            prefix: cli.topology_prefix.clone(),
            started: None,
        }
    }

    /// Starts `warren-ingest` and `warren-deliver` and waits until both are ready. Whatever
    /// it set up is torn down again if that fails.
    pub async fn start(options: &Options<'_>) -> anyhow::Result<Self> {
        let bin_dir = bin_dir(options.cli);
        for name in ["warren-ingest", "warren-deliver"] {
            check_binary(&bin_dir.join(name))?;
        }
        let database = format!("warren_bench_{}", options.run_id);
        let admin_url = options.cli.admin_database_url.clone();
        let database_url = database::create(&admin_url, &database).await?;
        let mut warren = Self {
            base_url: String::new(),
            database_url: Some(database_url),
            prefix: Some(format!("bench_{}", options.run_id)),
            started: Some(Started {
                processes: Vec::new(),
                env: Vec::new(),
                bin_dir: bin_dir.clone(),
                run_id: options.run_id.to_owned(),
                database,
                admin_url,
                keep_database: options.cli.keep_database,
                management: Management::new(
                    &options.cli.rabbitmq_management_url,
                    &options.cli.amqp_url,
                )?,
                logs: 0,
            }),
        };
        match warren.spawn(options).await {
            Ok(()) => Ok(warren),
            Err(error) => {
                warren.stop().await;
                Err(error)
            }
        }
    }

    async fn spawn(&mut self, options: &Options<'_>) -> anyhow::Result<()> {
        let ingest_port = free_port(options.cli.ingest_port)?;
        self.base_url = format!("http://127.0.0.1:{ingest_port}");
        let mut processes = vec![Process::new(
            "warren-ingest",
            &self.base_url,
            ("WARREN_HTTP_ADDR", format!("127.0.0.1:{ingest_port}")),
        )];
        for n in 0..options.delivers.max(1) {
            let port = match n {
                0 => free_port(options.cli.deliver_port)?,
                _ => free_port(0)?,
            };
            processes.push(Process::new(
                "warren-deliver",
                &format!("http://127.0.0.1:{port}"),
                ("WARREN_DELIVER_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ));
        }
        let env = self.environment(options, ingest_port);
        let started = self.started.as_mut().context("not a started Warren")?;
        started.env = env;
        started.processes = processes;
        for index in 0..started.processes.len() {
            started.launch(index)?;
        }
        for index in 0..started.processes.len() {
            started.wait_ready(index).await?;
        }
        Ok(())
    }

    /// Sends `signal` to a started process and waits (up to 30 s) for it to exit.
    pub async fn signal(&mut self, service: Service, signal: Signal) -> anyhow::Result<()> {
        let started = self.started.as_mut().context("not a started Warren")?;
        let process = started
            .processes
            .get_mut(service.index())
            .context("no such process")?;
        let mut child = process.child.take().context("the process is not running")?;
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            nix::sys::signal::kill(Pid::from_raw(pid), signal)?;
        }
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .context("the process did not exit within 30 s")??;
        Ok(())
    }

    /// Starts a process again with the settings it first had (its output going to a new
    /// log beside the first) and waits until it is ready.
    pub async fn respawn(&mut self, service: Service) -> anyhow::Result<()> {
        let started = self.started.as_mut().context("not a started Warren")?;
        started.launch(service.index())?;
        started.wait_ready(service.index()).await
    }

    fn environment(&self, options: &Options<'_>, ingest: u16) -> Vec<(String, String)> {
        let cli = options.cli;
        let mut env: Vec<(String, String)> = [
            (
                "DATABASE_URL",
                self.database_url.clone().unwrap_or_default(),
            ),
            ("AMQP_URL", cli.amqp_url.clone()),
            (
                "WARREN_TOPOLOGY_PREFIX",
                self.prefix.clone().unwrap_or_default(),
            ),
            ("WARREN_PUBLIC_URL", format!("http://127.0.0.1:{ingest}")),
            ("WARREN_ALLOW_TARGET_CIDRS", "127.0.0.1/32".into()),
            (
                "WARREN_RABBITMQ_MANAGEMENT_URL",
                cli.rabbitmq_management_url.clone(),
            ),
            ("WARREN_SHUTDOWN_GRACE_SECS", "5".into()),
            // Each scenario signs up users of its own, without invites.
            ("WARREN_SIGNUP", "open".into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(prefetch) = cli.prefetch {
            env.push(("WARREN_PREFETCH".into(), prefetch.to_string()));
        }
        if let Some(schedule) = options.retry_schedule {
            env.push(("WARREN_RETRY_SCHEDULE".into(), schedule.to_owned()));
        }
        env.extend(options.extra_env.iter().filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        }));
        env
    }

    /// Every `/readyz` of this Warren: each started process's, or ingest's for `--url`.
    pub fn ready_urls(&self) -> Vec<String> {
        match &self.started {
            Some(started) => started
                .processes
                .iter()
                .map(|p| p.ready_url.clone())
                .collect(),
            None => vec![format!("{}/readyz", self.base_url)],
        }
    }

    /// Every `/metrics` of this Warren, beside each `/readyz`.
    pub fn metrics_urls(&self) -> Vec<String> {
        self.ready_urls()
            .iter()
            .map(|url| url.replace("/readyz", "/metrics"))
            .collect()
    }

    /// The pids of the started processes (none for `--url`): ingest and the first deliver.
    pub fn watched(&self) -> machine::Watched {
        let pid = |index: usize| {
            self.started
                .as_ref()
                .and_then(|started| started.processes.get(index))
                .and_then(|process| process.child.as_ref())
                .and_then(Child::id)
        };
        machine::Watched {
            ingest: pid(Service::Ingest.index()),
            deliver: pid(Service::Deliver(0).index()),
            database_backends: Vec::new(),
        }
    }

    /// The queues of its topology, as the management API lists them (none for `--url`).
    pub async fn queues(&self) -> anyhow::Result<Vec<QueueInfo>> {
        match (&self.started, &self.prefix) {
            (Some(started), Some(prefix)) => started.management.queues(prefix).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Peak RSS and CPU seconds of the started processes, read while they still run.
    pub fn figures(&self) -> Vec<ProcessFigures> {
        let Some(started) = &self.started else {
            return Vec::new();
        };
        started
            .processes
            .iter()
            .map(|process| {
                let pid = process.child.as_ref().and_then(Child::id);
                ProcessFigures {
                    name: process.name.to_owned(),
                    peak_rss_mib: pid.and_then(machine::peak_rss_mib),
                    cpu_seconds: pid.and_then(machine::cpu_seconds),
                    log: process.log.display().to_string(),
                }
            })
            .collect()
    }

    /// Stops what was started: SIGTERM (SIGKILL after 20 s), then the topology and the
    /// database go. Failures are reported, never fatal: a teardown must run to its end.
    pub async fn stop(&mut self) {
        let Some(mut started) = self.started.take() else {
            return;
        };
        // Workers first, so ingest's outbox is the last to stop.
        for process in started.processes.iter_mut().rev() {
            if let Some(child) = process.child.take() {
                terminate(child).await;
            }
        }
        if let Some(prefix) = &self.prefix
            && let Err(error) = started.management.delete_topology(prefix).await
        {
            eprintln!("warren-bench: deleting topology {prefix}: {error:#}");
        }
        if started.keep_database {
            eprintln!("warren-bench: kept database {}", started.database);
        } else if let Err(error) = database::drop(&started.admin_url, &started.database).await {
            eprintln!("warren-bench: {error:#}");
        }
    }
}

/// The workspace's `target/release`, unless `--bin-dir` says otherwise.
fn bin_dir(cli: &Cli) -> PathBuf {
    cli.bin_dir
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("release"))
}

/// The workspace this bench was built in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The binary must exist; a warning if the sources changed since it was built.
fn check_binary(path: &Path) -> anyhow::Result<()> {
    let Ok(metadata) = path.metadata() else {
        bail!(
            "{} is missing: build it first with `cargo build --release --bin warren-ingest --bin warren-deliver`",
            path.display()
        );
    };
    let built = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let root = workspace_root();
    let sources = ["shared/src", "ingest/src", "deliver/src", "migrations"];
    if sources.iter().any(|s| newer_than(&root.join(s), built)) {
        eprintln!(
            "warren-bench: warning: {} is older than the sources; rebuild with `cargo build --release --bin warren-ingest --bin warren-deliver`",
            path.display()
        );
    }
    Ok(())
}

/// Whether any file under `dir` changed after `when`.
fn newer_than(dir: &Path, when: SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            newer_than(&path, when)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > when)
        }
    })
}

fn logs_dir() -> anyhow::Result<PathBuf> {
    let dir = workspace_root().join("target").join("bench-logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `port`, or a free one when it is 0 (bound and released: the service binds it next).
fn free_port(port: u16) -> anyhow::Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn spawn_one(binary: &Path, env: &[(String, String)], log: &Path) -> anyhow::Result<Child> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    Command::new(binary)
        .arg("serve")
        .current_dir(workspace_root())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Should the bench itself die, the services must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

impl Process {
    fn new(name: &'static str, base_url: &str, address: (&str, String)) -> Self {
        Self {
            name,
            child: None,
            log: PathBuf::new(),
            ready_url: format!("{base_url}/readyz"),
            address: (address.0.to_owned(), address.1),
        }
    }
}

impl Started {
    /// Starts process `index`, its output in a log of its own under `target/bench-logs/`.
    fn launch(&mut self, index: usize) -> anyhow::Result<()> {
        let number = self.logs;
        let process = self.processes.get_mut(index).context("no such process")?;
        let log = logs_dir()?.join(format!("{}-{}-{number}.log", self.run_id, process.name));
        let mut env = self.env.clone();
        env.push(process.address.clone());
        process.child = Some(spawn_one(&self.bin_dir.join(process.name), &env, &log)?);
        process.log = log;
        self.logs += 1;
        Ok(())
    }

    /// Polls process `index`'s `/readyz` until it answers 200; fails if any started process
    /// exits or 60 s pass.
    async fn wait_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let url = self
            .processes
            .get(index)
            .context("no such process")?
            .ready_url
            .clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            for process in &mut self.processes {
                if let Some(child) = &mut process.child
                    && let Ok(Some(status)) = child.try_wait()
                {
                    bail!(
                        "{} exited ({status}) before it was ready; see {}",
                        process.name,
                        process.log.display()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "Warren was not ready at {url} after 60 s; see the logs in target/bench-logs/"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// SIGTERM, then SIGKILL if it has not exited within 20 s.
async fn terminate(mut child: Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // It may have exited already: the wait below finds out either way.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        // Fails only if it exited meanwhile, and then there is nothing left to stop.
        let _ = child.kill().await;
    }
}
