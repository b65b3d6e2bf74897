//! The OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /api/openapi.json`.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, PathItem, Ref, RefOr, ResponseBuilder,
        link::{Link, LinkBuilder},
        path::{Operation, ParameterIn},
        response::Response,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::error::PROBLEM_JSON;

/// The document's fixed parts; every path is added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Warren",
        description = "A RabbitMQ-native webhook relay: ingest, subscriptions, deliveries, dead letters."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Where providers send events"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "api-keys", description = "Long-lived tokens for applications"),
        (name = "sources", description = "Where events come from"),
        (name = "subscriptions", description = "Where events go"),
        (name = "events", description = "Events received or published"),
        (name = "deliveries", description = "One event on its way to one subscription"),
        (name = "dead-letters", description = "Deliveries out of attempts"),
        (name = "operations", description = "What the broker holds"),
        (name = "admin", description = "Operators: every tenant's users and subscriptions in trouble"),
        (name = "invites", description = "Operators inviting people to sign up"),
        (name = "notifications", description = "Telling owners when a receiver is in trouble"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <session token or API key>`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (`wrn_sess_…`) or an API key (`wrn_key_…`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Each error answer: its status, the name of its component response, and when it is given.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "Malformed JSON, a body not sent as JSON, a bad query parameter, or a request the HTTP layer cannot read",
    ),
    (
        401,
        "Unauthorized",
        "No or bad credentials (at ingest: the provider's signature is missing or wrong)",
    ),
    (403, "Forbidden", "Authenticated, but not allowed"),
    (
        404,
        "NotFound",
        "Not found, or belongs to another user (also a path id that is not a UUID)",
    ),
    (409, "Conflict", "Conflicts with what exists"),
    (413, "PayloadTooLarge", "The body is over the limit"),
    (414, "UriTooLong", "The URI is longer than the server reads"),
    (
        422,
        "Unprocessable",
        "Well-formed but invalid (also text with a `\\u0000`, which cannot be stored); `errors` names each field",
    ),
    (429, "TooManyRequests", "Rate limited"),
    (
        431,
        "HeadersTooLarge",
        "Too many request headers, or too large ones",
    ),
    (500, "Internal", "Something went wrong on Warren's side"),
    (
        503,
        "Unavailable",
        "The database (or, where needed, the broker) is unavailable; retry later",
    ),
];

/// Statuses any operation can answer with: what the HTTP layer refuses, and a failure of
/// Warren or its database.
const ANY_OPERATION: [u16; 5] = [400, 414, 431, 500, 503];

/// The document as served, once every route is in it: with its answers described and its
/// nullable formats split.
pub fn finish(mut openapi: utoipa::openapi::OpenApi) -> Value {
    describe_answers(&mut openapi);
    let mut document = serde_json::to_value(openapi).expect("the OpenAPI document is JSON");
    split_nullable_formats(&mut document);
    document
}

/// Writes `{"type": [T, "null"], "format": F, …}` as `{"oneOf": [{"type": T, "format": F,
/// …}, {"type": "null"}]}`: the same values, but schemathesis (4.32) drops a `format` from a
/// union of types, and would take `""` for a `uuid` or a `date-time`.
fn split_nullable_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(split_nullable_formats);
            let Some(single) = nullable_type(map).filter(|_| map.contains_key("format")) else {
                return;
            };
            let description = map.remove("description");
            let mut inner = std::mem::take(map);
            inner.insert("type".into(), single);
            map.insert("oneOf".into(), json!([inner, {"type": "null"}]));
            if let Some(description) = description {
                map.insert("description".into(), description);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(split_nullable_formats),
        _ => {}
    }
}

/// `T` of a schema whose `type` is `[T, "null"]`.
fn nullable_type(map: &Map<String, Value>) -> Option<Value> {
    match map.get("type")?.as_array()?.as_slice() {
        [single, null] | [null, single] if null == "null" && single != "null" => {
            Some(single.clone())
        }
        _ => None,
    }
}

/// Completes the answers of every operation, once every route is in the document: each
/// success answer gets a description (OpenAPI requires one), and every error answer is
/// documented as `application/problem+json`, a reference to one component response: those
/// its annotation names, and those its shape implies (credentials: 401; a path parameter:
/// 404; query parameters: 422 for a `\u0000`; a body: 413 and 422).
fn describe_answers(openapi: &mut utoipa::openapi::OpenApi) {
    link_creations(openapi);
    let mut used = BTreeSet::new();
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            describe_successes(operation);
            for status in error_statuses(operation) {
                let Some((_, name, _)) = ERRORS.iter().find(|(s, _, _)| *s == status) else {
                    continue;
                };
                let reference = Ref::from_response_name(*name);
                operation
                    .responses
                    .responses
                    .insert(status.to_string(), RefOr::Ref(reference));
                used.insert(status);
            }
        }
    }
    let components = openapi.components.get_or_insert_with(Default::default);
    for (_, name, description) in ERRORS.iter().filter(|(s, _, _)| used.contains(s)) {
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(problem_response(description)));
    }
}

/// Links each creation (`POST <collection>`, whose answer carries the new `id`) to the
/// operations on what it created (`<collection>/{id}…`), so that a stateful test (and a
/// reader) can follow from one to the other.
fn link_creations(openapi: &mut utoipa::openapi::OpenApi) {
    let targets: Vec<(String, String)> = openapi
        .paths
        .paths
        .iter_mut()
        .flat_map(|(path, item)| {
            let ids: Vec<String> = operations_mut(item)
                .filter_map(|operation| operation.operation_id.clone())
                .collect();
            ids.into_iter().map(move |id| (path.clone(), id))
        })
        .collect();
    for (path, item) in &mut openapi.paths.paths {
        let Some(create) = item.post.as_mut() else {
            continue;
        };
        let created = format!("{path}/{{id}}");
        let links: BTreeMap<String, RefOr<Link>> = targets
            .iter()
            .filter(|(target, _)| target == &created || target.starts_with(&format!("{created}/")))
            .map(|(_, id)| (id.clone(), RefOr::T(link_to(id))))
            .collect();
        for (status, response) in &mut create.responses.responses {
            if let RefOr::T(response) = response
                && status.starts_with('2')
                && !response.content.is_empty()
            {
                response.links.extend(links.clone());
            }
        }
    }
}

/// A link to an operation on the resource whose `id` the answer carries.
fn link_to(operation_id: &str) -> Link {
    LinkBuilder::new()
        .operation_id(operation_id)
        .parameter("id", "$response.body#/id")
        .build()
}

/// Gives each answer without a description its status's reason phrase.
fn describe_successes(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok());
            let reason = reason
                .and_then(|s| s.canonical_reason())
                .unwrap_or("The answer");
            response.description = reason.to_owned();
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The error statuses an operation can answer with.
fn error_statuses(operation: &Operation) -> BTreeSet<u16> {
    let annotated = operation.responses.responses.keys();
    let mut statuses: BTreeSet<u16> = annotated
        .filter_map(|status| status.parse().ok())
        .filter(|status| *status >= 400)
        .collect();
    statuses.extend(ANY_OPERATION);
    let locations: Vec<ParameterIn> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) => Some(parameter.parameter_in.clone()),
            RefOr::Ref(_) => None,
        })
        .collect();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let implied = [
        (secured, 401),
        (locations.contains(&ParameterIn::Path), 404),
        (locations.contains(&ParameterIn::Query), 422),
        (operation.request_body.is_some(), 413),
        (operation.request_body.is_some(), 422),
    ];
    statuses.extend(implied.iter().filter(|(when, _)| *when).map(|(_, s)| *s));
    statuses
}

/// A problem+json answer.
fn problem_response(description: &str) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content)
        .build()
}
