//! Rows written straight into Warren's tables with binary `COPY`, shaped as Warren writes
//! them (see `migrations/`): whose rows they are, each table's columns and their types,
//! the writer both seeders copy through, and the event, delivery and attempt rows they
//! write. A row's values come as an array as long as its table has columns, so a row can
//! only be copied into a table of its shape.

use std::pin::Pin;

use anyhow::Context;
use time::OffsetDateTime;
use tokio_postgres::{
    Client,
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};
use uuid::Uuid;

/// Whose rows these are.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// The user.
    pub user_id: Uuid,
    /// The source the events came through.
    pub source_id: Uuid,
    /// The subscription the deliveries belong to.
    pub subscription_id: Uuid,
}

/// A table rows are copied into: its name and its `N` columns, each with its type, in the
/// order a row gives their values.
pub struct Table<const N: usize> {
    /// The table.
    name: &'static str,
    /// Its columns written, and their types.
    columns: [(&'static str, Type); N],
}

impl<const N: usize> Table<N> {
    /// `COPY name (columns) FROM STDIN (FORMAT binary)`.
    fn statement(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            self.name,
            columns.join(", ")
        )
    }

    /// The columns' types.
    fn types(&self) -> Vec<Type> {
        self.columns.iter().map(|(_, kind)| kind.clone()).collect()
    }
}

/// `events`, every column an event has when ingest has written it.
pub static EVENTS: Table<11> = Table {
    name: "events",
    columns: [
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("source_id", Type::UUID),
        ("event_type", Type::TEXT),
        ("content_type", Type::TEXT),
        ("raw_body", Type::BYTEA),
        ("payload", Type::JSONB),
        ("idempotency_scope", Type::UUID),
        ("body_sha256", Type::BYTEA),
        ("initial_deliveries", Type::INT4),
        ("received_at", Type::TIMESTAMPTZ),
    ],
};

/// `deliveries`, every column a delivery has once the worker has tried it.
pub static DELIVERIES: Table<14> = Table {
    name: "deliveries",
    columns: [
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("event_id", Type::UUID),
        ("subscription_id", Type::UUID),
        ("status", Type::TEXT),
        ("attempt_count", Type::INT4),
        ("next_attempt_at", Type::TIMESTAMPTZ),
        ("enqueued", Type::BOOL),
        ("last_status_code", Type::INT4),
        ("last_error_kind", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
        ("succeeded_at", Type::TIMESTAMPTZ),
        ("dead_at", Type::TIMESTAMPTZ),
    ],
};

/// `delivery_attempts`, every column the worker writes for an attempt.
pub static ATTEMPTS: Table<10> = Table {
    name: "delivery_attempts",
    columns: [
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("delivery_id", Type::UUID),
        ("subscription_id", Type::UUID),
        ("attempt", Type::INT4),
        ("started_at", Type::TIMESTAMPTZ),
        ("duration_ms", Type::INT4),
        ("status_code", Type::INT4),
        ("error_kind", Type::TEXT),
        ("response_excerpt", Type::TEXT),
    ],
};

/// One `COPY` under way: rows go in one at a time, and [`CopyIn::finish`] commits them.
pub struct CopyIn<const N: usize> {
    name: &'static str,
    writer: Pin<Box<BinaryCopyInWriter>>,
}

impl<const N: usize> CopyIn<N> {
    /// Starts copying into `table`.
    pub async fn start(client: &Client, table: &Table<N>) -> anyhow::Result<Self> {
        let sink = client
            .copy_in(&table.statement())
            .await
            .with_context(|| format!("copying {}", table.name))?;
        Ok(Self {
            name: table.name,
            writer: Box::pin(BinaryCopyInWriter::new(sink, &table.types())),
        })
    }

    /// Writes one row.
    pub async fn row(&mut self, values: [&(dyn ToSql + Sync); N]) -> anyhow::Result<()> {
        self.writer
            .as_mut()
            .write(&values)
            .await
            .with_context(|| format!("copying {}", self.name))
    }

    /// Ends the `COPY`; returns the rows it wrote.
    pub async fn finish(mut self) -> anyhow::Result<u64> {
        self.writer
            .as_mut()
            .finish()
            .await
            .with_context(|| format!("copying {}", self.name))
    }
}

/// An event as ingest writes one: JSON, one delivery promised, its idempotency scope its
/// source.
pub struct Event<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its user and source.
    pub owner: &'a Owner,
    /// Its type.
    pub event_type: &'a str,
    /// Its body as received.
    pub body: &'a [u8],
    /// Its body parsed.
    pub payload: &'a serde_json::Value,
    /// The SHA-256 of its body.
    pub body_sha256: &'a [u8],
    /// When it was received.
    pub received_at: OffsetDateTime,
}

impl Event<'_> {
    /// Its row of [`EVENTS`].
    pub fn values(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.id,
            &self.owner.user_id,
            &self.owner.source_id,
            &self.event_type,
            &"application/json",
            &self.body,
            self.payload,
            &self.owner.source_id,
            &self.body_sha256,
            &1i32,
            &self.received_at,
        ]
    }
}

/// A delivery of an event to the owner's subscription.
pub struct Delivery<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its user and subscription.
    pub owner: &'a Owner,
    /// The event it delivers.
    pub event_id: Uuid,
    /// `pending`, `retrying`, `held`, `succeeded` or `dead`.
    pub status: &'a str,
    /// Attempts made.
    pub attempt_count: i32,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Whether the broker holds the envelope of its next attempt.
    pub enqueued: bool,
    /// The last attempt's HTTP status, if it got one.
    pub last_status_code: Option<i32>,
    /// The last attempt's failure, if it failed.
    pub last_error_kind: Option<&'a str>,
    /// When it was created (its event's time).
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When it succeeded, if it did.
    pub succeeded_at: Option<OffsetDateTime>,
    /// When it was given up on, if it was.
    pub dead_at: Option<OffsetDateTime>,
}

impl Delivery<'_> {
    /// Its row of [`DELIVERIES`].
    pub fn values(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.id,
            &self.owner.user_id,
            &self.event_id,
            &self.owner.subscription_id,
            &self.status,
            &self.attempt_count,
            &self.next_attempt_at,
            &self.enqueued,
            &self.last_status_code,
            &self.last_error_kind,
            &self.created_at,
            &self.updated_at,
            &self.succeeded_at,
            &self.dead_at,
        ]
    }
}

/// An attempt of a delivery: its response excerpt `ok`, or `internal error` when it failed.
pub struct Attempt<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its user and subscription.
    pub owner: &'a Owner,
    /// The delivery it attempted.
    pub delivery_id: Uuid,
    /// Which attempt of the delivery it was, from 1.
    pub number: i32,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// How long it took.
    pub duration_ms: i32,
    /// The HTTP status it got.
    pub status_code: i32,
    /// Its failure, if it failed.
    pub error_kind: Option<&'a str>,
}

impl Attempt<'_> {
    /// Its row of [`ATTEMPTS`].
    pub fn values(&self) -> [&(dyn ToSql + Sync); 10] {
        let excerpt: &(dyn ToSql + Sync) = match self.error_kind {
            Some(_) => &"internal error",
            None => &"ok",
        };
        [
            &self.id,
            &self.owner.user_id,
            &self.delivery_id,
            &self.owner.subscription_id,
            &self.number,
            &self.started_at,
            &self.duration_ms,
            &self.status_code,
            &self.error_kind,
            excerpt,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_copies_its_columns_in_order() {
        assert_eq!(
            ATTEMPTS.statement(),
            "COPY delivery_attempts (id, user_id, delivery_id, subscription_id, attempt, \
             started_at, duration_ms, status_code, error_kind, response_excerpt) \
             FROM STDIN (FORMAT binary)"
        );
        assert_eq!(EVENTS.types()[6], Type::JSONB);
    }
}
