//! `warren-ingest apply FILE`, the real binary against the test server's database: what it
//! creates is what the API shows, a second run changes nothing, and a bad file changes
//! nothing and names its line.

use std::{path::PathBuf, process::Output, time::Duration};

use serde_json::Value;
use warren_testkit::{api::ApiClient, eventually, unique_name};

use crate::helpers::{TestApp, spawn_app};

/// A file declaring a GitHub source and a subscription to it, with its secrets in variables.
const FILE: &str = "\
owner: ${OWNER}
sources:
  - name: github
    provider: github
    verification_secret: ${GH_SECRET}
subscriptions:
  - name: deploys
    target_url: https://ci.example.com/hooks
    source: github
    event_types: [push, release.*]
    headers:
      Authorization: Bearer ${CI_TOKEN}
";

/// A signed-up user and their email.
async fn owner(app: &TestApp) -> (ApiClient, String) {
    let mut api = app.api.clone();
    let session = api.signup().await;
    let email = session["user"]["email"]
        .as_str()
        .expect("an email")
        .to_owned();
    (api, email)
}

/// Runs `warren-ingest apply` on `yaml` with `args`, the owner's email in `OWNER`, and the
/// variables `vars`.
async fn apply(
    app: &TestApp,
    email: &str,
    yaml: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Output {
    let path: PathBuf = std::env::temp_dir().join(format!("{}.yaml", unique_name("apply")));
    std::fs::write(&path, yaml).expect("writing the file");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_warren-ingest"));
    command
        .arg("apply")
        .arg(&path)
        .args(args)
        .env("DATABASE_URL", app.db.settings().url)
        .env("OWNER", email)
        .env("GH_SECRET", "gh-secret-1")
        .env("CI_TOKEN", "ci-token-1")
        .env_remove("RUST_LOG");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the binary runs");
    std::fs::remove_file(&path).expect("removing the file");
    output
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

/// The one line a failed apply prints.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "apply succeeded");
    let stderr = String::from_utf8(output.stderr.clone()).expect("UTF-8");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    stderr.trim().to_owned()
}

async fn list(api: &ApiClient, what: &str) -> Vec<Value> {
    let response = api.get(&format!("/api/v1/{what}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["data"].as_array().expect("a list").clone()
}

#[tokio::test]
async fn apply_creates_what_the_api_shows_and_a_second_run_keeps_every_id() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;

    let first = stdout(&apply(&app, &email, FILE, &[], &[]).await);

    assert!(first.contains("create source `github`"), "{first}");
    assert!(first.contains("create subscription `deploys`"), "{first}");
    assert!(first.contains("applied: created 2, updated 0, deleted 0; 0 unchanged"));
    let sources = list(&api, "sources").await;
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["provider"], "github");
    assert_eq!(sources[0]["has_verification_secret"], true);
    let ingest_url = sources[0]["ingest_url"].as_str().expect("an ingest URL");
    assert!(ingest_url.contains("/ingest/src_"), "{ingest_url}");
    let subscriptions = list(&api, "subscriptions").await;
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0]["source_id"], sources[0]["id"]);
    assert_eq!(
        subscriptions[0]["headers"]["Authorization"],
        "Bearer ci-token-1"
    );
    assert_eq!(
        subscriptions[0]["event_types"],
        serde_json::json!(["push", "release.*"])
    );
    assert_eq!(subscriptions[0]["timeout_ms"], 10000, "the API's default");
    let secret = app
        .only_row("SELECT verification_secret FROM sources")
        .await;
    assert_eq!(secret.get::<_, String>(0), "gh-secret-1");

    let second = stdout(&apply(&app, &email, FILE, &[], &[]).await);

    assert!(
        second.contains("applied: created 0, updated 0, deleted 0; 2 unchanged"),
        "{second}"
    );
    assert_eq!(list(&api, "sources").await, sources);
    assert_eq!(list(&api, "subscriptions").await, subscriptions);
}

#[tokio::test]
async fn a_changed_value_or_variable_updates_just_that_field() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    stdout(&apply(&app, &email, FILE, &[], &[]).await);
    let before = list(&api, "subscriptions").await;
    let changed = FILE.replace("ci.example.com/hooks", "ci.example.com/v2");

    let output = stdout(&apply(&app, &email, &changed, &[], &[("GH_SECRET", "gh-secret-2")]).await);

    assert!(
        output.contains("update source `github`") && output.contains("): verification_secret"),
        "{output}"
    );
    assert!(
        output.contains("update subscription `deploys`") && output.contains("): target_url"),
        "{output}"
    );
    let after = list(&api, "subscriptions").await;
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(
        after[0]["signing_secret"], before[0]["signing_secret"],
        "the key stays"
    );
    assert_eq!(after[0]["target_url"], "https://ci.example.com/v2");
    let secret = app
        .only_row("SELECT verification_secret FROM sources")
        .await;
    assert_eq!(secret.get::<_, String>(0), "gh-secret-2");
}

#[tokio::test]
async fn apply_makes_keys_of_the_new_kinds_and_a_second_run_keeps_them() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    let file = format!(
        "{FILE}    signing_algorithm: rsa_pss_sha256
  - name: warehouse
    target_url: https://dw.example.com/hooks
    signing_algorithm: hmac_sha512
"
    );

    stdout(&apply(&app, &email, &file, &[], &[]).await);

    let subscriptions = list(&api, "subscriptions").await;
    let named = |name: &str| {
        subscriptions
            .iter()
            .find(|s| s["name"] == name)
            .expect("created")
            .clone()
    };
    let (deploys, warehouse) = (named("deploys"), named("warehouse"));
    assert_eq!(deploys["signing_algorithm"], "rsa_pss_sha256");
    assert!(
        deploys["public_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("-----BEGIN PUBLIC KEY-----"))
    );
    assert_eq!(warehouse["signing_algorithm"], "hmac_sha512");
    assert!(
        warehouse["signing_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );

    let second = stdout(&apply(&app, &email, &file, &[], &[]).await);

    assert!(second.contains("; 3 unchanged"), "{second}");
    assert_eq!(list(&api, "subscriptions").await, subscriptions);
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    api.create_source().await;

    let output = stdout(&apply(&app, &email, FILE, &["--dry-run", "--prune"], &[]).await);

    assert!(output.contains("create source `github`"), "{output}");
    assert!(output.contains("create subscription `deploys`"), "{output}");
    assert!(output.contains("delete source `test source`"), "{output}");
    assert!(output.contains("nothing was changed"), "{output}");
    let sources = list(&api, "sources").await;
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["name"], "test source");
    assert_eq!(app.count("subscriptions").await, 0);
}

#[tokio::test]
async fn prune_deletes_what_the_file_no_longer_names_and_only_then() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    stdout(&apply(&app, &email, FILE, &[], &[]).await);
    let without = FILE
        .split("subscriptions:")
        .next()
        .expect("a head")
        .to_owned();

    let kept = stdout(&apply(&app, &email, &without, &[], &[]).await);
    assert!(!kept.contains("delete subscription"), "{kept}");
    assert_eq!(list(&api, "subscriptions").await.len(), 1);

    let pruned = stdout(&apply(&app, &email, &without, &["--prune"], &[]).await);

    assert!(pruned.contains("delete subscription `deploys`"), "{pruned}");
    assert!(pruned.contains("unchanged source `github`"), "{pruned}");
    assert!(list(&api, "subscriptions").await.is_empty());
    assert_eq!(list(&api, "sources").await.len(), 1);
}

#[tokio::test]
async fn an_unknown_key_is_refused_at_its_line_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, email) = owner(&app).await;
    let file = format!("{FILE}    colour: red\n");

    let error = failure(&apply(&app, &email, &file, &[], &[]).await);

    assert!(
        error.contains("line 13 column 5: unknown field `colour`"),
        "{error}"
    );
    assert_eq!(app.count("sources").await, 0);
}

#[tokio::test]
async fn a_value_the_api_refuses_is_named_with_its_line_and_the_whole_file_is_rolled_back() {
    let app = spawn_app().await;
    let (_, email) = owner(&app).await;
    let file = FILE.replace("https://ci.example.com/hooks", "ftp://ci.example.com/hooks");

    let error = failure(&apply(&app, &email, &file, &[], &[]).await);

    assert!(
        error.contains(
            "line 8 column 5: subscription `deploys`: target_url: must be an http or https URL"
        ),
        "{error}"
    );
    assert_eq!(
        app.count("sources").await,
        0,
        "the source before it is not kept"
    );
}

#[tokio::test]
async fn a_missing_variable_is_named_with_its_line() {
    let app = spawn_app().await;
    let (_, email) = owner(&app).await;
    let file = FILE.replace("${CI_TOKEN}", "${WARREN_TEST_UNSET_TOKEN}");

    let error = failure(&apply(&app, &email, &file, &[], &[]).await);

    assert!(
        error.contains(
            "line 12 column 29: the environment variable `WARREN_TEST_UNSET_TOKEN` is not set"
        ),
        "{error}"
    );
    assert!(!error.contains("gh-secret-1"), "no secret in the message");
    assert_eq!(app.count("sources").await, 0);
}

#[tokio::test]
async fn an_owner_without_an_account_is_refused() {
    let app = spawn_app().await;

    let error = failure(&apply(&app, "nobody@example.com", FILE, &[], &[]).await);

    assert!(
        error.contains("line 1 column 8: no account has the email `nobody@example.com`"),
        "{error}"
    );
    assert_eq!(app.count("sources").await, 0);
}

#[tokio::test]
async fn leaving_fifo_hands_the_waiting_deliveries_to_the_outbox_relay() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    let fifo = "\
owner: ${OWNER}
sources:
  - name: plain
    provider: none
subscriptions:
  - name: ordered
    target_url: https://receiver.example.com/in
    ordering: fifo
";
    stdout(&apply(&app, &email, fifo, &[], &[]).await);
    let source = &list(&api, "sources").await[0];
    let url = TestApp::ingest_url(source);
    for n in 0..3 {
        let response = api
            .ingest(&url, "application/json", format!("{{\"n\": {n}}}"))
            .await;
        assert_eq!(response.status(), 202);
    }
    eventually(
        "every delivery enqueued",
        Duration::from_secs(20),
        || async {
            let waiting = app
                .only_row("SELECT count(*) FILTER (WHERE NOT enqueued), count(*) FROM deliveries")
                .await;
            (waiting.get::<_, i64>(0) == 0 && waiting.get::<_, i64>(1) == 3).then_some(())
        },
    )
    .await;
    let subscription = &list(&api, "subscriptions").await[0];
    let id: uuid::Uuid = subscription["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");
    let topology = app.broker.settings.topology();
    let shard = topology.ordered_queue(topology.shard_of(id));
    let depth = || async { app.broker.depth(&shard).await };
    eventually(
        "a doorbell per delivery",
        Duration::from_secs(5),
        || async { (depth().await == 3).then_some(()) },
    )
    .await;

    let output = stdout(
        &apply(
            &app,
            &email,
            &fifo.replace("    ordering: fifo\n", ""),
            &[],
            &[],
        )
        .await,
    );

    assert!(output.contains("): ordering"), "{output}");
    // The relay sends each delivery that waited in the line again, as the API's PATCH
    // would at once (the worker skips an attempt already made).
    eventually(
        "the relay publishing the line's deliveries",
        Duration::from_secs(10),
        || async { (depth().await == 6).then_some(()) },
    )
    .await;
    assert_eq!(app.count("deliveries").await, 3);
}

#[tokio::test]
async fn what_cannot_be_applied_is_refused_at_its_line_and_changes_nothing() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    stdout(&apply(&app, &email, FILE, &[], &[]).await);
    api.create_source().await;
    api.create_source().await;
    let sources = list(&api, "sources").await;
    let subscriptions = list(&api, "subscriptions").await;
    let twice = "owner: ${OWNER}\nsources:\n  - name: test source\n    provider: none\n";
    let cases = [
        (
            FILE.replace("provider: github", "provider: none"),
            "line 4 column 5: source `github` exists with provider `github`, which cannot change",
        ),
        (
            format!("{FILE}    signing_algorithm: ed25519\n"),
            "line 13 column 5: subscription `deploys` signs with `hmac_sha256`",
        ),
        (
            FILE.replace("source: github", "source: gitlab"),
            "line 9 column 5: subscription `deploys`: no source named `gitlab` in this file",
        ),
        (
            twice.to_owned(),
            "line 3 column 5: the account has 2 sources named `test source`",
        ),
        ("owner: [\n".to_owned(), "line 1 column 8: "),
        (
            FILE.replace("${CI_TOKEN}", "${CI TOKEN}"),
            "line 12 column 29: `${CI TOKEN}` is not a `${NAME}` reference",
        ),
    ];

    for (file, expected) in cases {
        let error = failure(&apply(&app, &email, &file, &[], &[]).await);

        assert!(error.contains(expected), "{expected}\n{error}");
        assert_eq!(list(&api, "sources").await, sources);
        assert_eq!(list(&api, "subscriptions").await, subscriptions);
    }
}

#[tokio::test]
async fn a_filter_in_the_file_is_stored_kept_on_a_second_run_and_refused_when_not_a_mapping() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    let file = format!(
        "{FILE}    filter:\n      repository: {{full_name: acme/api}}\n      commits: [{{author: ada}}]\n      size: 1.5\n"
    );

    stdout(&apply(&app, &email, &file, &[], &[]).await);
    let second = stdout(&apply(&app, &email, &file, &[], &[]).await);

    assert!(second.contains("2 unchanged"), "{second}");
    let subscriptions = list(&api, "subscriptions").await;
    assert_eq!(
        subscriptions[0]["filter"],
        serde_json::json!({"repository": {"full_name": "acme/api"}, "commits": [{"author": "ada"}], "size": 1.5})
    );

    let list_filter = format!("{FILE}    filter: [push]\n");
    let error = failure(&apply(&app, &email, &list_filter, &[], &[]).await);
    assert!(
        error.contains("subscription `deploys`: filter: must be a JSON object"),
        "{error}"
    );
    assert_eq!(
        list(&api, "subscriptions").await,
        subscriptions,
        "unchanged"
    );
}

#[tokio::test]
async fn a_batch_in_the_file_is_stored_and_one_out_of_range_is_refused_at_its_line() {
    let app = spawn_app().await;
    let (api, email) = owner(&app).await;
    let file = format!("{FILE}    batch: {{max_events: 50, max_wait_ms: 500}}\n");

    stdout(&apply(&app, &email, &file, &[], &[]).await);
    let second = stdout(&apply(&app, &email, &file, &[], &[]).await);

    assert!(second.contains("2 unchanged"), "{second}");
    let subscriptions = list(&api, "subscriptions").await;
    assert_eq!(
        subscriptions[0]["batch"],
        serde_json::json!({"max_events": 50, "max_wait_ms": 500})
    );

    let too_many = file.replace("max_events: 50", "max_events: 501");
    let error = failure(&apply(&app, &email, &too_many, &[], &[]).await);
    assert!(
        error.contains("subscription `deploys`: batch: `max_events` must be from 2 to 500"),
        "{error}"
    );
    let without = stdout(&apply(&app, &email, FILE, &[], &[]).await);
    assert!(
        without.contains("update subscription `deploys`"),
        "{without}"
    );
    assert_eq!(
        list(&api, "subscriptions").await[0]["batch"],
        Value::Null,
        "absent from the file: one event per request"
    );
}
