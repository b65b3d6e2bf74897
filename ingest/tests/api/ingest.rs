use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::{api::ApiClient, eventually};

use crate::helpers::{TestApp, assert_problem, event_of, spawn_app};

/// How many deliveries an event of `event_type` sent to `source` made.
async fn deliveries_made(api: &ApiClient, source: &Value, event_type: &str) -> Value {
    let body = json!({ "type": event_type }).to_string();
    let answer: Value = api
        .ingest(&TestApp::ingest_url(source), "application/json", body)
        .await
        .json()
        .await
        .expect("JSON");
    answer["deliveries"].clone()
}

#[tokio::test]
async fn an_accepted_event_is_stored_byte_for_byte_and_its_envelope_confirmed() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let body = "{\"type\": \"order.paid\",  \"amount\": 1.50 }";
    let response = api.ingest(&url, "application/json", body).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.expect("JSON");
    assert_eq!(accepted["deliveries"], 1);

    let event = api
        .get_json(&format!(
            "/api/v1/events/{}",
            accepted["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(event["raw_body"], body, "the exact bytes, spacing included");
    assert_eq!(event["event_type"], "order.paid");
    assert_eq!(event["payload"]["amount"], 1.5);
    assert_eq!(event["deliveries"][0]["status"], "pending");
    assert_eq!(event["deliveries"][0]["attempt_count"], 0);

    eventually(
        "one envelope to wait in the main queue",
        Duration::from_secs(5),
        || async { (app.main_queue_depth().await == 1).then_some(()) },
    )
    .await;
    app.wait_until_enqueued().await;
}

#[tokio::test]
async fn only_subscriptions_whose_filters_match_get_a_delivery() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let other = api.create_source().await;
    api.create_subscription("http://127.0.0.1:9/a", json!({"event_types": ["order.*"]}))
        .await;
    api.create_subscription(
        "http://127.0.0.1:9/b",
        json!({"event_types": ["invoice.paid"]}),
    )
    .await;
    api.create_subscription("http://127.0.0.1:9/c", json!({"source_id": other["id"]}))
        .await;
    api.create_subscription("http://127.0.0.1:9/d", json!({"source_id": source["id"]}))
        .await;

    assert_eq!(
        deliveries_made(&api, &source, "order.paid").await,
        2,
        "order.* and the source-bound one"
    );
    assert_eq!(
        deliveries_made(&api, &source, "invoice.paid").await,
        2,
        "invoice.paid and the source-bound one"
    );
    assert_eq!(
        deliveries_made(&api, &other, "x").await,
        1,
        "only the subscription bound to the other source"
    );
}

#[tokio::test]
async fn an_inactive_subscription_holds_its_delivery_and_other_users_subscriptions_get_none() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let bare = api.create_source().await;
    let kept = api
        .create_subscription("http://127.0.0.1:9/kept", json!({}))
        .await;
    let disabled = api
        .create_subscription("http://127.0.0.1:9/disabled", json!({}))
        .await;
    // Another user's catch-all subscription, and one bound to the source that has none of
    // its own: neither may take these events.
    app.user()
        .await
        .create_subscription("http://127.0.0.1:9/stranger", json!({}))
        .await;
    let disabled_id: uuid::Uuid = disabled["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");
    app.db
        .client()
        .await
        .execute(
            "UPDATE subscriptions SET is_active = false WHERE id = $1",
            &[&disabled_id],
        )
        .await
        .expect("disabled");

    assert_eq!(
        deliveries_made(&api, &source, "a").await,
        2,
        "the owner's two subscriptions, the inactive one's held"
    );
    let made: Vec<(String, String, bool)> = app
        .db
        .client()
        .await
        .query(
            "SELECT s.target_url, d.status, d.enqueued FROM deliveries d
             JOIN subscriptions s ON s.id = d.subscription_id ORDER BY s.target_url",
            &[],
        )
        .await
        .expect("the deliveries")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let url = |s: &Value| s["target_url"].as_str().expect("a URL").to_owned();
    assert_eq!(made[0].0, url(&disabled));
    assert_eq!(made[0].1, "held", "kept, not attempted");
    assert!(!made[0].2, "nothing published for a held delivery");
    assert_eq!(made[1].0, url(&kept));
    assert_eq!(made[1].1, "pending");
    assert_eq!(made.len(), 2, "nothing for the stranger");
    let held = api
        .get_json(&format!("/api/v1/subscriptions/{disabled_id}"))
        .await;
    assert_eq!(held["held_count"], 1);

    let kept_id = kept["id"].as_str().expect("an id");
    let deleted = api
        .delete(&format!("/api/v1/subscriptions/{kept_id}"))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        deliveries_made(&api, &bare, "a").await,
        1,
        "only the inactive catch-all is left, and it holds the event"
    );
    assert_eq!(app.count("events").await, 2, "both events are stored");
}

#[tokio::test]
async fn the_event_type_header_wins_and_untyped_events_are_unknown() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let typed: Value = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-event-type", "from.header")
        .body(r#"{"type": "from.body"}"#)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let event = api
        .get_json(&format!(
            "/api/v1/events/{}",
            typed["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(event["event_type"], "from.header");

    let untyped: Value = api
        .ingest(&url, "text/plain", "hello")
        .await
        .json()
        .await
        .expect("JSON");
    let event = api
        .get_json(&format!(
            "/api/v1/events/{}",
            untyped["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(event["event_type"], "unknown");
    assert_eq!(
        event["payload"],
        Value::Null,
        "a non-JSON body is kept raw, not parsed"
    );
    assert_eq!(event["raw_body"], "hello");
}

#[tokio::test]
async fn invalid_json_sent_as_json_is_400_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    assert_problem(
        api.ingest(&url, "application/json", "{\"type\": ").await,
        400,
    )
    .await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_nul_character_in_json_is_422_not_a_server_error() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    assert_problem(
        api.ingest(&url, "application/json", r#"{"note": "a\u0000b"}"#)
            .await,
        422,
    )
    .await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn the_parsed_body_is_the_text_as_sent_numbers_exactly() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    // Beyond a double's precision, and a key sent twice (JSON's last one counts).
    let body =
        r#"{"type": "a", "id": 12345678901234567890123, "price": 0.10, "type": "order.paid"}"#;
    let response = api.ingest(&url, "application/json", body).await;
    assert_eq!(response.status(), 202);
    let row = app
        .only_row(
            "SELECT event_type, payload->>'id' AS id, payload->>'price' AS price, payload->>'type' AS t
             FROM events",
        )
        .await;
    assert_eq!(row.get::<_, String>("event_type"), "order.paid");
    assert_eq!(row.get::<_, String>("id"), "12345678901234567890123");
    assert_eq!(row.get::<_, String>("price"), "0.10");
    assert_eq!(row.get::<_, String>("t"), "order.paid");
}

#[tokio::test]
async fn json_postgresql_could_not_take_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let not_utf8: &[u8] = b"{\"note\": \"\xff\"}";
    assert_problem(api.ingest(&url, "application/json", not_utf8).await, 400).await;
    let lone_surrogate = r#"{"note": "\ud800"}"#;
    assert_problem(
        api.ingest(&url, "application/json", lone_surrogate).await,
        400,
    )
    .await;
    let nul_in_a_key = r#"{"a\u0000": 1}"#;
    assert_problem(
        api.ingest(&url, "application/json", nul_in_a_key).await,
        422,
    )
    .await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_number_beyond_postgresqls_numeric_is_422_and_the_rest_of_its_group_is_stored() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    // Valid JSON, but more digits after the point than PostgreSQL's numeric holds; sent
    // among others at once, so it is likely to share their group commit.
    let bodies: Vec<String> = (0..8)
        .map(|i| match i {
            3 => r#"{"type": "x", "n": 1e-20000}"#.to_owned(),
            _ => format!(r#"{{"n": {i}}}"#),
        })
        .collect();
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|body| api.ingest(&url, "application/json", body.clone())),
    )
    .await;
    for (i, answer) in answers.into_iter().enumerate() {
        if i == 3 {
            let problem = assert_problem(answer, 422).await;
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("numeric"), "{problem}");
        } else {
            assert_eq!(answer.status(), 202, "event {i}");
        }
    }
    assert_eq!(
        app.count("events").await,
        7,
        "every event but the refused one"
    );
    assert_eq!(app.count("deliveries").await, 7);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(65 * 1024));
    assert_problem(api.ingest(&url, "application/json", big).await, 413).await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn an_unknown_source_token_is_404() {
    let app = spawn_app().await;
    let url = format!("{}/ingest/src_does-not-exist", app.address);
    assert_problem(app.api.ingest(&url, "application/json", "{}").await, 404).await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer_and_stores_nothing_new() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let send = |body: &'static str| {
        api.http
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", "order-42")
            .body(body)
            .send()
    };
    let first = send(r#"{"type": "order.paid"}"#).await.expect("sent");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("JSON");

    let again = send(r#"{"type": "order.paid"}"#).await.expect("sent");
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("JSON");
    assert_eq!(again, first);

    assert_problem(
        send(r#"{"type": "order.refunded"}"#).await.expect("sent"),
        422,
    )
    .await;
    assert_eq!(app.count("events").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_store_one_event() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let requests = (0..10).map(|_| {
        api.http
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", "same")
            .body(r#"{"type": "race"}"#)
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    for answer in answers {
        let answer = answer.expect("sent");
        assert!(
            answer.status() == 202 || answer.status() == 200,
            "{}",
            answer.status()
        );
        let body: Value = answer.json().await.expect("JSON");
        ids.push(body["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the one event");
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn an_event_of_another_user_is_not_found() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let accepted: Value = api
        .ingest(&url, "application/json", "{}")
        .await
        .json()
        .await
        .expect("JSON");
    let other = app.user().await;
    let id = accepted["id"].as_str().expect("id");
    assert_problem(other.get(&format!("/api/v1/events/{id}")).await, 404).await;
    let delivery =
        api.get_json(&format!("/api/v1/events/{id}")).await["deliveries"][0]["id"].clone();
    assert_problem(
        other
            .get(&format!(
                "/api/v1/deliveries/{}",
                delivery.as_str().expect("id")
            ))
            .await,
        404,
    )
    .await;
}

/// Requests arriving together share one lookup of their sources: each event still lands on
/// the source its own URL names (sources of three users here), and an unknown token among
/// them is a 404 that stores nothing.
#[tokio::test]
async fn concurrent_requests_to_several_sources_each_land_on_their_own() {
    let app = spawn_app().await;
    let mut urls = Vec::new();
    for _ in 0..3 {
        urls.push(app.source_with_subscriber().await.1);
    }
    urls.push(format!("{}/ingest/src_does-not-exist", app.address));
    let http = &app.api.http;
    let requests = (0..80).map(|n| {
        let url = urls[n % urls.len()].clone();
        async move {
            let answer = http
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"n": {n}}}"#))
                .send()
                .await
                .expect("sent");
            (
                url,
                answer.status().as_u16(),
                answer.json::<Value>().await.ok(),
            )
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    let client = app.db.client().await;
    for (url, status, body) in answers {
        let token = url.rsplit('/').next().expect("a token");
        let source = client
            .query_opt("SELECT id FROM sources WHERE token = $1", &[&token])
            .await
            .expect("the source");
        let Some(source) = source else {
            assert_eq!(status, 404, "{url}");
            continue;
        };
        assert_eq!(status, 202, "{url}");
        let id: uuid::Uuid = body.expect("JSON")["id"]
            .as_str()
            .expect("an id")
            .parse()
            .expect("a uuid");
        let stored: Option<uuid::Uuid> = client
            .query_one("SELECT source_id FROM events WHERE id = $1", &[&id])
            .await
            .expect("the event")
            .get(0);
        assert_eq!(stored, Some(source.get(0)), "event {id} of {url}");
    }
    assert_eq!(app.count("events").await, 60);
}

#[tokio::test]
async fn stored_headers_keep_no_credentials_and_no_huge_values() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let huge = "h".repeat(100 * 1024);
    let accepted = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer a-provider-credential")
        .header("x-api-key", "a-provider-key")
        .header("x-auth-token", "a-provider-token")
        .header("x-custom", "kept")
        .header("x-huge", &huge)
        .body(r#"{"type": "t"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 202);
    let event = event_of(&api, accepted).await;
    let headers = event["headers"].as_object().expect("headers");
    for credential in ["authorization", "x-api-key", "x-auth-token"] {
        assert!(!headers.contains_key(credential), "{credential} is stored");
    }
    assert_eq!(headers["x-custom"], "kept");
    let stored = headers["x-huge"].as_str().expect("text");
    assert!(stored.len() < 2 * 1024, "{} bytes stored", stored.len());
    assert!(stored.ends_with("…[truncated]"), "the cut is marked");
}
