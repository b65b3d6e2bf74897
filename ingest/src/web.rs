//! The web app: the built front end served at `/`, with every path that is not a file
//! answered with `index.html` so client-side routes survive a reload. Paths of the API keep
//! their problem+json 404. Every answer of the web app carries [`CONTENT_SECURITY_POLICY`].

use std::path::Path;

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// Path prefixes that belong to the server, never to the web app.
const SERVER_PATHS: &[&str] = &[
    "/api/",
    "/ingest/",
    "/socket.io/",
    "/metrics",
    "/healthz",
    "/readyz",
];

/// The web app's Content-Security-Policy. The built app has no inline script or style (Vite
/// emits files under `/assets/`; React sets styles through the DOM, which CSP allows) and
/// talks only to its own origin, over fetch and socket.io (`'self'` covers the same origin's
/// WebSocket). It may not be framed (clickjacking), load plugins or rebase its URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The fallback handler: API paths get 404 problem+json, anything else the web app.
pub fn fallback(
    dir: &Path,
) -> impl Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let app = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
    move |request: Request| {
        let app = app.clone();
        Box::pin(async move {
            let path = request.uri().path();
            if SERVER_PATHS.iter().any(|prefix| path.starts_with(prefix)) {
                return ApiError::NotFound.into_response();
            }
            let mut response = match app.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            };
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            response
        })
    }
}
