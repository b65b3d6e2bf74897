//! The file's sources against the owner's: created and patched with the API's own
//! functions ([`crate::sources::insert`], [`crate::sources::patch_row`]), so a source made
//! here has a token and an ingest URL like any other.

use std::collections::HashMap;

use serde_json::{Value, json};
use serde_saphyr::Spanned;
use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::model::Provider;

use super::{
    Action, Context, Step, api_input, expanded,
    file::{Extent, SourceSpec, at},
    refused,
};
use crate::{
    error::stored_word,
    sources::{self, NewSource, SourcePatch},
};

/// What the comparison needs of a stored source.
struct Stored {
    id: Uuid,
    provider: String,
    verification_secret: Option<String>,
    rate_limit_per_sec: Option<i32>,
}

/// Creates or updates each source of the file; returns the steps and each name's id.
pub(super) async fn apply(
    context: &Context<'_>,
    entries: &[Spanned<SourceSpec>],
) -> anyhow::Result<(Vec<Step>, HashMap<String, Uuid>)> {
    let stored = stored(context).await?;
    let mut steps = Vec::with_capacity(entries.len());
    for (entry, extent) in entries.iter().zip(Extent::of_each(entries)) {
        let step = match stored.get(&entry.value.name).map(Vec::as_slice) {
            None | Some([]) => create(context, &entry.value, &extent).await?,
            Some([one]) => update(context, one, &entry.value, &extent).await?,
            Some(many) => {
                return Err(at(
                    extent.start,
                    format!(
                        "the account has {} sources named `{}`; rename all but one first",
                        many.len(),
                        entry.value.name
                    ),
                ));
            }
        };
        steps.push(step);
    }
    let ids = steps.iter().map(|s| (s.name.clone(), s.id)).collect();
    Ok((steps, ids))
}

/// The owner's sources by name.
async fn stored(context: &Context<'_>) -> anyhow::Result<HashMap<String, Vec<Stored>>> {
    let rows = context
        .tx
        .query(
            "SELECT id, name, provider, verification_secret, rate_limit_per_sec
             FROM sources WHERE user_id = $1 ORDER BY id",
            &[&context.owner],
        )
        .await?;
    let mut by_name: HashMap<String, Vec<Stored>> = HashMap::new();
    for row in rows {
        by_name.entry(row.get("name")).or_default().push(Stored {
            id: row.get("id"),
            provider: row.get("provider"),
            verification_secret: row.get("verification_secret"),
            rate_limit_per_sec: row.get("rate_limit_per_sec"),
        });
    }
    Ok(by_name)
}

async fn create(context: &Context<'_>, spec: &SourceSpec, extent: &Extent) -> anyhow::Result<Step> {
    let value = expanded(context, spec, extent)?;
    let input: NewSource = api_input(&value, "source", &spec.name, extent, context.text)?;
    let row = sources::insert(context.tx, context.settings, context.owner, &input)
        .await
        .map_err(|e| refused(e, "source", &spec.name, extent, context.text))?;
    Ok(step(Action::Create, &row, &spec.name, Vec::new()))
}

async fn update(
    context: &Context<'_>,
    stored: &Stored,
    spec: &SourceSpec,
    extent: &Extent,
) -> anyhow::Result<Step> {
    let value = expanded(context, spec, extent)?;
    let wanted: SourceSpec = serde_json::from_value(value)?;
    let provider: Provider = stored_word(&stored.provider)?;
    if wanted.provider != provider {
        return Err(extent.error(
            context.text,
            "provider:",
            format!(
                "source `{}` exists with provider `{provider}`, which cannot change; delete it or give the new one another name",
                spec.name
            ),
        ));
    }
    let patch = patch(stored, &wanted);
    let changed: Vec<String> = patch.keys().cloned().collect();
    if changed.is_empty() {
        return Ok(Step {
            action: Action::Unchanged,
            kind: "source",
            name: spec.name.clone(),
            id: stored.id,
            changed,
        });
    }
    let patch: SourcePatch = api_input(
        &Value::Object(patch),
        "source",
        &spec.name,
        extent,
        context.text,
    )?;
    let row = sources::patch_row(context.tx, context.owner, stored.id, &patch)
        .await
        .map_err(|e| refused(e, "source", &spec.name, extent, context.text))?;
    Ok(step(Action::Update, &row, &spec.name, changed))
}

/// The fields of `wanted` that differ from what is stored, as a PATCH body. An absent
/// verification secret keeps the stored one (the API cannot remove one either).
fn patch(stored: &Stored, wanted: &SourceSpec) -> serde_json::Map<String, Value> {
    let mut patch = serde_json::Map::new();
    if let Some(secret) = &wanted.verification_secret
        && stored.verification_secret.as_ref() != Some(secret)
    {
        patch.insert("verification_secret".into(), json!(secret));
    }
    if stored.rate_limit_per_sec != wanted.rate_limit_per_sec {
        patch.insert(
            "rate_limit_per_sec".into(),
            json!(wanted.rate_limit_per_sec),
        );
    }
    patch
}

fn step(action: Action, row: &Row, name: &str, changed: Vec<String>) -> Step {
    Step::of("source", action, row, name, changed)
}
