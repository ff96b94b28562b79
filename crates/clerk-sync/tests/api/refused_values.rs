//! Verified, well-formed events whose values Postgres refuses are kept as `failed` with the
//! reason and answered 200, not answered 503 for Svix to retry for a day to no avail. A retry
//! changes neither the answer's status nor what is stored.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

/// `user.updated` of `user_id` with `unsafe_metadata` set to `metadata` (raw JSON text, so it can
/// hold what a Rust string cannot).
fn with_metadata(user_id: &str, metadata: &str) -> String {
    user_event("user.updated", user_id, 1_716_883_200_000, "Doe").replace(
        r#""unsafe_metadata":{}"#,
        &format!(r#""unsafe_metadata":{metadata}"#),
    )
}

/// The refused values, each with the SQLSTATE Postgres refuses it with.
fn refused() -> Vec<(&'static str, String, &'static str)> {
    let mut far_future: Value =
        serde_json::from_str(&user_event("user.updated", "user_time", 1, "Doe")).unwrap();
    far_future["data"]["updated_at"] = json!(i64::MAX);
    let mut far_envelope: Value =
        serde_json::from_str(&user_event("user.updated", "user_envelope", 1, "Doe")).unwrap();
    far_envelope["timestamp"] = json!(i64::MAX / 2);
    vec![
        (
            "a lone UTF-16 surrogate escape",
            with_metadata("user_surrogate", r#"{"note":"\ud800"}"#),
            "22P02",
        ),
        (
            "a number past numeric's range",
            with_metadata("user_numeric", r#"{"n":1e400000}"#),
            "22003",
        ),
        (
            "an updated_at past timestamptz's range",
            far_future.to_string(),
            "22008",
        ),
        (
            "an envelope timestamp past timestamptz's range",
            far_envelope.to_string(),
            "22008",
        ),
    ]
}

#[sqlx::test(migrations = false)]
async fn values_postgres_refuses_are_kept_as_failed_and_a_retry_changes_nothing(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    for (what, body, sqlstate) in refused() {
        assert!(body.contains("user_"), "{what}: the edit did not apply");
        let svix_id = new_svix_id();
        let first = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        assert_eq!(first["outcome"], "failed", "{what}: {first}");
        let (status, reason): (String, Option<String>) = sqlx::query_as(
            "select status, failure_reason from clerk.webhook_events where svix_id = $1",
        )
        .bind(&svix_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(status, "failed", "{what}");
        let reason = reason.unwrap_or_default();
        assert!(reason.contains(sqlstate), "{what}: {reason}");
        // The body is kept verbatim, as text.
        let kept: String =
            sqlx::query_scalar("select body from clerk.webhook_events where svix_id = $1")
                .bind(&svix_id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(kept, body, "{what}");

        let again = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        assert_eq!(again["outcome"], "duplicate", "{what}: {again}");
    }
    assert_eq!(app.ledger_rows().await, 4);
    assert_eq!(app.user_rows().await, 0, "nothing half-projected");
}

#[sqlx::test(migrations = false)]
async fn a_refused_event_does_not_fail_its_batch_neighbours(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.batch.writers = 1;
    settings.batch.max_wait = Duration::from_millis(200);
    let app = TestApp::with_settings(db, settings).await;
    let mut deliveries: Vec<(String, String)> = (0..6)
        .map(|i| {
            let body = user_event("user.created", &format!("user_{i}"), 1, "Doe");
            (new_svix_id(), body)
        })
        .collect();
    deliveries[3].1 = with_metadata("user_3", r#"{"note":"\ud800"}"#);
    let answers = app.deliver_concurrently(&deliveries).await;
    for (i, (status, ack)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "delivery {i}: {ack}");
        let expected = if i == 3 { "failed" } else { "applied" };
        assert_eq!(ack["outcome"], expected, "delivery {i}");
    }
    assert_eq!(app.user_rows().await, 5);
    assert_eq!(app.ledger_rows().await, 6);
}
