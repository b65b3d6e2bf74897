//! Quotas: how many sources and subscriptions one user may have (`WARREN_MAX_SOURCES_PER_USER`,
//! `WARREN_MAX_SUBSCRIPTIONS_PER_USER`). Creating one more is 403 naming the limit.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::{
    config::Settings,
    error::{ApiError, Result},
};

/// What a quota bounds.
#[derive(Debug, Clone, Copy)]
pub enum Quota {
    /// Sources per user.
    Sources,
    /// Subscriptions per user.
    Subscriptions,
}

impl Quota {
    /// The table counted and the setting that bounds it.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Quota::Sources => ("sources", "WARREN_MAX_SOURCES_PER_USER"),
            Quota::Subscriptions => ("subscriptions", "WARREN_MAX_SUBSCRIPTIONS_PER_USER"),
        }
    }

    fn limit(self, settings: &Settings) -> u32 {
        match self {
            Quota::Sources => settings.max_sources_per_user,
            Quota::Subscriptions => settings.max_subscriptions_per_user,
        }
    }
}

/// 403 unless `user_id` may create one more of what `quota` bounds. Call it inside the
/// transaction that inserts the row: it locks the user's row (`FOR NO KEY UPDATE`, which the
/// foreign-key checks of other inserts do not wait for), so two creations of one user take
/// turns and the second counts the first.
pub async fn admit(
    tx: &impl GenericClient,
    settings: &Settings,
    user_id: Uuid,
    quota: Quota,
) -> Result<()> {
    let (table, setting) = quota.names();
    let limit = quota.limit(settings);
    tx.execute(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&user_id],
    )
    .await?;
    let count: i64 = tx
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE user_id = $1"),
            &[&user_id],
        )
        .await?
        .get(0);
    if count >= i64::from(limit) {
        return Err(ApiError::Forbidden(format!(
            "you have {count} {table}, the most this instance allows ({setting}={limit}); delete one first"
        )));
    }
    Ok(())
}
