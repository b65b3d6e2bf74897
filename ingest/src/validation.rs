//! garde validation, reported as 422 with one entry per field.

use garde::Validate;
use serde_json::Value;
use warren_shared::ssrf::SsrfGuard;

use crate::error::{ApiError, FieldError};

/// Validates `input`; the error names each failing field by its bare name.
pub fn validate<T>(input: &T) -> Result<(), ApiError>
where
    T: Validate,
    T::Context: Default,
{
    validate_with(input, &T::Context::default())
}

/// Validates `input` with a context (settings a rule needs, like the SSRF allow-list).
pub fn validate_with<T: Validate>(input: &T, context: &T::Context) -> Result<(), ApiError> {
    input.validate_with(context).map_err(|report| {
        let errors = report
            .iter()
            .map(|(path, error)| {
                let path = path.to_string();
                let field = path.split(['.', '[']).next().unwrap_or_default();
                FieldError::new(field, error.message())
            })
            .collect();
        ApiError::Validation(errors)
    })
}

/// A URL Warren will POST to: http(s), with a host, and not an address the SSRF guard
/// refuses on sight (IP literals, `localhost`; names are checked again at each connection).
pub fn target_url(value: &str, guard: &SsrfGuard) -> garde::Result {
    let url = url::Url::parse(value).map_err(|e| garde::Error::new(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(garde::Error::new("must be an http or https URL"));
    }
    let host = url
        .host()
        .ok_or_else(|| garde::Error::new("must have a host"))?;
    guard.check_host(&host).map_err(|blocked| {
        garde::Error::new(format!(
            "points at a non-public address ({}); an operator can allow it with WARREN_ALLOW_TARGET_CIDRS",
            blocked.0
        ))
    })
}

/// Why text with a `\u0000` is refused.
pub const NUL_MESSAGE: &str = "must not contain a \\u0000 character, which cannot be stored";

/// Text PostgreSQL can store: no `\u0000`.
pub fn no_nul(value: &str) -> garde::Result {
    if value.contains('\0') {
        return Err(garde::Error::new(NUL_MESSAGE));
    }
    Ok(())
}

/// The top-level field of a JSON document that holds a `\u0000` somewhere (in a string or a
/// key, however deep), which neither `text` nor `jsonb` can store; `body` when the document
/// is not an object.
pub fn field_with_nul(document: &Value) -> Option<String> {
    match document {
        Value::Object(fields) => fields
            .iter()
            .find(|(name, value)| name.contains('\0') || holds_nul(value))
            .map(|(name, _)| name.clone()),
        other => holds_nul(other).then(|| "body".to_owned()),
    }
}

/// Whether a string or key anywhere in `value` holds a `\u0000`.
fn holds_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|key| key.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}
