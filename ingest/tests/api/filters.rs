//! JSON you can query: `?contains=` on the event list and subscription `filter`s, matched at
//! ingest exactly as PostgreSQL's `@>` matches them.

use std::collections::HashSet;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use warren_shared::containment;
use warren_testkit::api::ApiClient;

use crate::helpers::{TestApp, assert_problem, error_fields, spawn_app};

fn contains_query(filter: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("/api/v1/events?contains={encoded}")
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn send(api: &ApiClient, url: &str, body: &str) -> String {
    let response = api.ingest(url, "application/json", body.to_owned()).await;
    assert_eq!(response.status(), 202, "{body}");
    let accepted: Value = response.json().await.expect("JSON");
    accepted["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn contains_finds_exactly_the_events_holding_it_with_the_type_filter_and_pages() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let mut wanted = Vec::new();
    for n in 0..7 {
        let customer = if n % 2 == 0 { "cus_1" } else { "cus_2" };
        let kind = if n % 3 == 0 {
            "order.paid"
        } else {
            "order.made"
        };
        let body = json!({"type": kind, "n": n, "customer": {"id": customer, "tags": ["a", n]}});
        let id = send(&api, &url, &body.to_string()).await;
        if customer == "cus_1" {
            wanted.push(id);
        }
    }
    api.ingest(&url, "text/plain", "cus_1").await;
    wanted.reverse();

    let query = contains_query(r#"{"customer": {"id": "cus_1"}}"#);
    let mut seen = Vec::new();
    let mut page = api.get_json(&format!("{query}&limit=3")).await;
    loop {
        seen.extend(ids(&page));
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = api
            .get_json(&format!("{query}&limit=3&cursor={cursor}"))
            .await;
    }
    assert_eq!(
        seen, wanted,
        "every cus_1 event, newest first, across pages"
    );

    let paid = api
        .get_json(&format!("{query}&event_type=order.paid"))
        .await;
    assert_eq!(ids(&paid).len(), 2, "n = 0 and 6: cus_1 and order.paid");
    let array = api
        .get_json(&contains_query(r#"{"customer": {"tags": [4.0]}}"#))
        .await;
    assert_eq!(ids(&array).len(), 1, "numbers by value, arrays by element");
    let none = api
        .get_json(&contains_query(r#"{"customer": {"id": "cus_3"}}"#))
        .await;
    assert!(ids(&none).is_empty());
    let everything = api.get_json(&contains_query("{}")).await;
    assert_eq!(
        ids(&everything).len(),
        7,
        "every JSON object, not the text event"
    );
}

#[tokio::test]
async fn a_malformed_or_oversized_contains_is_a_400_naming_it() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    send(&api, &url, r#"{"a": 1}"#).await;
    let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(4096));
    for bad in [
        "not json",
        "[1]",
        "\"a\"",
        "1",
        "{\"a\":",
        r#"{"a": "\u0000"}"#,
        &long,
    ] {
        let problem = assert_problem(api.get(&contains_query(bad)).await, 400).await;
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains("contains"), "{bad}: {detail}");
    }
}

#[tokio::test]
async fn a_filter_that_is_not_an_object_is_a_422_naming_filter_on_every_write() {
    let app = spawn_app().await;
    let api = app.user().await;
    let base = json!({"name": "s", "target_url": "http://127.0.0.1:9/hook"});
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        api.base,
        sub["id"].as_str().expect("id")
    );
    let too_big = json!({"a": "x".repeat(4100)});
    for filter in [json!([1]), json!("a"), json!(1), json!(true), too_big] {
        let mut body = base.clone();
        body["filter"] = filter.clone();
        let requests = [
            api.authorized(api.http.post(format!("{}/api/v1/subscriptions", api.base))),
            api.authorized(api.http.put(&url)),
            api.authorized(api.http.patch(&url)),
        ];
        for request in requests {
            let response = request.json(&body).send().await.expect("sent");
            let problem = assert_problem(response, 422).await;
            assert_eq!(error_fields(&problem), ["filter"], "{filter}");
        }
    }
    let stored = api
        .get_json(&format!(
            "/api/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(stored["filter"], Value::Null, "nothing was written");
    assert_eq!(app.count("subscriptions").await, 1);
}

#[tokio::test]
async fn a_filter_is_shown_replaced_and_cleared_by_a_patch_of_null() {
    let app = spawn_app().await;
    let api = app.user().await;
    let filter = json!({"customer": {"id": "cus_1"}, "items": [{"sku": "a"}]});
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({"filter": filter}))
        .await;
    assert_eq!(sub["filter"], filter);
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        api.base,
        sub["id"].as_str().expect("id")
    );
    let patch = |body: Value| {
        let request = api.authorized(api.http.patch(&url)).json(&body);
        async move {
            let response = request.send().await.expect("sent");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("JSON")
        }
    };
    assert_eq!(
        patch(json!({"name": "renamed"})).await["filter"],
        filter,
        "kept"
    );
    assert_eq!(
        patch(json!({"filter": {"a": 1}})).await["filter"],
        json!({"a": 1})
    );
    assert_eq!(
        patch(json!({"filter": null})).await["filter"],
        Value::Null,
        "cleared"
    );
    let listed = api.get_json("/api/v1/subscriptions").await;
    assert_eq!(listed["data"][0]["filter"], Value::Null);
}

/// Deliveries made for each subscription, by event id.
async fn delivered_events(app: &TestApp, subscription: &Value) -> HashSet<String> {
    let client = app.db.client().await;
    let id: uuid::Uuid = subscription["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    client
        .query(
            "SELECT event_id FROM deliveries WHERE subscription_id = $1",
            &[&id],
        )
        .await
        .expect("deliveries")
        .iter()
        .map(|row| row.get::<_, uuid::Uuid>(0).to_string())
        .collect()
}

#[tokio::test]
async fn ingest_makes_deliveries_only_for_subscriptions_whose_filter_the_payload_contains() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let url = TestApp::ingest_url(&source);
    let hook = "http://127.0.0.1:9/hook";
    let everything = api.create_subscription(hook, json!({})).await;
    let cus_1 = api
        .create_subscription(hook, json!({"filter": {"customer": {"id": "cus_1"}}}))
        .await;
    let big = api
        .create_subscription(
            hook,
            json!({"filter": {"amount": 100, "tags": ["vip"]}, "event_types": ["order.*"]}),
        )
        .await;
    let bodies = [
        (
            r#"{"type": "order.paid", "customer": {"id": "cus_1"}, "amount": 100.0, "tags": ["x", "vip"]}"#,
            true,
            true,
        ),
        (
            r#"{"type": "order.paid", "customer": {"id": "cus_2"}, "amount": 1e2, "tags": ["vip"]}"#,
            false,
            true,
        ),
        (
            r#"{"type": "user.made", "customer": {"id": "cus_1", "n": 2}, "amount": 100, "tags": ["vip"]}"#,
            true,
            false,
        ),
        (
            r#"{"type": "order.paid", "customer": "cus_1", "amount": 100, "tags": "vip"}"#,
            false,
            false,
        ),
        (r#"[{"customer": {"id": "cus_1"}}]"#, false, false),
    ];
    let (mut all, mut want_cus_1, mut want_big) = (HashSet::new(), HashSet::new(), HashSet::new());
    for (body, to_cus_1, to_big) in bodies {
        let id = send(&api, &url, body).await;
        if to_cus_1 {
            want_cus_1.insert(id.clone());
        }
        if to_big {
            want_big.insert(id.clone());
        }
        all.insert(id);
    }
    let text = api
        .ingest(&url, "text/plain", r#"{"customer": {"id": "cus_1"}}"#)
        .await;
    let text: Value = text.json().await.expect("JSON");
    all.insert(text["id"].as_str().expect("id").to_owned());

    assert_eq!(delivered_events(&app, &everything).await, all);
    assert_eq!(
        delivered_events(&app, &cus_1).await,
        want_cus_1,
        "a text body never matches"
    );
    assert_eq!(delivered_events(&app, &big).await, want_big);
}

#[tokio::test]
async fn event_and_range_replays_honour_the_filter() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let url = TestApp::ingest_url(&source);
    let matching = send(&api, &url, r#"{"customer": {"id": "cus_1"}}"#).await;
    let other = send(&api, &url, r#"{"customer": {"id": "cus_2"}}"#).await;
    let sub = api
        .create_subscription(
            "http://127.0.0.1:9/hook",
            json!({"filter": {"customer": {"id": "cus_1"}}}),
        )
        .await;
    assert!(
        delivered_events(&app, &sub).await.is_empty(),
        "created after both"
    );

    let answer = api
        .post(
            "/api/v1/events/replay",
            &json!({"subscription_id": sub["id"], "from": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.json::<Value>().await.expect("JSON")["replayed"], 1);
    assert_eq!(
        delivered_events(&app, &sub).await,
        HashSet::from([matching.clone()])
    );

    for (event, made) in [(&other, 0), (&matching, 1)] {
        let answer = api
            .post(&format!("/api/v1/events/{event}/replay"), &json!({}))
            .await;
        assert_eq!(answer.status(), 202);
        let answer: Value = answer.json().await.expect("JSON");
        assert_eq!(answer["deliveries"], made, "{event}");
    }
    assert_eq!(app.count("deliveries").await, 2, "none for the other event");
}

/// A random JSON value from a small vocabulary, so that filters and payloads often meet.
fn random_json(rng: &mut StdRng, depth: u32) -> String {
    const SCALARS: [&str; 14] = [
        "null", "true", "false", "0", "-0", "1", "1.0", "10e-1", "2", "0.1", "0.10", "\"a\"",
        "\"b\"", "\"1\"",
    ];
    let pick = if depth == 0 {
        0
    } else {
        rng.random_range(0..4)
    };
    match pick {
        0 | 1 => SCALARS[rng.random_range(0..SCALARS.len())].to_owned(),
        2 => {
            let items: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect();
            format!("[{}]", items.join(","))
        }
        _ => random_object(rng, depth),
    }
}

fn random_object(rng: &mut StdRng, depth: u32) -> String {
    let fields: Vec<String> = (0..rng.random_range(0..4))
        .map(|_| {
            let key = ["a", "b", "c"][rng.random_range(0..3)];
            format!("\"{key}\":{}", random_json(rng, depth.saturating_sub(1)))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A value contained in `value`, or nearly: parts dropped, order reversed, a scalar changed.
fn cut(value: &Value, rng: &mut StdRng) -> Value {
    match value {
        Value::Object(fields) => {
            let mut kept = serde_json::Map::new();
            for (key, value) in fields {
                if rng.random_bool(0.7) {
                    kept.insert(key.clone(), cut(value, rng));
                }
            }
            Value::Object(kept)
        }
        Value::Array(items) => {
            let mut kept = Vec::new();
            for item in items.iter().rev() {
                if rng.random_bool(0.6) {
                    kept.push(cut(item, rng));
                }
            }
            Value::Array(kept)
        }
        scalar if rng.random_bool(0.1) => {
            serde_json::from_str(&random_json(rng, 0)).unwrap_or_else(|_| scalar.clone())
        }
        scalar => scalar.clone(),
    }
}

#[tokio::test]
async fn rust_containment_answers_as_postgresql_does_on_thousands_of_pairs() {
    let app = spawn_app().await;
    let client = app.db.client().await;
    let mut rng = StdRng::seed_from_u64(25);
    let mut documents = Vec::new();
    let mut filters = Vec::new();
    for _ in 0..4000 {
        documents.push(random_object(&mut rng, 3));
        filters.push(random_object(&mut rng, 2));
    }
    // Half the filters cut from their own document (keys and elements dropped, a scalar
    // sometimes changed), so that many pairs contain and many nearly do.
    for i in 0..2000 {
        let document: Value = serde_json::from_str(&documents[i]).expect("JSON");
        filters[i] = cut(&document, &mut rng).to_string();
    }
    let rows = client
        .query(
            "SELECT d::jsonb @> f::jsonb FROM unnest($1::text[], $2::text[]) AS t(d, f)",
            &[&documents, &filters],
        )
        .await
        .expect("PostgreSQL answers");
    let mut held = 0;
    for ((document, filter), row) in documents.iter().zip(&filters).zip(&rows) {
        let postgres: bool = row.get(0);
        let rust = containment::contains(
            &containment::parse(document.as_bytes()).expect("document"),
            &containment::parse(filter.as_bytes()).expect("filter"),
        );
        assert_eq!(rust, postgres, "{document} @> {filter}");
        held += usize::from(postgres);
    }
    assert!(
        held > 1000 && held < 3500,
        "both answers are well tested: {held} held"
    );
}

/// Numbers at the edge of `f64` (PostgreSQL prints them back as exact decimals of 300-odd
/// digits): a filter holding one is shown and listed, an event holding one is read back,
/// and the event still matches the filter.
#[tokio::test]
async fn numbers_at_the_edge_of_f64_are_read_back_from_filters_and_payloads() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let edge =
        r#"{"big": 1.7976931348623157e308, "near": 1.7976931348623155e+308, "tiny": 5e-324}"#;
    let filter: Value = serde_json::from_str(edge).expect("filter");
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({"filter": filter}))
        .await;
    assert_eq!(sub["filter"], filter);
    let listed = api.get_json("/api/v1/subscriptions").await;
    let shown = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|s| s["id"] == sub["id"])
        .expect("listed");
    assert_eq!(shown["filter"], filter);

    let id = send(&api, &url, edge).await;
    let event = api.get_json(&format!("/api/v1/events/{id}")).await;
    assert_eq!(event["payload"], filter);
    let found = api.get_json(&contains_query(edge)).await;
    assert_eq!(ids(&found), [id]);
    let deliveries = delivered_events(&app, &sub).await;
    assert_eq!(deliveries.len(), 1, "the filter matched the event");
}

/// `contains` over a history longer than the newest events walked first: 3,000 events over
/// three days written straight into the table, one customer in a hundred. The pages hold
/// exactly the matching events, newest first, across the spans searched; `from` bounds them;
/// an object in every event is found among the newest at once.
#[tokio::test]
async fn contains_pages_through_a_long_history_newest_first() {
    let app = spawn_app().await;
    let api = app.user().await;
    let me = api.get_json("/api/v1/me").await;
    let user: uuid::Uuid = me["id"].as_str().expect("id").parse().expect("uuid");
    let client = app.db.client().await;
    client
        .execute(
            "INSERT INTO events (id, user_id, event_type, content_type, raw_body, payload,
                                 idempotency_scope, body_sha256, initial_deliveries, received_at)
             SELECT warren_first_id_at(t)::text::uuid, $1, 'order.paid', 'application/json',
                    convert_to(p::text, 'UTF8'), p, $1, '\\x00', 0, t
             FROM (SELECT now() - interval '3 days' + interval '86 seconds' * i AS t,
                          jsonb_build_object('kind', 'order', 'n', i,
                                             'customer', jsonb_build_object('id', 'cus_' || i % 100)) AS p
                   FROM generate_series(0, 2999) i) rows",
            &[&user],
        )
        .await
        .expect("history");
    let expected = |since: &str| {
        let client = &client;
        let sql = format!(
            "SELECT id::text FROM events WHERE payload @> '{{\"customer\": {{\"id\": \"cus_7\"}}}}'
             AND received_at >= {since} ORDER BY id DESC"
        );
        async move {
            let rows = client.query(&sql, &[]).await.expect("expected");
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };
    let all_pages = |query: String| {
        let api = &api;
        async move {
            let mut seen = Vec::new();
            let mut page = api.get_json(&format!("{query}&limit=7")).await;
            loop {
                seen.extend(ids(&page));
                let Some(cursor) = page["next_cursor"].as_str() else {
                    return seen;
                };
                page = api
                    .get_json(&format!("{query}&limit=7&cursor={cursor}"))
                    .await;
            }
        }
    };
    let query = contains_query(r#"{"customer": {"id": "cus_7"}}"#);
    let found = all_pages(query.clone()).await;
    assert_eq!(found.len(), 30);
    assert_eq!(found, expected("'-infinity'").await);

    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let since_text = since
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let encoded: String = url::form_urlencoded::byte_serialize(since_text.as_bytes()).collect();
    let recent = all_pages(format!("{query}&from={encoded}")).await;
    assert_eq!(recent, expected(&format!("'{since_text}'")).await);
    assert!(!recent.is_empty() && recent.len() < 30, "{}", recent.len());

    let everyone = api
        .get_json(&format!(
            "{}&limit=50",
            contains_query(r#"{"kind": "order"}"#)
        ))
        .await;
    let newest = api.get_json("/api/v1/events?limit=50").await;
    assert_eq!(ids(&everyone), ids(&newest));
    assert_eq!(ids(&everyone).len(), 50);
}

/// A rare object behind a burst and a quiet stretch: 2,100 events in the last seconds (none
/// holding it), nothing for hours before them, then 2,500 events over three days. The walk
/// sees only the burst; the spans after it skip the quiet hours and reach back through the
/// partitions. Every page holds exactly the matching events, newest first.
#[tokio::test]
async fn contains_finds_rare_objects_behind_a_burst_and_a_quiet_stretch() {
    let app = spawn_app().await;
    let api = app.user().await;
    let me = api.get_json("/api/v1/me").await;
    let user: uuid::Uuid = me["id"].as_str().expect("id").parse().expect("uuid");
    let client = app.db.client().await;
    let write = |first: &'static str, step: &'static str, count: i32, customers: i32| {
        let client = &client;
        let sql = format!(
            "INSERT INTO events (id, user_id, event_type, content_type, raw_body, payload,
                                 idempotency_scope, body_sha256, initial_deliveries, received_at)
             SELECT warren_first_id_at(t)::text::uuid, $1, 'order.paid', 'application/json',
                    convert_to(p::text, 'UTF8'), p, $1, '\\x00', 0, t
             FROM (SELECT now() - interval '{first}' + interval '{step}' * i AS t,
                          jsonb_build_object('n', i,
                              'customer', jsonb_build_object('id', 'cus_' || i % $3)) AS p
                   FROM generate_series(0, $2 - 1) i) rows"
        );
        async move {
            client
                .execute(&sql, &[&user, &count, &customers])
                .await
                .expect("written");
        }
    };
    write("3 days", "90 seconds", 2_500, 100).await;
    write("3 seconds", "1 millisecond", 2_100, 100_000).await;
    let expected = |filter: &'static str| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT id::text FROM events WHERE payload @> $1::text::jsonb
                     ORDER BY id DESC",
                    &[&filter],
                )
                .await
                .expect("expected");
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };
    for filter in [
        r#"{"customer": {"id": "cus_7"}}"#,
        r#"{"n": 5, "customer": {"id": "cus_5"}}"#,
    ] {
        let mut seen = Vec::new();
        let mut page = api
            .get_json(&format!("{}&limit=10", contains_query(filter)))
            .await;
        loop {
            seen.extend(ids(&page));
            let Some(cursor) = page["next_cursor"].as_str() else {
                break;
            };
            page = api
                .get_json(&format!(
                    "{}&limit=10&cursor={cursor}",
                    contains_query(filter)
                ))
                .await;
        }
        let wanted = expected(filter).await;
        assert!(!wanted.is_empty(), "{filter}");
        assert_eq!(seen, wanted, "{filter}");
    }
}
