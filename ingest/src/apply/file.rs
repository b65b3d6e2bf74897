//! The file `warren-ingest apply` reads (docs/configuration.md): its schema, parsed with
//! the line and column of each entry kept, so an error found later (a validation rule, a
//! missing variable) still names its place.

use std::{collections::BTreeMap, collections::HashSet, fmt::Display};

use anyhow::anyhow;
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};
use warren_shared::{
    model::{OnDead, Ordering, Provider},
    signing::SigningAlgorithm,
};

/// The whole file: one user's sources and subscriptions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The email of the (existing) account the file configures.
    pub owner: Spanned<String>,
    /// The sources, each named once.
    #[serde(default)]
    pub sources: Vec<Spanned<SourceSpec>>,
    /// The subscriptions, each named once.
    #[serde(default)]
    pub subscriptions: Vec<Spanned<SubscriptionSpec>>,
}

/// A source as the file describes it: the fields of `POST /api/v1/sources`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// What the source is matched by.
    pub name: String,
    /// Fixed once the source exists.
    pub provider: Provider,
    /// Absent: the stored secret stays as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_secret: Option<String>,
    /// Absent: no limit.
    #[serde(default)]
    pub rate_limit_per_sec: Option<i32>,
}

/// A subscription as the file describes it: the fields of `POST /api/v1/subscriptions`,
/// with `source` naming a source of the file instead of `source_id`. Absent fields take the
/// API's defaults.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// What the subscription is matched by.
    pub name: String,
    /// Where deliveries go.
    pub target_url: String,
    /// The name of the one source it takes events from; absent: every source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Exact types or prefixes ending in `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// Per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i32>,
    /// Before a delivery is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// Deliveries per second at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<i32>,
    /// A minijinja template for the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<String>,
    /// Sent with each delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Only events whose JSON payload contains this mapping (PostgreSQL's `@>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
    /// `parallel` or `fifo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<Ordering>,
    /// What a dead delivery does to a FIFO line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_dead: Option<OnDead>,
    /// JSON events in groups: `{max_events, max_wait_ms}`; absent: one event per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<serde_json::Value>,
    /// The kind of signing key, chosen at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<SigningAlgorithm>,
}

/// Parses the file; a malformed one, an unknown key or a value of the wrong type is an
/// error naming its line and column.
pub fn parse(text: &str) -> anyhow::Result<File> {
    let file: File = serde_saphyr::from_str(text).map_err(|error| {
        // The message's first line holds the place and the reason; the rest is a snippet of
        // the file, which may hold a secret.
        let message = error.to_string();
        let first = message.lines().next().unwrap_or_default();
        anyhow!("{}", first.strip_prefix("error: ").unwrap_or(first))
    })?;
    unique(&file.sources, "source", |s| &s.name)?;
    unique(&file.subscriptions, "subscription", |s| &s.name)?;
    Ok(file)
}

/// Names are what entries are matched by, so each is used once.
fn unique<T>(
    entries: &[Spanned<T>],
    kind: &str,
    name: impl Fn(&T) -> &String,
) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for entry in entries {
        let name = name(&entry.value);
        if !seen.insert(name) {
            return Err(at(
                entry.referenced,
                format!("a second {kind} named `{name}`; names must be unique in the file"),
            ));
        }
    }
    Ok(())
}

/// An error at a place in the file.
pub fn at(place: Location, message: impl Display) -> anyhow::Error {
    anyhow!("line {} column {}: {message}", place.line(), place.column())
}

/// Where an entry's text is: from its first line to the line before the next entry's.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    /// Where the entry starts.
    pub start: Location,
    /// The first line past it, if another entry follows.
    pub end: Option<u64>,
}

impl Extent {
    /// The extent of each entry of a list.
    pub fn of_each<T>(entries: &[Spanned<T>]) -> Vec<Extent> {
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| Extent {
                start: entry.referenced,
                end: entries.get(i + 1).map(|next| next.referenced.line()),
            })
            .collect()
    }

    /// An error at the first line of the entry holding `needle` (a key, a `${VAR}`), or at
    /// the entry's start when none does.
    pub fn error(&self, text: &str, needle: &str, message: impl Display) -> anyhow::Error {
        let first = self.start.line();
        let found = text
            .lines()
            .zip(1u64..)
            .skip_while(|(_, number)| *number < first)
            .take_while(|(_, number)| self.end.is_none_or(|end| *number < end))
            .find_map(|(line, number)| line.find(needle).map(|at| (number, at)));
        match found {
            Some((line, at)) => {
                let column = line_column(text, line, at);
                anyhow!("line {line} column {column}: {message}")
            }
            None => self::at(self.start, message),
        }
    }
}

/// The 1-based column, in characters, of byte `at` of line `line`.
fn line_column(text: &str, line: u64, at: usize) -> usize {
    let content = text
        .lines()
        .nth(usize::try_from(line - 1).unwrap_or(usize::MAX))
        .unwrap_or_default();
    content
        .get(..at)
        .map_or(1, |before| before.chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_names_its_line_and_column() {
        let text =
            "owner: a@example.com\nsources:\n  - name: x\n    provider: none\n    colour: red\n";
        let error = parse(text).expect_err("an error").to_string();
        assert!(
            error.starts_with("line 5 column 5: unknown field `colour`"),
            "{error}"
        );
    }

    #[test]
    fn a_second_entry_with_a_name_is_refused_at_its_line() {
        let text = "owner: a@example.com\nsources:\n  - name: x\n    provider: none\n  - name: x\n    provider: none\n";
        let error = parse(text).expect_err("an error").to_string();
        assert!(
            error.starts_with("line 5 column 5: a second source"),
            "{error}"
        );
    }

    #[test]
    fn an_error_inside_an_entry_points_at_the_line_holding_the_needle() {
        let text = "owner: a@example.com\nsources:\n  - name: x\n    provider: github\n    verification_secret: ${S}\n  - name: y\n    provider: none\n";
        let file = parse(text).expect("no error");
        let extents = Extent::of_each(&file.sources);
        let error = extents[0].error(text, "${S}", "missing").to_string();
        assert_eq!(error, "line 5 column 26: missing");
        let error = extents[1].error(text, "${S}", "missing").to_string();
        assert_eq!(error, "line 6 column 5: missing");
    }
}
