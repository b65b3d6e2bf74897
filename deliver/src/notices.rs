//! What the worker tells owners about (through `warren_shared::notify`): a circuit that
//! opened, closed again, or a subscription disabled, raised in the transaction that moves the
//! breaker; and a delivery that ran out of attempts, raised once its death is recorded.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use serde_json::json;
use uuid::Uuid;
use warren_shared::{
    model::{CircuitState, NotificationType},
    notify::{self, Occurrence},
};

use crate::{
    circuit::{Breaker, Transition},
    http::AttemptResult,
    store::Job,
};

/// What one breaker step tells its owner, if anything: a disabling (the subscription was
/// active), else a circuit that opened from closed, or one that closed from open or half-open.
pub fn of_transition(
    subscription_id: Uuid,
    before: &Breaker,
    transition: &Transition,
) -> Option<Occurrence> {
    let after = transition.breaker.state;
    let (kind, data) = match (&transition.disable, before.state, after) {
        (Some(reason), _, _) => (
            NotificationType::SubscriptionDisabled,
            json!({"reason": reason}),
        ),
        (None, CircuitState::Closed, CircuitState::Open) => (
            NotificationType::SubscriptionCircuitOpened,
            json!({"consecutive_failures": transition.breaker.failures}),
        ),
        (None, CircuitState::Open | CircuitState::HalfOpen, CircuitState::Closed) => (
            NotificationType::SubscriptionRecovered,
            json!({"reason": "circuit_closed"}),
        ),
        _ => return None,
    };
    Some(Occurrence::new(subscription_id, kind, data))
}

/// Raises the occurrences of a group's breaker steps in its transaction, before the group's
/// breakers are stored, so a transition and the notification about it commit together. A
/// disabling is told once: only for a subscription still active before the group (steps
/// that finish after the first disabling disable it again), and once per group.
pub async fn raise_transitions(
    client: &impl GenericClient,
    mut occurrences: Vec<Occurrence>,
    min_interval: Duration,
) -> Result<(), tokio_postgres::Error> {
    let disabled = |o: &Occurrence| o.kind == NotificationType::SubscriptionDisabled;
    if occurrences.iter().any(disabled) {
        let ids: Vec<Uuid> = occurrences.iter().map(|o| o.subscription_id).collect();
        let active: Vec<Uuid> = client
            .query(
                "SELECT id FROM subscriptions WHERE id = ANY($1) AND is_active",
                &[&ids],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        occurrences.retain(|o| !disabled(o) || active.contains(&o.subscription_id));
        occurrences.sort_by_key(|o| (o.subscription_id, o.kind.as_str()));
        occurrences
            .dedup_by(|a, b| disabled(a) && disabled(b) && a.subscription_id == b.subscription_id);
    }
    notify::raise_all(client, &mut occurrences, min_interval).await
}

/// Raises `delivery.dead` for a delivery whose last attempt was just recorded. A failure is
/// logged, never the delivery's: its death is recorded already.
pub async fn delivery_dead(
    pool: &Pool,
    min_interval: Duration,
    job: &Job,
    attempt: u32,
    result: &AttemptResult,
) {
    let data = json!({
        "delivery_id": job.delivery_id,
        "event_id": job.event_id,
        "event_type": job.event.event_type,
        "attempts": attempt,
        "status_code": result.status_code,
        "error_kind": result.error_kind.map(|k| k.as_str()),
    });
    let occurrence = Occurrence::new(job.subscription_id, NotificationType::DeliveryDead, data);
    let raised = async {
        let client = pool.get().await?;
        notify::raise(&client, &occurrence, min_interval).await?;
        Ok::<_, crate::error::Error>(())
    };
    if let Err(error) = raised.await {
        tracing::warn!(error = error.chain(), "delivery.dead could not be raised");
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn breaker(state: CircuitState, failures: u32) -> Breaker {
        Breaker {
            state,
            opened_at: (state != CircuitState::Closed).then(OffsetDateTime::now_utc),
            failures,
            successes: 0,
        }
    }

    fn kind_of(before: Breaker, after: Breaker, disable: Option<&str>) -> Option<NotificationType> {
        let transition = Transition {
            breaker: after,
            disable: disable.map(str::to_owned),
        };
        of_transition(Uuid::now_v7(), &before, &transition).map(|o| o.kind)
    }

    #[test]
    fn opening_from_closed_disabling_and_closing_again_are_told_and_nothing_else() {
        use CircuitState::{Closed, HalfOpen, Open};
        assert_eq!(
            kind_of(breaker(Closed, 4), breaker(Open, 5), None),
            Some(NotificationType::SubscriptionCircuitOpened)
        );
        assert_eq!(
            kind_of(breaker(Closed, 0), breaker(Open, 1), Some("410")),
            Some(NotificationType::SubscriptionDisabled)
        );
        assert_eq!(
            kind_of(breaker(HalfOpen, 0), breaker(Closed, 0), None),
            Some(NotificationType::SubscriptionRecovered)
        );
        assert_eq!(
            kind_of(breaker(Open, 5), breaker(Closed, 0), None),
            Some(NotificationType::SubscriptionRecovered)
        );
        assert_eq!(kind_of(breaker(HalfOpen, 5), breaker(Open, 6), None), None);
        assert_eq!(kind_of(breaker(Closed, 1), breaker(Closed, 2), None), None);
        assert_eq!(kind_of(breaker(Open, 0), breaker(HalfOpen, 0), None), None);
    }
}
