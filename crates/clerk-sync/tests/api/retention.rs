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

/// Deduplication keeps 28 hours of svix-ids in `clerk.recent_svix_ids`; a message resent later
/// (by hand, from the Svix dashboard) is found in the ledger by its event time.
#[sqlx::test(migrations = false)]
async fn a_message_resent_after_the_dedup_window_is_still_a_duplicate(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    // The fixture's envelope time is years old, as a resent message's is.
    let (svix_id, body) = (
        new_svix_id(),
        user_event("user.created", "user_1", 1, "Doe"),
    );
    let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    assert_eq!(ack["outcome"], "applied");

    sqlx::query("update clerk.recent_svix_ids set received_at = now() - interval '29 hours'")
        .execute(&app.db)
        .await
        .unwrap();
    let deleted = clerk_sync::prune_ledger(&app.db, Duration::from_secs(30 * 24 * 3600), 100)
        .await
        .unwrap();
    assert_eq!(deleted, 0);
    let recent: i64 = sqlx::query_scalar("select count(*) from clerk.recent_svix_ids")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recent, 0, "the pruner keeps only the window");

    let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(app.ledger_rows().await, 1);

    // Once the ledger has forgotten it too (past the retention), it is applied again: the
    // projection's ordering rule makes that harmless.
    age(&app, &svix_id, 24 * 40).await;
    sqlx::query("update clerk.recent_svix_ids set received_at = now() - interval '29 hours'")
        .execute(&app.db)
        .await
        .unwrap();
    clerk_sync::prune_ledger(&app.db, Duration::from_secs(30 * 24 * 3600), 100)
        .await
        .unwrap();
    assert_eq!(app.ledger_rows().await, 0);
    expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(app.user_rows().await, 1);
}

/// A delivery whose event is recent is new unless its svix-id is in the window: the ledger is
/// not asked.
#[sqlx::test(migrations = false)]
async fn a_recent_event_is_deduplicated_by_the_window_alone(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut event: serde_json::Value =
        serde_json::from_str(&user_event("user.created", "user_1", now, "Doe")).unwrap();
    event["timestamp"] = serde_json::json!(now);
    let (svix_id, body) = (new_svix_id(), event.to_string());
    let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    assert_eq!(ack["outcome"], "applied");
    let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(app.ledger_rows().await, 1);
}
