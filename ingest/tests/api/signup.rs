//! Signup modes (`WARREN_SIGNUP`) and invites: the first account is the operator whatever
//! the mode; after it, `open` lets anyone in, `invite` only the email of a live invite (once),
//! `closed` no one.

use reqwest::Response;
use serde_json::{Value, json};
use warren_ingest::config::SignupMode;
use warren_testkit::api::ApiClient;

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

async fn spawn_in(mode: SignupMode) -> TestApp {
    spawn_app_with(|settings| settings.signup = mode).await
}

/// `POST /api/v1/auth/signup` for `email`, with an invite token if given.
async fn sign_up(app: &TestApp, email: &str, invite: Option<&str>) -> Response {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(token) = invite {
        body["invite"] = json!(token);
    }
    app.api.post("/api/v1/auth/signup", &body).await
}

/// The instance's first account (its operator), signed in.
async fn operator(app: &TestApp) -> ApiClient {
    let response = sign_up(app, "operator@example.com", None).await;
    assert_eq!(response.status(), 201, "the first signup");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["role"], "operator");
    let mut api = app.api.clone();
    api.token = Some(body["token"].as_str().expect("a token").to_owned());
    api
}

/// An invite for `email` made by `operator`; the created answer.
async fn invite(operator: &ApiClient, email: &str) -> Value {
    let response = operator
        .post("/api/v1/invites", &json!({"email": email}))
        .await;
    assert_eq!(response.status(), 201, "creating an invite");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("JSON")
}

fn token(invite: &Value) -> &str {
    invite["token"].as_str().expect("a token")
}

#[tokio::test]
async fn by_default_the_first_account_is_the_operator_and_the_next_needs_an_invite() {
    let app = spawn_app_with(|settings| {
        settings.signup =
            warren_shared::config::defaults::<warren_ingest::config::Settings>().signup
    })
    .await;
    operator(&app).await;

    let refused = sign_up(&app, "bob@example.com", None).await;

    let problem = assert_problem(refused, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("a detail")
            .contains("invite"),
        "{problem}"
    );
    assert_eq!(app.count("users").await, 1, "nothing was stored");
}

#[tokio::test]
async fn an_invite_signs_up_its_own_email_once() {
    let app = spawn_in(SignupMode::Invite).await;
    let operator = operator(&app).await;
    let created = invite(&operator, "Bob@Example.com").await;
    assert_eq!(created["email"], "bob@example.com");
    assert!(created["expires_at"].is_string() && created["id"].is_string());

    let other_email = sign_up(&app, "eve@example.com", Some(token(&created))).await;
    assert_problem(other_email, 403).await;
    let signed_up = sign_up(&app, "bob@example.com", Some(token(&created))).await;
    assert_eq!(signed_up.status(), 201);
    let body: Value = signed_up.json().await.expect("JSON");
    assert_eq!(body["user"]["role"], "user");
    let reused = sign_up(&app, "bob2@example.com", Some(token(&created))).await;
    assert_problem(reused, 403).await;
    let again = sign_up(&app, "bob@example.com", Some(token(&created))).await;
    let problem = assert_problem(again, 403).await;

    assert!(
        problem["detail"]
            .as_str()
            .expect("a detail")
            .contains("used"),
        "{problem}"
    );
    let listed = operator.get_json("/api/v1/invites").await;
    let only = &listed["data"][0];
    assert_eq!(only["used_by"], body["user"]["id"]);
    assert!(only["used_at"].is_string());
    assert!(only.get("token").is_none(), "the list shows no token");
    assert_eq!(app.count("users").await, 2);
}

#[tokio::test]
async fn an_expired_invite_is_refused_and_stays_unused() {
    let app = spawn_in(SignupMode::Invite).await;
    let operator = operator(&app).await;
    let created = invite(&operator, "bob@example.com").await;
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE invites SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .expect("expiring the invite");

    let refused = sign_up(&app, "bob@example.com", Some(token(&created))).await;

    assert_problem(refused, 403).await;
    assert_eq!(app.count("users").await, 1);
    let row = app
        .only_row("SELECT used_at IS NULL AS unused FROM invites")
        .await;
    assert!(row.get::<_, bool>("unused"));
}

#[tokio::test]
async fn a_refused_signup_with_a_taken_email_leaves_the_invite_unused() {
    let app = spawn_in(SignupMode::Invite).await;
    let operator = operator(&app).await;
    let created = invite(&operator, "bob@example.com").await;
    app.db
        .client()
        .await
        .execute("UPDATE invites SET email = 'operator@example.com'", &[])
        .await
        .expect("pointing the invite at a taken email");

    let taken = sign_up(&app, "operator@example.com", Some(token(&created))).await;

    assert_problem(taken, 409).await;
    let row = app
        .only_row("SELECT used_at IS NULL AS unused FROM invites")
        .await;
    assert!(
        row.get::<_, bool>("unused"),
        "the signup's transaction rolled back"
    );
}

#[tokio::test]
async fn a_revoked_invite_signs_no_one_up() {
    let app = spawn_in(SignupMode::Invite).await;
    let operator = operator(&app).await;
    let created = invite(&operator, "bob@example.com").await;
    let path = format!("/api/v1/invites/{}", created["id"].as_str().expect("an id"));

    assert_eq!(operator.delete(&path).await.status(), 204);

    assert_problem(
        sign_up(&app, "bob@example.com", Some(token(&created))).await,
        403,
    )
    .await;
    assert_problem(operator.delete(&path).await, 404).await;
}

#[tokio::test]
async fn inviting_an_email_that_has_an_account_is_a_conflict_and_a_bad_email_is_422() {
    let app = spawn_in(SignupMode::Invite).await;
    let operator = operator(&app).await;

    let taken = operator
        .post("/api/v1/invites", &json!({"email": "OPERATOR@example.com"}))
        .await;
    let bad = operator
        .post("/api/v1/invites", &json!({"email": "not an email"}))
        .await;

    assert_problem(taken, 409).await;
    assert_problem(bad, 422).await;
    assert_eq!(app.count("invites").await, 0);
}

#[tokio::test]
async fn closed_signup_refuses_everyone_after_the_first_and_open_signup_no_one() {
    let closed = spawn_in(SignupMode::Closed).await;
    operator(&closed).await;
    let refused = sign_up(&closed, "bob@example.com", None).await;
    let problem = assert_problem(refused, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("a detail")
            .contains("closed")
    );
    assert_eq!(closed.count("users").await, 1);

    let open = spawn_in(SignupMode::Open).await;
    operator(&open).await;
    let response = sign_up(&open, "bob@example.com", None).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["role"], "user");
}

#[tokio::test]
async fn of_first_signups_made_at_once_exactly_one_becomes_the_operator() {
    let app = spawn_in(SignupMode::Invite).await;
    let emails: Vec<String> = (0..4).map(|i| format!("first{i}@example.com")).collect();

    let answers =
        futures_util::future::join_all(emails.iter().map(|email| sign_up(&app, email, None))).await;

    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        3,
        "{statuses:?}"
    );
    let row = app
        .only_row("SELECT count(*) FILTER (WHERE role = 'operator') AS operators FROM users")
        .await;
    assert_eq!(row.get::<_, i64>("operators"), 1);
}

#[tokio::test]
async fn the_invite_routes_answer_403_to_a_user() {
    let app = spawn_in(SignupMode::Open).await;
    let operator = operator(&app).await;
    let created = invite(&operator, "carol@example.com").await;
    let user = app.user().await;
    let path = format!("/api/v1/invites/{}", created["id"].as_str().expect("an id"));

    assert_problem(
        user.post("/api/v1/invites", &json!({"email": "x@example.com"}))
            .await,
        403,
    )
    .await;
    assert_problem(user.get("/api/v1/invites").await, 403).await;
    assert_problem(user.delete(&path).await, 403).await;
    assert_eq!(app.count("invites").await, 1);
}
