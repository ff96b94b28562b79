//! `clerk-sync replay` on an event Postgres still refuses.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

/// `user.updated` of `user_id` with `unsafe_metadata` set to `metadata` (raw JSON text, so it can
/// hold what a Rust string cannot).
fn with_metadata(user_id: &str, metadata: &str) -> String {
    user_event("user.updated", user_id, 1_716_883_200_000, "Doe").replace(
        r#""unsafe_metadata":{}"#,
        &format!(r#""unsafe_metadata":{metadata}"#),
    )
}

#[sqlx::test(migrations = false)]
async fn replay_reports_an_event_postgres_still_refuses_and_keeps_it_failed(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    let good = user_event("user.created", "user_ok", 1, "Doe");
    expect_status(app.deliver(&good).await, 200).await;
    let refused = with_metadata("user_bad", r#"{"n":1e400000}"#);
    expect_status(app.deliver(&refused).await, 200).await;
    let url = database_url(&db).await;

    let run = clerk_sync(&["replay", "--all"], &[("DATABASE_URL", url.as_str())]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("1 failed"), "{run:?}");
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where status = 'failed' and failure_reason like '%22003%'")
            .await,
        1
    );
    assert_eq!(app.user_rows().await, 1);
}
