//! A write carried by the session cookie must come from Warren's own pages: an `Origin` (or,
//! lacking one, a `Referer`) of its public origin or an allowed one, else 403. Bearer tokens
//! and reads are not affected.

use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use warren_testkit::api::ApiClient;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// A signed-up user with a subscription; returns them and the subscription's rotate URL.
async fn user_with_subscription(app: &TestApp) -> (ApiClient, String) {
    let api = app.user().await;
    let subscription = api
        .create_subscription("http://127.0.0.1:9/hook", serde_json::json!({}))
        .await;
    let id = subscription["id"].as_str().expect("an id");
    (
        api,
        format!("{}/api/v1/subscriptions/{id}/rotate-secret", app.address),
    )
}

/// A POST carrying the user's session in the cookie, as a browser sends it, with a
/// `text/plain` body (which a page of any origin can send without asking).
fn cookie_post(api: &ApiClient, url: &str) -> RequestBuilder {
    let token = api.token.as_deref().expect("a token");
    api.http
        .post(url)
        .header("cookie", format!("warren_session={token}"))
        .header("content-type", "text/plain")
        .body("")
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("sent")
}

async fn signing_secret(app: &TestApp) -> String {
    app.only_row("SELECT signing_secret FROM subscriptions")
        .await
        .get(0)
}

#[tokio::test]
async fn a_cookie_write_from_another_origin_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (api, rotate) = user_with_subscription(&app).await;
    let before = signing_secret(&app).await;

    let forged = send(cookie_post(&api, &rotate).header("origin", "https://evil.example")).await;
    let referred =
        send(cookie_post(&api, &rotate).header("referer", "https://evil.example/page")).await;
    let null = send(cookie_post(&api, &rotate).header("origin", "null")).await;

    let problem = assert_problem(forged, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("a detail")
            .contains("https://evil.example"),
        "{problem}"
    );
    assert_eq!(problem["type"], "urn:warren:problem:forbidden");
    assert_problem(referred, 403).await;
    assert_problem(null, 403).await;
    assert_eq!(signing_secret(&app).await, before, "the secret was rotated");
}

#[tokio::test]
async fn a_cookie_write_without_origin_or_referer_is_403() {
    let app = spawn_app().await;
    let (api, rotate) = user_with_subscription(&app).await;
    let logout = format!("{}/api/v1/auth/logout", app.address);

    assert_problem(send(cookie_post(&api, &rotate)).await, 403).await;
    assert_problem(send(cookie_post(&api, &logout)).await, 403).await;
    assert_eq!(api.get("/api/v1/me").await.status(), 200, "still logged in");
}

#[tokio::test]
async fn a_cookie_write_from_warrens_own_pages_goes_through() {
    let app = spawn_app().await;
    let (api, rotate) = user_with_subscription(&app).await;
    let before = signing_secret(&app).await;

    let from_origin = send(cookie_post(&api, &rotate).header("origin", &app.address)).await;
    let page = format!("{}/subscriptions/x", app.address);
    let from_referer = send(cookie_post(&api, &rotate).header("referer", page)).await;

    assert_eq!(from_origin.status(), 200);
    assert_eq!(from_referer.status(), 200);
    assert_ne!(signing_secret(&app).await, before);
}

#[tokio::test]
async fn an_allowed_origin_is_trusted_like_the_public_one() {
    let app = spawn_app_with(|settings| {
        settings.allowed_origins = "http://localhost:5173".parse().expect("an origin");
    })
    .await;
    let (api, rotate) = user_with_subscription(&app).await;

    let dev_server =
        send(cookie_post(&api, &rotate).header("origin", "http://localhost:5173")).await;
    let other_port =
        send(cookie_post(&api, &rotate).header("origin", "http://localhost:5174")).await;

    assert_eq!(dev_server.status(), 200);
    assert_problem(other_port, 403).await;
}

#[tokio::test]
async fn bearer_writes_and_cookie_reads_are_not_asked_for_an_origin() {
    let app = spawn_app().await;
    let (api, rotate) = user_with_subscription(&app).await;
    let token = api.token.as_deref().expect("a token").to_owned();

    let bearer = send(
        api.http
            .post(&rotate)
            .bearer_auth(&token)
            .header("origin", "https://evil.example"),
    )
    .await;
    let read = send(
        api.http
            .get(format!("{}/api/v1/me", app.address))
            .header("cookie", format!("warren_session={token}"))
            .header("origin", "https://evil.example"),
    )
    .await;

    assert_eq!(bearer.status(), 200);
    assert_eq!(read.status(), 200);
    let me: Value = read.json().await.expect("JSON");
    assert!(me["email"].is_string());
}
