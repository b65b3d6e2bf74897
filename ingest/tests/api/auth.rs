use serde_json::json;

use crate::helpers::{assert_problem, error_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_new_user_signs_up_and_their_token_says_who_they_are() {
    let app = spawn_app().await;
    let mut api = app.api.clone();
    let signup = api.signup().await;
    assert!(
        signup["token"]
            .as_str()
            .expect("a token")
            .starts_with("wrn_sess_")
    );
    let me = api.get_json("/api/v1/me").await;
    assert_eq!(me["id"], signup["user"]["id"]);
    assert_eq!(me["email"], signup["user"]["email"]);
}

#[tokio::test]
async fn login_gives_a_new_token_and_an_http_only_cookie_that_also_works() {
    let app = spawn_app().await;
    let mut api = app.api.clone();
    let signup = api.signup().await;
    let email = signup["user"]["email"].as_str().expect("an email");
    let response = app
        .api
        .post(
            "/api/v1/auth/login",
            &json!({"email": email.to_uppercase(), "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.starts_with("warren_session="));
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_ne!(body["token"], signup["token"]);
    let pair = cookie.split(';').next().expect("a cookie pair");
    let me = app
        .api
        .http
        .get(format!("{}/api/v1/me", app.address))
        .header("cookie", pair)
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn a_wrong_password_or_unknown_email_is_401() {
    let app = spawn_app().await;
    let mut api = app.api.clone();
    let signup = api.signup().await;
    let email = signup["user"]["email"].as_str().expect("an email");
    let wrong = app
        .api
        .post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": "wrong password"}),
        )
        .await;
    assert_problem(wrong, 401).await;
    let unknown = app
        .api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "nobody@example.com", "password": "whatever123"}),
        )
        .await;
    assert_problem(unknown, 401).await;
}

#[tokio::test]
async fn an_email_registered_twice_is_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"email": "twice@example.com", "password": "long enough"});
    assert_eq!(
        app.api.post("/api/v1/auth/signup", &body).await.status(),
        201
    );
    let again = json!({"email": "TWICE@example.com", "password": "long enough"});
    assert_problem(app.api.post("/api/v1/auth/signup", &again).await, 409).await;
}

#[tokio::test]
async fn a_short_password_or_bad_email_is_422_naming_the_field() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.api
            .post(
                "/api/v1/auth/signup",
                &json!({"email": "not-an-email", "password": "short"}),
            )
            .await,
        422,
    )
    .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "password"]);
}

#[tokio::test]
async fn malformed_json_or_a_wrong_content_type_is_400() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/auth/signup", app.address);
    let malformed = app
        .api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("sent");
    assert_problem(malformed, 400).await;
    let form = app
        .api
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a")
        .send()
        .await
        .expect("sent");
    assert_problem(form, 400).await;
}

#[tokio::test]
async fn no_token_a_bad_token_and_a_logged_out_token_are_401() {
    let app = spawn_app().await;
    assert_problem(app.api.get("/api/v1/me").await, 401).await;
    let mut bad = app.api.clone();
    bad.token = Some("wrn_sess_not-a-real-token".into());
    assert_problem(bad.get("/api/v1/me").await, 401).await;

    let mut api = app.api.clone();
    api.signup().await;
    assert_eq!(
        api.post("/api/v1/auth/logout", &json!({})).await.status(),
        204
    );
    assert_problem(api.get("/api/v1/me").await, 401).await;
}

/// A login attempt's status, and its `Retry-After` if any.
async fn try_login(
    api: &warren_testkit::api::ApiClient,
    email: &str,
    password: &str,
) -> reqwest::Response {
    api.post(
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn failed_logins_lock_the_email_even_for_the_right_password_and_successes_do_not_count() {
    let app = spawn_app_with(|settings| {
        settings.login_failures_per_email = 3.try_into().expect("non-zero");
    })
    .await;
    let mut api = app.api.clone();
    let signup = api.signup().await;
    let email = signup["user"]["email"].as_str().expect("an email");
    for _ in 0..5 {
        assert_eq!(
            try_login(&api, email, "correct horse battery")
                .await
                .status(),
            200
        );
    }
    for _ in 0..4 {
        assert_problem(try_login(&api, email, "wrong password!").await, 401).await;
    }
    let locked = try_login(&api, email, "correct horse battery").await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_problem(locked, 429).await;
    let mut other = app.api.clone();
    let other_email = other.signup().await["user"]["email"]
        .as_str()
        .expect("an email")
        .to_owned();
    assert_eq!(
        try_login(&other, &other_email, "correct horse battery")
            .await
            .status(),
        200,
        "another email is not locked"
    );
}

#[tokio::test]
async fn failed_logins_from_one_address_lock_it_for_every_email() {
    let app = spawn_app_with(|settings| {
        settings.login_failures_per_address = 3.try_into().expect("non-zero");
    })
    .await;
    let mut api = app.api.clone();
    let email = api.signup().await["user"]["email"]
        .as_str()
        .expect("an email")
        .to_owned();
    for n in 0..4 {
        assert_problem(
            try_login(&api, &format!("nobody{n}@example.com"), "guess guess").await,
            401,
        )
        .await;
    }
    assert_problem(try_login(&api, &email, "correct horse battery").await, 429).await;
}
