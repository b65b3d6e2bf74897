//! `--observe`: what watching Warren costs. A browser's live log (a socket.io client signed
//! in as the bench's user, counting every line it receives) and a Prometheus scraping both
//! services' `/metrics` every second, for the whole run. Compare a run with it and one
//! without.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often `/metrics` is scraped.
const SCRAPE_EVERY: Duration = Duration::from_secs(1);

/// What the observers saw.
#[derive(Debug, Clone, Serialize)]
pub struct ObserverFigures {
    /// Live log lines the socket received.
    pub live_lines: u64,
    /// `/metrics` answers read.
    pub scrapes: u64,
    /// `/metrics` requests that failed.
    pub scrape_errors: u64,
}

/// The running observers.
pub struct Observers {
    live: Client,
    lines: Arc<AtomicU64>,
    scrapes: Arc<AtomicU64>,
    scrape_errors: Arc<AtomicU64>,
    stop: CancellationToken,
    scraper: JoinHandle<()>,
}

impl Observers {
    /// Connects the live log as the user of `token` to the ingest at `base` (waiting until
    /// the gateway says it is ready) and starts scraping `metrics_urls`.
    pub async fn start(base: &str, token: &str, metrics_urls: Vec<String>) -> anyhow::Result<Self> {
        let lines = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let (counted, seen_ready) = (lines.clone(), ready.clone());
        let live = ClientBuilder::new(base)
            .namespace("/")
            .auth(json!({ "token": token }))
            .reconnect(false)
            .on_any(move |event, _, _| {
                if event.to_string() == "live.ready" {
                    seen_ready.store(true, Ordering::Relaxed);
                } else {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                async {}.boxed()
            })
            .connect()
            .await
            .context("connecting the live log")?;
        for _ in 0..150 {
            if ready.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready.load(Ordering::Relaxed) {
            bail!("the live log did not say live.ready within 15 s");
        }
        let (scrapes, scrape_errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = CancellationToken::new();
        let scraper = tokio::spawn(scrape(
            metrics_urls,
            scrapes.clone(),
            scrape_errors.clone(),
            stop.clone(),
        ));
        Ok(Self {
            live,
            lines,
            scrapes,
            scrape_errors,
            stop,
            scraper,
        })
    }

    /// Stops both and says what they saw.
    pub async fn finish(self) -> ObserverFigures {
        self.stop.cancel();
        // The scrapes are counted as they happen; one that panicked has said so on stderr.
        let _ = self.scraper.await;
        // The lines are counted as they arrive; a socket already closed has nothing to add.
        let _ = self.live.disconnect().await;
        ObserverFigures {
            live_lines: self.lines.load(Ordering::Relaxed),
            scrapes: self.scrapes.load(Ordering::Relaxed),
            scrape_errors: self.scrape_errors.load(Ordering::Relaxed),
        }
    }
}

async fn scrape(
    urls: Vec<String>,
    scrapes: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return;
    };
    let mut every = tokio::time::interval(SCRAPE_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        for url in &urls {
            let read = async {
                client
                    .get(url)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await
            };
            match read.await {
                Ok(_) => scrapes.fetch_add(1, Ordering::Relaxed),
                Err(_) => errors.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}
