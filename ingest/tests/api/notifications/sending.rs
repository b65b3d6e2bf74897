//! Sending: a webhook signed with its channel's secret, retried while its endpoint is away,
//! given up without a word about itself, refused on a non-public address at send time; mail
//! through aiosmtpd, also when it comes up late; the digest; the failing check.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use warren_shared::{model::NotificationType, notify::Occurrence};
use warren_testkit::{
    eventually,
    receiver::{Reply, TestReceiver},
    smtp::{self, TestSmtp},
};

use super::{
    WAIT, create_channel, notifications, raise, spawn_notifying, standard_webhooks_accepts,
    subscription_and_pool, test_channel, webhook_channel,
};

#[tokio::test]
async fn a_test_reaches_a_webhook_channel_signed_with_its_own_secret() {
    let app = spawn_notifying(|_| {}).await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    let channel = webhook_channel(&api, &receiver.url("/notify")).await;

    let id = test_channel(&api, &channel).await;

    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.path, "/notify");
    assert_eq!(request.header("webhook-id"), id);
    assert_eq!(request.header("content-type"), "application/json");
    let body: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["type"], "notification.test");
    assert_eq!(body["subscription"], Value::Null);
    assert_eq!(body["data"]["count"], 1);
    assert!(body["at"].is_string());
    let secret = channel["signing_secret"].as_str().expect("a secret");
    assert!(
        standard_webhooks_accepts(secret, &request),
        "the official library verifies it with the channel's secret"
    );
    assert!(
        !standard_webhooks_accepts("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &request),
        "and refuses it with another"
    );
    let attempts = eventually("the send to be recorded as sent", WAIT, || async {
        let row = app
            .only_row("SELECT status, attempts FROM notification_sends")
            .await;
        (row.get::<_, String>(0) == "sent").then(|| row.get::<_, i32>(1))
    })
    .await;
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn a_channel_endpoint_down_for_a_while_still_gets_the_notification() {
    let app = spawn_notifying(|_| {}).await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    receiver.sequence(
        vec![Reply::status(503), Reply::status(502), Reply::status(500)],
        Reply::status(200),
    );
    let channel = webhook_channel(&api, &receiver.url("/notify")).await;

    let id = test_channel(&api, &channel).await;

    let requests = receiver.wait_for(4, WAIT).await;
    assert!(
        requests.iter().all(|r| r.header("webhook-id") == id),
        "every try is the same notification"
    );
    let waits: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        waits[0] >= Duration::from_millis(250) && waits[2] >= Duration::from_millis(900),
        "tries follow the schedule: {waits:?}"
    );
    eventually("the send to be recorded as sent", WAIT, || async {
        let row = app
            .only_row("SELECT status, attempts FROM notification_sends")
            .await;
        (row.get::<_, String>(0) == "sent").then_some(row.get::<_, i32>(1))
    })
    .await;
}

#[tokio::test]
async fn a_channel_that_keeps_failing_is_given_up_and_never_notified_about() {
    let app = spawn_notifying(|s| {
        s.notify_retry_schedule = "100ms,200ms".parse().expect("a schedule");
    })
    .await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::status(500));
    let channel = webhook_channel(&api, &receiver.url("/notify")).await;

    test_channel(&api, &channel).await;

    let error = eventually("the send to be given up", WAIT, || async {
        let row = app
            .only_row("SELECT status, attempts, last_error FROM notification_sends")
            .await;
        (row.get::<_, String>(0) == "failed")
            .then(|| (row.get::<_, i32>(1), row.get::<_, Option<String>>(2)))
    })
    .await;
    assert_eq!(error.0, 3, "one try, then one after each of the two waits");
    assert!(
        error.1.as_deref().is_some_and(|e| e.contains("500")),
        "{error:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(
        app.count("notifications").await,
        1,
        "the failing channel raised nothing about itself"
    );
}

#[tokio::test]
async fn a_name_resolving_to_a_refused_address_is_refused_when_sending() {
    // `localhost` is refused at create; stored behind the API's back, it must still be refused
    // on the address the name resolves to, when the send connects.
    let app = spawn_notifying(|s| s.allow_target_cidrs = Default::default()).await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    let port = receiver
        .url("")
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();
    let client = app.db.client().await;
    let channel_id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO notification_channels (id, user_id, name, kind, target_url, signing_secret)
             SELECT $1, id, 'sneaky', 'webhook', $2, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
             FROM users",
            &[&channel_id, &format!("http://localhost:{port}/x")],
        )
        .await
        .expect("a channel");

    test_channel(&api, &json!({"id": channel_id.to_string()})).await;

    let error = eventually("the send to fail", WAIT, || async {
        let row = app
            .only_row("SELECT last_error FROM notification_sends")
            .await;
        row.get::<_, Option<String>>(0)
    })
    .await;
    assert!(error.contains("non-public"), "{error}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback"
    );
}

#[tokio::test]
async fn an_email_channel_gets_a_plain_text_mail_naming_the_subscription_with_a_link() {
    let smtp_server = TestSmtp::start().await;
    let smtp_url = smtp_server.url();
    let app = spawn_notifying(|s| {
        s.smtp_url = Some(smtp_url);
        s.smtp_from = "Warren <alerts@warren.example>".into();
    })
    .await;
    let api = app.user().await;
    create_channel(
        &api,
        json!({"name": "me", "kind": "email", "email": "ops@example.com"}),
    )
    .await;
    let (subscription, pool) = subscription_and_pool(&app, &api).await;
    let disabled = Occurrence::new(
        subscription,
        NotificationType::SubscriptionDisabled,
        json!({"reason": "the target answered 410 Gone"}),
    );

    raise(&pool, &disabled, Duration::from_secs(600)).await;

    let mail = smtp_server.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail["rcpt_tos"], json!(["ops@example.com"]));
    assert_eq!(mail["from"], "Warren <alerts@warren.example>");
    assert_eq!(mail["content_type"], "text/plain");
    assert_eq!(
        mail["subject"],
        "[Warren] Subscription \"test subscription\" was disabled"
    );
    let body = mail["body"].as_str().expect("a body");
    assert!(body.contains("the target answered 410 Gone"), "{body}");
    assert!(
        body.contains(&format!("{}/subscriptions/{subscription}", app.address)),
        "a link to the subscription: {body}"
    );
}

#[tokio::test]
async fn a_mail_still_arrives_when_the_smtp_server_comes_up_later() {
    let port = smtp::free_port();
    let app = spawn_notifying(|s| s.smtp_url = Some(smtp::url_on(port))).await;
    let api = app.user().await;
    let channel = create_channel(
        &api,
        json!({"name": "me", "kind": "email", "email": "ops@example.com"}),
    )
    .await;

    let id = test_channel(&api, &channel).await;
    let error = eventually("a try to fail while the server is away", WAIT, || async {
        let row = app
            .only_row("SELECT last_error FROM notification_sends")
            .await;
        row.get::<_, Option<String>>(0)
    })
    .await;
    assert!(error.contains("SMTP"), "{error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let smtp_server = TestSmtp::start_on(port).await;

    let mail = smtp_server.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail["subject"], "[Warren] Test notification");
    assert!(
        mail["body"].as_str().is_some_and(|b| b.contains(&id)),
        "{mail}"
    );
    let row = app
        .only_row("SELECT status, attempts FROM notification_sends")
        .await;
    assert_eq!(row.get::<_, String>(0), "sent");
    assert!(
        row.get::<_, i32>(1) >= 2,
        "it was tried before the server came up"
    );
}

#[tokio::test]
async fn occurrences_within_the_interval_make_one_notification_then_a_digest_with_the_count() {
    let app = spawn_notifying(|s| s.notify_min_interval_secs = 2).await;
    let api = app.user().await;
    let receiver = TestReceiver::start().await;
    create_channel(
        &api,
        json!({"name": "dead only", "kind": "webhook", "target_url": receiver.url("/n"), "types": ["delivery.dead"]}),
    )
    .await;
    let (subscription, pool) = subscription_and_pool(&app, &api).await;
    let dead = |n: u32| {
        Occurrence::new(
            subscription,
            NotificationType::DeliveryDead,
            json!({"delivery_id": format!("d{n}")}),
        )
    };
    let other = Occurrence::new(
        subscription,
        NotificationType::SubscriptionDisabled,
        json!({}),
    );

    for n in 0..5 {
        raise(&pool, &dead(n), Duration::from_secs(2)).await;
    }
    raise(&pool, &other, Duration::from_secs(2)).await;

    let first = receiver.wait_for(1, WAIT).await.remove(0);
    let first: Value = serde_json::from_slice(&first.body).expect("JSON");
    assert_eq!(first["type"], "delivery.dead");
    assert_eq!(first["data"]["count"], 1);
    assert_eq!(first["data"]["delivery_id"], "d0");
    assert_eq!(first["subscription"]["id"], subscription.to_string());
    assert_eq!(first["subscription"]["name"], "test subscription");
    let listed = notifications(&api).await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(2),
        "one of each type so far: {listed}"
    );

    let requests = receiver.wait_for(2, WAIT).await;
    let digest: Value = serde_json::from_slice(&requests[1].body).expect("JSON");
    assert_eq!(digest["type"], "delivery.dead");
    assert_eq!(digest["data"]["count"], 4, "the four held back: {digest}");
    assert_eq!(
        digest["data"]["delivery_id"], "d4",
        "the latest one's details"
    );
    assert!(
        requests[1].at - requests[0].at >= Duration::from_millis(1_500),
        "the digest waited for the interval"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "the channel takes only delivery.dead: the disabling is not sent to it"
    );
}

#[tokio::test]
async fn a_subscription_failing_most_of_its_attempts_is_reported_once_while_it_goes_on() {
    let app = spawn_notifying(|s| s.notify_failing_check_secs = 1).await;
    let api = app.user().await;
    let (subscription, _) = subscription_and_pool(&app, &api).await;
    let client = app.db.client().await;
    // Attempts counted as the worker counts those it records: into the minute's rollup.
    let record_attempts = |failed: i32, succeeded: i32, ago_secs: f64| {
        let client = &client;
        async move {
            client
                .execute(
                    "INSERT INTO subscription_rollups_minute AS r (subscription_id, bucket,
                         attempts, succeeded, timeouts, dead, duration_ms_sum, latency)
                     VALUES ($1, date_bin('1 minute', now() - make_interval(secs => $4),
                                          TIMESTAMPTZ 'epoch'),
                             $2::int + $3::int, $3::int, 0, 0, 12 * ($2::int + $3::int), '{}')
                     ON CONFLICT (subscription_id, bucket) DO UPDATE SET
                         attempts = r.attempts + excluded.attempts,
                         succeeded = r.succeeded + excluded.succeeded",
                    &[&subscription, &failed, &succeeded, &ago_secs],
                )
                .await
                .expect("attempts recorded");
        }
    };
    // Failures older than the window do not count.
    record_attempts(40, 0, 17.0 * 60.0).await;
    record_attempts(5, 5, 0.0).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        notifications(&api).await["data"],
        json!([]),
        "half succeeded: not failing"
    );

    record_attempts(6, 0, 0.0).await;

    let failing = eventually("subscription.failing", WAIT, || async {
        let listed = notifications(&api).await;
        listed["data"].as_array().and_then(|d| d.first().cloned())
    })
    .await;
    assert_eq!(failing["type"], "subscription.failing");
    assert_eq!(failing["subscription_id"], subscription.to_string());
    assert_eq!(failing["data"]["attempts"], 16);
    assert_eq!(failing["data"]["succeeded"], 5);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        notifications(&api).await["data"].as_array().map(Vec::len),
        Some(1),
        "told once while it goes on failing"
    );
}
