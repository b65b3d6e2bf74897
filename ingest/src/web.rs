//! The web app: the built front end served at `/`, with every path that is not a file
//! answered with `index.html` so client-side routes survive a reload. Paths of the API keep
//! their problem+json 404.

use std::path::Path;

use axum::{
    extract::Request,
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
            match app.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        })
    }
}
