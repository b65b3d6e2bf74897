//! The live log gateway: refused without a valid token, and each user hears only their own.

use std::time::Duration;

use serde_json::Value;
use warren_testkit::live::{LiveClient, Polling};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_socket_without_a_valid_token_is_refused_at_connect() {
    let app = spawn_app().await;
    let (_, refused) = Polling::join(&app.address, "wrn_sess_not-a-token").await;
    assert!(
        refused.starts_with("44"),
        "a connect_error packet: {refused}"
    );
    assert!(refused.contains("invalid"), "{refused}");

    let user = app.user().await;
    let (_, accepted) = Polling::join(&app.address, user.token.as_deref().expect("a token")).await;
    assert!(accepted.starts_with("40"), "a connect packet: {accepted}");
}

#[tokio::test]
async fn an_event_received_reaches_its_owners_sockets_and_no_one_elses() {
    let app = spawn_app().await;
    let (alice, url) = app.source_with_subscriber().await;
    let bob = app.user().await;
    let alice_live =
        LiveClient::connect(&app.address, alice.token.as_deref().expect("token")).await;
    let bob_live = LiveClient::connect(&app.address, bob.token.as_deref().expect("token")).await;

    let accepted: Value = alice
        .ingest(&url, "application/json", r#"{"type": "order.paid"}"#)
        .await
        .json()
        .await
        .expect("JSON");
    let line = alice_live
        .wait_for("event.received", Duration::from_secs(10), |p| {
            p["event_id"] == accepted["id"]
        })
        .await;
    assert_eq!(line["event_type"], "order.paid");
    assert_eq!(line["deliveries"], 1);
    assert!(line["at"].is_string() && line["source_id"].is_string());

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        bob_live.lines().is_empty(),
        "bob heard alice's line: {:?}",
        bob_live.lines()
    );
    alice_live.close().await;
    bob_live.close().await;
}

#[tokio::test]
async fn a_browser_connects_with_the_session_cookie_from_warrens_own_origin() {
    let app = spawn_app().await;
    let (alice, url) = app.source_with_subscriber().await;
    let cookie = format!(
        "warren_session={}",
        alice.token.as_deref().expect("a token")
    );

    let live = LiveClient::connect_with_cookie(&app.address, &cookie, &app.address).await;

    let accepted: Value = alice
        .ingest(&url, "application/json", r#"{"type": "order.paid"}"#)
        .await
        .json()
        .await
        .expect("JSON");
    live.wait_for("event.received", Duration::from_secs(10), |p| {
        p["event_id"] == accepted["id"]
    })
    .await;
    live.close().await;
}

#[tokio::test]
async fn the_session_cookie_opens_no_socket_for_a_page_of_another_origin() {
    let app = spawn_app().await;
    let user = app.user().await;
    let cookie = format!("warren_session={}", user.token.as_deref().expect("a token"));

    let (_, refused) = Polling::join_with(
        &app.address,
        Value::Null,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;

    assert!(
        refused.starts_with("44"),
        "a connect_error packet: {refused}"
    );
    assert!(refused.contains("evil.example"), "{refused}");
    let (_, nothing) = Polling::join_with(&app.address, Value::Null, &[]).await;
    assert!(nothing.starts_with("44"), "no credential at all: {nothing}");
}
