//! The guard: what is refused, with which status, and that nothing is stored when it is.

use clerk_sync::config::Settings;
use clerk_sync::svix::Verifier;
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::Client;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

fn created(id: &str) -> String {
    user_event("user.created", id, 1_716_883_200_000, "Doe")
}

#[sqlx::test(migrations = false)]
async fn unbranded_webhook_headers_are_accepted(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let headers: Vec<_> = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes())
        .into_iter()
        .map(|(name, value)| {
            (
                name.replacen("svix-", "webhook-", 1).leak() as &'static str,
                value,
            )
        })
        .collect();
    expect_status(app.post(body, &headers).await, 200).await;
    assert_eq!(app.user_rows().await, 1);
}

#[sqlx::test(migrations = false)]
async fn both_secrets_of_a_rotation_are_accepted(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::with_settings(db, settings(&format!("{SECRET} {OTHER_SECRET}"))).await;
    for (secret, user) in [(SECRET, "user_new_key"), (OTHER_SECRET, "user_old_key")] {
        let body = created(user);
        let headers = signed_headers(secret, &new_svix_id(), now_seconds(), body.as_bytes());
        expect_status(app.post(body, &headers).await, 200).await;
    }
    assert_eq!(app.user_rows().await, 2);
}

#[sqlx::test(migrations = false)]
async fn a_signature_list_with_one_valid_entry_is_accepted(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let mut headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    headers[2].1 = format!("v2,AAAA v1,{} {}", "A".repeat(43) + "=", headers[2].1);
    expect_status(app.post(body, &headers).await, 200).await;
}

#[sqlx::test(migrations = false)]
async fn wrong_secret_is_401_and_stores_nothing(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let headers = signed_headers(OTHER_SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    let error = expect_status(app.post(body, &headers).await, 401).await;
    assert_eq!(error["error"], "invalid_signature");
    assert_eq!(app.ledger_rows().await, 0);
    assert_eq!(app.user_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn tampered_body_is_401_and_stores_nothing(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    let tampered = body.replace("John", "Eve");
    expect_status(app.post(tampered, &headers).await, 401).await;
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn stale_and_future_timestamps_are_401(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    for timestamp in [now_seconds() - 330, now_seconds() + 330] {
        let body = created("user_1");
        let headers = signed_headers(SECRET, &new_svix_id(), timestamp, body.as_bytes());
        let error = expect_status(app.post(body, &headers).await, 401).await;
        assert_eq!(error["error"], "timestamp_out_of_tolerance");
    }
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn each_missing_header_is_400(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    for missing in ["svix-id", "svix-timestamp", "svix-signature"] {
        let body = created("user_1");
        let headers: Vec<_> =
            signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes())
                .into_iter()
                .filter(|(name, _)| *name != missing)
                .collect();
        let error = expect_status(app.post(body, &headers).await, 400).await;
        assert_eq!(error["error"], "missing_header", "{missing}");
        assert!(
            error["message"].as_str().unwrap().contains(missing),
            "{error}"
        );
    }
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_malformed_timestamp_is_400(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let mut headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    headers[1].1 = format!("+{}", headers[1].1);
    let error = expect_status(app.post(body, &headers).await, 400).await;
    assert_eq!(error["error"], "malformed_timestamp");
}

#[sqlx::test(migrations = false)]
async fn a_body_over_the_limit_is_413_never_401(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    // Correctly signed, so only the size can be the reason.
    let body = format!(
        r#"{{"type":"user.updated","data":{{"blob":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    let headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    let error = expect_status(app.post(body, &headers).await, 413).await;
    assert_eq!(error["error"], "payload_too_large");
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_payload_far_over_rockets_8kib_default_is_accepted(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let mut event: serde_json::Value = serde_json::from_str(&created("user_big")).unwrap();
    event["data"]["public_metadata"] = serde_json::json!({ "notes": "n".repeat(200_000) });
    let body = event.to_string();
    expect_status(app.deliver(&body).await, 200).await;
    assert_eq!(app.user_rows().await, 1);
}

#[sqlx::test(migrations = false)]
async fn the_limit_is_configurable_by_name(_: PgPoolOptions, db: PgConnectOptions) {
    let settings = settings(SECRET);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db);
    let figment = rocket::Config::figment().merge(("limits.clerk_webhook", "1KiB"));
    let rocket = rocket::custom(figment).attach(clerk_sync::stage(pool, settings));
    let client = Client::tracked(rocket).await.unwrap();
    let body = created("user_1");
    assert!(body.len() > 1024);
    let mut request = client
        .post("/webhooks/clerk")
        .header(ContentType::JSON)
        .body(body.clone());
    for (name, value) in signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes()) {
        request = request.header(Header::new(name, value));
    }
    assert_eq!(request.dispatch().await.status().code, 413);
}

#[sqlx::test(migrations = false)]
async fn a_verified_body_that_is_not_an_event_is_422(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let not_events = [
        "not json at all",
        "[1, 2, 3]",
        r#"{"data": {"id": "user_1"}}"#,
        r#"{"type": "user.created"}"#,
        r#"{"type": 7, "data": {}}"#,
    ];
    for body in not_events {
        let error = expect_status(app.deliver(body).await, 422).await;
        assert_eq!(error["error"], "invalid_event", "{body}");
    }
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_known_type_whose_payload_does_not_fit_is_kept_as_failed(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let misfits = [
        r#"{"type": "user.created", "data": {"first_name": "no id"}}"#,
        r#"{"type": "user.updated", "data": {"id": 42}}"#,
        r#"{"type": "session.ended", "data": {"id": "sess_1", "status": ["not", "a", "string"]}}"#,
    ];
    for body in misfits {
        let ack = expect_status(app.deliver(body).await, 200).await;
        assert_eq!(ack["outcome"], "failed", "{body}");
    }
    let failed = app
        .count("select count(*) from clerk.webhook_events where status = 'failed'")
        .await;
    assert_eq!(failed, 3);
    assert_eq!(app.user_rows().await, 0);
    assert_eq!(app.count("select count(*) from clerk.sessions").await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_non_json_content_type_is_415(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let body = created("user_1");
    let mut request = app
        .client
        .post("/webhooks/clerk")
        .header(ContentType::Form)
        .body(body.clone());
    for (name, value) in signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes()) {
        request = request.header(Header::new(name, value));
    }
    expect_status(request.dispatch().await, 415).await;
    assert_eq!(app.ledger_rows().await, 0);
}

#[sqlx::test(migrations = false)]
async fn an_unknown_event_type_is_acknowledged_and_kept_in_the_ledger(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let body = r#"{"type":"spaceship.launched","object":"event","timestamp":1716883200000,"data":{"id":"ship_1"}}"#;
    let ack = expect_status(app.deliver(body).await, 200).await;
    assert_eq!(ack["outcome"], "unhandled");
    let (event_type, object_id, status): (String, String, String) =
        sqlx::query_as("select event_type, object_id, status from clerk.webhook_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (event_type.as_str(), object_id.as_str(), status.as_str()),
        ("spaceship.launched", "ship_1", "unhandled")
    );
}

/// The guard on its own, in an app's route: what it hands over is a webhook delivery.
#[rocket::async_test]
async fn the_guard_hands_a_route_a_delivery_whose_origin_is_webhook() {
    use clerk_sync::delivery::Origin;
    use clerk_sync::guard::ClerkWebhook;

    #[rocket::post("/hook", data = "<webhook>")]
    fn hook(webhook: ClerkWebhook) -> String {
        let delivery = webhook.into_delivery();
        assert_eq!(delivery.origin(), Origin::Webhook);
        format!(
            "{} {}",
            delivery.origin(),
            delivery.object_id().unwrap_or("-")
        )
    }

    let rocket = rocket::build()
        .manage(Verifier::from_secrets(SECRET).unwrap())
        .mount("/", rocket::routes![hook]);
    let client = Client::tracked(rocket).await.unwrap();
    let body = user_event("user.created", "user_1", 1, "Doe");
    let mut request = client.post("/hook").header(ContentType::JSON).body(&body);
    for (name, value) in signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes()) {
        request = request.header(Header::new(name, value));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status().code, 200);
    assert_eq!(response.into_string().await.unwrap(), "webhook user_1");
}

#[rocket::async_test]
async fn launch_aborts_when_no_verifier_is_configured() {
    // A route takes the guard, but nothing manages the Verifier the guard needs.
    #[rocket::post("/hook", data = "<webhook>")]
    fn hook(webhook: clerk_sync::guard::ClerkWebhook) -> String {
        webhook.svix_id().to_owned()
    }
    let rocket = rocket::build().mount("/", rocket::routes![hook]);
    let error = Client::tracked(rocket)
        .await
        .expect_err("launch must abort");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::SentinelAborts(_)),
        "{error}"
    );
}

#[test]
fn a_settings_value_carries_no_key_material_in_debug() {
    let settings = Settings::new(Verifier::from_secrets(SECRET).unwrap());
    assert!(!format!("{settings:?}").contains("MfKQ9r8G"));
}
