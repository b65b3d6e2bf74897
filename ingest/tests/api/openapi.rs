//! `GET /api/openapi.json` describes the API as it answers: words as sent on the wire, every
//! error answer as problem+json, the bounds of query parameters, which bodies are optional.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::spawn_app;

/// The document, and each operation in it as `(method, path, operation)`.
async fn document() -> (Value, Vec<(String, String, Value)>) {
    let app = spawn_app().await;
    let document: Value = app.api.get_json("/api/openapi.json").await;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            operations.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    (document, operations)
}

/// A `$ref` followed to what it names.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            document.pointer(pointer).expect("the reference resolves")
        }
        None => value,
    }
}

#[tokio::test]
async fn enums_list_the_words_sent_on_the_wire() {
    let (document, _) = document().await;
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    assert_eq!(
        schemas["Provider"]["enum"],
        serde_json::json!([
            "stripe",
            "github",
            "shopify",
            "standard_webhooks",
            "hmac_sha256",
            "none"
        ])
    );
    assert_eq!(
        schemas["DeliveryStatus"]["enum"],
        serde_json::json!([
            "pending",
            "retrying",
            "succeeded",
            "dead",
            "held",
            "discarded"
        ])
    );
    assert_eq!(
        schemas["SigningAlgorithm"]["enum"],
        serde_json::json!(["hmac_sha256", "hmac_sha512", "ed25519", "rsa_pss_sha256"])
    );
    let key = &schemas["ShownKey"]["properties"];
    for field in ["signing_algorithm", "signing_secret", "public_key"] {
        assert!(key[field].is_object(), "{field} in {key}");
    }
    for shown_in in ["SubscriptionBody", "RotatedSecret"] {
        let schema = schemas[shown_in].to_string();
        assert!(schema.contains("#/components/schemas/ShownKey"), "{schema}");
    }
    let text = document.to_string();
    for rust_name in [
        "\"None\"",
        "\"Pending\"",
        "\"HalfOpen\"",
        "\"HmacSha256\"",
        "\"RsaPssSha256\"",
    ] {
        assert!(!text.contains(rust_name), "{rust_name} in the document");
    }
}

#[tokio::test]
async fn every_error_answer_is_documented_as_problem_json() {
    let (document, operations) = document().await;
    let ids: BTreeSet<&str> = operations
        .iter()
        .filter_map(|(_, _, operation)| operation["operationId"].as_str())
        .collect();
    assert_eq!(ids.len(), operations.len(), "operation ids are unique");
    for (method, path, operation) in &operations {
        let responses = operation["responses"].as_object().expect("responses");
        let mut expected = vec!["400", "414", "431", "500", "503"];
        if operation["security"].is_array() {
            expected.push("401");
        }
        if path.contains('{') {
            expected.push("404");
        }
        if operation["requestBody"].is_object() {
            expected.extend(["413", "422"]);
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {path}: no {status}"
            );
        }
        for (status, response) in responses {
            let response = resolve(&document, response);
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}"
            );
            if status.as_str() >= "400" {
                let content = response["content"].as_object().expect("content");
                let types: Vec<&String> = content.keys().collect();
                assert_eq!(
                    types,
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                let schema = &content["application/problem+json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Problem");
            }
        }
    }
}

#[tokio::test]
async fn lists_bound_their_limit_and_cursor() {
    let (_, operations) = document().await;
    let mut lists = 0;
    for (method, path, operation) in &operations {
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let named = |name: &str| parameters.iter().find(|p| p["name"] == name).cloned();
        if let Some(limit) = named("limit") {
            lists += 1;
            assert_eq!(limit["schema"]["minimum"], 1, "{method} {path}");
            assert_eq!(limit["schema"]["maximum"], 200, "{method} {path}");
            let cursor = named("cursor").expect("a cursor beside the limit");
            assert!(cursor["schema"]["pattern"].is_string(), "{method} {path}");
        }
    }
    assert!(lists >= 8, "only {lists} lists");
}

#[tokio::test]
async fn optional_bodies_are_not_required() {
    let (_, operations) = document().await;
    let optional = [
        "/api/v1/subscriptions/{id}/enable",
        "/api/v1/subscriptions/{id}/rotate-secret",
        "/api/v1/notifications/read",
        "/api/v1/events/{id}/replay",
        "/api/v1/dead-letters/replay",
    ];
    for (method, path, operation) in &operations {
        if method == "post" && optional.contains(&path.as_str()) {
            let required = operation["requestBody"]["required"].as_bool();
            assert_ne!(required, Some(true), "{path}");
        }
    }
}

#[tokio::test]
async fn contains_and_filter_are_described_as_they_are_checked() {
    let (document, operations) = document().await;
    let (_, _, list) = operations
        .iter()
        .find(|(method, path, _)| method == "get" && path == "/api/v1/events")
        .expect("the event list");
    let contains = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "contains")
        .expect("a contains parameter");
    assert_eq!(contains["in"], "query");
    assert_eq!(contains["schema"]["maxLength"], 4096);
    assert!(
        contains["description"]
            .as_str()
            .expect("described")
            .contains("@>")
    );

    let input = &document["components"]["schemas"]["SubscriptionInput"];
    let filter = resolve(&document, &input["properties"]["filter"]);
    assert_eq!(filter["type"], serde_json::json!(["object", "null"]));
    assert!(
        !input["required"]
            .as_array()
            .expect("required")
            .contains(&Value::from("filter"))
    );
}
