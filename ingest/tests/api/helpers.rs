//! `spawn_app()`: a real `warren-ingest` on port 0 with a database and topology of its own.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_ingest::{
    config::{Settings, SignupMode},
    startup::Application,
};
use warren_shared::{
    config::{BrokerSettings, DatabaseSettings, defaults},
    ssrf::SsrfGuard,
};
use warren_testkit::{
    api::ApiClient, broker::TestBroker, database::TestDatabase, eventually, init_logs,
};

/// A running server and what it runs on. Dropping it stops the server and removes its
/// database and topology.
pub struct TestApp {
    pub api: ApiClient,
    pub address: String,
    pub cancel: CancellationToken,
    pub broker: TestBroker,
    pub db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Settings for a test server: the defaults, on port 0, with the loopback allowed as a
/// target, a small body limit, a fast outbox and open signup.
pub fn test_settings(database: DatabaseSettings, broker: BrokerSettings) -> Settings {
    let mut settings: Settings = defaults();
    settings.database = database;
    settings.broker = broker;
    settings.http_addr = "127.0.0.1:0".parse().expect("an address");
    settings.max_body_bytes = 64 * 1024;
    settings.outbox_interval_ms = 100;
    settings.outbox_grace_ms = 300;
    settings.allow_target_cidrs = "127.0.0.1/32".parse::<SsrfGuard>().expect("a CIDR");
    // Most tests sign up several users without invites; the signup modes' own tests
    // (`admin::signup`) set the mode they test.
    settings.signup = SignupMode::Open;
    settings
}

/// Starts a server on a fresh database and topology.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server on a fresh database and topology, with the test settings changed by
/// `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut settings = test_settings(db.settings(), broker.settings.clone());
    configure(&mut settings);
    spawn_with(settings, db, broker).await
}

/// Starts a server with the given settings (e.g. reaching a dependency through a proxy).
pub async fn spawn_with(mut settings: Settings, db: TestDatabase, broker: TestBroker) -> TestApp {
    init_logs();
    let cancel = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    settings.public_url = address.clone();
    let app = Application::build_on(settings.clone(), listener, cancel.clone())
        .await
        .expect("the app builds");
    assert!(
        app.state()
            .publisher
            .wait_connected(Duration::from_secs(10))
            .await,
        "the publisher reaches RabbitMQ"
    );
    tokio::spawn(app.run_until_stopped());
    TestApp {
        api: ApiClient::new(address.clone()),
        address,
        cancel,
        broker,
        db,
    }
}

impl TestApp {
    /// Waits (up to 20 s) until the only delivery is marked enqueued: its envelope was
    /// confirmed by the broker.
    pub async fn wait_until_enqueued(&self) {
        let client = self.db.client().await;
        eventually(
            "the delivery to be marked enqueued",
            Duration::from_secs(20),
            || async {
                let row = client
                    .query_one("SELECT enqueued FROM deliveries", &[])
                    .await
                    .expect("a delivery");
                row.get::<_, bool>(0).then_some(())
            },
        )
        .await;
    }

    /// A signed-up client of this server.
    pub async fn user(&self) -> ApiClient {
        let mut api = self.api.clone();
        api.signup().await;
        api
    }

    /// A signed-up user with a source and one subscription taking every event; returns the
    /// client and the source's ingest URL.
    pub async fn source_with_subscriber(&self) -> (ApiClient, String) {
        let api = self.user().await;
        let source = api.create_source().await;
        api.create_subscription("http://127.0.0.1:9/hook", serde_json::json!({}))
            .await;
        (api, Self::ingest_url(&source))
    }

    /// The ingest URL the API gave for a source.
    pub fn ingest_url(source: &Value) -> String {
        source["ingest_url"]
            .as_str()
            .expect("an ingest URL")
            .to_owned()
    }

    /// `GET /metrics`, as text (answered 200).
    pub async fn metrics(&self) -> String {
        let response = self
            .api
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "GET /metrics");
        response.text().await.expect("text")
    }

    /// The value of the sample `sample` (a metric's name, with its labels if it has any)
    /// in `GET /metrics`; `None` when it is not there.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let prefix = format!("{sample} ");
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
    }

    /// Asserts that nothing of a refused request was kept: no event, no delivery, nothing
    /// in the main queue.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.count("events").await, 0, "events");
        assert_eq!(self.count("deliveries").await, 0, "deliveries");
        assert_eq!(self.main_queue_depth().await, 0, "the main queue");
    }

    /// The one row `sql` finds, read straight from the database.
    pub async fn only_row(&self, sql: &str) -> tokio_postgres::Row {
        let client = self.db.client().await;
        client.query_one(sql, &[]).await.expect("exactly one row")
    }

    /// Rows in a table, for "nothing was stored" checks.
    pub async fn count(&self, table: &str) -> i64 {
        let client = self.db.client().await;
        client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("counting")
            .get(0)
    }

    /// Messages ready in the main queue.
    pub async fn main_queue_depth(&self) -> u32 {
        self.broker
            .depth(&self.broker.settings.topology().deliver_queue())
            .await
    }
}

/// The event an ingest or publish answer (`{"id", "deliveries"}`) names, as
/// `GET /api/v1/events/{id}` shows it.
pub async fn event_of(api: &ApiClient, accepted: reqwest::Response) -> Value {
    let accepted: Value = accepted.json().await.expect("JSON");
    let id = accepted["id"].as_str().expect("an event id");
    api.get_json(&format!("/api/v1/events/{id}")).await
}

/// Asserts a problem+json answer with `status`; returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// The fields named in a 422's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Ingests `body` to `url` with an idempotency key; returns the status and the event's id.
pub async fn ingest_with_key(app: &TestApp, url: &str, key: &str, body: &str) -> (u16, Uuid) {
    let response = app
        .api
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON");
    let id = answer["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a UUID");
    (status, id)
}
