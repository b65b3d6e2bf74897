//! Payload filters: whether an event's JSON payload contains a subscription's filter, decided
//! exactly as PostgreSQL's `jsonb @> jsonb` decides it, so that ingest (which matches in Rust)
//! and the replays and searches (which match in SQL) agree on every event.
//!
//! The rules (PostgreSQL's `JsonbDeepContains`): an object contains another when it has each
//! of its keys with a value that contains the other's; an array contains another when each
//! element of the other is contained in some element of it (order and repeats ignored);
//! scalars contain only an equal scalar of the same kind, numbers compared by value (`1` and
//! `1.0` are equal); a value of one kind never contains a value of another. PostgreSQL's one
//! exception, a top-level array containing a bare scalar, cannot arise: filters are objects.

mod number;
mod parse;

use std::collections::BTreeMap;

pub use number::Number;
pub use parse::parse;

/// A JSON document as containment compares it: numbers kept exact, an object's keys unique
/// (the last of a repeated key wins, as in `jsonb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exact.
    Number(Number),
    /// A string, unescaped.
    String(String),
    /// An array, in order.
    Array(Vec<Json>),
    /// An object.
    Object(BTreeMap<String, Json>),
}

/// Whether `document` contains `filter`, as `document::jsonb @> filter::jsonb` answers in
/// PostgreSQL (for a `filter` that is an object or an array).
pub fn contains(document: &Json, filter: &Json) -> bool {
    match (document, filter) {
        (Json::Object(document), Json::Object(filter)) => filter
            .iter()
            .all(|(key, wanted)| document.get(key).is_some_and(|had| contains(had, wanted))),
        (Json::Array(document), Json::Array(filter)) => filter
            .iter()
            .all(|wanted| document.iter().any(|had| contains(had, wanted))),
        (Json::Object(_) | Json::Array(_), _) | (_, Json::Object(_) | Json::Array(_)) => false,
        (scalar, wanted) => scalar == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        parse(text.as_bytes()).expect("test JSON")
    }

    fn holds(document: &str, filter: &str) -> bool {
        contains(&json(document), &json(filter))
    }

    #[test]
    fn an_object_contains_a_subset_of_its_keys_at_any_depth() {
        let event = r#"{"type": "x", "customer": {"id": "cus_1", "plan": "pro"}}"#;
        assert!(holds(event, r#"{"customer": {"id": "cus_1"}}"#));
        assert!(holds(event, "{}"));
        assert!(!holds(event, r#"{"customer": {"id": "cus_2"}}"#));
        assert!(!holds(event, r#"{"customer": {"email": "a@b"}}"#));
        assert!(!holds(event, r#"{"customer": "cus_1"}"#));
    }

    #[test]
    fn an_array_contains_each_element_somewhere_ignoring_order_and_repeats() {
        let event = r#"{"tags": ["a", "b", {"k": 1, "j": 2}], "n": [[1, 2]]}"#;
        assert!(holds(event, r#"{"tags": ["b", "a", "b"]}"#));
        assert!(holds(event, r#"{"tags": [{"k": 1}]}"#));
        assert!(holds(event, r#"{"tags": []}"#));
        assert!(holds(event, r#"{"n": [[2]]}"#));
        assert!(!holds(event, r#"{"tags": ["c"]}"#));
        assert!(!holds(event, r#"{"tags": "a"}"#));
        assert!(!holds(event, r#"{"n": [1]}"#));
    }

    #[test]
    fn numbers_are_equal_by_value_and_kinds_never_mix() {
        assert!(holds(r#"{"a": 1}"#, r#"{"a": 1.0}"#));
        assert!(holds(r#"{"a": 150}"#, r#"{"a": 1.5e2}"#));
        assert!(holds(r#"{"a": -0}"#, r#"{"a": 0}"#));
        assert!(!holds(r#"{"a": 0.1}"#, r#"{"a": 0.10000000000000000001}"#));
        assert!(!holds(r#"{"a": 1}"#, r#"{"a": "1"}"#));
        assert!(!holds(r#"{"a": null}"#, r#"{"a": false}"#));
        assert!(holds(r#"{"a": null}"#, r#"{"a": null}"#));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_jsonb_does() {
        assert!(holds(r#"{"a": 1, "a": 2}"#, r#"{"a": 2}"#));
        assert!(!holds(r#"{"a": 1, "a": 2}"#, r#"{"a": 1}"#));
    }

    #[test]
    fn a_document_that_is_not_an_object_contains_no_object() {
        assert!(!holds(r#"[{"a": 1}]"#, r#"{"a": 1}"#));
        assert!(!holds("1", r#"{"a": 1}"#));
        assert!(!holds(r#""a""#, "{}"));
    }
}
