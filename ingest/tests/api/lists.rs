//! Lists: cursors without duplicates or gaps, filters, and bad parameters.

use std::collections::HashSet;

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn ids_of_all_pages(
    api: &warren_testkit::api::ApiClient,
    path: &str,
    limit: u32,
    mut during: impl AsyncFnMut(),
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let page = api.get_json(&url).await;
        ids.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        during().await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn paging_through_events_while_new_ones_arrive_has_no_duplicates_and_no_gaps() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let mut sent = Vec::new();
    for n in 0..120 {
        let accepted: Value = api
            .ingest(&url, "application/json", format!("{{\"n\": {n}}}"))
            .await
            .json()
            .await
            .expect("JSON");
        sent.push(accepted["id"].as_str().expect("id").to_owned());
    }
    let seen = ids_of_all_pages(&api, "/api/v1/events", 25, async || {
        // A new event arrives between every two pages.
        api.ingest(&url, "application/json", "{\"late\": true}")
            .await;
    })
    .await;
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event on two pages");
    for id in &sent {
        assert!(unique.contains(id), "event {id} was skipped");
    }
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "newest first");
}

#[tokio::test]
async fn events_filter_by_type_source_and_time() {
    let app = spawn_app().await;
    let api = app.user().await;
    let a = api.create_source().await;
    let b = api.create_source().await;
    api.ingest(
        &TestApp::ingest_url(&a),
        "application/json",
        r#"{"type": "order.paid"}"#,
    )
    .await;
    api.ingest(
        &TestApp::ingest_url(&a),
        "application/json",
        r#"{"type": "order.refunded"}"#,
    )
    .await;
    api.ingest(
        &TestApp::ingest_url(&b),
        "application/json",
        r#"{"type": "order.paid"}"#,
    )
    .await;

    let count = |v: Value| v["data"].as_array().expect("data").len();
    assert_eq!(
        count(api.get_json("/api/v1/events?event_type=order.paid").await),
        2
    );
    assert_eq!(
        count(
            api.get_json(&format!(
                "/api/v1/events?source_id={}",
                a["id"].as_str().expect("id")
            ))
            .await
        ),
        2
    );
    let both = format!(
        "/api/v1/events?source_id={}&event_type=order.paid",
        b["id"].as_str().expect("id")
    );
    assert_eq!(count(api.get_json(&both).await), 1);

    let future = (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&Rfc3339)
        .expect("formats");
    let past = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&Rfc3339)
        .expect("formats");
    assert_eq!(
        count(api.get_json(&format!("/api/v1/events?from={future}")).await),
        0
    );
    assert_eq!(
        count(
            api.get_json(&format!("/api/v1/events?from={past}&to={future}"))
                .await
        ),
        3
    );
    assert_eq!(
        count(api.get_json(&format!("/api/v1/events?to={past}")).await),
        0
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_never_500() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let sub_id = sub["id"].as_str().expect("id");
    let bad = [
        "/api/v1/events?limit=0".to_owned(),
        "/api/v1/events?limit=10000".to_owned(),
        "/api/v1/events?limit=ten".to_owned(),
        "/api/v1/events?cursor=not-a-cursor".to_owned(),
        "/api/v1/events?from=yesterday".to_owned(),
        "/api/v1/events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
        "/api/v1/events?source_id=not-a-uuid".to_owned(),
        "/api/v1/sources?limit=201".to_owned(),
        "/api/v1/subscriptions?cursor=AAAA".to_owned(),
        "/api/v1/dead-letters?limit=-1".to_owned(),
        "/api/v1/dead-letters?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
        "/api/v1/api-keys?limit=0".to_owned(),
        format!("/api/v1/subscriptions/{sub_id}/deliveries?status=paused"),
        format!("/api/v1/subscriptions/{sub_id}/deliveries?status_code=abc"),
        format!("/api/v1/subscriptions/{sub_id}/deliveries?limit=500"),
        format!("/api/v1/subscriptions/{sub_id}/stats?window=2h"),
        "/api/v1/stats?window=2h".to_owned(),
        "/api/v1/stats?window=".to_owned(),
    ];
    for path in bad {
        let response = api.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_problem(response, 400).await;
    }
    let response = api
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_problem(response, 400).await;
}
