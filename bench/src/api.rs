//! Warren's public API, as a user would call it: sign up, create a source and the
//! subscriptions, read a subscription's stats.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// A signed-up user's session.
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
    /// The user's id.
    pub user_id: Uuid,
}

/// A created source.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    /// Its id.
    pub id: Uuid,
    /// The secret part of its ingest URL.
    pub token: String,
}

#[derive(Deserialize)]
struct Signup {
    user: User,
    token: String,
}

#[derive(Deserialize)]
struct User {
    id: Uuid,
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

/// A subscription to create.
pub struct NewSubscription<'a> {
    /// Its name.
    pub name: &'a str,
    /// Where deliveries go.
    pub target_url: &'a str,
    /// The source it listens to.
    pub source_id: Uuid,
    /// Event types it takes (empty: every type).
    pub event_types: &'a [&'a str],
    /// Its delivery timeout, if not Warren's default.
    pub timeout_ms: Option<u32>,
    /// Whether it is ordered (`"ordering": "fifo"`): its deliveries one at a time, in the
    /// order ingest committed their events.
    pub fifo: bool,
    /// Its attempts per round, if not Warren's default (8).
    pub max_attempts: Option<u32>,
    /// Its rate limit, deliveries a second (default: [`HIGHEST_RATE_LIMIT`]).
    pub rate_limit_per_sec: Option<u32>,
    /// Its `batch`: the most events per request and the longest wait in ms (default: one
    /// event per request).
    pub batch: Option<(u16, u32)>,
}

impl<'a> NewSubscription<'a> {
    /// `name`, to `target_url`, of every event of `source_id`: unordered, unbatched, Warren's
    /// timeout and attempts, the highest rate limit.
    pub fn new(name: &'a str, target_url: &'a str, source_id: Uuid) -> Self {
        Self {
            name,
            target_url,
            source_id,
            event_types: &[],
            timeout_ms: None,
            fifo: false,
            max_attempts: None,
            rate_limit_per_sec: None,
            batch: None,
        }
    }
}

/// The highest rate limit Warren allows a subscription: what the bench gives one unless it
/// says otherwise, so the limit never shapes a figure.
pub const HIGHEST_RATE_LIMIT: u32 = 10_000;

/// What the bench reads of a subscription.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionState {
    /// Whether deliveries are sent (false: paused by its owner or disabled by Warren).
    pub is_active: bool,
    /// Why it is not active (`paused`, or what disabled it).
    pub disabled_reason: Option<String>,
    /// Deliveries kept while it was not active and not yet released.
    pub held_count: i64,
}

impl Api {
    /// The user's session token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Signs a fresh user up on the Warren at `base`.
    pub async fn signup(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let base = base.trim_end_matches('/').to_owned();
        let suffix = Uuid::new_v4().simple().to_string();
        let body = json!({
            "email": format!("bench-{}@example.com", &suffix[..12]),
            "password": format!("bench-{suffix}"),
        });
        let signup: Signup = post(&client, &format!("{base}/api/v1/auth/signup"), None, &body)
            .await
            .context("signing up")?;
        Ok(Self {
            client,
            base,
            token: signup.token,
            user_id: signup.user.id,
        })
    }

    /// Creates a source that verifies nothing (provider `none`).
    pub async fn create_source(&self) -> anyhow::Result<Source> {
        let body = json!({"name": "warren-bench", "provider": "none"});
        self.post("/api/v1/sources", &body)
            .await
            .context("creating the source")
    }

    /// Creates a source that verifies Standard Webhooks signatures with `secret` (a `whsec_`
    /// secret).
    pub async fn create_verified_source(&self, name: &str, secret: &str) -> anyhow::Result<Source> {
        let body = json!({
            "name": name,
            "provider": "standard_webhooks",
            "verification_secret": secret,
        });
        self.post("/api/v1/sources", &body)
            .await
            .context("creating the verified source")
    }

    /// Creates a subscription, with the highest rate limit Warren allows unless `new` gives
    /// one.
    pub async fn create_subscription(&self, new: &NewSubscription<'_>) -> anyhow::Result<Uuid> {
        let mut body = json!({
            "name": new.name,
            "target_url": new.target_url,
            "source_id": new.source_id,
            "event_types": new.event_types,
            "rate_limit_per_sec": new.rate_limit_per_sec.unwrap_or(HIGHEST_RATE_LIMIT),
        });
        if let Some(timeout_ms) = new.timeout_ms {
            body["timeout_ms"] = timeout_ms.into();
        }
        if let Some(max_attempts) = new.max_attempts {
            body["max_attempts"] = max_attempts.into();
        }
        if new.fifo {
            body["ordering"] = "fifo".into();
        }
        if let Some((max_events, max_wait_ms)) = new.batch {
            body["batch"] = json!({"max_events": max_events, "max_wait_ms": max_wait_ms});
        }
        let created: Created = self
            .post("/api/v1/subscriptions", &body)
            .await
            .with_context(|| format!("creating subscription {}", new.name))?;
        Ok(created.id)
    }

    /// Reads a subscription.
    pub async fn subscription(&self, id: Uuid) -> anyhow::Result<SubscriptionState> {
        let answer = self.get(&format!("/api/v1/subscriptions/{id}")).await?;
        Ok(serde_json::from_value(answer)?)
    }

    /// Pauses a subscription: what it matches from now on is held.
    pub async fn pause(&self, id: Uuid) -> anyhow::Result<SubscriptionState> {
        self.post(&format!("/api/v1/subscriptions/{id}/pause"), &json!({}))
            .await
            .context("pausing the subscription")
    }

    /// Enables a paused or disabled subscription with `{"held": held}` (`deliver` or
    /// `discard`).
    pub async fn enable(&self, id: Uuid, held: &str) -> anyhow::Result<SubscriptionState> {
        self.post(
            &format!("/api/v1/subscriptions/{id}/enable"),
            &json!({ "held": held }),
        )
        .await
        .context("enabling the subscription")
    }

    /// The URL events for `source` are posted to.
    pub fn ingest_url(&self, source: &Source) -> String {
        format!("{}/ingest/{}", self.base, source.token)
    }

    /// Calls the stats of a subscription over `window`; fails unless it answers 200 with a
    /// body that has a `total`.
    pub async fn stats(&self, subscription_id: Uuid, window: &str) -> anyhow::Result<u64> {
        let stats = self
            .get(&format!(
                "/api/v1/subscriptions/{subscription_id}/stats?window={window}"
            ))
            .await?;
        stats["total"]
            .as_u64()
            .context("the stats answer has no total")
    }

    /// `GET path` with the user's token; fails unless it answers 200 with JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {path} answered {status}: {}", response.text().await?);
        }
        Ok(response.json().await?)
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        post(
            &self.client,
            &format!("{}{path}", self.base),
            Some(&self.token),
            body,
        )
        .await
    }
}

async fn post<T: for<'de> Deserialize<'de>>(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<T> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("POST {url} answered {status}: {}", response.text().await?);
    }
    Ok(response.json().await?)
}
