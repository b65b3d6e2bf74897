//! Helpers for Warren's integration tests. They fake the outside world with real local
//! servers and isolate each test on the real PostgreSQL and RabbitMQ: a fresh database and a
//! unique topology prefix per test, both removed when the test ends.

pub mod api;
pub mod broker;
pub mod database;
pub mod help;
pub mod live;
pub mod proxy;
pub mod rabbit_node;
pub mod receiver;
pub mod smtp;

use std::{future::Future, sync::Once, time::Duration};

/// A name unique to this test run (`<prefix>_<uuid>`), safe as a database name.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Installs the log subscriber once: quiet unless `TEST_LOG` is set.
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = "info,lapin=warn";
        if std::env::var_os("TEST_LOG").is_some() {
            warren_shared::telemetry::init_subscriber(warren_shared::telemetry::get_subscriber(
                "test",
                filter,
                std::io::stdout,
            ));
        } else {
            warren_shared::telemetry::init_subscriber(warren_shared::telemetry::get_subscriber(
                "test",
                filter,
                std::io::sink,
            ));
        }
    });
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs async clean-up from a `Drop`, on a thread of its own (a test's runtime may be
/// shutting down when its handles are dropped).
pub(crate) fn block_on_thread<F>(work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(work),
            Err(error) => eprintln!("clean-up runtime failed: {error}"),
        }
    });
    let _ = handle.join();
}
