//! Extra RabbitMQ nodes a test (or the fault suite) starts and owns: each with its own node
//! name, ports and data directory under a temporary directory, sharing the machine's Erlang
//! cookie so `rabbitmqctl` and clustering work, never touching the machine's own node
//! (`rabbit@<host>` on 5672). And a CA with a server certificate, made with the `openssl`
//! CLI, for a TLS listener.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};

/// Where the RabbitMQ scripts live, called directly: the `/usr/sbin` wrappers switch to the
/// `rabbitmq` user and write the machine's node's startup log.
const BIN: &str = "/usr/lib/rabbitmq/bin";

/// The machine's Erlang cookie, which every node and `rabbitmqctl` call here shares.
const MACHINE_COOKIE: &str = "/var/lib/rabbitmq/.erlang.cookie";

/// The longest any one CLI call may take (`wait` itself gives up after 120 s): a tool stuck
/// on a node that will never answer is killed, so a test or the fault suite fails with the
/// call named instead of hanging until CI's own limit.
const TOOL_LIMIT: Duration = Duration::from_secs(180);

/// rabbitmq.conf's line for a plain AMQP listener on the node's port.
pub const PLAIN_LISTENER: &str = "listeners.tcp.default = {port}";

/// A port free on the loopback now (the kernel's pick for port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding port 0")
}

/// The RabbitMQ script `name` (`rabbitmq-server`, `rabbitmqctl`, ...) as the real user runs
/// it, not through the Debian wrapper.
fn script(name: &str) -> PathBuf {
    let direct = Path::new(BIN).join(name);
    std::fs::read_link(&direct)
        .map(|target| Path::new(BIN).join(target))
        .unwrap_or(direct)
}

/// A running RabbitMQ node of our own. Dropping it stops it (`rabbitmqctl stop`, then a
/// kill if that failed) and removes its directory.
pub struct RabbitNode {
    /// Its Erlang node name, `<name>@localhost`.
    pub node: String,
    /// Its AMQP (or AMQPS) port.
    pub port: u16,
    dir: PathBuf,
    config: String,
    dist_port: u16,
    child: Option<Child>,
}

impl RabbitNode {
    /// Starts a node named `<name>@localhost` with `config` (rabbitmq.conf lines, such as
    /// [`PLAIN_LISTENER`]; `{dir}` is replaced by its directory and `{port}` by a free port,
    /// its AMQP port) and no plugins, and waits until it is up.
    pub fn start(name: &str, config: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("warren-node-{name}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let cookie = dir.join(".erlang.cookie");
        if !cookie.exists() {
            std::fs::copy(MACHINE_COOKIE, &cookie).context("copying the Erlang cookie")?;
        }
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        let port = free_port();
        let config = config
            .replace("{dir}", &dir.display().to_string())
            .replace("{port}", &port.to_string());
        let mut node = Self {
            node: format!("{name}@localhost"),
            port,
            dir,
            config,
            dist_port: free_port(),
            child: None,
        };
        node.restart()?;
        Ok(node)
    }

    /// Starts the node again (after [`RabbitNode::kill`]), on the same ports and data, and
    /// waits until it is up.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        std::fs::write(self.dir.join("rabbitmq.conf"), format!("{}\n", self.config))?;
        let log = std::fs::File::create(self.dir.join("server.out"))?;
        let child = Command::new(script("rabbitmq-server"))
            .env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting rabbitmq-server")?;
        self.child = Some(child);
        // `wait` waits for the pid file, then for the node's start-up (`await_startup`
        // refuses a node whose distribution is not up yet).
        let pid_file = self.dir.join("pid").display().to_string();
        self.ctl(&["wait", &pid_file, "--timeout", "120"])
            .with_context(|| format!("{} did not start (see its server.out)", self.node))?;
        Ok(())
    }

    /// Runs `rabbitmqctl -n <node> args…`; its output when it succeeds.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.tool("rabbitmqctl", args)
    }

    /// Runs a RabbitMQ CLI tool (`rabbitmqctl`, `rabbitmq-queues`, ...) against this node,
    /// killed (coreutils `timeout`) if it takes longer than [`TOOL_LIMIT`].
    pub fn tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("timeout")
            .arg("--kill-after=10")
            .arg(TOOL_LIMIT.as_secs().to_string())
            .arg(script(tool))
            .env("HOME", &self.dir)
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {tool}"))?;
        // `timeout`'s own status when it had to stop the tool (124, or 137 after the kill).
        if matches!(output.status.code(), Some(124) | Some(137) | None) {
            bail!(
                "{tool} -n {} {}: no answer within {} s, stopped",
                self.node,
                args.join(" "),
                TOOL_LIMIT.as_secs()
            );
        }
        if !output.status.success() {
            bail!(
                "{tool} -n {} {}: {}",
                self.node,
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `kill -9` of the node's Erlang VM: no goodbye to its clients or its cluster.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.node);
        };
        // The VM is the child's child (`rabbitmq-server` is a shell script): killed by the
        // parent id, so nothing else on the machine is touched.
        let status = Command::new("pkill")
            .args(["-KILL", "-P", &child.id().to_string()])
            .status()
            .context("pkill -KILL -P")?;
        // The script itself dies with its VM; killed too in case the VM never started.
        let _ = child.kill();
        // Reaped so it leaves no zombie; its exit status says nothing new.
        let _ = child.wait();
        // A stale pid file would let the next start's `wait` watch a dead VM; a missing one
        // is fine.
        let _ = std::fs::remove_file(self.dir.join("pid"));
        if !status.success() {
            bail!("{} had no VM to kill", self.node);
        }
        Ok(())
    }

    /// Whether its AMQP port accepts connections.
    pub fn is_listening(&self) -> bool {
        std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(500),
        )
        .is_ok()
    }

    /// Its directory (certificates a test wrote there, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A polite stop first; whatever it says, the VM must not outlive its owner.
            let _ = self.ctl(&["stop"]);
            let _ = self.kill();
        }
        // Best effort: a leftover directory in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate it signed, as PEM files in a directory.
pub struct TestCa {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a CA named `name` in `dir` and a certificate it signs for the DNS names `names`.
    pub fn generate(dir: &Path, name: &str, names: &[&str]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = |suffix: &str| dir.join(format!("{name}-{suffix}"));
        let ca = Self {
            ca: file("ca.pem"),
            cert: file("server.pem"),
            key: file("server.key"),
        };
        let (ca_key, csr, ext) = (file("ca.key"), file("server.csr"), file("ext.cnf"));
        let alt: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(&ext, format!("subjectAltName={}\n", alt.join(",")))?;
        openssl(&format!(
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={name}-ca -keyout {} -out {}",
            ca_key.display(),
            ca.ca.display()
        ))?;
        openssl(&format!(
            "req -newkey rsa:2048 -nodes -subj /CN={} -keyout {} -out {}",
            names[0],
            ca.key.display(),
            csr.display()
        ))?;
        openssl(&format!(
            "x509 -req -in {} -CA {} -CAkey {} -CAcreateserial -days 2 -extfile {} -out {}",
            csr.display(),
            ca.ca.display(),
            ca_key.display(),
            ext.display(),
            ca.cert.display()
        ))?;
        Ok(ca)
    }

    /// rabbitmq.conf lines for a TLS listener on the node's port (and no plain one) serving
    /// this certificate.
    pub fn tls_listener_config(&self) -> String {
        format!(
            "listeners.tcp = none\nlisteners.ssl.default = {{port}}\n\
             ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
             ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
             ssl_options.fail_if_no_peer_cert = false",
            self.ca.display(),
            self.cert.display(),
            self.key.display()
        )
    }
}

/// Runs `openssl` with `args`, split on spaces (the temporary paths have none).
fn openssl(args: &str) -> anyhow::Result<()> {
    let args: Vec<&str> = args.split_whitespace().collect();
    let output = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .context("running openssl")?;
    if !output.status.success() {
        bail!(
            "openssl {}: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
