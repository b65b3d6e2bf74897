//! Reaching RabbitMQ other ways than the machine's plain node: over `amqps://` to a TLS node
//! the test starts (certificates made by the test), and through an `AMQP_URL` that lists
//! several nodes, the first of them down.

use std::{path::Path, process::Command, time::Duration};

use warren_shared::{amqp, config::BrokerSettings};
use warren_testkit::{
    broker::{TEST_SCHEDULE, TestBroker, amqp_url},
    rabbit_node::{RabbitNode, TestCa, free_port},
    unique_name,
};

use crate::helpers::{Stack, no_extras, spawn_ingest_reaching};

const WAIT: Duration = Duration::from_secs(20);

/// A RabbitMQ node of this test's own with only a TLS listener, serving a certificate for
/// `localhost` signed by a CA the test made.
async fn tls_node() -> (RabbitNode, TestCa) {
    tokio::task::spawn_blocking(|| {
        let name = unique_name("warren-tls");
        // In the node's own directory, removed with it.
        let dir = std::env::temp_dir().join(format!("warren-node-{name}"));
        let ca = TestCa::generate(&dir, "warren", &["localhost"]).expect("certificates");
        let node = RabbitNode::start(&name, &ca.tls_listener_config()).expect("a TLS node");
        (node, ca)
    })
    .await
    .expect("starting the TLS node")
}

/// `settings` reaching `node` as `amqps://<host>` and trusting `ca_file`.
fn tls_settings(
    settings: &BrokerSettings,
    node: &RabbitNode,
    host: &str,
    ca_file: &Path,
) -> BrokerSettings {
    BrokerSettings {
        url: format!("amqps://guest:guest@{host}:{}/%2f", node.port),
        ca_file: Some(ca_file.to_path_buf()),
        ..settings.clone()
    }
}

/// Ingest and a worker both reaching the broker by the settings `reach` makes of the test's
/// own, and a subscription to the receiver.
async fn stack_on(reach: impl Fn(&BrokerSettings) -> BrokerSettings) -> Stack {
    let mut stack = spawn_ingest_reaching(TEST_SCHEDULE, |broker| reach(&broker.settings)).await;
    let mut worker = stack.worker_settings();
    worker.broker = reach(&stack.broker.settings);
    stack.start_worker(worker).await;
    stack.subscribe(no_extras()).await;
    stack
}

#[tokio::test]
async fn warren_delivers_an_event_over_amqps_trusting_the_ca_it_is_given() {
    let (node, ca) = tls_node().await;
    let stack = stack_on(|settings| tls_settings(settings, &node, "localhost", &ca.ca)).await;
    let deliver_queue = stack.broker.settings.topology().deliver_queue();

    let event_id = stack.send(r#"{"type":"tls.checked"}"#).await;

    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.header("x-warren-event-id"), event_id);
    let queues = node
        .ctl(&["list_queues", "name", "--quiet"])
        .expect("queues");
    assert!(
        queues.lines().any(|line| line.trim() == deliver_queue),
        "the topology lives on the TLS node: {queues}"
    );
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_or_for_another_name_is_refused() {
    let (node, ca) = tls_node().await;
    let other = TestCa::generate(node.dir(), "other", &["localhost"]).expect("another CA");
    let timeout = Duration::from_secs(10);
    let test = TestBroker::new();
    let settings = |host: &str, ca_file: &Path| tls_settings(&test.settings, &node, host, ca_file);

    let wrong_ca = amqp::connect(&settings("localhost", &other.ca), "t", timeout)
        .await
        .expect_err("a certificate from a CA it was not given");
    let wrong_ca = format!("{wrong_ca:#}");
    assert!(wrong_ca.contains(&format!(
        "connecting to RabbitMQ at localhost:{}",
        node.port
    )));
    assert!(wrong_ca.contains("UnknownIssuer"), "{wrong_ca}");

    // The certificate names `localhost`; reached as 127.0.0.1 it is not valid for that name.
    let wrong_name = amqp::connect(&settings("127.0.0.1", &ca.ca), "t", timeout)
        .await
        .expect_err("a certificate for another name");
    let wrong_name = format!("{wrong_name:#}");
    assert!(wrong_name.contains("not valid for name"), "{wrong_name}");

    let right = amqp::connect(&settings("localhost", &ca.ca), "t", timeout)
        .await
        .expect("the right CA and name");
    amqp::close(&right, "bye").await;
}

#[tokio::test]
async fn warren_connects_and_delivers_when_the_first_node_listed_is_down() {
    let down = free_port();
    let listed = amqp_url().replacen('@', &format!("@127.0.0.1:{down},"), 1);
    assert!(listed.contains(','), "{listed}");
    let stack = stack_on(|settings| BrokerSettings {
        url: listed.clone(),
        ..settings.clone()
    })
    .await;

    let event_id = stack.send(r#"{"type":"cluster.checked"}"#).await;

    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.header("x-warren-event-id"), event_id);
}

#[test]
fn a_bad_amqp_url_or_ca_file_stops_the_worker_with_a_clear_message() {
    let missing = std::env::temp_dir().join(format!("{}.pem", unique_name("missing")));
    let cases = [
        (
            "amqp://guest:hunter2@h1:5672,,h3:5672/%2f",
            None,
            "AMQP_URL's node 2 has no host",
        ),
        (
            "amqps://guest:hunter2@localhost:5671/%2f",
            Some(missing.as_path()),
            "reading WARREN_AMQP_CA_FILE",
        ),
    ];
    for (url, ca_file, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_warren-deliver"));
        command.env("AMQP_URL", url).env("RUST_LOG", "warn");
        if let Some(ca_file) = ca_file {
            command.env("WARREN_AMQP_CA_FILE", ca_file);
        }
        let output = command.output().expect("running warren-deliver");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}
