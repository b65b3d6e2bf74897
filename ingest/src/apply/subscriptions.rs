//! The file's subscriptions against the owner's: created and replaced with the API's own
//! functions ([`crate::subscriptions::insert`], [`crate::subscriptions::replace_row`]), so
//! the same rules and defaults hold. A change that restarts a FIFO line is left to the
//! outbox relay of a running ingest (this command holds no broker connection).

use std::collections::HashMap;

use serde_json::{Value, json};
use serde_saphyr::Spanned;
use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::signing::SigningSecret;

use super::{
    Action, Context, Step, api_input, changed_fields, expanded,
    file::{Extent, SubscriptionSpec, at},
    refused,
};
use crate::{
    lines,
    subscriptions::{self, COLUMNS, SubscriptionInput},
};

/// Creates or updates each subscription of the file; `sources` are the ids of the file's
/// sources by name.
pub(super) async fn apply(
    context: &Context<'_>,
    entries: &[Spanned<SubscriptionSpec>],
    sources: &HashMap<String, Uuid>,
) -> anyhow::Result<Vec<Step>> {
    let stored = stored(context).await?;
    let mut steps = Vec::with_capacity(entries.len());
    for (entry, extent) in entries.iter().zip(Extent::of_each(entries)) {
        let spec = &entry.value;
        let input = input(context, spec, sources, &extent)?;
        let step = match stored.get(&spec.name).map(Vec::as_slice) {
            None | Some([]) => create(context, spec, &input, &extent).await?,
            Some([one]) => update(context, one, spec, &input, &extent).await?,
            Some(many) => {
                return Err(at(
                    extent.start,
                    format!(
                        "the account has {} subscriptions named `{}`; rename all but one first",
                        many.len(),
                        spec.name
                    ),
                ));
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// The owner's subscriptions by name, as rows of [`COLUMNS`].
async fn stored(context: &Context<'_>) -> anyhow::Result<HashMap<String, Vec<Row>>> {
    let rows = context
        .tx
        .query(
            &format!("SELECT {COLUMNS} FROM subscriptions WHERE user_id = $1 ORDER BY id"),
            &[&context.owner],
        )
        .await?;
    let mut by_name: HashMap<String, Vec<Row>> = HashMap::new();
    for row in rows {
        by_name.entry(row.get("name")).or_default().push(row);
    }
    Ok(by_name)
}

/// The entry as the API's input: variables expanded, its source's name turned into an id,
/// read and defaulted as a POST body is.
fn input(
    context: &Context<'_>,
    spec: &SubscriptionSpec,
    sources: &HashMap<String, Uuid>,
    extent: &Extent,
) -> anyhow::Result<SubscriptionInput> {
    let mut value = expanded(context, spec, extent)?;
    if let Value::Object(fields) = &mut value
        && let Some(Value::String(source)) = fields.remove("source")
    {
        let id = sources.get(&source).ok_or_else(|| {
            extent.error(
                context.text,
                "source:",
                format!(
                    "subscription `{}`: no source named `{source}` in this file",
                    spec.name
                ),
            )
        })?;
        fields.insert("source_id".into(), json!(id));
    }
    api_input(&value, "subscription", &spec.name, extent, context.text)
}

async fn create(
    context: &Context<'_>,
    spec: &SubscriptionSpec,
    input: &SubscriptionInput,
    extent: &Extent,
) -> anyhow::Result<Step> {
    let refused = |e| refused(e, "subscription", &spec.name, extent, context.text);
    let secret = subscriptions::new_key(&context.settings.allow_target_cidrs, input)
        .await
        .map_err(refused)?;
    let row = subscriptions::insert(context.tx, context.settings, context.owner, input, &secret)
        .await
        .map_err(refused)?;
    Ok(step(Action::Create, &row, &spec.name, Vec::new()))
}

async fn update(
    context: &Context<'_>,
    stored: &Row,
    spec: &SubscriptionSpec,
    input: &SubscriptionInput,
    extent: &Extent,
) -> anyhow::Result<Step> {
    check_algorithm(context, stored, spec, extent)?;
    let current = SubscriptionInput::from_row(stored)
        .map_err(|e| refused(e, "subscription", &spec.name, extent, context.text))?;
    let changed = changed_fields(
        &serde_json::to_value(&current)?,
        &serde_json::to_value(input)?,
    );
    if changed.is_empty() {
        return Ok(step(Action::Unchanged, stored, &spec.name, changed));
    }
    let id: Uuid = stored.get("id");
    let (row, line) = subscriptions::replace_row(
        context.tx,
        &context.settings.allow_target_cidrs,
        context.owner,
        id,
        input,
    )
    .await
    .map_err(|e| refused(e, "subscription", &spec.name, extent, context.text))?;
    lines::hand_to_relay(context.tx, id, line)
        .await
        .map_err(|e| refused(e, "subscription", &spec.name, extent, context.text))?;
    Ok(step(Action::Update, &row, &spec.name, changed))
}

/// The kind of signing key is chosen at create; the file cannot change it later (the
/// rotate-secret route does, with an overlap receivers need).
fn check_algorithm(
    context: &Context<'_>,
    stored: &Row,
    spec: &SubscriptionSpec,
    extent: &Extent,
) -> anyhow::Result<()> {
    let Some(wanted) = spec.signing_algorithm else {
        return Ok(());
    };
    let current = SigningSecret::parse(stored.get("signing_secret"))?.algorithm();
    if current == wanted {
        return Ok(());
    }
    Err(extent.error(
        context.text,
        "signing_algorithm:",
        format!(
            "subscription `{}` signs with `{}`; the kind of key changes only by rotating it (POST /api/v1/subscriptions/{{id}}/rotate-secret)",
            spec.name,
            serde_json::to_value(current)?.as_str().unwrap_or_default()
        ),
    ))
}

fn step(action: Action, row: &Row, name: &str, changed: Vec<String>) -> Step {
    Step::of("subscription", action, row, name, changed)
}
