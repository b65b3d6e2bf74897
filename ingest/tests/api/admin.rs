//! The operators' routes: every tenant's users with their counts, disabling and enabling a
//! user (sessions, keys, live sockets and ingest stop and come back; nothing is deleted),
//! subscriptions in trouble across tenants, and quotas.

use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::{api::ApiClient, live::LiveClient};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// The instance's operator (its first account) and one more user.
async fn operator_and_user(app: &TestApp) -> (ApiClient, ApiClient, Value) {
    let mut operator = app.api.clone();
    let first = operator.signup().await;
    assert_eq!(first["user"]["role"], "operator");
    let mut user = app.api.clone();
    let signup = user.signup().await;
    (operator, user, signup)
}

fn id_of(signup: &Value) -> &str {
    signup["user"]["id"].as_str().expect("a user id")
}

/// `GET path` with `token` as the bearer.
async fn get_with(api: &ApiClient, path: &str, token: &str) -> reqwest::Response {
    api.http
        .get(format!("{}{path}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn every_admin_route_answers_403_to_a_user() {
    let app = spawn_app().await;
    let (operator, user, _) = operator_and_user(&app).await;
    let me = operator.get_json("/api/v1/me").await;
    let target = me["id"].as_str().expect("an id");

    for path in ["/api/v1/admin/users", "/api/v1/admin/subscriptions"] {
        assert_problem(user.get(path).await, 403).await;
    }
    for action in ["disable", "enable"] {
        let path = format!("/api/v1/admin/users/{target}/{action}");
        assert_problem(user.post(&path, &json!({})).await, 403).await;
    }
    let row = app
        .only_row("SELECT count(*) AS n FROM users WHERE disabled_at IS NOT NULL")
        .await;
    assert_eq!(row.get::<_, i64>("n"), 0);
}

#[tokio::test]
async fn the_user_list_shows_what_each_user_has() {
    let app = spawn_app().await;
    let (operator, user, signup) = operator_and_user(&app).await;
    let source = user.create_source().await;
    user.create_source().await;
    user.create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    user.create_subscription("http://127.0.0.1:9/other", json!({}))
        .await;
    let url = TestApp::ingest_url(&source);
    assert_eq!(
        user.ingest(&url, "application/json", "{}").await.status(),
        202
    );
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE deliveries SET status = 'dead', dead_at = now()
             WHERE id = (SELECT id FROM deliveries ORDER BY id LIMIT 1)",
            &[],
        )
        .await
        .expect("a dead letter");
    client
        .execute(
            "UPDATE subscriptions SET circuit_state = 'open'
             WHERE id = (SELECT id FROM subscriptions ORDER BY id LIMIT 1)",
            &[],
        )
        .await
        .expect("an open circuit");

    let listed = operator.get_json("/api/v1/admin/users").await;

    let data = listed["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert!(listed["next_cursor"].is_null());
    let row = &data[0];
    assert_eq!(row["id"], id_of(&signup));
    assert_eq!(row["email"], signup["user"]["email"]);
    assert_eq!(row["role"], "user");
    assert_eq!(row["disabled"], false);
    assert!(row["created_at"].is_string());
    assert_eq!(row["sources"], 2);
    assert_eq!(row["subscriptions"], 2);
    assert_eq!(row["events_24h"], 1);
    assert_eq!(row["dead_letters"], 1);
    assert_eq!(row["open_circuits"], 1);
    assert_eq!(data[1]["role"], "operator");
    assert_eq!(data[1]["sources"], 0);
    let first_page = operator.get_json("/api/v1/admin/users?limit=1").await;
    let cursor = first_page["next_cursor"].as_str().expect("a cursor");
    let second = operator
        .get_json(&format!("/api/v1/admin/users?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second["data"][0]["role"], "operator");
    assert_problem(operator.get("/api/v1/admin/users?limit=0").await, 400).await;
}

#[tokio::test]
async fn a_disabled_user_loses_sessions_keys_sockets_and_ingest_until_enabled() {
    let app = spawn_app().await;
    let (operator, user, signup) = operator_and_user(&app).await;
    let session = user.token.clone().expect("a session");
    let key: Value = user
        .post("/api/v1/api-keys", &json!({"name": "ci"}))
        .await
        .json()
        .await
        .expect("JSON");
    let key = key["key"].as_str().expect("a key").to_owned();
    let source = user.create_source().await;
    let url = TestApp::ingest_url(&source);
    let socket = LiveClient::connect(&app.address, &key).await;
    let disable = format!("/api/v1/admin/users/{}/disable", id_of(&signup));

    let disabled = operator.post(&disable, &json!({})).await;

    assert_eq!(disabled.status(), 200);
    let body: Value = disabled.json().await.expect("JSON");
    assert_eq!(body["disabled"], true);
    assert_eq!(body["sources"], 1, "nothing is deleted");
    assert!(
        socket.closed_within(Duration::from_secs(5)).await,
        "the socket lives on"
    );
    assert_problem(get_with(&user, "/api/v1/me", &session).await, 401).await;
    assert_problem(get_with(&user, "/api/v1/me", &key).await, 401).await;
    assert_problem(user.ingest(&url, "application/json", "{}").await, 404).await;
    let login = app
        .api
        .post(
            "/api/v1/auth/login",
            &json!({"email": signup["user"]["email"], "password": "correct horse battery"}),
        )
        .await;
    assert_problem(login, 403).await;
    assert_eq!(app.count("events").await, 0);
    assert_eq!(
        operator.post(&disable, &json!({})).await.status(),
        200,
        "again: no change"
    );

    let enable = disable.replace("/disable", "/enable");
    let enabled = operator.post(&enable, &json!({})).await;

    assert_eq!(enabled.status(), 200);
    let body: Value = enabled.json().await.expect("JSON");
    assert_eq!(body["disabled"], false);
    assert_eq!(get_with(&user, "/api/v1/me", &session).await.status(), 200);
    assert_eq!(get_with(&user, "/api/v1/me", &key).await.status(), 200);
    assert_eq!(
        user.ingest(&url, "application/json", "{}").await.status(),
        202
    );
}

#[tokio::test]
async fn an_operator_cannot_disable_themself_and_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let (operator, _, _) = operator_and_user(&app).await;
    let me = operator.get_json("/api/v1/me").await;
    let own = format!(
        "/api/v1/admin/users/{}/disable",
        me["id"].as_str().expect("id")
    );
    let unknown = uuid::Uuid::now_v7();

    assert_problem(operator.post(&own, &json!({})).await, 409).await;
    for action in ["disable", "enable"] {
        let path = format!("/api/v1/admin/users/{unknown}/{action}");
        assert_problem(operator.post(&path, &json!({})).await, 404).await;
    }
    assert_problem(
        operator
            .post("/api/v1/admin/users/nope/disable", &json!({}))
            .await,
        404,
    )
    .await;
    assert_eq!(operator.get("/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn the_admin_subscription_list_shows_every_tenants_troubled_circuits() {
    let app = spawn_app().await;
    let (operator, alice, alice_signup) = operator_and_user(&app).await;
    let bob = app.user().await;
    let open = alice
        .create_subscription("http://127.0.0.1:9/a", json!({}))
        .await;
    let half_open = bob
        .create_subscription("http://127.0.0.1:9/b", json!({}))
        .await;
    bob.create_subscription("http://127.0.0.1:9/closed", json!({}))
        .await;
    let client = app.db.client().await;
    for (subscription, state) in [(&open, "open"), (&half_open, "half_open")] {
        let id: uuid::Uuid = subscription["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("a UUID");
        client
            .execute(
                "UPDATE subscriptions SET circuit_state = $2 WHERE id = $1",
                &[&id, &state],
            )
            .await
            .expect("setting the circuit");
    }

    let only_open = operator
        .get_json("/api/v1/admin/subscriptions?circuit_state=open")
        .await;
    let only_half_open = operator
        .get_json("/api/v1/admin/subscriptions?circuit_state=half_open")
        .await;
    let both = operator.get_json("/api/v1/admin/subscriptions").await;

    assert_eq!(only_open["data"].as_array().expect("data").len(), 1);
    let row = &only_open["data"][0];
    assert_eq!(row["id"], open["id"]);
    assert_eq!(row["user_id"], id_of(&alice_signup));
    assert_eq!(row["email"], alice_signup["user"]["email"]);
    assert_eq!(row["circuit_state"], "open");
    assert!(row.get("signing_secret").is_none(), "no secret is shown");
    assert_eq!(only_half_open["data"][0]["id"], half_open["id"]);
    assert_eq!(only_half_open["data"].as_array().expect("data").len(), 1);
    assert_eq!(both["data"].as_array().expect("data").len(), 2);
    for bad in ["closed", "shut", ""] {
        let path = format!("/api/v1/admin/subscriptions?circuit_state={bad}");
        assert_problem(operator.get(&path).await, 400).await;
    }
}

#[tokio::test]
async fn creating_past_a_quota_is_403_naming_the_limit_and_stores_nothing() {
    let app = spawn_app_with(|settings| {
        settings.max_sources_per_user = 2;
        settings.max_subscriptions_per_user = 1;
    })
    .await;
    let api = app.user().await;
    let body = json!({"name": "s", "provider": "none"});

    let answers =
        futures_util::future::join_all((0..5).map(|_| api.post("/api/v1/sources", &body))).await;

    let created = answers.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 2, "two sources at once past the quota");
    for refused in answers.into_iter().filter(|r| r.status() != 201) {
        let problem = assert_problem(refused, 403).await;
        let detail = problem["detail"].as_str().expect("a detail");
        assert!(detail.contains("WARREN_MAX_SOURCES_PER_USER=2"), "{detail}");
    }
    assert_eq!(app.count("sources").await, 2);
    api.create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let refused = api
        .post(
            "/api/v1/subscriptions",
            &json!({"name": "more", "target_url": "http://127.0.0.1:9/more"}),
        )
        .await;
    let problem = assert_problem(refused, 403).await;
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("WARREN_MAX_SUBSCRIPTIONS_PER_USER=1"),
        "{detail}"
    );
    assert_eq!(app.count("subscriptions").await, 1);
    let other = app.user().await;
    other.create_source().await;
}
