//! Payload templates: a subscription may reshape what it receives with a minijinja (Jinja2)
//! template rendered with the event's JSON.
//!
//! The context holds the event's JSON body as `payload`, its top-level keys directly (so
//! `{{ data.object.id }}` works for a Stripe event), and `event` (`id`, `type`,
//! `received_at`). `tojson` writes a value as JSON:
//!
//! ```text
//! {"text": "New order", "order": {{ payload.data.object.id | tojson }}, "kind": {{ event.type | tojson }}}
//! ```
//!
//! Printing a value the event does not have is an error (so a typo is a failed attempt of
//! kind `template`, not an empty field); `{% if payload.note %}` still works.
//!
//! Rendering is bounded in work and in memory by minijinja's fuel: every instruction costs
//! one, every 64 bytes of data the render creates (strings, list slots, output) one more,
//! and a step that would create more than the fuel left fails before it allocates. So a
//! runaway loop fails instead of spinning, and a template that builds large values (by
//! repeating, joining, concatenating or printing them, through any filter or operator)
//! fails with an out-of-fuel error, a failed attempt of kind `template`, at most about
//! 12.8 MB of data in: its peak allocation stays under [`RENDER_MEMORY_LIMIT`]
//! (`tests/template_memory.rs`). The engine's own checks had gaps that let one step allocate
//! past the fuel, so Warren builds a patched minijinja (`vendor/README.md`). Saving a
//! template only parses it ([`check`]); nothing is rendered until a delivery.

use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::{Map, Value as Json};

/// What a template can refer to.
pub struct TemplateInput<'a> {
    /// The event's parsed JSON body, if it was JSON.
    pub payload: Option<&'a Json>,
    /// The event id.
    pub event_id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// When the event was received (RFC 3339).
    pub received_at: &'a str,
}

/// Why a template cannot be used or rendered (minijinja's own message, with its line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// The largest template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// Work a render may do before it is stopped: a unit is roughly one instruction, or 64 bytes
/// of data the render creates, so this also bounds its data to 12.8 MB.
const FUEL: u64 = 200_000;

/// What a render's peak allocation stays under, whatever the template: the data its fuel
/// pays for, and the growth and copies made while building it (a string doubles its buffer
/// as it grows). It is not checked at run time but follows from [`FUEL`];
/// `tests/template_memory.rs` holds templates that try to exceed it by every route known.
pub const RENDER_MEMORY_LIMIT: usize = 32 * 1024 * 1024;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    env
}

/// minijinja's message, naming the line as a person would (`(line 3)`).
fn error(error: minijinja::Error) -> TemplateError {
    TemplateError(error.to_string().replace("(in <string>:", "(line "))
}

/// Checks that a template parses (at subscription create and update: a 422 otherwise).
pub fn check(source: &str) -> Result<(), TemplateError> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError(format!(
            "a template is at most {MAX_TEMPLATE_BYTES} bytes"
        )));
    }
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(error)
}

/// Renders a template for one event.
pub fn render(source: &str, input: &TemplateInput<'_>) -> Result<String, TemplateError> {
    let env = environment();
    let template = env.template_from_str(source).map_err(error)?;
    template.render(context(input)).map_err(error)
}

/// The payload's top-level keys, then `payload` and `event`, which win over any key of the
/// same name.
fn context(input: &TemplateInput<'_>) -> Value {
    let mut context = match input.payload {
        Some(Json::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    context.insert(
        "payload".into(),
        input.payload.cloned().unwrap_or(Json::Null),
    );
    context.insert(
        "event".into(),
        serde_json::json!({"id": input.event_id, "type": input.event_type, "received_at": input.received_at}),
    );
    Value::from(minijinja::value::Serde(Json::Object(context)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(payload: &Json) -> TemplateInput<'_> {
        TemplateInput {
            payload: Some(payload),
            event_id: "evt_1",
            event_type: "order.paid",
            received_at: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn a_template_renders_the_events_json() {
        let payload = json!({"order": {"id": 7, "items": ["a", "b"]}, "note": "hi \"you\""});
        let rendered = render(
            r#"{"id": {{ payload.order.id }}, "second": {{ order["items"][1] | tojson }}, "note": {{ note | tojson }}, "type": {{ event.type | tojson }}}"#,
            &input(&payload),
        )
        .expect("renders");
        let parsed: Json = serde_json::from_str(&rendered).expect("renders to JSON");
        assert_eq!(
            parsed,
            json!({"id": 7, "second": "b", "note": "hi \"you\"", "type": "order.paid"})
        );
    }

    #[test]
    fn conditions_and_loops_work() {
        let payload = json!({"items": [1, 2, 3], "vip": true});
        let rendered = render(
            "{% if vip %}VIP {% endif %}{% for i in items %}{{ i }}{% endfor %}",
            &input(&payload),
        )
        .expect("renders");
        assert_eq!(rendered, "VIP 123");
    }

    #[test]
    fn printing_a_missing_value_is_an_error_not_an_empty_string() {
        let payload = json!({"order": {}});
        let missing = render("{{ payload.order.id }}", &input(&payload)).expect_err("undefined");
        assert!(missing.to_string().contains("undefined"), "{missing}");
        assert_eq!(
            render("{% if payload.order.id %}x{% endif %}y", &input(&payload)).expect("renders"),
            "y"
        );
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let payload = json!({});
        let looping = "{% for i in range(1000000) %}{{ i }}{% endfor %}";
        assert!(render(looping, &input(&payload)).is_err());
    }

    #[test]
    fn syntax_is_checked_without_an_event() {
        assert!(check("plain text").is_ok());
        assert!(check("{{ payload.a }} and {{ event.id }}").is_ok());
        let unclosed = check("{{ payload.a ").expect_err("unclosed");
        assert!(unclosed.to_string().contains("line 1"), "{unclosed}");
        assert!(check("{% for x in y %}").is_err());
        assert!(check(&"x".repeat(MAX_TEMPLATE_BYTES + 1)).is_err());
    }
}
