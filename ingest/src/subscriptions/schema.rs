//! How the OpenAPI document shows the subscription fields whose rules garde checks in code
//! (`event_types`, `headers`, `filter`): the same rules, as JSON Schema.

use utoipa::openapi::{Array, ArrayBuilder, Object, ObjectBuilder, Type, schema::SchemaType};

/// Unicode's white space (what [`char::is_whitespace`] finds), for patterns.
const WHITE_SPACE: &str =
    r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// `event_types` as the document shows it: what `event_type_pattern` accepts.
pub fn event_types_schema() -> Array {
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some(format!(r"^[^*{WHITE_SPACE}]*\*?$")));
    ArrayBuilder::new().items(item).max_items(Some(100)).build()
}

/// `headers` as the document shows it: what `custom_headers` accepts, but for the names
/// Warren sets itself.
pub fn headers_schema() -> Object {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(4096))
        .pattern(Some(r"^[^\u0000-\u0008\u000a-\u001f\u007f]*$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(value))
        .max_properties(Some(20))
        .build()
}

/// `filter` as the document shows it: a JSON object (any keys and values) or `null`; its
/// size bound (4 KiB as JSON) is checked in code.
pub fn filter_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Object, Type::Null]))
        .description(Some(
            "Only events whose JSON payload contains this object (PostgreSQL `@>`); null: every event. At most 4 KiB as JSON.",
        ))
        .build()
}
