//! Telling an email channel: a plain-text mail through the SMTP server of `WARREN_SMTP_URL`,
//! from `WARREN_SMTP_FROM`, whose subject names the subscription and what happened and whose
//! body links to the subscription in the web app.

use std::time::Duration;

use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use warren_shared::model::NotificationType;

use super::item::Message;
use crate::config::Settings;

/// The most one mail may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The SMTP client; cheap to clone (its connections are pooled).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl Mailer {
    /// The mailer the settings ask for: none without `WARREN_SMTP_URL`, an error when the URL
    /// or the sender is not usable (checked at start-up, so a typo does not lose mails).
    /// Nothing connects yet.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.smtp_url.as_deref() else {
            return Ok(None);
        };
        // The URL may carry a password: the error says what is wrong, never the URL.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("WARREN_SMTP_URL is not an smtp:// or smtps:// URL")?
            .timeout(Some(TIMEOUT))
            .build();
        let from = settings
            .smtp_from
            .parse()
            .context("WARREN_SMTP_FROM is not an email address")?;
        Ok(Some(Self {
            transport,
            from,
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
        }))
    }

    /// Mails `message` to `to`. `Err` says why it did not go (the server away, or what it
    /// answered).
    pub async fn send(&self, to: &str, message: &Message) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("not an address: {e}"))?;
        let (subject, body) = compose(message, &self.public_url);
        let mail = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(TIMEOUT, self.transport.send(mail)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("the SMTP server: {error}")),
            Err(_) => Err(format!("the SMTP server did not answer within {TIMEOUT:?}")),
        }
    }
}

/// The mail's subject and plain-text body.
pub fn compose(message: &Message, public_url: &str) -> (String, String) {
    let name = message
        .subscription
        .as_ref()
        .map(|s| one_line(&s.name))
        .unwrap_or_default();
    let what = match message.kind {
        NotificationType::SubscriptionFailing => format!("Subscription \"{name}\" is failing"),
        NotificationType::SubscriptionCircuitOpened => {
            format!("Subscription \"{name}\" opened its circuit")
        }
        NotificationType::SubscriptionDisabled => format!("Subscription \"{name}\" was disabled"),
        NotificationType::SubscriptionRecovered => format!("Subscription \"{name}\" recovered"),
        NotificationType::DeliveryDead => {
            format!("A delivery to subscription \"{name}\" is dead")
        }
        NotificationType::NotificationTest => "Test notification".to_owned(),
    };
    let count = message.count();
    let subject = match count {
        1 => format!("[Warren] {what}"),
        n => format!("[Warren] {what} ({n} times)"),
    };
    let mut body = format!("{what}.\n\n");
    for line in details(message) {
        body.push_str(&line);
        body.push('\n');
    }
    if count > 1 {
        body.push_str(&format!(
            "\nThis happened {count} times since the last notification of this kind; Warren \
             tells you at most once per interval.\n"
        ));
    }
    if let Some(subscription) = &message.subscription {
        body.push_str(&format!(
            "\nSubscription: {}\nTarget URL: {}\n{public_url}/subscriptions/{}\n",
            one_line(&subscription.name),
            subscription.target_url,
            subscription.id
        ));
    }
    body.push_str(&format!(
        "\nNotification {} ({})\n",
        message.id, message.kind
    ));
    (subject, body)
}

/// What the notification's data says, a line each.
fn details(message: &Message) -> Vec<String> {
    let data = &message.data;
    let text = |key: &str| data[key].as_str().map(str::to_owned);
    let number = |key: &str| data[key].as_u64();
    let lines = match message.kind {
        NotificationType::SubscriptionFailing => vec![
            number("attempts").map(|n| format!("Attempts in the last 15 minutes: {n}")),
            number("succeeded").map(|n| format!("Succeeded: {n}")),
        ],
        NotificationType::SubscriptionCircuitOpened => vec![
            number("consecutive_failures").map(|n| format!("Failed attempts in a row: {n}")),
            Some(
                "Deliveries wait, without spending attempts, until the target answers again."
                    .into(),
            ),
        ],
        NotificationType::SubscriptionDisabled => vec![
            text("reason").map(|r| format!("Why: {r}")),
            Some("Its events are held; enable it again to deliver them.".into()),
        ],
        NotificationType::SubscriptionRecovered => vec![text("reason").map(|r| match r.as_str() {
            "enabled" => "It was enabled again.".to_owned(),
            _ => "Its target answers again; its circuit is closed.".to_owned(),
        })],
        NotificationType::DeliveryDead => vec![
            text("delivery_id").map(|id| format!("Delivery: {id}")),
            text("event_type").map(|t| format!("Event type: {t}")),
            number("attempts").map(|n| format!("Attempts: {n}")),
            number("status_code").map(|s| format!("Last status: {s}")),
            text("error_kind").map(|k| format!("Last error: {k}")),
            Some("It is in the dead letters, from where it can be replayed.".into()),
        ],
        NotificationType::NotificationTest => {
            vec![Some(
                "This channel works: Warren can reach you here.".into(),
            )]
        }
    };
    lines.into_iter().flatten().collect()
}

/// A name fit for a subject line: no line breaks or other control characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::notifications::item::SubscriptionRef;

    fn message(kind: NotificationType, data: serde_json::Value) -> Message {
        Message {
            id: Uuid::now_v7(),
            kind,
            at: OffsetDateTime::now_utc(),
            subscription: Some(SubscriptionRef {
                id: Uuid::nil(),
                name: "orders\r\nBcc: someone@example.com".into(),
                target_url: "https://example.com/hook".into(),
            }),
            data,
        }
    }

    #[test]
    fn the_subject_names_the_subscription_and_what_happened_on_one_line() {
        let (subject, body) = compose(
            &message(
                NotificationType::SubscriptionDisabled,
                json!({"reason": "the target answered 410 Gone", "count": 1}),
            ),
            "https://warren.example",
        );
        assert_eq!(
            subject,
            "[Warren] Subscription \"orders  Bcc: someone@example.com\" was disabled"
        );
        assert!(body.contains("Why: the target answered 410 Gone"), "{body}");
        assert!(
            body.contains(
                "https://warren.example/subscriptions/00000000-0000-0000-0000-000000000000"
            ),
            "{body}"
        );
    }

    #[test]
    fn a_digest_says_how_many_times_it_happened() {
        let (subject, body) = compose(
            &message(
                NotificationType::DeliveryDead,
                json!({"count": 7, "attempts": 3}),
            ),
            "https://warren.example",
        );
        assert!(subject.ends_with("is dead (7 times)"), "{subject}");
        assert!(
            body.contains("7 times since the last notification"),
            "{body}"
        );
        assert!(body.contains("Attempts: 3"), "{body}");
    }
}
