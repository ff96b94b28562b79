//! The ledger keeps svix-ids long enough for Svix's retries to stay no-ops.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

async fn age(app: &TestApp, svix_id: &str, hours: i64) {
    sqlx::query("update clerk.webhook_events set received_at = now() - make_interval(hours => $2) where svix_id = $1")
        .bind(svix_id)
        .bind(hours as i32)
        .execute(&app.db)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn pruning_never_removes_svix_ids_younger_than_28_hours(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let ids: Vec<String> = (0..5).map(|_| new_svix_id()).collect();
    for (i, svix_id) in ids.iter().enumerate() {
        expect_status(
            app.deliver_as(
                svix_id,
                &user_event("user.created", &format!("user_{i}"), 1, "Doe"),
            )
            .await,
            200,
        )
        .await;
    }
    age(&app, &ids[0], 27).await;
    age(&app, &ids[1], 29).await;
    age(&app, &ids[2], 24 * 40).await;
    // Even when asked for one hour, and in batches of one.
    let deleted = clerk_sync::prune_ledger(&app.db, Duration::from_secs(3600), 1)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(app.ledger_rows().await, 3);
    // A retry of the 27-hour-old message is still recognised.
    let ack = expect_status(
        app.deliver_as(&ids[0], &user_event("user.created", "user_0", 1, "Doe"))
            .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "duplicate");
    // Projections are not touched by pruning.
    assert_eq!(app.user_rows().await, 5);
}
