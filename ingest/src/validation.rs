//! garde validation, reported as 422 with one entry per field.

use garde::Validate;

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
