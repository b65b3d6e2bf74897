use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn an_api_key_is_shown_once_works_as_a_bearer_token_and_stops_working_when_revoked() {
    let app = spawn_app().await;
    let api = app.user().await;
    let created = api.post("/api/v1/api-keys", &json!({"name": "ci"})).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("JSON");
    let key = created["key"].as_str().expect("the key").to_owned();
    assert!(key.starts_with("wrn_key_"));
    assert!(key.starts_with(created["key_prefix"].as_str().expect("a prefix")));

    let mut with_key = app.api.clone();
    with_key.token = Some(key.clone());
    let me = with_key.get_json("/api/v1/me").await;
    assert_eq!(me["id"], api.get_json("/api/v1/me").await["id"]);

    let listed = api.get_json("/api/v1/api-keys").await;
    assert_eq!(listed["data"][0]["name"], "ci");
    assert!(
        listed["data"][0].get("key").is_none(),
        "a listed key never shows the key"
    );
    assert!(
        listed["data"][0]["last_used_at"].is_string(),
        "its use was noted"
    );
    assert!(!listed.to_string().contains(&key));

    let url = format!(
        "{}/api/v1/api-keys/{}",
        app.address,
        created["id"].as_str().expect("id")
    );
    let deleted = api
        .authorized(api.http.delete(&url))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert_problem(with_key.get("/api/v1/me").await, 401).await;
}

#[tokio::test]
async fn logging_out_with_an_api_key_is_refused_and_a_nameless_key_is_422() {
    let app = spawn_app().await;
    let api = app.user().await;
    let created: Value = api
        .post("/api/v1/api-keys", &json!({"name": "app"}))
        .await
        .json()
        .await
        .expect("JSON");
    let mut with_key = app.api.clone();
    with_key.token = Some(created["key"].as_str().expect("key").to_owned());
    assert_problem(with_key.post("/api/v1/auth/logout", &json!({})).await, 400).await;
    assert_eq!(
        with_key.get("/api/v1/me").await.status(),
        200,
        "the key still works"
    );
    assert_problem(
        api.post("/api/v1/api-keys", &json!({"name": ""})).await,
        422,
    )
    .await;
}
