//! `spawn_stack()`: ingest and a worker on a database and topology of their own, and a
//! receiver to deliver to.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_deliver::{config::Settings as WorkerSettings, startup::Worker};
use warren_ingest::{config::Settings as IngestSettings, startup::Application};
use warren_shared::config::defaults;
use warren_testkit::{
    api::ApiClient, broker::TestBroker, database::TestDatabase, eventually, init_logs,
    receiver::TestReceiver,
};

/// A running ingest server, perhaps a worker, a signed-up user and a receiver.
pub struct Stack {
    pub api: ApiClient,
    pub receiver: TestReceiver,
    pub ingest_url: String,
    cancel: CancellationToken,
    workers: Vec<(
        CancellationToken,
        JoinHandle<warren_deliver::error::Result<()>>,
    )>,
    pub broker: TestBroker,
    pub db: TestDatabase,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.cancel.cancel();
        for (cancel, _) in &self.workers {
            cancel.cancel();
        }
    }
}

/// Ingest, one in-process worker, a user with a source, and a receiver answering 200.
pub async fn spawn_stack() -> Stack {
    spawn_stack_with(warren_testkit::broker::TEST_SCHEDULE).await
}

/// Like [`spawn_stack`] with a retry schedule of the test's choosing.
pub async fn spawn_stack_with(schedule: &str) -> Stack {
    let mut stack = spawn_ingest(schedule).await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    stack
}

/// Ingest only (the test starts workers its own way), a user with a source, a receiver.
pub async fn spawn_ingest(schedule: &str) -> Stack {
    spawn_ingest_reaching(schedule, |broker| broker.settings.clone()).await
}

/// Ingest with its own SSRF allow-list (to create subscriptions a worker will refuse).
pub async fn spawn_ingest_allowing(schedule: &str, allow: &str) -> Stack {
    let allow = allow.to_owned();
    spawn_ingest_with(schedule, |broker| broker.settings.clone(), &allow).await
}

/// Like [`spawn_ingest`], with ingest reaching the broker by the settings `reach` gives
/// (through a [`warren_testkit::proxy::TcpProxy`], say).
pub async fn spawn_ingest_reaching(
    schedule: &str,
    reach: impl FnOnce(&TestBroker) -> warren_shared::config::BrokerSettings,
) -> Stack {
    spawn_ingest_with(schedule, reach, "127.0.0.1/32").await
}

async fn spawn_ingest_with(
    schedule: &str,
    reach: impl FnOnce(&TestBroker) -> warren_shared::config::BrokerSettings,
    allow: &str,
) -> Stack {
    spawn_ingest_configured(schedule, reach, allow, |_| {}).await
}

/// Ingest with its settings changed by `configure` (say, fast notification rounds), a user
/// with a source, and a receiver.
pub async fn spawn_ingest_notifying(
    schedule: &str,
    configure: impl FnOnce(&mut IngestSettings),
) -> Stack {
    spawn_ingest_configured(schedule, |b| b.settings.clone(), "127.0.0.1/32", configure).await
}

async fn spawn_ingest_configured(
    schedule: &str,
    reach: impl FnOnce(&TestBroker) -> warren_shared::config::BrokerSettings,
    allow: &str,
    configure: impl FnOnce(&mut IngestSettings),
) -> Stack {
    init_logs();
    let db = TestDatabase::create().await;
    spawn_ingest_on(db, schedule, reach, allow, configure).await
}

/// Like [`spawn_stack`], on a database every connection reaches with `query` in its URL
/// (`sslmode=verify-ca&sslrootcert=…`, say).
pub async fn spawn_stack_with_database_query(query: &str) -> Stack {
    init_logs();
    let db = TestDatabase::create_with(query).await;
    let schedule = warren_testkit::broker::TEST_SCHEDULE;
    let mut stack =
        spawn_ingest_on(db, schedule, |b| b.settings.clone(), "127.0.0.1/32", |_| {}).await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    stack
}

async fn spawn_ingest_on(
    db: TestDatabase,
    schedule: &str,
    reach: impl FnOnce(&TestBroker) -> warren_shared::config::BrokerSettings,
    allow: &str,
    configure: impl FnOnce(&mut IngestSettings),
) -> Stack {
    let broker = TestBroker::with_schedule(schedule);
    let cancel = CancellationToken::new();
    let address = start_ingest(&db, reach(&broker), allow, cancel.clone(), configure).await;

    let mut api = ApiClient::new(address);
    api.signup().await;
    let source = api.create_source().await;
    Stack {
        ingest_url: source["ingest_url"]
            .as_str()
            .expect("an ingest URL")
            .to_owned(),
        api,
        receiver: TestReceiver::start().await,
        cancel,
        workers: Vec::new(),
        broker,
        db,
    }
}

/// Starts an ingest server on `db` reaching the broker by `broker`; returns its address.
async fn start_ingest(
    db: &TestDatabase,
    broker: warren_shared::config::BrokerSettings,
    allow: &str,
    cancel: CancellationToken,
    configure: impl FnOnce(&mut IngestSettings),
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    let mut settings: IngestSettings = defaults();
    settings.database = db.settings();
    settings.broker = broker;
    settings.public_url = address.clone();
    settings.outbox_interval_ms = 100;
    settings.outbox_grace_ms = 2_000;
    settings.allow_target_cidrs = allow.parse().expect("a CIDR list");
    // Tests sign up several users (a second tenant, say) without invites.
    settings.signup = warren_ingest::config::SignupMode::Open;
    configure(&mut settings);
    let app = Application::build_on(settings, listener, cancel)
        .await
        .expect("ingest builds");
    assert!(
        app.state()
            .publisher
            .wait_connected(Duration::from_secs(10))
            .await
    );
    tokio::spawn(app.run_until_stopped());
    address
}

impl Stack {
    /// Another ingest instance on the same database and topology (as behind a balancer);
    /// returns its address. It stops with the stack.
    pub async fn another_ingest(&self) -> String {
        start_ingest(
            &self.db,
            self.broker.settings.clone(),
            "127.0.0.1/32",
            self.cancel.clone(),
            |_| {},
        )
        .await
    }

    /// The signed-in user's token.
    pub fn token(&self) -> &str {
        self.api.token.as_deref().expect("a signed-in user")
    }

    /// Worker settings on this stack's database and topology, loopback allowed, port 0.
    pub fn worker_settings(&self) -> WorkerSettings {
        let mut settings: WorkerSettings = defaults();
        settings.database = self.db.settings();
        settings.broker = self.broker.settings.clone();
        settings.http_addr = "127.0.0.1:0".parse().expect("an address");
        settings.allow_target_cidrs = "127.0.0.1/32".parse().expect("a CIDR");
        settings.prefetch = 32;
        settings.shutdown_grace_secs = 10;
        settings
    }

    /// Starts a worker in this process; returns the port of its health and metrics server.
    pub async fn start_worker(&mut self, settings: WorkerSettings) -> u16 {
        let cancel = CancellationToken::new();
        let worker = Worker::build(settings, cancel.clone())
            .await
            .expect("the worker builds");
        let port = worker.port();
        let handle = tokio::spawn(worker.run_until_stopped());
        self.workers.push((cancel, handle));
        port
    }

    /// Stops every in-process worker and waits for each to finish.
    pub async fn stop_workers(&mut self) {
        for (cancel, handle) in self.workers.drain(..) {
            cancel.cancel();
            handle
                .await
                .expect("the worker task")
                .expect("the worker stops cleanly");
        }
    }

    /// The subscription as the API shows it now.
    pub async fn subscription(&self, id: &Value) -> Value {
        self.api
            .get_json(&format!(
                "/api/v1/subscriptions/{}",
                id.as_str().expect("an id")
            ))
            .await
    }

    /// Starts `warren-deliver` as a separate process on this stack.
    pub fn spawn_worker_process(&self) -> WorkerProcess {
        self.spawn_worker_process_with(&[])
    }

    /// [`Stack::spawn_worker_process`] with extra environment variables.
    pub fn spawn_worker_process_with(&self, env: &[(&str, &str)]) -> WorkerProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_warren-deliver"))
            .envs(env.iter().copied())
            .env("DATABASE_URL", self.db.settings().url)
            .env("AMQP_URL", &self.broker.settings.url)
            .env("WARREN_TOPOLOGY_PREFIX", &self.broker.settings.prefix)
            .env(
                "WARREN_RETRY_SCHEDULE",
                self.broker.settings.retry_schedule.to_string(),
            )
            .env(
                "WARREN_ORDERED_SHARDS",
                self.broker.settings.ordered_shards.to_string(),
            )
            .env("WARREN_ALLOW_TARGET_CIDRS", "127.0.0.1/32")
            .env("WARREN_DELIVER_HTTP_ADDR", "127.0.0.1:0")
            .env("WARREN_SHUTDOWN_GRACE_SECS", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("starting warren-deliver");
        WorkerProcess(child)
    }

    /// A subscription to the receiver's `/hook`, with any extra fields.
    pub async fn subscribe(&self, extra: Value) -> Value {
        self.api
            .create_subscription(&self.receiver.url("/hook"), extra)
            .await
    }

    /// POSTs a JSON event to the source; returns the event id.
    pub async fn send(&self, body: &str) -> String {
        let response = self
            .api
            .ingest(&self.ingest_url, "application/json", body.to_owned())
            .await;
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.expect("JSON");
        accepted["id"].as_str().expect("an id").to_owned()
    }

    /// [`Stack::send`] taking its body by value, for sending many at once.
    pub async fn send_owned(&self, body: String) -> String {
        self.send(&body).await
    }

    /// The id of the first delivery of an event.
    pub async fn delivery_of(&self, event_id: &str) -> String {
        let event = self
            .api
            .get_json(&format!("/api/v1/events/{event_id}"))
            .await;
        event["deliveries"][0]["id"]
            .as_str()
            .expect("a delivery")
            .to_owned()
    }

    /// Waits for a delivery to reach `status`; returns it with its attempts.
    pub async fn wait_status(&self, delivery_id: &str, status: &str, timeout: Duration) -> Value {
        eventually(
            &format!("delivery {delivery_id} to be {status}"),
            timeout,
            || async {
                let delivery = self
                    .api
                    .get_json(&format!("/api/v1/deliveries/{delivery_id}"))
                    .await;
                (delivery["status"] == status).then_some(delivery)
            },
        )
        .await
    }

    /// A connection of the worker's kind (kept plans that find rows by key) with
    /// `statement` prepared as `name` on the tables as they are now: nearly empty, as a
    /// worker's first use finds them.
    pub async fn worker_prepared(&self, name: &str, statement: &str) -> deadpool_postgres::Object {
        let pool = warren_shared::db::pool_with(
            &self.db.settings(),
            warren_shared::db::Commits::Relaxed,
            warren_shared::db::Plans::KeyLookups,
        )
        .expect("a pool");
        let client = pool.get().await.expect("a connection");
        client
            .batch_execute(&format!("PREPARE {name} AS {statement}"))
            .await
            .expect("prepared");
        client
    }
}

/// A `warren-deliver` child process, killed when dropped.
pub struct WorkerProcess(pub Child);

impl WorkerProcess {
    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The empty JSON object, for subscriptions without extra fields.
pub fn no_extras() -> Value {
    json!({})
}
