use serde_json::json;

use crate::helpers::{assert_problem, error_fields, spawn_app};

#[tokio::test]
async fn a_source_has_an_unguessable_token_and_an_ingest_url_on_the_public_address() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let token = source["token"].as_str().expect("a token");
    assert!(token.starts_with("src_") && token.len() > 40);
    assert_eq!(
        source["ingest_url"],
        format!("{}/ingest/{token}", app.address)
    );
    assert_eq!(source["provider"], "none");
    assert_eq!(source["has_verification_secret"], false);
}

#[tokio::test]
async fn sources_are_listed_read_renamed_and_deleted() {
    let app = spawn_app().await;
    let api = app.user().await;
    let first = api.create_source().await;
    let second = api.create_source().await;
    let list = api.get_json("/api/v1/sources").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().expect("id"),
            first["id"].as_str().expect("id")
        ]
    );
    assert_eq!(list["next_cursor"], serde_json::Value::Null);

    let id = first["id"].as_str().expect("id");
    let patched = api
        .authorized(
            api.http
                .patch(format!("{}/api/v1/sources/{id}", app.address)),
        )
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(patched.status(), 200);
    assert_eq!(
        api.get_json(&format!("/api/v1/sources/{id}")).await["name"],
        "renamed"
    );

    let deleted = api
        .authorized(
            api.http
                .delete(format!("{}/api/v1/sources/{id}", app.address)),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert_problem(api.get(&format!("/api/v1/sources/{id}")).await, 404).await;
}

#[tokio::test]
async fn another_users_source_is_not_found_and_not_listed() {
    let app = spawn_app().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let source = alice.create_source().await;
    let id = source["id"].as_str().expect("id");
    assert_problem(bob.get(&format!("/api/v1/sources/{id}")).await, 404).await;
    let delete = bob
        .authorized(
            bob.http
                .delete(format!("{}/api/v1/sources/{id}", app.address)),
        )
        .send()
        .await
        .expect("sent");
    assert_problem(delete, 404).await;
    assert_eq!(bob.get_json("/api/v1/sources").await["data"], json!([]));
}

#[tokio::test]
async fn a_signing_provider_needs_a_usable_verification_secret() {
    let app = spawn_app().await;
    let api = app.user().await;
    let missing = api
        .post(
            "/api/v1/sources",
            &json!({"name": "s", "provider": "stripe"}),
        )
        .await;
    assert_eq!(
        error_fields(&assert_problem(missing, 422).await),
        ["verification_secret"]
    );
    let not_whsec = api
        .post(
            "/api/v1/sources",
            &json!({"name": "s", "provider": "standard_webhooks", "verification_secret": "plain"}),
        )
        .await;
    assert_eq!(
        error_fields(&assert_problem(not_whsec, 422).await),
        ["verification_secret"]
    );
    let unknown = api
        .post(
            "/api/v1/sources",
            &json!({"name": "s", "provider": "paypal"}),
        )
        .await;
    assert_eq!(
        error_fields(&assert_problem(unknown, 422).await),
        ["provider"]
    );
    let ok = api
        .post(
            "/api/v1/sources",
            &json!({"name": "s", "provider": "github", "verification_secret": "It's a Secret"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    let body: serde_json::Value = ok.json().await.expect("JSON");
    assert_eq!(body["has_verification_secret"], true);
    assert!(
        body.get("verification_secret").is_none(),
        "the secret is write-only"
    );
}

#[tokio::test]
async fn a_source_with_subscriptions_cannot_be_deleted() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let id = source["id"].as_str().expect("id");
    api.create_subscription("http://127.0.0.1:9/hook", json!({"source_id": id}))
        .await;
    let delete = api
        .authorized(
            api.http
                .delete(format!("{}/api/v1/sources/{id}", app.address)),
        )
        .send()
        .await
        .expect("sent");
    assert_problem(delete, 409).await;
    assert_eq!(
        api.get(&format!("/api/v1/sources/{id}")).await.status(),
        200
    );
}

#[tokio::test]
async fn a_source_over_its_rate_limit_is_429_with_retry_after_and_stores_nothing_more() {
    let app = spawn_app().await;
    let api = app.user().await;
    let response = api
        .post(
            "/api/v1/sources",
            &json!({"name": "limited", "provider": "none", "rate_limit_per_sec": 5}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let source: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(source["rate_limit_per_sec"], 5);
    let url = source["ingest_url"].as_str().expect("an ingest URL");
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for n in 0..20 {
        let response = api
            .ingest(
                url,
                "application/json",
                format!(r#"{{"type": "t", "n": {n}}}"#),
            )
            .await;
        if response.status() == 429 {
            let retry_after = response.headers()["retry-after"]
                .to_str()
                .expect("text")
                .to_owned();
            assert_eq!(retry_after, "1");
            assert_problem(response, 429).await;
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    // A second's burst (5), then 5/s for as long as the 20 took (longer on a loaded machine).
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert!(
        accepted >= 5 && accepted as f64 <= 6.0 + 5.0 * elapsed && statuses.contains(&429),
        "{statuses:?} in {elapsed:.2} s"
    );
    assert_eq!(
        app.count("events").await,
        accepted as i64,
        "nothing stored past the limit"
    );

    let id = source["id"].as_str().expect("id");
    let patch = |body: serde_json::Value| {
        api.authorized(
            api.http
                .patch(format!("{}/api/v1/sources/{id}", app.address)),
        )
        .json(&body)
        .send()
    };
    let renamed = patch(json!({"name": "still limited"})).await.expect("sent");
    assert_eq!(
        renamed.json::<serde_json::Value>().await.expect("JSON")["rate_limit_per_sec"],
        5
    );
    let problem = assert_problem(
        patch(json!({"rate_limit_per_sec": 0})).await.expect("sent"),
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["rate_limit_per_sec"]);
    let lifted = patch(json!({"rate_limit_per_sec": null}))
        .await
        .expect("sent");
    assert_eq!(
        lifted.json::<serde_json::Value>().await.expect("JSON")["rate_limit_per_sec"],
        serde_json::Value::Null
    );
    for n in 0..20 {
        let response = api
            .ingest(url, "application/json", format!(r#"{{"n": {n}}}"#))
            .await;
        assert_eq!(response.status(), 202, "no limit any more");
    }
}
