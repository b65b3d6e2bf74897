//! `rabbitmq/definitions.json` and the topology the services declare must agree: the file is
//! loaded into a blank vhost through the management API, and then the services' own
//! declarations must succeed there unchanged (RabbitMQ refuses a redeclaration whose
//! arguments differ) and read back identical.

use std::collections::BTreeMap;

use lapin::{Connection, ConnectionProperties};
use serde_json::Value;
use warren_shared::{
    retry::RetrySchedule,
    topology::{QueueKind, Topology},
};
use warren_testkit::unique_name;

fn management_url() -> String {
    std::env::var("TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:15672".into())
}

/// A vhost of the test's own, deleted on drop.
struct Vhost {
    name: String,
    http: reqwest::Client,
}

impl Vhost {
    async fn create() -> Self {
        let vhost = Self {
            name: unique_name("warren_defs"),
            http: reqwest::Client::new(),
        };
        let created = vhost
            .request(reqwest::Method::PUT, &format!("/api/vhosts/{}", vhost.name))
            .send()
            .await;
        let created =
            created.expect("the management API answers (is rabbitmq_management enabled?)");
        assert!(
            created.status().is_success(),
            "creating the vhost: {}",
            created.status()
        );
        let permissions = serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"});
        let granted = vhost
            .request(
                reqwest::Method::PUT,
                &format!("/api/permissions/{}/guest", vhost.name),
            )
            .json(&permissions)
            .send()
            .await
            .expect("granting permissions");
        assert!(granted.status().is_success());
        vhost
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", management_url()))
            .basic_auth("guest", Some("guest"))
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // A client of its own: the test's client pools connections on the test's runtime,
        // which this drop is blocking.
        let url = format!("{}/api/vhosts/{}", management_url(), self.name);
        std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let request = reqwest::Client::new()
                    .delete(url)
                    .basic_auth("guest", Some("guest"));
                let _ = runtime.block_on(request.send());
            }
        })
        .join()
        .ok();
    }
}

#[tokio::test]
async fn the_definitions_file_loads_into_a_blank_vhost_and_agrees_with_the_declared_topology() {
    let file = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rabbitmq/definitions.json"
    ));
    let mut definitions: Value = serde_json::from_str(file).expect("definitions.json is JSON");
    definitions
        .as_object_mut()
        .expect("an object")
        .remove("vhosts");
    let vhost = Vhost::create().await;

    let loaded = vhost
        .request(
            reqwest::Method::POST,
            &format!("/api/definitions/{}", vhost.name),
        )
        .json(&definitions)
        .send()
        .await
        .expect("loading the definitions");
    assert!(
        loaded.status().is_success(),
        "the broker refused the definitions: {}",
        loaded.text().await.unwrap_or_default()
    );

    let production = Topology::new("warren", QueueKind::Quorum, RetrySchedule::default());
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{}", vhost.name);
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("connecting to the vhost");
    let channel = connection.create_channel().await.expect("a channel");
    production
        .declare(&channel)
        .await
        .expect("the services' declarations match what the file created (no PRECONDITION_FAILED)");
    let _ = connection.close(200, "bye".into()).await;

    let queues: Vec<Value> = vhost
        .request(reqwest::Method::GET, &format!("/api/queues/{}", vhost.name))
        .send()
        .await
        .expect("listing queues")
        .json()
        .await
        .expect("JSON");
    let on_broker: BTreeMap<String, Value> = queues
        .iter()
        .map(|q| {
            (
                q["name"].as_str().expect("a name").to_owned(),
                q["arguments"].clone(),
            )
        })
        .collect();
    let declared: BTreeMap<String, Value> = production.definitions("/")["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| {
            (
                q["name"].as_str().expect("a name").to_owned(),
                q["arguments"].clone(),
            )
        })
        .collect();
    assert_eq!(on_broker, declared);
}
