//! Telling a webhook channel: `POST <target_url>` with the notification as JSON, signed with
//! the channel's secret (Standard Webhooks, `webhook-id` = the notification's id), through a
//! client held to the same rules as deliveries: no redirects followed, no proxy from the
//! environment, and the SSRF guard on the address actually connected to.

use std::{sync::Arc, time::Duration};

use reqwest::{Client, redirect};
use time::OffsetDateTime;
use warren_shared::{
    signing::{SigningSecret, signature_header},
    ssrf::{GuardedResolver, SsrfGuard, check_literal},
};

use super::item::Message;

/// The most one POST may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The guarded client; cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client,
    guard: SsrfGuard,
}

impl WebhookClient {
    /// A client guarded by `guard` (the instance's `WARREN_ALLOW_TARGET_CIDRS`).
    pub fn new(guard: SsrfGuard) -> anyhow::Result<Self> {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .connect_timeout(TIMEOUT)
            .user_agent(format!("Warren/{}", warren_shared::VERSION))
            .build()?;
        Ok(Self { client, guard })
    }

    /// POSTs `message`, signed with `secret`. `Err` says why it did not arrive (an HTTP
    /// status, or what failed), never naming the URL or the secret.
    pub async fn send(
        &self,
        url: &str,
        secret: &SigningSecret,
        message: &Message,
    ) -> Result<(), String> {
        check_literal(&self.guard, url).map_err(|blocked| blocked.to_string())?;
        let body = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        let id = message.id.to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(std::slice::from_ref(secret), &id, timestamp, &body);
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| describe(&e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {status}"))
        }
    }
}

/// An error and its causes, one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
