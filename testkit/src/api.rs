//! A small client for Warren's HTTP API, so tests read as what a user does.

use serde_json::{Value, json};

/// A client of one Warren server, signed in or not.
#[derive(Clone)]
pub struct ApiClient {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The session token once signed up or logged in.
    pub token: Option<String>,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl ApiClient {
    /// A client of the server at `base`.
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Self {
            base,
            token: None,
            http,
        }
    }

    /// Signs up a new user with a unique email and keeps their token.
    pub async fn signup(&mut self) -> Value {
        let email = format!("{}@example.com", crate::unique_name("user"));
        let response = self
            .post(
                "/api/v1/auth/signup",
                &json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(response.status(), 201, "signup");
        let body: Value = response.json().await.expect("a JSON body");
        self.token = Some(body["token"].as_str().expect("a token").to_owned());
        body
    }

    /// Creates a source with provider `none`.
    pub async fn create_source(&self) -> Value {
        self.create(
            "/api/v1/sources",
            &json!({"name": "test source", "provider": "none"}),
        )
        .await
    }

    /// Creates a subscription to `target_url`, with any extra fields.
    pub async fn create_subscription(&self, target_url: &str, extra: Value) -> Value {
        let mut body = json!({"name": "test subscription", "target_url": target_url});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        self.create("/api/v1/subscriptions", &body).await
    }

    async fn create(&self, path: &str, body: &Value) -> Value {
        let response = self.post(path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "POST {path}: {text}");
        serde_json::from_str(&text).expect("a JSON body")
    }

    /// POSTs JSON with the token.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// PATCHes JSON with the token.
    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }

    /// PUTs JSON with the token.
    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        self.authorized(self.http.request(method, url))
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }

    /// GETs with the token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.authorized(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("the request is sent")
    }

    /// DELETEs with the token.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.authorized(self.http.delete(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("the request is sent")
    }

    /// GETs JSON with the token, expecting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).expect("a JSON body")
    }

    /// Sends a request built from this client's HTTP client, with the token.
    pub fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// POSTs raw bytes to a source's ingest URL with a content type.
    pub async fn ingest(
        &self,
        ingest_url: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(ingest_url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the ingest request is sent")
    }
}
