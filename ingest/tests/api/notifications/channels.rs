//! Channels, created, listed and deleted by their owner alone, every refusal, and the in-app
//! list with its unread count, the live event and retention.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use warren_testkit::{eventually, live::LiveClient, receiver::TestReceiver, smtp::TestSmtp};

use super::{
    WAIT, create_channel, id_of, notifications, spawn_notifying, test_channel, webhook_channel,
};
use crate::helpers::{assert_problem, error_fields};

#[tokio::test]
async fn channels_are_created_listed_and_deleted_by_their_owner_only() {
    let smtp_server = TestSmtp::start().await;
    let smtp_url = smtp_server.url();
    let app = spawn_notifying(|s| s.smtp_url = Some(smtp_url)).await;
    let alice = app.user().await;
    let bob = app.user().await;

    let response = alice
        .post(
            "/api/v1/notification-channels",
            &json!({"name": "on-call", "kind": "webhook", "target_url": "https://hooks.example.com/warren"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "it carries a secret"
    );
    let hook: Value = response.json().await.expect("JSON");
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["name"], "on-call");
    assert_eq!(hook["target_url"], "https://hooks.example.com/warren");
    assert_eq!(hook["types"], json!([]), "absent types: every type");
    assert!(
        hook["signing_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "{hook}"
    );
    assert!(hook["created_at"].is_string());
    let mail = create_channel(
        &alice,
        json!({"name": "me", "kind": "email", "email": "ops@example.com",
               "types": ["delivery.dead", "subscription.disabled", "delivery.dead"]}),
    )
    .await;
    assert_eq!(mail["email"], "ops@example.com");
    assert_eq!(mail["signing_secret"], Value::Null);
    assert_eq!(
        mail["types"],
        json!(["delivery.dead", "subscription.disabled"])
    );

    let listed = alice.get_json("/api/v1/notification-channels").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![id_of(&mail), id_of(&hook)], "newest first");
    assert_eq!(listed["next_cursor"], Value::Null);
    let page = alice
        .get_json("/api/v1/notification-channels?limit=1")
        .await;
    assert!(page["next_cursor"].is_string(), "{page}");
    assert_eq!(
        bob.get_json("/api/v1/notification-channels").await["data"],
        json!([]),
        "bob sees none of alice's channels"
    );

    let path = format!("/api/v1/notification-channels/{}", id_of(&hook));
    assert_problem(bob.delete(&path).await, 404).await;
    assert_problem(bob.post(&format!("{path}/test"), &json!({})).await, 404).await;
    assert_eq!(
        app.count("notifications").await,
        0,
        "bob's test raised nothing"
    );
    assert_eq!(alice.delete(&path).await.status(), 204);
    assert_problem(alice.delete(&path).await, 404).await;
    assert_problem(alice.post(&format!("{path}/test"), &json!({})).await, 404).await;
    let left = alice.get_json("/api/v1/notification-channels").await;
    assert_eq!(left["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn invalid_channels_are_refused_with_a_422_naming_the_field_and_nothing_is_stored() {
    let smtp_server = TestSmtp::start().await;
    let smtp_url = smtp_server.url();
    let app = spawn_notifying(|s| s.smtp_url = Some(smtp_url)).await;
    let api = app.user().await;
    let webhook = |url: &str| json!({"name": "n", "kind": "webhook", "target_url": url});
    let cases = [
        (webhook("http://10.0.0.7/hook"), "target_url"),
        (webhook("http://169.254.169.254/latest"), "target_url"),
        (webhook("http://192.168.1.20/hook"), "target_url"),
        (webhook("http://[::1]:8080/hook"), "target_url"),
        (webhook("ftp://example.com/hook"), "target_url"),
        (webhook("not a url"), "target_url"),
        (webhook("https://example.com/\u{0}"), "target_url"),
        (json!({"name": "n", "kind": "webhook"}), "target_url"),
        (
            json!({"name": "n", "kind": "webhook", "target_url": "https://example.com", "email": "a@example.com"}),
            "email",
        ),
        (
            json!({"name": "n", "kind": "email", "email": "not-an-address"}),
            "email",
        ),
        (
            json!({"name": "n", "kind": "email", "email": "a\u{0}@example.com"}),
            "email",
        ),
        (json!({"name": "n", "kind": "email"}), "email"),
        (
            json!({"name": "a\u{0}b", "kind": "email", "email": "a@example.com"}),
            "name",
        ),
        (
            json!({"name": "", "kind": "email", "email": "a@example.com"}),
            "name",
        ),
        (
            json!({"name": "n", "kind": "email", "email": "a@example.com", "types": ["delivery.dead", "subscription.exploded"]}),
            "types",
        ),
        (
            json!({"name": "n", "kind": "email", "email": "a@example.com", "types": ["delivery.dead\u{0}"]}),
            "types",
        ),
        (
            json!({"name": "n", "kind": "pager", "email": "a@example.com"}),
            "kind",
        ),
    ];
    for (body, field) in cases {
        let response = api.post("/api/v1/notification-channels", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), vec![field], "{body}: {problem}");
    }
    assert_eq!(app.count("notification_channels").await, 0);
}

#[tokio::test]
async fn an_email_channel_is_refused_when_the_instance_has_no_smtp_server() {
    let app = spawn_notifying(|s| s.smtp_url = None).await;
    let api = app.user().await;
    let response = api
        .post(
            "/api/v1/notification-channels",
            &json!({"name": "me", "kind": "email", "email": "ops@example.com"}),
        )
        .await;
    let problem = assert_problem(response, 422).await;
    assert_eq!(error_fields(&problem), vec!["kind"]);
    assert!(problem.to_string().contains("WARREN_SMTP_URL"), "{problem}");
    assert_eq!(app.count("notification_channels").await, 0);
}

#[tokio::test]
async fn the_in_app_list_counts_unread_ones_and_marks_them_read() {
    let app = spawn_notifying(|_| {}).await;
    let api = app.user().await;
    let bob = app.user().await;
    let receiver = TestReceiver::start().await;
    let channel = webhook_channel(&api, &receiver.url("/n")).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(test_channel(&api, &channel).await);
    }

    let listed = notifications(&api).await;
    let listed_ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id_of)
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed_ids, newest_first);
    assert_eq!(listed["unread"], 3);
    let item = &listed["data"][0];
    assert_eq!(item["type"], "notification.test");
    assert_eq!(item["subscription_id"], Value::Null);
    assert_eq!(item["read"], false);
    assert!(
        item["at"].is_string() && item["data"]["count"] == 1,
        "{item}"
    );
    let page = api.get_json("/api/v1/notifications?limit=2").await;
    assert!(page["next_cursor"].is_string());
    assert_eq!(page["unread"], 3);
    assert_eq!(notifications(&bob).await["unread"], 0, "bob has none");

    let read = |body: Value| {
        let api = api.clone();
        async move {
            let response = api.post("/api/v1/notifications/read", &body).await;
            assert_eq!(response.status(), 204);
        }
    };
    read(json!({"up_to": ids[1]})).await;
    let listed = notifications(&api).await;
    assert_eq!(listed["unread"], 1);
    let read_flags: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|n| &n["read"])
        .collect();
    assert_eq!(read_flags, vec![&json!(false), &json!(true), &json!(true)]);
    let bad = api
        .post("/api/v1/notifications/read", &json!({"up_to": "nope"}))
        .await;
    assert_eq!(error_fields(&assert_problem(bad, 422).await), vec!["up_to"]);
    let empty = api
        .authorized(
            api.http
                .post(format!("{}/api/v1/notifications/read", api.base)),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(empty.status(), 204, "no body: all of them");
    assert_eq!(notifications(&api).await["unread"], 0);
}

#[tokio::test]
async fn each_notification_is_emitted_live_to_its_owner_only() {
    let app = spawn_notifying(|_| {}).await;
    let api = app.user().await;
    let bob = app.user().await;
    let alice_live = LiveClient::connect(&app.address, api.token.as_deref().expect("token")).await;
    let bob_live = LiveClient::connect(&app.address, bob.token.as_deref().expect("token")).await;
    let receiver = TestReceiver::start().await;
    let channel = webhook_channel(&api, &receiver.url("/n")).await;

    let id = test_channel(&api, &channel).await;

    let line = alice_live
        .wait_for("notification", WAIT, |p| p["id"] == id.as_str())
        .await;
    assert_eq!(line["type"], "notification.test");
    assert_eq!(line["read"], false);
    assert_eq!(line["subscription_id"], Value::Null);
    assert_eq!(line["data"]["count"], 1);
    assert!(line["at"].is_string());
    tokio::time::sleep(Duration::from_millis(700)).await;
    let emitted = alice_live
        .lines()
        .iter()
        .filter(|(event, _)| event == "notification")
        .count();
    assert_eq!(emitted, 1, "emitted once");
    assert!(bob_live.lines().is_empty(), "{:?}", bob_live.lines());
    alice_live.close().await;
    bob_live.close().await;
}

#[tokio::test]
async fn notifications_older_than_the_retention_go_and_newer_ones_stay() {
    let app = spawn_notifying(|s| {
        s.retention_days = 30;
        s.retention_interval_secs = 1;
    })
    .await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    let channel = webhook_channel(&api, &receiver.url("/n")).await;
    let recent = test_channel(&api, &channel).await;
    let forty_days_ago = std::time::SystemTime::now() - Duration::from_secs(40 * 86_400);
    let since_epoch = forty_days_ago
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let old = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        since_epoch.as_secs(),
        0,
    ));
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO notifications (id, user_id, type, data)
             SELECT $1, id, 'notification.test', '{\"count\": 1}' FROM users",
            &[&old],
        )
        .await
        .expect("an old notification");

    eventually("the old notification to go", WAIT, || async {
        let listed = notifications(&api).await;
        let ids: Vec<String> = listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|n| id_of(n).to_owned())
            .collect();
        (ids == vec![recent.clone()]).then_some(())
    })
    .await;
}
