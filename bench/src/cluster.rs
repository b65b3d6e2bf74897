//! A three-node RabbitMQ cluster on the loopback for the cluster faults: nodes of the suite's
//! own (names, ports and data directories from the run id, the machine's broker untouched),
//! joined with `rabbitmqctl join_cluster`, quorum-queue leaders spread over them
//! (`queue_leader_locator = balanced`). Warren reaches it through an `AMQP_URL` that lists
//! the three nodes; a fault `kill -9`s one of them under load and starts it again.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use warren_testkit::rabbit_node::{PLAIN_LISTENER, RabbitNode};

/// Nodes in the cluster.
const NODES: usize = 3;

/// How long a killed node stays down before it is started again.
const DOWN_FOR: Duration = Duration::from_secs(5);

/// Which node a fault kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// The node that leads the main (deliver) quorum queue.
    Leader,
    /// The node most of Warren's connections are on.
    Connected,
}

/// The running cluster. Its nodes are stopped by [`Cluster::stop`] (or, failing that, when
/// it is dropped).
pub struct Cluster {
    nodes: Arc<Mutex<Vec<RabbitNode>>>,
    ports: Vec<u16>,
    names: Vec<String>,
}

impl Cluster {
    /// Starts three nodes (in parallel) named after `run_id` and joins the second and third
    /// to the first.
    pub async fn start(run_id: &str) -> anyhow::Result<Self> {
        let names: Vec<String> = (1..=NODES).map(|n| format!("{run_id}-{n}")).collect();
        let nodes = tokio::task::spawn_blocking(move || start_nodes(&names))
            .await
            .context("starting the cluster")??;
        Ok(Self {
            ports: nodes.iter().map(|node| node.port).collect(),
            names: nodes.iter().map(|node| node.node.clone()).collect(),
            nodes: Arc::new(Mutex::new(nodes)),
        })
    }

    /// `AMQP_URL` listing the three nodes.
    pub fn amqp_url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("amqp://guest:guest@{}/%2f", hosts.join(","))
    }

    /// Kills the node `victim` names (for the queue `queue`), keeps it down
    /// [`DOWN_FOR`], starts it again and waits until it is back; says what it did.
    pub async fn kill_and_restart(&self, victim: Victim, queue: &str) -> anyhow::Result<String> {
        let leader = self.leader_of(queue).await?;
        let connected = self.connected_node().await?;
        let index = match victim {
            Victim::Leader => leader,
            Victim::Connected => connected,
        };
        self.blocking(move |nodes| nodes[index].kill()).await?;
        let killed_at = Instant::now();
        tokio::time::sleep(DOWN_FOR).await;
        self.blocking(move |nodes| nodes[index].restart()).await?;
        Ok(format!(
            "killed {} (deliver queue's leader {}, Warren connected to {}), back {:.1} s later",
            self.names[index],
            self.names[leader],
            self.names[connected],
            killed_at.elapsed().as_secs_f64()
        ))
    }

    /// Moves the leadership of `queue` off the node Warren is connected to, where it was
    /// declared (the connected node's member is removed, which makes the other two elect a
    /// leader, then added back as a follower), so that killing the leader and killing the
    /// connected node are different faults.
    pub async fn lead_elsewhere(&self, queue: &str) -> anyhow::Result<()> {
        let leader = self.leader_of(queue).await?;
        if leader != self.connected_node().await? {
            return Ok(());
        }
        let (queue, member) = (queue.to_owned(), self.names[leader].clone());
        let other = (leader + 1) % NODES;
        self.blocking(move |nodes| {
            let queues = |action: &str| {
                nodes[other].tool(
                    "rabbitmq-queues",
                    &[action, "--vhost", "/", &queue, &member],
                )
            };
            queues("delete_member")?;
            queues("add_member")
        })
        .await?;
        Ok(())
    }

    /// The index of the node leading `queue`.
    async fn leader_of(&self, queue: &str) -> anyhow::Result<usize> {
        let listed = self
            .blocking(|nodes| nodes[0].ctl(&["list_queues", "name", "leader", "--quiet"]))
            .await?;
        let leader = listed
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .map(|(_, leader)| leader.trim().to_owned())
            .with_context(|| format!("no leader listed for {queue}"))?;
        self.names
            .iter()
            .position(|name| *name == leader)
            .with_context(|| format!("{queue}'s leader {leader} is not one of the cluster's"))
    }

    /// The index of the node holding most client connections (told by the port each
    /// connection came in on).
    async fn connected_node(&self) -> anyhow::Result<usize> {
        let listed = self
            .blocking(|nodes| nodes[0].ctl(&["list_connections", "port", "--quiet"]))
            .await?;
        let mut counts = [0_usize; NODES];
        for port in listed
            .lines()
            .filter_map(|line| line.trim().parse::<u16>().ok())
        {
            if let Some(index) = self.ports.iter().position(|p| *p == port) {
                counts[index] += 1;
            }
        }
        let (index, most) = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, count)| **count)
            .context("no nodes")?;
        if *most == 0 {
            bail!("no client connection on the cluster");
        }
        Ok(index)
    }

    /// Stops the three nodes, in parallel.
    pub async fn stop(self) {
        let nodes = self.nodes;
        // Dropping a node stops it (`rabbitmqctl stop`, a kill if that fails), which blocks
        // for seconds: off the runtime's threads, one thread per node.
        let stopped = tokio::task::spawn_blocking(move || {
            let Ok(nodes) = Arc::try_unwrap(nodes).map(Mutex::into_inner) else {
                return;
            };
            let stopping: Vec<_> = nodes
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .into_iter()
                .map(|node| std::thread::spawn(move || drop(node)))
                .collect();
            for thread in stopping {
                // A panicking stop has nothing left to stop.
                let _ = thread.join();
            }
        })
        .await;
        if stopped.is_err() {
            eprintln!("warren-faults: stopping the cluster's nodes panicked");
        }
    }

    /// Runs `f` on the nodes off the runtime's threads (the CLI tools take seconds).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<RabbitNode>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let nodes = Arc::clone(&self.nodes);
        tokio::task::spawn_blocking(move || {
            let mut nodes = nodes.lock().map_err(|_| anyhow!("the cluster's lock"))?;
            f(&mut nodes)
        })
        .await
        .context("a cluster task")?
    }
}

/// Starts the nodes, each on a thread of its own, then joins them to the first.
fn start_nodes(names: &[String]) -> anyhow::Result<Vec<RabbitNode>> {
    let config = format!("{PLAIN_LISTENER}\nqueue_leader_locator = balanced");
    let starting: Vec<_> = names
        .iter()
        .map(|name| {
            let (name, config) = (name.clone(), config.clone());
            std::thread::spawn(move || RabbitNode::start(&name, &config))
        })
        .collect();
    let nodes = starting
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .map_err(|_| anyhow!("starting a node panicked"))?
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = nodes[0].node.clone();
    for node in &nodes[1..] {
        node.ctl(&["stop_app"])?;
        node.ctl(&["join_cluster", &first])?;
        node.ctl(&["start_app"])?;
    }
    Ok(nodes)
}
