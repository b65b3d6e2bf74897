//! Every row a user can see is scoped to its owner.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn another_user_gets_404_for_each_resource_by_id_and_sees_none_in_lists() {
    let app = spawn_app().await;
    let (alice, url) = app.source_with_subscriber().await;
    let accepted: Value = alice
        .ingest(&url, "application/json", "{}")
        .await
        .json()
        .await
        .expect("JSON");
    let event_id = accepted["id"].as_str().expect("id");
    let event = alice.get_json(&format!("/api/v1/events/{event_id}")).await;
    let delivery_id = event["deliveries"][0]["id"].as_str().expect("a delivery");
    let subscription_id = event["deliveries"][0]["subscription_id"]
        .as_str()
        .expect("a subscription");
    let key: Value = alice
        .post("/api/v1/api-keys", &json!({"name": "k"}))
        .await
        .json()
        .await
        .expect("JSON");
    let key_id = key["id"].as_str().expect("id");
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE deliveries SET status = 'dead', dead_at = now()",
            &[],
        )
        .await
        .expect("making a dead letter");

    let bob = app.user().await;
    let base = &app.address;
    let requests = [
        bob.http.get(format!("{base}/api/v1/events/{event_id}")),
        bob.http
            .post(format!("{base}/api/v1/events/{event_id}/replay")),
        bob.http
            .get(format!("{base}/api/v1/deliveries/{delivery_id}")),
        bob.http
            .post(format!("{base}/api/v1/deliveries/{delivery_id}/retry")),
        bob.http
            .post(format!("{base}/api/v1/dead-letters/{delivery_id}/replay")),
        bob.http
            .delete(format!("{base}/api/v1/dead-letters/{delivery_id}")),
        bob.http.get(format!(
            "{base}/api/v1/subscriptions/{subscription_id}/deliveries"
        )),
        bob.http.get(format!(
            "{base}/api/v1/subscriptions/{subscription_id}/stats"
        )),
        bob.http.delete(format!("{base}/api/v1/api-keys/{key_id}")),
    ];
    for request in requests {
        let response = bob.authorized(request).send().await.expect("sent");
        let url = response.url().to_string();
        assert_eq!(response.status(), 404, "{url}");
        assert_problem(response, 404).await;
    }
    for list in [
        "/api/v1/events",
        "/api/v1/dead-letters",
        "/api/v1/api-keys",
        "/api/v1/sources",
        "/api/v1/subscriptions",
    ] {
        assert_eq!(bob.get_json(list).await["data"], json!([]), "{list}");
    }
    let replayed: Value = bob
        .post("/api/v1/dead-letters/replay", &json!({}))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        replayed["replayed"], 0,
        "bulk replay touches only the caller's dead letters"
    );

    assert_eq!(
        alice.get_json("/api/v1/dead-letters").await["data"][0]["id"],
        delivery_id,
        "alice still has hers"
    );
}
