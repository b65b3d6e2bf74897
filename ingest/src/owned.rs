//! The rows a user owns, read by one rule: a row is the caller's when its `user_id` is, and
//! someone else's row is as absent as a missing one (404). Listed a page at a time, newest
//! first; checked; deleted.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{
    error::{ApiError, Result, found},
    pagination::Page,
};

/// A table whose rows belong to a user by their `user_id`, with a UUIDv7 `id`.
#[derive(Debug, Clone, Copy)]
pub struct Owned {
    /// The table.
    pub table: &'static str,
    /// What a listing selects.
    pub columns: &'static str,
}

impl Owned {
    /// One page of the user's rows, newest first (`page.fetch()` rows at most).
    pub async fn page(
        &self,
        client: &impl GenericClient,
        user_id: Uuid,
        page: &Page,
    ) -> Result<Vec<Row>> {
        let sql = format!(
            "SELECT {} FROM {} WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            self.columns, self.table
        );
        Ok(client
            .query(&sql, &[&user_id, &page.before_or_max(), &page.fetch()])
            .await?)
    }

    /// Deletes the user's row `id` (404 when they have none by that id); a database refusal
    /// becomes the answer `refused` makes of it.
    pub async fn delete(
        &self,
        client: &impl GenericClient,
        user_id: Uuid,
        id: Uuid,
        refused: impl FnOnce(tokio_postgres::Error) -> ApiError,
    ) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE id = $1 AND user_id = $2", self.table);
        let deleted = client
            .execute(&sql, &[&id, &user_id])
            .await
            .map_err(refused)?;
        found(deleted)
    }
}

/// 404 unless the user owns row `id` of `table` (a table of [`Owned`] rows; by name, so that
/// a module checking another's rows need not import it).
pub async fn check(
    client: &impl GenericClient,
    table: &'static str,
    user_id: Uuid,
    id: Uuid,
) -> Result<()> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1 AND user_id = $2");
    match client.query_opt(&sql, &[&id, &user_id]).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound),
    }
}
