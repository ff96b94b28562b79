//! `GET /metrics`: Prometheus text behind a bearer token, counting what the service did.

use rocket::http::Header;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = app.client.get("/metrics");
    if let Some(token) = token {
        request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    }
    let response = request.dispatch().await;
    let status = response.status().code;
    let content_type = response.content_type().map(|ct| ct.to_string());
    (
        status,
        response.into_string().await.unwrap_or_default(),
        content_type,
    )
}

#[sqlx::test(migrations = false)]
async fn metrics_are_off_without_a_token(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let (status, body, _) = scrape(&app, Some("anything")).await;
    assert_eq!(status, 404);
    assert!(body.contains("CLERK_SYNC_METRICS_TOKEN"), "{body}");
}

#[sqlx::test(migrations = false)]
async fn metrics_count_deliveries_refusals_and_batches_for_the_token_only(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.metrics_token = clerk_sync::config::MetricsToken::new("s3cret-token");
    let app = TestApp::with_settings(db, settings).await;

    expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "A"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", 2, "B"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", 1, "Old"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(r#"{"type":"future.event","data":{"id":"x"}}"#)
            .await,
        200,
    )
    .await;
    let body = user_event("user.created", "user_2", 1, "A");
    let forged = signed_headers(OTHER_SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    expect_status(app.post(body.clone(), &forged).await, 401).await;
    expect_status(app.post(body, &[]).await, 400).await;

    for wrong in [None, Some("wrong"), Some("s3cret-token ")] {
        let (status, body, _) = scrape(&app, wrong).await;
        assert_eq!(status, 401, "{wrong:?}: {body}");
    }
    let (status, text, content_type) = scrape(&app, Some("s3cret-token")).await;
    assert_eq!(status, 200);
    assert!(content_type.unwrap().starts_with("text/plain"));
    for line in [
        r#"clerk_sync_deliveries_total{event_type="user.created",outcome="applied"} 1"#,
        r#"clerk_sync_deliveries_total{event_type="user.updated",outcome="applied"} 1"#,
        r#"clerk_sync_deliveries_total{event_type="user.updated",outcome="stale"} 1"#,
        r#"clerk_sync_deliveries_total{event_type="other",outcome="unhandled"} 1"#,
        r#"clerk_sync_rejections_total{reason="invalid_signature"} 1"#,
        r#"clerk_sync_rejections_total{reason="missing_header"} 1"#,
        "clerk_sync_batch_size_sum 4",
        "clerk_sync_batch_size_count 4",
        r#"clerk_sync_database_seconds_count{result="commit"} 4"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    // Counts only: no ids, no personal data.
    assert!(!text.contains("user_1") && !text.contains("example.com"));
}
