//! What a slow or greedy client can hold: a connection that never finishes its headers is
//! closed, a body that never finishes is a 408, and connections beyond the cap wait.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, spawn_app_with};

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connecting")
}

/// Everything the server sends until it closes the connection, or `None` if it is still
/// open after `patience`.
async fn until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut received)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let app = spawn_app_with(|settings| settings.header_read_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /ingest/whatever HTTP/1.1\r\nHost: warren\r\nContent-Le")
        .await
        .expect("half the headers");
    assert!(
        until_closed(&mut stream, Duration::from_secs(10))
            .await
            .is_some(),
        "the connection is still open 10 s after a 1 s header timeout"
    );
    let mut idle = connect(&app).await;
    assert!(
        until_closed(&mut idle, Duration::from_secs(10))
            .await
            .is_some(),
        "a connection that sends nothing is closed too"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_is_a_408_and_nothing_is_stored() {
    let app = spawn_app_with(|settings| settings.body_read_timeout_secs = 1).await;
    let (_, url) = app.source_with_subscriber().await;
    let path = url.trim_start_matches(&app.address);
    let mut stream = connect(&app).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: warren\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"type\": \"slow\""
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("a partial body");
    let answer = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("answered and closed within 10 s of a 1 s body deadline");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(app.count("events").await, 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|settings| settings.max_connections = 3).await;
    let held: Vec<TcpStream> = futures_util::future::join_all((0..3).map(|_| connect(&app))).await;
    let mut fourth = connect(&app).await;
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    assert_eq!(
        until_closed(&mut fourth, Duration::from_millis(1500)).await,
        None,
        "a fourth connection is served while three are open"
    );
    drop(held);
    let answer = until_closed(&mut fourth, Duration::from_secs(10))
        .await
        .expect("served once the others closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
