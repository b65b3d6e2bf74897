//! Domain vocabulary shared by both services: the closed sets of words stored as text in
//! PostgreSQL and written as strings in the API.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Declares an enum stored and serialized as one of a fixed set of snake_case words. Its
/// OpenAPI schema is written here, not derived: utoipa's derive does not see a `rename`
/// given through a macro, and would list the variants' Rust names.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialized word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord { kind: stringify!($name), word: text.to_owned() }),
                }
            }
        }
    };
}

/// A word that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not a valid {kind}")]
pub struct UnknownWord {
    /// The enum's name.
    pub kind: &'static str,
    /// The word given.
    pub word: String,
}

text_enum! {
    /// Where a delivery stands.
    DeliveryStatus {
        /// Waiting for its next attempt, none failed yet (or just replayed).
        Pending => "pending",
        /// At least one attempt failed; another is scheduled.
        Retrying => "retrying",
        /// A 2xx was received.
        Succeeded => "succeeded",
        /// Out of attempts (or the subscription refused it); replayable.
        Dead => "dead",
        /// Kept while its subscription is not active (paused or disabled), never attempted;
        /// enabling the subscription releases or discards it.
        Held => "held",
        /// Held, then discarded when its subscription was enabled: never attempted, not a
        /// dead letter.
        Discarded => "discarded",
    }
}

text_enum! {
    /// How a source's events are verified.
    Provider {
        /// `Stripe-Signature`.
        Stripe => "stripe",
        /// `X-Hub-Signature-256`.
        Github => "github",
        /// `X-Shopify-Hmac-Sha256`.
        Shopify => "shopify",
        /// `webhook-id` / `webhook-timestamp` / `webhook-signature`.
        StandardWebhooks => "standard_webhooks",
        /// `X-Signature: sha256=<hex>`.
        HmacSha256 => "hmac_sha256",
        /// No verification.
        None => "none",
    }
}

text_enum! {
    /// A subscription's circuit breaker.
    CircuitState {
        /// Deliveries flow.
        Closed => "closed",
        /// Too many failures: nothing is sent until the recovery time passes.
        Open => "open",
        /// One probe is allowed through.
        HalfOpen => "half_open",
    }
}

text_enum! {
    /// Whether a subscription's deliveries keep their events' order.
    #[derive(Default)]
    Ordering {
        /// Deliveries run concurrently.
        #[default]
        None => "none",
        /// One at a time, in commit order.
        Fifo => "fifo",
    }
}

text_enum! {
    /// What a FIFO subscription does when its head delivery goes dead.
    #[derive(Default)]
    OnDead {
        /// Carry on with the next delivery.
        #[default]
        Skip => "skip",
        /// Stop until the dead one is replayed or discarded.
        Pause => "pause",
    }
}

text_enum! {
    /// Why an attempt failed.
    ErrorKind {
        /// The receiver answered with a non-2xx status.
        HttpStatus => "http_status",
        /// No complete answer within the subscription's timeout.
        Timeout => "timeout",
        /// The connection could not be made (refused, reset, DNS).
        Connect => "connect",
        /// The TLS handshake failed.
        Tls => "tls",
        /// The receiver answered with a redirect, which is never followed.
        Redirect => "redirect",
        /// The target resolved to an address the SSRF guard refuses.
        SsrfBlocked => "ssrf_blocked",
        /// The answer's body could not be read.
        Body => "body",
        /// The subscription's payload template could not be rendered.
        Template => "template",
    }
}

text_enum! {
    /// What an account may do.
    Role {
        /// Manages its own sources and subscriptions.
        User => "user",
        /// Also sees what is every tenant's (the broker's queues); the first account.
        Operator => "operator",
    }
}

text_enum! {
    /// What a notification tells its owner.
    NotificationType {
        /// Many of a subscription's recent attempts failed (at least 10 in 15 min, under half
        /// of them successful).
        SubscriptionFailing => "subscription.failing",
        /// A subscription's circuit opened: its deliveries wait.
        SubscriptionCircuitOpened => "subscription.circuit_opened",
        /// Warren disabled a subscription (a 410, or a long run of failures).
        SubscriptionDisabled => "subscription.disabled",
        /// A subscription's circuit closed again, or it was enabled again.
        SubscriptionRecovered => "subscription.recovered",
        /// A delivery ran out of attempts.
        DeliveryDead => "delivery.dead",
        /// A test a user asked for, to one channel.
        NotificationTest => "notification.test",
    }
}

text_enum! {
    /// How a notification channel reaches its owner.
    ChannelKind {
        /// A POST signed with Standard Webhooks.
        Webhook => "webhook",
        /// A plain-text mail through the instance's SMTP server.
        Email => "email",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_text_and_json() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(*status));
            let json = serde_json::to_string(status).expect("serializes");
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!("half_open".parse(), Ok(CircuitState::HalfOpen));
    }

    #[test]
    fn the_openapi_schema_lists_the_words_sent() {
        let schema = serde_json::to_value(<Provider as utoipa::PartialSchema>::schema())
            .expect("serializes");
        assert_eq!(schema["type"], "string");
        let words: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(schema["enum"], serde_json::json!(words));
    }

    #[test]
    fn an_unknown_word_names_what_it_should_have_been() {
        let error = "paused"
            .parse::<DeliveryStatus>()
            .expect_err("not a status");
        assert_eq!(error.to_string(), "`paused` is not a valid DeliveryStatus");
    }
}
