//! `${VAR}` in a value of the file: replaced by the environment variable's value, so secrets
//! stay out of a file kept under version control. `$${` writes a literal `${`.

use serde_json::Value;

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    /// `${NAME}` names a variable that is not set.
    Missing(String),
    /// `${` without a closing `}` and a valid name in between.
    Malformed(String),
}

impl Expansion {
    /// The text to look for in the file to find where the problem is.
    pub fn needle(&self) -> String {
        match self {
            Self::Missing(name) => format!("${{{name}}}"),
            Self::Malformed(text) => text.clone(),
        }
    }
}

impl std::fmt::Display for Expansion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "the environment variable `{name}` is not set"),
            Self::Malformed(text) => write!(
                f,
                "`{text}` is not a `${{NAME}}` reference (a name is letters, digits and `_`; write `$${{` for a literal `${{`)"
            ),
        }
    }
}

/// Expands every string in `value` (map keys stay as written), reading variables with
/// `lookup`.
pub fn expand_all(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Expansion> {
    match value {
        Value::String(text) => *text = expand(text, lookup)?,
        Value::Array(items) => {
            for item in items {
                expand_all(item, lookup)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                expand_all(item, lookup)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// `text` with each `${NAME}` replaced by the variable's value and each `$${` by `${`.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Expansion> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let (name, after) = reference(after)
                .ok_or_else(|| Expansion::Malformed(tail.chars().take(40).collect::<String>()))?;
            out.push_str(&lookup(name).ok_or_else(|| Expansion::Missing(name.to_owned()))?);
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The name of a `${NAME}` reference (what follows `${`) and what comes after its `}`.
fn reference(after: &str) -> Option<(&str, &str)> {
    let (name, rest) = after.split_once('}')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr$t".to_owned())
    }

    #[test]
    fn references_are_replaced_and_the_rest_is_kept() {
        assert_eq!(
            expand("Bearer ${TOKEN}; $5 ${TOKEN}", &lookup).expect("no error"),
            "Bearer s3cr$t; $5 s3cr$t"
        );
    }

    #[test]
    fn a_doubled_dollar_writes_a_literal_reference() {
        assert_eq!(expand("$${TOKEN}", &lookup).expect("no error"), "${TOKEN}");
    }

    #[test]
    fn a_missing_variable_is_named() {
        assert_eq!(
            expand("x ${NOPE} y", &lookup),
            Err(Expansion::Missing("NOPE".into()))
        );
    }

    #[test]
    fn an_unclosed_or_invalid_reference_is_an_error() {
        assert!(matches!(
            expand("${TOKEN", &lookup),
            Err(Expansion::Malformed(_))
        ));
        assert!(matches!(
            expand("${1X}", &lookup),
            Err(Expansion::Malformed(_))
        ));
        assert!(matches!(
            expand("${}", &lookup),
            Err(Expansion::Malformed(_))
        ));
    }

    #[test]
    fn every_string_of_a_document_is_expanded_but_not_its_keys() {
        let mut value = serde_json::json!({"${TOKEN}": "${TOKEN}", "list": ["${TOKEN}", 3]});
        expand_all(&mut value, &lookup).expect("no error");
        assert_eq!(
            value,
            serde_json::json!({"${TOKEN}": "s3cr$t", "list": ["s3cr$t", 3]})
        );
    }
}
