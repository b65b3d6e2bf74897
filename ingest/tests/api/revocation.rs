//! Live sockets end with their credential: logging out, deleting an API key, or a session
//! expiring ends every socket opened with it within 5 s, and no other socket.

use std::time::Duration;

use serde_json::{Value, json};
use warren_shared::tokens::{random_token, token_hash};
use warren_testkit::{
    api::ApiClient, broker::TestBroker, database::TestDatabase, live::LiveClient, proxy::TcpProxy,
};

use crate::helpers::{TestApp, spawn_app, spawn_with, test_settings};

/// What the contract allows between a credential ending and its sockets ending.
const WITHIN: Duration = Duration::from_secs(5);

/// Long enough for the gateway to have re-checked every socket at least once.
const A_SWEEP: Duration = Duration::from_millis(2_500);

/// A second session of `api`'s user, logged in with the password `signup` used.
async fn second_session(app: &TestApp, signup: &Value) -> String {
    let response = app
        .api
        .post(
            "/api/v1/auth/login",
            &json!({"email": signup["user"]["email"], "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), 200, "login");
    let body: Value = response.json().await.expect("JSON");
    body["token"].as_str().expect("a token").to_owned()
}

fn token(api: &ApiClient) -> &str {
    api.token.as_deref().expect("a token")
}

#[tokio::test]
async fn logging_out_ends_the_sockets_of_that_session_and_no_others() {
    let app = spawn_app().await;
    let mut api = app.api.clone();
    let signup = api.signup().await;
    let other_session = second_session(&app, &signup).await;
    let ending = LiveClient::connect(&app.address, token(&api)).await;
    let cookie = format!("warren_session={}", token(&api));
    let ending_browser = LiveClient::connect_with_cookie(&app.address, &cookie, &app.address).await;
    let staying = LiveClient::connect(&app.address, &other_session).await;

    let logout = api.post("/api/v1/auth/logout", &json!({})).await;

    assert_eq!(logout.status(), 204);
    assert!(
        ending.closed_within(WITHIN).await,
        "the session's socket lives on"
    );
    assert!(
        ending_browser.closed_within(WITHIN).await,
        "the session's cookie socket lives on"
    );
    assert!(
        !staying.closed_within(A_SWEEP).await,
        "another session's socket was ended"
    );
    staying.close().await;
}

#[tokio::test]
async fn deleting_an_api_key_ends_the_sockets_opened_with_it() {
    let app = spawn_app().await;
    let api = app.user().await;
    let created: Value = api
        .post("/api/v1/api-keys", &json!({"name": "dashboard"}))
        .await
        .json()
        .await
        .expect("JSON");
    let key = created["key"].as_str().expect("a key");
    let ending = LiveClient::connect(&app.address, key).await;
    let staying = LiveClient::connect(&app.address, token(&api)).await;

    let path = format!(
        "/api/v1/api-keys/{}",
        created["id"].as_str().expect("an id")
    );
    assert_eq!(api.delete(&path).await.status(), 204);

    assert!(
        ending.closed_within(WITHIN).await,
        "the key's socket lives on"
    );
    assert!(
        !staying.closed_within(A_SWEEP).await,
        "the session's socket was ended"
    );
    staying.close().await;
}

#[tokio::test]
async fn a_session_ended_by_another_process_ends_its_sockets_here_too() {
    let app = spawn_app().await;
    let api = app.user().await;
    let live = LiveClient::connect(&app.address, token(&api)).await;

    // As another ingest process's logout does: the row goes, and this process is not told.
    let client = app.db.client().await;
    let ended = client
        .execute(
            "DELETE FROM sessions WHERE token_hash = $1",
            &[&token_hash(token(&api))],
        )
        .await
        .expect("deleted");
    assert_eq!(ended, 1);

    assert!(live.closed_within(WITHIN).await, "the socket lives on");
}

/// How long the short sessions below last.
const SHORT: Duration = Duration::from_secs(4);

/// A new user's session that expires [`SHORT`] from now, as a short session TTL would make
/// one (the setting counts in hours).
async fn short_session(app: &TestApp) -> String {
    let mut api = app.api.clone();
    let signup = api.signup().await;
    let user_id: uuid::Uuid = signup["user"]["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a UUID");
    let token = random_token("wrn_sess_");
    let client = app.db.client().await;
    client
        .execute(
            "INSERT INTO sessions (id, user_id, token_hash, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            &[
                &uuid::Uuid::now_v7(),
                &user_id,
                &token_hash(&token),
                &SHORT.as_secs_f64(),
            ],
        )
        .await
        .expect("a session");
    token
}

#[tokio::test]
async fn a_session_that_expires_ends_its_sockets_without_a_logout() {
    let app = spawn_app().await;
    let live = LiveClient::connect(&app.address, &short_session(&app).await).await;

    assert!(
        live.closed_within(SHORT + WITHIN).await,
        "the expired session's socket lives on"
    );
}

#[tokio::test]
async fn a_session_that_expires_while_the_database_is_away_still_ends_its_sockets() {
    let db = TestDatabase::create().await;
    let proxy = TcpProxy::start(&db.address()).await;
    let broker = TestBroker::new();
    let settings = test_settings(db.settings_via(&proxy.address()), broker.settings.clone());
    let app = spawn_with(settings, db, broker).await;
    let ending = LiveClient::connect(&app.address, &short_session(&app).await).await;
    let api = app.user().await;
    let staying = LiveClient::connect(&app.address, token(&api)).await;

    proxy.cut();

    assert!(
        ending.closed_within(SHORT + WITHIN).await,
        "the expired session's socket lives on"
    );
    assert!(
        !staying.closed_within(A_SWEEP).await,
        "a socket whose credential the database cannot check was ended"
    );
    staying.close().await;
}
