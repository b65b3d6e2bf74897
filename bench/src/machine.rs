//! What `/proc` says: the machine (cores, memory), a process's peak RSS and CPU seconds, and
//! CPU samples that split a window's CPU time between Warren, the bench's own load generator
//! and receiver, PostgreSQL, RabbitMQ and everything else on the machine.

use std::{collections::BTreeMap, fs, time::Instant};

use serde::Serialize;

/// The machine the run shares with PostgreSQL and RabbitMQ.
#[derive(Debug, Clone, Serialize)]
pub struct MachineInfo {
    /// Logical CPUs.
    pub cores: usize,
    /// The CPU's model name.
    pub cpu_model: String,
    /// Total memory, in MiB.
    pub memory_mib: u64,
    /// The kernel release.
    pub kernel: String,
    /// The 1, 5 and 15 minute load averages when the run started: other work on the machine
    /// shows here.
    pub load_average: String,
}

impl MachineInfo {
    /// Reads `/proc/cpuinfo`, `/proc/meminfo` and the kernel release.
    pub fn read() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
            .max(1);
        let cpu_model = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = field(&meminfo, "MemTotal")
            .and_then(|v| first_number(&v))
            .unwrap_or(0);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let load_average = fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Self {
            cores,
            cpu_model,
            memory_mib: memory_kib / 1024,
            kernel,
            load_average,
        }
    }
}

/// The value after `name:` on the first line that starts with `name`.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn first_number(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// `(comm, utime + stime in ticks)` from one `stat` file.
fn read_stat(path: &str) -> Option<(String, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    // After the comm: state is field 3, utime field 14 and stime field 15 (1-based).
    let rest: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU seconds a process has used (user + system), `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    read_stat(&format!("/proc/{pid}/stat")).map(|(_, t)| t as f64 / ticks_per_second())
}

/// A process's peak resident set (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = field(&status, "VmHWM").and_then(|v| first_number(&v))?;
    Some(kib as f64 / 1024.0)
}

/// Which processes a CPU sample tells apart.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The started `warren-ingest`, if any.
    pub ingest: Option<u32>,
    /// The started `warren-deliver`, if any.
    pub deliver: Option<u32>,
    /// PostgreSQL backends connected to Warren's database: told apart from the server's
    /// other work (background writers, other databases on a shared server).
    pub database_backends: Vec<u32>,
}

/// Cumulative CPU ticks at one instant, per group.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    groups: BTreeMap<&'static str, u64>,
    machine: MachineTicks,
}

/// The bench's own threads are named so their CPU can be told apart (see `main.rs`).
pub const LOAD_THREAD: &str = "bench-load";
/// A multi-threaded runtime whose workers are named [`LOAD_THREAD`], so the load
/// generator's CPU can be told apart.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(LOAD_THREAD)
        .enable_all()
        .build()
}

/// The receiver's threads.
pub const RECEIVER_THREAD: &str = "bench-recv";

impl CpuSample {
    /// Samples every group now.
    pub fn take(watched: &Watched) -> Self {
        let mut groups = BTreeMap::new();
        let mut add = |group: &'static str, ticks: u64| *groups.entry(group).or_insert(0) += ticks;
        for (name, pid) in [
            ("warren-ingest", watched.ingest),
            ("warren-deliver", watched.deliver),
        ] {
            add(name, pid.and_then(pid_ticks).unwrap_or(0));
        }
        for (comm, ticks) in own_threads() {
            add(own_group(&comm), ticks);
        }
        for (pid, comm, ticks) in all_processes() {
            match comm.as_str() {
                "postgres" if watched.database_backends.contains(&pid) => {
                    add("postgresql: warren's backends", ticks)
                }
                "postgres" if watched.database_backends.is_empty() => {
                    add("postgresql (all)", ticks)
                }
                "postgres" => add("postgresql: the rest", ticks),
                "beam.smp" | "erl_child_setup" | "epmd" | "inet_gethost" => {
                    add("rabbitmq (all)", ticks)
                }
                _ => {}
            }
        }
        Self {
            at: Instant::now(),
            groups,
            machine: machine_ticks(),
        }
    }
}

fn pid_ticks(pid: u32) -> Option<u64> {
    read_stat(&format!("/proc/{pid}/stat")).map(|(_, t)| t)
}

fn own_group(comm: &str) -> &'static str {
    if comm.starts_with(LOAD_THREAD) {
        "bench load generator"
    } else if comm.starts_with(RECEIVER_THREAD) {
        "bench receiver"
    } else {
        "bench other threads"
    }
}

/// `(thread name, ticks)` for each thread of this process.
fn own_threads() -> Vec<(String, u64)> {
    let Ok(entries) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| read_stat(&format!("{}/stat", e.path().display())))
        .collect()
}

/// `(pid, comm, ticks)` for every process on the machine.
fn all_processes() -> Vec<(u32, String, u64)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let (comm, ticks) = read_stat(&format!("/proc/{pid}/stat"))?;
            Some((pid, comm, ticks))
        })
        .collect()
}

/// Ticks of the whole machine, all cores together, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
struct MachineTicks {
    /// Everything but idle and iowait.
    busy: u64,
    /// Idle, waiting for I/O.
    iowait: u64,
    /// Interrupt handling, where the loopback network stack mostly runs.
    softirq: u64,
    /// Taken by the hypervisor.
    steal: u64,
}

fn machine_ticks() -> MachineTicks {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return MachineTicks::default();
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    MachineTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
        iowait: at(4),
        softirq: at(5) + at(6),
        steal: at(7),
    }
}

/// Where the CPU time of a window went.
#[derive(Debug, Clone, Serialize)]
pub struct CpuBreakdown {
    /// The window's length in seconds.
    pub window_seconds: f64,
    /// The machine's busy time as a share of all its cores (100 = every core busy).
    pub machine_busy_percent: f64,
    /// Seconds the cores sat idle waiting for I/O (fsync shows up here).
    pub machine_iowait_seconds: f64,
    /// Seconds spent in interrupts (the loopback network stack, mostly); part of "everything
    /// else".
    pub machine_softirq_seconds: f64,
    /// Seconds the hypervisor took from this machine; part of "everything else".
    pub machine_steal_seconds: f64,
    /// Per group: CPU seconds, and percent of one core.
    pub groups: Vec<CpuGroup>,
}

/// One group's CPU in a window.
#[derive(Debug, Clone, Serialize)]
pub struct CpuGroup {
    /// What it is.
    pub name: String,
    /// CPU seconds used in the window.
    pub cpu_seconds: f64,
    /// Percent of one core (200 = two cores busy).
    pub percent_of_one_core: f64,
}

impl CpuBreakdown {
    /// The CPU used between two samples; what no group explains is "other".
    pub fn between(start: &CpuSample, end: &CpuSample, cores: usize) -> Self {
        let tick = ticks_per_second();
        let window = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
        let group = |name: &str, ticks: u64| {
            let cpu_seconds = ticks as f64 / tick;
            CpuGroup {
                name: name.to_owned(),
                cpu_seconds,
                percent_of_one_core: 100.0 * cpu_seconds / window,
            }
        };
        let mut groups: Vec<CpuGroup> = end
            .groups
            .iter()
            .map(|(name, &t)| {
                let before = start.groups.get(name).copied().unwrap_or(0);
                group(name, t.saturating_sub(before))
            })
            .collect();
        let delta = |f: fn(&MachineTicks) -> u64| {
            f(&end.machine).saturating_sub(f(&start.machine)) as f64 / tick
        };
        let busy = delta(|m| m.busy);
        let explained: f64 = groups.iter().map(|g| g.cpu_seconds).sum();
        let other = (busy - explained).max(0.0);
        groups.push(group("everything else", (other * tick) as u64));
        Self {
            window_seconds: window,
            machine_busy_percent: 100.0 * busy / window / cores.max(1) as f64,
            machine_iowait_seconds: delta(|m| m.iowait),
            machine_softirq_seconds: delta(|m| m.softirq),
            machine_steal_seconds: delta(|m| m.steal),
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_has_cores_and_memory() {
        let machine = MachineInfo::read();
        assert!(machine.cores >= 1);
        assert!(machine.memory_mib > 0);
    }

    #[test]
    fn this_process_has_cpu_time_and_a_peak_rss() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(peak_rss_mib(pid).is_some_and(|m| m > 0.0));
    }

    #[test]
    fn a_breakdown_accounts_for_the_whole_window() {
        let watched = Watched::default();
        let start = CpuSample::take(&watched);
        let end = CpuSample::take(&watched);
        let breakdown = CpuBreakdown::between(&start, &end, 2);
        assert!(breakdown.groups.iter().any(|g| g.name == "everything else"));
    }
}
