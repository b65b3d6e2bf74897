//! `warren-ingest apply FILE`: one user's sources and subscriptions, declared in a YAML file
//! (docs/configuration.md), created and updated through the same code as the API's, in one
//! transaction. Entries are matched by name, so a second run changes nothing and keeps every
//! id; `--prune` deletes what the file no longer names; `--dry-run` rolls it all back.

mod env;
mod file;
mod sources;
mod subscriptions;

use std::{fmt, path::PathBuf};

use anyhow::Context as _;
use deadpool_postgres::Transaction;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use serde_saphyr::Spanned;
use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::db::{self, Commits};

use crate::{config::Settings, error::ApiError};
use file::Extent;

/// What to apply, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The YAML file.
    pub file: PathBuf,
    /// Also delete the owner's sources and subscriptions the file does not name.
    pub prune: bool,
    /// Work out and print the plan, then roll everything back.
    pub dry_run: bool,
}

/// What was done (or, on a dry run, would be) to one source or subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Create, update, delete or leave as it is.
    pub action: Action,
    /// `source` or `subscription`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Its id (that of the new one for a create).
    pub id: Uuid,
    /// The fields an update changes (secrets by name only).
    pub changed: Vec<String>,
}

impl Step {
    /// What `action` does to the stored `row` (its id) of a `kind`, named `name`.
    fn of(kind: &'static str, action: Action, row: &Row, name: &str, changed: Vec<String>) -> Self {
        Self {
            action,
            kind,
            name: name.to_owned(),
            id: row.get("id"),
            changed,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// New in the file.
    Create,
    /// In the file and stored, differently.
    Update,
    /// Stored, not in the file (with `--prune`).
    Delete,
    /// In the file and stored the same.
    Unchanged,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        };
        write!(f, "{action} {} `{}` ({})", self.kind, self.name, self.id)?;
        if !self.changed.is_empty() {
            write!(f, ": {}", self.changed.join(", "))?;
        }
        Ok(())
    }
}

/// One line counting the steps by action, saying whether anything was changed.
pub fn summary(steps: &[Step], dry_run: bool) -> String {
    let count = |action| steps.iter().filter(|s| s.action == action).count();
    let (create, update, delete, same) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Delete),
        count(Action::Unchanged),
    );
    if dry_run {
        format!(
            "dry run: would create {create}, update {update}, delete {delete}; {same} unchanged; nothing was changed"
        )
    } else {
        format!("applied: created {create}, updated {update}, deleted {delete}; {same} unchanged")
    }
}

/// Reads a variable of the environment (the process's, or a test's).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What every step reads: the open transaction, the owner, the file's text.
struct Context<'a> {
    tx: &'a Transaction<'a>,
    settings: &'a Settings,
    owner: Uuid,
    text: &'a str,
    lookup: Lookup<'a>,
}

/// Applies `options.file` to the database `settings` names (migrating it first, as the
/// services do at start-up), with the API's rules and quotas as `settings` sets them.
/// Returns the steps, in order; on any error nothing is changed.
pub async fn run(
    settings: &Settings,
    options: &Options,
    lookup: Lookup<'_>,
) -> anyhow::Result<Vec<Step>> {
    let path = options.file.display();
    let text = std::fs::read_to_string(&options.file).with_context(|| format!("reading {path}"))?;
    let file = file::parse(&text).with_context(|| path.to_string())?;
    db::migrate(&settings.database).await?;
    let pool = db::pool(&settings.database, Commits::Durable)?;
    let mut client = pool.get().await.context("connecting to PostgreSQL")?;
    let tx = client.transaction().await?;
    let owner = owner(&tx, &file.owner, &text, lookup)
        .await
        .with_context(|| path.to_string())?;
    let context = Context {
        tx: &tx,
        settings,
        owner,
        text: &text,
        lookup,
    };
    let steps = reconcile(&context, &file, options.prune)
        .await
        .with_context(|| path.to_string())?;
    if options.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await.context("committing")?;
    }
    Ok(steps)
}

/// Every step, sources first (subscriptions name them), deletions last.
async fn reconcile(
    context: &Context<'_>,
    file: &file::File,
    prune: bool,
) -> anyhow::Result<Vec<Step>> {
    let (mut steps, source_ids) = sources::apply(context, &file.sources).await?;
    steps.extend(subscriptions::apply(context, &file.subscriptions, &source_ids).await?);
    if prune {
        let kept: Vec<Uuid> = steps.iter().map(|step| step.id).collect();
        // Subscriptions first (they name sources), with their delivery history, as the
        // API's DELETE does.
        steps.extend(delete_unnamed(context, "subscriptions", "subscription", &kept).await?);
        steps.extend(delete_unnamed(context, "sources", "source", &kept).await?);
    }
    Ok(steps)
}

/// Deletes the owner's rows of `table` (each a `kind`) that `kept` does not name.
async fn delete_unnamed(
    context: &Context<'_>,
    table: &str,
    kind: &'static str,
    kept: &[Uuid],
) -> anyhow::Result<Vec<Step>> {
    let rows = context
        .tx
        .query(
            &format!(
                "DELETE FROM {table} WHERE user_id = $1 AND NOT (id = ANY($2)) RETURNING id, name"
            ),
            &[&context.owner, &kept],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Step::of(kind, Action::Delete, row, row.get("name"), Vec::new()))
        .collect())
}

/// The owner's id, its row locked against another apply until the transaction ends (API
/// writes are not held up: they take a weaker lock).
async fn owner(
    tx: &Transaction<'_>,
    owner: &Spanned<String>,
    text: &str,
    lookup: Lookup<'_>,
) -> anyhow::Result<Uuid> {
    let extent = Extent {
        start: owner.referenced,
        end: Some(owner.referenced.line() + 1),
    };
    let email = env::expand(&owner.value, lookup)
        .map_err(|e| extent.error(text, &e.needle(), &e))?
        .trim()
        .to_lowercase();
    let row = tx
        .query_opt(
            "SELECT id, disabled_at IS NOT NULL AS disabled FROM users WHERE email = $1
             FOR NO KEY UPDATE",
            &[&email],
        )
        .await?;
    match row {
        Some(row) if row.get("disabled") => Err(file::at(
            owner.referenced,
            format!("the account `{email}` is disabled; an operator can enable it"),
        )),
        Some(row) => Ok(row.get("id")),
        None => Err(file::at(
            owner.referenced,
            format!("no account has the email `{email}`"),
        )),
    }
}

/// An entry with every `${VAR}` expanded, as JSON for the API's input types.
fn expanded<T: Serialize>(
    context: &Context<'_>,
    spec: &T,
    extent: &Extent,
) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(spec)?;
    env::expand_all(&mut value, context.lookup)
        .map_err(|e| extent.error(context.text, &e.needle(), &e))?;
    Ok(value)
}

/// Reads an API input type from an entry's JSON as the API reads a body.
fn api_input<T: DeserializeOwned>(
    value: &Value,
    kind: &str,
    name: &str,
    extent: &Extent,
    text: &str,
) -> anyhow::Result<T> {
    let bytes = serde_json::to_vec(value)?;
    crate::extract::parse_json(&bytes).map_err(|e| refused(e, kind, name, extent, text))
}

/// An API error as a one-line error at the entry, or at the line of the field it names.
fn refused(error: ApiError, kind: &str, name: &str, extent: &Extent, text: &str) -> anyhow::Error {
    match error {
        ApiError::Validation(fields) => {
            let needle = fields
                .first()
                .map(|f| format!("{}:", f.field))
                .unwrap_or_default();
            let reasons: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            let message = format!("{kind} `{name}`: {}", reasons.join("; "));
            extent.error(text, &needle, message)
        }
        ApiError::Conflict(reason)
        | ApiError::Unprocessable(reason)
        | ApiError::BadRequest(reason) => {
            file::at(extent.start, format!("{kind} `{name}`: {reason}"))
        }
        other => anyhow::Error::new(other).context(format!("{kind} `{name}`")),
    }
}

/// The names of the top-level fields whose values differ between two JSON objects.
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return vec!["(everything)".to_owned()];
    };
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}
