//! How event bodies are stored: exactly as received, compressed with LZ4 when large.

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_large_body_is_stored_exactly_and_compressed_with_lz4() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    let body = format!(r#"{{"type":"big","pad":"{}"}}"#, "ab".repeat(8 * 1024));
    let response = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let row = app
        .only_row(
            "SELECT raw_body, pg_column_compression(raw_body), pg_column_compression(payload)
             FROM events",
        )
        .await;
    assert_eq!(row.get::<_, Vec<u8>>(0), body.as_bytes(), "the exact bytes");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("lz4"));
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("lz4"));
}
