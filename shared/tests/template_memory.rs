//! A template render stays under `RENDER_MEMORY_LIMIT` whatever route it takes to grow its
//! values (issue 23): each template below tries one, and must fail with a `TemplateError`
//! while the most this process has allocated stays under the limit; ordinary templates,
//! large ones included, still render.
//!
//! The global allocator counts what is allocated (`cap`). Everything runs in one test, one
//! case after another, so nothing else allocates meanwhile. The peak it records only grows,
//! so it is checked after each case against what was allocated before that case. A hard cap
//! at four times the limit keeps a regression from taking the machine's memory: past it an
//! allocation fails and the process aborts ("memory allocation of N bytes failed").

use std::alloc::System;

use cap::Cap;
use serde_json::{Value as Json, json};
use warren_shared::template::{RENDER_MEMORY_LIMIT, TemplateError, TemplateInput, render};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Templates that try to allocate far more than the limit, each by another route. `s` is
/// 100 kB, so a list of it 1,000 times stands for 100 MB of text.
const ATTACKS: &[(&str, &str)] = &[
    (
        "join, empty joiner",
        r#"{{ (["x" * 100000] * 1000) | join("") | length }}"#,
    ),
    (
        "join, joiner",
        r#"{{ (["x" * 100000] * 1000) | join(",") | length }}"#,
    ),
    (
        "join after map",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | map("upper") | join("") | length }}"#,
    ),
    (
        "printing a list",
        r#"{% set s = "x" * 100000 %}{{ [s] * 1000 }}"#,
    ),
    (
        "~ with a list",
        r#"{% set s = "x" * 100000 %}{{ ("" ~ ([s] * 1000)) | length }}"#,
    ),
    (
        "string",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | string | length }}"#,
    ),
    (
        "a filter taking a string",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | lower | length }}"#,
    ),
    (
        "in on a string",
        r#"{% set s = "x" * 100000 %}{{ s in ([s] * 1000) | string }}"#,
    ),
    (
        "tojson of a list",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | tojson | length }}"#,
    ),
    (
        "tojson of a map",
        r#"{% set s = "x" * 100000 %}{{ dict(a=[s] * 1000) | tojson | length }}"#,
    ),
    (
        "tojson of batches",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | batch(10) | list | tojson | length }}"#,
    ),
    (
        "tojson with a huge indent",
        r#"{{ [[1, 2]] | tojson(indent=1000000000) }}"#,
    ),
    (
        "pprint",
        r#"{% set s = "x" * 100000 %}{{ ([s] * 1000) | pprint | length }}"#,
    ),
    (
        "format of a list",
        r#"{% set s = "x" * 100000 %}{{ "%s" | format([s] * 1000) | length }}"#,
    ),
    (
        "format of many strings",
        r#"{{ ("%s" * 100000) | format(*(["x" * 1000] * 100000)) | length }}"#,
    ),
    (
        "format with a huge width",
        r#"{{ "%1000000000s" | format("x") | length }}"#,
    ),
    (
        "indent with a huge width",
        r#"{{ "a\nb" | indent(1000000000) | length }}"#,
    ),
    (
        "replace",
        r#"{{ ("x" * 1000) | replace("x", "y" * 100000) | length }}"#,
    ),
    (
        "replace of the empty string",
        r#"{{ ("x" * 1000) | replace("", "y" * 100000) | length }}"#,
    ),
    ("escape", r#"{{ ("<" * 5000000) | escape | length }}"#),
    ("split", r#"{{ ("x " * 2000000) | split | length }}"#),
    ("lines", r#"{{ ("\n" * 5000000) | lines | length }}"#),
    ("string repetition", r#"{{ ("x" * 1000000000) | length }}"#),
    (
        "repeating the payload",
        r#"{{ ((payload | string) * 1000000) | length }}"#,
    ),
    (
        "concatenating strings",
        r#"{{ (("x" * 6000000) ~ ("x" * 6000000) ~ ("x" * 6000000)) | length }}"#,
    ),
    (
        "doubling a string in a loop",
        r#"{% set ns = namespace(x="x") %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}"#,
    ),
    (
        "doubling a list with + in a loop",
        r#"{% set ns = namespace(l=["x"]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}"#,
    ),
    (
        "nesting a list in itself",
        r#"{% set ns = namespace(a="x" * 100000) %}{% for i in range(30) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}"#,
    ),
    (
        "nesting a map in itself, tojson",
        r#"{% set ns = namespace(a="x" * 100000) %}{% for i in range(30) %}{% set ns.a = {"k": ns.a, "j": ns.a} %}{% endfor %}{{ ns.a | tojson | length }}"#,
    ),
    (
        "growing a list in a loop",
        r#"{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + ["x" * 1000] %}{% endfor %}{{ ns.l | length }}"#,
    ),
    (
        "a repeated range made a list",
        r#"{{ (range(100000) | list * 1000) | list | length }}"#,
    ),
    (
        "a string made a list",
        r#"{{ ("x" * 10000000) | list | length }}"#,
    ),
    (
        "set block",
        r#"{% set s = "x" * 100000 %}{% set x %}{% for i in range(1000) %}{{ s }}{% endfor %}{% endset %}{{ x | length }}"#,
    ),
    (
        "macro",
        r#"{% set s = "x" * 100000 %}{% macro m() %}{% for i in range(1000) %}{{ s }}{% endfor %}{% endmacro %}{{ m() | length }}"#,
    ),
    (
        "filter block",
        r#"{% set s = "x" * 100000 %}{% filter upper %}{% for i in range(1000) %}{{ s }}{% endfor %}{% endfilter %}"#,
    ),
    (
        "output",
        r#"{% set s = "x" * 100000 %}{% for i in range(1000) %}{{ s }}{% endfor %}"#,
    ),
];

fn input(payload: &Json) -> TemplateInput<'_> {
    TemplateInput {
        payload: Some(payload),
        event_id: "evt_1",
        event_type: "order.paid",
        received_at: "2026-01-01T00:00:00Z",
    }
}

/// Renders a template with the allocator capped, and returns the result with the peak
/// allocated while it rendered, over what was allocated before.
fn measured(template: &str, payload: &Json) -> (Result<String, TemplateError>, usize) {
    let before = ALLOCATOR.allocated();
    ALLOCATOR
        .set_limit(before + 4 * RENDER_MEMORY_LIMIT)
        .expect("the cap is above what is allocated");
    let rendered = render(template, &input(payload));
    ALLOCATOR
        .set_limit(usize::MAX)
        .expect("no limit is below what is allocated");
    (rendered, ALLOCATOR.max_allocated().saturating_sub(before))
}

/// An order of `n` lines, about 100 bytes of JSON each.
fn order(lines: usize) -> Json {
    let lines: Vec<Json> = (0..lines)
        .map(|i| json!({"sku": format!("SKU-{i:08}"), "name": "A plain blue mug", "quantity": i % 7 + 1}))
        .collect();
    json!({"type": "order.paid", "data": {"object": {"id": "ord_1", "lines": lines}}})
}

#[test]
fn a_template_cannot_allocate_past_the_render_memory_limit() {
    let payload = order(3);
    for (route, template) in ATTACKS {
        let (rendered, peak) = measured(template, &payload);
        assert!(rendered.is_err(), "{route}: rendered {template}");
        assert!(
            peak < RENDER_MEMORY_LIMIT,
            "{route}: {peak} bytes allocated ({rendered:?})"
        );
    }

    // Ordinary templates still render, large ones included (300 kB of order lines).
    let payload = order(3_000);
    let ordinary = [
        r#"{"text": "New order", "order": {{ data.object.id | tojson }}, "kind": {{ event.type | tojson }}}"#,
        r#"{"lines": {{ data.object.lines | tojson }}}"#,
        r#"{% for line in data.object.lines %}{{ line.sku }} x{{ line.quantity }}, {% endfor %}"#,
        r#"{{ data.object.lines | map(attribute="sku") | join(", ") }}"#,
    ];
    for template in ordinary {
        let (rendered, peak) = measured(template, &payload);
        assert!(rendered.is_ok(), "{template}: {rendered:?}");
        assert!(peak < RENDER_MEMORY_LIMIT, "{template}: {peak} bytes");
    }
}
