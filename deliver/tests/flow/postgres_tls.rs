//! PostgreSQL over TLS against the local server (`ssl = on`, Debian's snakeoil certificate,
//! which names `localhost`): each `sslmode` does what libpq's does, a whole Warren runs on
//! a verified connection, and the binaries refuse a bad `sslmode` or secret file in one line.

use std::{process::Command, time::Duration};

use warren_shared::db;
use warren_testkit::database::{SERVER_CERT, TestDatabase};

use crate::helpers::{no_extras, spawn_stack_with_database_query};

/// A CA that signed nothing the server shows.
const UNRELATED_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/unrelated-ca.pem"
);

/// A URL to `db` by `host` (its port kept) with `query`.
fn url(db: &TestDatabase, host: &str, query: &str) -> String {
    let address = db.address();
    let port = address.rsplit(':').next().expect("a port");
    format!("postgres://postgres@{host}:{port}/{}?{query}", db.name)
}

/// Whether the session `url` opens is encrypted, as the server sees it.
async fn session_is_tls(url: &str) -> anyhow::Result<bool> {
    let (client, _driver) = db::connect(url).await?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// What connecting with `url` fails with, on one line.
async fn refusal(url: &str) -> String {
    match session_is_tls(url).await {
        Ok(tls) => panic!("{url} connected (tls: {tls})"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn sslmode_require_encrypts_the_session_and_disable_does_not() {
    let db = TestDatabase::create().await;

    assert!(
        session_is_tls(&url(&db, "127.0.0.1", "sslmode=require"))
            .await
            .expect("connects")
    );
    assert!(
        !session_is_tls(&url(&db, "127.0.0.1", "sslmode=disable"))
            .await
            .expect("connects")
    );
    // libpq's default: TLS when the server offers it, as this one does.
    assert!(
        session_is_tls(&url(&db, "127.0.0.1", "application_name=w"))
            .await
            .expect("connects")
    );
}

#[tokio::test]
async fn verify_ca_accepts_the_servers_ca_whatever_the_host_name() {
    let db = TestDatabase::create().await;
    let query = format!("sslmode=verify-ca&sslrootcert={SERVER_CERT}");

    // The certificate names `localhost`, not 127.0.0.1: verify-ca does not look at names.
    assert!(
        session_is_tls(&url(&db, "127.0.0.1", &query))
            .await
            .expect("connects")
    );
}

#[tokio::test]
async fn verify_ca_and_require_with_a_ca_refuse_a_server_it_did_not_sign() {
    let db = TestDatabase::create().await;

    for mode in ["verify-ca", "verify-full", "require"] {
        let query = format!("sslmode={mode}&sslrootcert={UNRELATED_CA}");
        let error = refusal(&url(&db, "localhost", &query)).await;
        assert!(
            error.contains("invalid peer certificate: UnknownIssuer"),
            "{mode}: {error}"
        );
    }
}

#[tokio::test]
async fn verify_full_checks_the_host_name_against_the_certificate() {
    let db = TestDatabase::create().await;
    let query = format!("sslmode=verify-full&sslrootcert={SERVER_CERT}");

    let error = refusal(&url(&db, "127.0.0.1", &query)).await;
    assert!(
        error.contains("certificate not valid for name \"127.0.0.1\""),
        "{error}"
    );
    assert!(
        session_is_tls(&url(&db, "localhost", &query))
            .await
            .expect("connects")
    );
}

#[tokio::test]
async fn an_event_runs_end_to_end_with_every_connection_verified() {
    let query = format!("sslmode=verify-ca&sslrootcert={SERVER_CERT}");
    let stack = spawn_stack_with_database_query(&query).await;
    stack.subscribe(no_extras()).await;

    stack.send(r#"{"type": "order.paid"}"#).await;
    stack.receiver.wait_for(1, Duration::from_secs(15)).await;

    // Every session on this database (ingest's pool, its listeners, the worker's pool, the
    // test's own client) is encrypted: one that bypassed the connector would show here.
    let client = stack.db.client().await;
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE NOT s.ssl)
               FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.datname = $1",
            &[&stack.db.name],
        )
        .await
        .expect("counting sessions");
    let (sessions, plaintext): (i64, i64) = (row.get(0), row.get(1));
    assert!(sessions >= 3, "{sessions} sessions");
    assert_eq!(plaintext, 0, "of {sessions} sessions");
}

/// Runs `warren-deliver migrate` with `env`; returns its exit code and what it printed.
fn migrate_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_warren-deliver"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("running warren-deliver");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn an_unknown_sslmode_stops_the_binary_with_one_line_and_no_password() {
    let (code, stderr) = migrate_with(&[(
        "DATABASE_URL",
        "postgres://postgres:s3cretpw@127.0.0.1:5432/postgres?sslmode=verify_full",
    )]);

    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "error: DATABASE_URL: unknown sslmode \"verify_full\" \
         (expected disable, prefer, require, verify-ca or verify-full)\n"
    );
}

#[test]
fn a_missing_secret_file_stops_the_binary_with_one_line() {
    let (code, stderr) = migrate_with(&[("DATABASE_URL_FILE", "/nonexistent/database-url")]);

    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "error: DATABASE_URL_FILE=/nonexistent/database-url: cannot read it: \
         No such file or directory (os error 2)\n"
    );
}

#[tokio::test]
async fn the_database_url_is_read_from_its_file() {
    // An empty database beside the test's own: migrating it shows which URL was used.
    let db = TestDatabase::create().await;
    let empty = warren_testkit::unique_name("warren_test_file");
    let admin = db.client().await;
    admin
        .batch_execute(&format!("CREATE DATABASE {empty}"))
        .await
        .expect("creating a database");
    let file = std::env::temp_dir().join(&empty);
    let target = url(&db, "127.0.0.1", "sslmode=require").replace(&db.name, &empty);
    std::fs::write(&file, format!("{target}\n")).expect("writing the secret file");

    let (code, stderr) = migrate_with(&[("DATABASE_URL_FILE", file.to_str().expect("UTF-8"))]);
    std::fs::remove_file(&file).expect("removing the secret file");

    let (migrated, _driver) = db::connect(&target).await.expect("connecting");
    let applied: i64 = migrated
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("the migrations' history")
        .get(0);
    drop(migrated);
    admin
        .batch_execute(&format!("DROP DATABASE {empty} WITH (FORCE)"))
        .await
        .expect("dropping the database");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(applied > 0);
}
