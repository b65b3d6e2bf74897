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

use crate::{broker::Management, cli::Cli, database, machine};

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
    ingest: Option<Child>,
    deliver: Option<Child>,
    /// What they were started with, so a fault can start one again.
    env: Vec<(String, String)>,
    bin_dir: PathBuf,
    deliver_url: String,
    run_id: String,
    database: String,
    admin_url: String,
    management: Management,
    logs: Vec<PathBuf>,
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

/// One of Warren's two services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `warren-ingest`.
    Ingest,
    /// `warren-deliver`.
    Deliver,
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
                ingest: None,
                deliver: None,
                env: Vec::new(),
                bin_dir: PathBuf::new(),
                deliver_url: String::new(),
                run_id: options.run_id.to_owned(),
                database,
                admin_url,
                management: Management::new(
                    &options.cli.rabbitmq_management_url,
                    &options.cli.amqp_url,
                )?,
                logs: Vec::new(),
            }),
        };
        match warren.spawn(options, &bin_dir).await {
            Ok(()) => Ok(warren),
            Err(error) => {
                warren.stop().await;
                Err(error)
            }
        }
    }

    async fn spawn(&mut self, options: &Options<'_>, bin_dir: &Path) -> anyhow::Result<()> {
        let ingest_port = free_port(options.cli.ingest_port)?;
        let deliver_port = free_port(options.cli.deliver_port)?;
        self.base_url = format!("http://127.0.0.1:{ingest_port}");
        let env = self.environment(options, ingest_port, deliver_port);
        let logs = logs_dir()?;
        let Some(started) = self.started.as_mut() else {
            bail!("not a started Warren");
        };
        for name in ["warren-ingest", "warren-deliver"] {
            let log = logs.join(format!("{}-{name}.log", options.run_id));
            let child = spawn_one(&bin_dir.join(name), &env, &log)?;
            started.logs.push(log);
            match name {
                "warren-ingest" => started.ingest = Some(child),
                _ => started.deliver = Some(child),
            }
        }
        started.env = env;
        started.bin_dir = bin_dir.to_owned();
        started.deliver_url = format!("http://127.0.0.1:{deliver_port}");
        wait_ready(started, &format!("{}/readyz", self.base_url)).await?;
        wait_ready(started, &format!("{}/readyz", started.deliver_url)).await
    }

    /// Sends `signal` to a started service and waits (up to 30 s) for it to exit.
    pub async fn signal(&mut self, service: Service, signal: Signal) -> anyhow::Result<()> {
        let started = self.started.as_mut().context("not a started Warren")?;
        let slot = match service {
            Service::Ingest => &mut started.ingest,
            Service::Deliver => &mut started.deliver,
        };
        let mut child = slot.take().context("the service is not running")?;
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            nix::sys::signal::kill(Pid::from_raw(pid), signal)?;
        }
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .context("the service did not exit within 30 s")??;
        Ok(())
    }

    /// Starts a service again with the settings it first had (its output appended to a new
    /// log beside the first) and waits until it is ready.
    pub async fn respawn(&mut self, service: Service) -> anyhow::Result<()> {
        let base_url = self.base_url.clone();
        let started = self.started.as_mut().context("not a started Warren")?;
        let (name, ready) = match service {
            Service::Ingest => ("warren-ingest", format!("{base_url}/readyz")),
            Service::Deliver => ("warren-deliver", format!("{}/readyz", started.deliver_url)),
        };
        let log = logs_dir()?.join(format!(
            "{}-{name}-{}.log",
            started.run_id,
            started.logs.len()
        ));
        let child = spawn_one(&started.bin_dir.join(name), &started.env, &log)?;
        started.logs.push(log);
        match service {
            Service::Ingest => started.ingest = Some(child),
            Service::Deliver => started.deliver = Some(child),
        }
        wait_ready(started, &ready).await
    }

    fn environment(
        &self,
        options: &Options<'_>,
        ingest: u16,
        deliver: u16,
    ) -> Vec<(String, String)> {
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
            ("WARREN_HTTP_ADDR", format!("127.0.0.1:{ingest}")),
            ("WARREN_PUBLIC_URL", format!("http://127.0.0.1:{ingest}")),
            ("WARREN_DELIVER_HTTP_ADDR", format!("127.0.0.1:{deliver}")),
            ("WARREN_ALLOW_TARGET_CIDRS", "127.0.0.1/32".into()),
            (
                "WARREN_RABBITMQ_MANAGEMENT_URL",
                cli.rabbitmq_management_url.clone(),
            ),
            ("WARREN_SHUTDOWN_GRACE_SECS", "5".into()),
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

    /// The pids of the started processes (none for `--url`).
    pub fn watched(&self) -> machine::Watched {
        let pid = |child: &Option<Child>| child.as_ref().and_then(Child::id);
        match &self.started {
            Some(started) => machine::Watched {
                ingest: pid(&started.ingest),
                deliver: pid(&started.deliver),
                database_backends: Vec::new(),
            },
            None => machine::Watched::default(),
        }
    }

    /// Peak RSS and CPU seconds of the started processes, read while they still run.
    pub fn figures(&self) -> Vec<ProcessFigures> {
        let Some(started) = &self.started else {
            return Vec::new();
        };
        let children = [
            ("warren-ingest", &started.ingest),
            ("warren-deliver", &started.deliver),
        ];
        children
            .iter()
            .zip(&started.logs)
            .map(|((name, child), log)| {
                let pid = child.as_ref().and_then(Child::id);
                ProcessFigures {
                    name: (*name).to_owned(),
                    peak_rss_mib: pid.and_then(machine::peak_rss_mib),
                    cpu_seconds: pid.and_then(machine::cpu_seconds),
                    log: log.display().to_string(),
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
        for child in [started.deliver.take(), started.ingest.take()]
            .into_iter()
            .flatten()
        {
            terminate(child).await;
        }
        if let Some(prefix) = &self.prefix
            && let Err(error) = started.management.delete_topology(prefix).await
        {
            eprintln!("warren-bench: deleting topology {prefix}: {error:#}");
        }
        if let Err(error) = database::drop(&started.admin_url, &started.database).await {
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

/// Polls `url` until it answers 200; fails if a started process exits or 60 s pass.
async fn wait_ready(started: &mut Started, url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        for (child, log) in [&mut started.ingest, &mut started.deliver]
            .into_iter()
            .zip(&started.logs)
        {
            if let Some(child) = child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "Warren exited ({status}) before it was ready; see {}",
                    log.display()
                );
            }
        }
        if Instant::now() > deadline {
            bail!("Warren was not ready at {url} after 60 s; see the logs in target/bench-logs/");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM, then SIGKILL if it has not exited within 20 s.
async fn terminate(mut child: Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
