//! Group commit: concurrent deliveries share transactions, and still each get their answer only
//! after the commit that holds them; a bad event does not take its neighbours down.

use std::time::Duration;

use clerk_sync::delivery::Delivery;
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::hooks::{Outcome, Tx};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

/// Records which transaction stored each event, and fails on one user id.
struct TxRecorder {
    fail_on: Option<&'static str>,
}

#[rocket::async_trait]
impl Hooks for TxRecorder {
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        webhook: &Delivery,
        _: Outcome,
    ) -> Result<(), HookError> {
        let object_id = webhook.object_id().unwrap_or_default();
        if Some(object_id) == self.fail_on {
            return Err("this user is refused by the application".into());
        }
        sqlx::query("insert into stored_in (svix_id, txid) values ($1, txid_current())")
            .bind(webhook.svix_id())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

fn batching(max_events: usize) -> clerk_sync::config::Settings {
    let mut settings = settings(SECRET);
    settings.batch.writers = 1;
    settings.batch.max_events = max_events;
    // Long enough that all concurrent deliveries of a test land in one batch window.
    settings.batch.max_wait = Duration::from_millis(200);
    settings
}

async fn app_with(
    db: PgConnectOptions,
    settings: clerk_sync::config::Settings,
    fail_on: Option<&'static str>,
) -> TestApp {
    let app = TestApp::with_hooks(db, settings, TxRecorder { fail_on }).await;
    sqlx::query("create table stored_in (svix_id text primary key, txid bigint not null)")
        .execute(&app.db)
        .await
        .unwrap();
    app
}

fn users(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                new_svix_id(),
                user_event(
                    "user.created",
                    &format!("user_{i}"),
                    1_716_883_200_000,
                    "Doe",
                ),
            )
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn concurrent_deliveries_share_one_commit(_: PgPoolOptions, db: PgConnectOptions) {
    let app = app_with(db, batching(64), None).await;
    let answers = app.deliver_concurrently(&users(40)).await;
    assert!(
        answers
            .iter()
            .all(|(status, ack)| *status == 200 && ack["outcome"] == "applied"),
        "{answers:?}"
    );
    assert_eq!(app.user_rows().await, 40);
    let transactions = app
        .count("select count(distinct txid) from stored_in")
        .await;
    assert!(
        transactions < 40,
        "{transactions} transactions for 40 deliveries"
    );
}

#[sqlx::test(migrations = false)]
async fn a_batch_never_exceeds_its_size(_: PgPoolOptions, db: PgConnectOptions) {
    let app = app_with(db, batching(8), None).await;
    let answers = app.deliver_concurrently(&users(40)).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let largest = app
        .count("select max(n) from (select count(*) as n from stored_in group by txid) s")
        .await;
    assert!(largest <= 8, "a transaction held {largest} deliveries");
    assert_eq!(app.user_rows().await, 40);
}

#[sqlx::test(migrations = false)]
async fn a_failing_event_does_not_fail_its_batch_neighbours(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = app_with(db, batching(64), Some("user_7")).await;
    let deliveries = users(20);
    let answers = app.deliver_concurrently(&deliveries).await;
    for (i, (status, _)) in answers.iter().enumerate() {
        assert_eq!(*status, if i == 7 { 500 } else { 200 }, "delivery {i}");
    }
    // Nothing of the failed event is stored: not its ledger row, not its user.
    assert_eq!(app.user_rows().await, 19);
    assert_eq!(app.ledger_rows().await, 19);
    assert_eq!(
        app.count("select count(*) from clerk.users where id = 'user_7'")
            .await,
        0
    );
}

#[sqlx::test(migrations = false)]
async fn duplicates_inside_one_batch_have_one_effect(_: PgPoolOptions, db: PgConnectOptions) {
    let app = app_with(db, batching(64), None).await;
    let svix_id = new_svix_id();
    let body = user_event("user.created", "user_1", 1_716_883_200_000, "Doe");
    let deliveries: Vec<(String, String)> =
        (0..10).map(|_| (svix_id.clone(), body.clone())).collect();
    let answers = app.deliver_concurrently(&deliveries).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, ack)| ack["outcome"] == "applied")
        .count();
    assert_eq!(applied, 1, "{answers:?}");
    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(app.count("select count(*) from stored_in").await, 1);
}

#[sqlx::test(migrations = false)]
async fn updates_of_one_user_inside_one_batch_keep_the_newest(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = app_with(db, batching(64), None).await;
    let deliveries: Vec<(String, String)> = (0..10)
        .map(|i| {
            (
                new_svix_id(),
                user_event(
                    "user.updated",
                    "user_1",
                    1_716_883_200_000 + i,
                    &format!("v{i}"),
                ),
            )
        })
        .collect();
    let answers = app.deliver_concurrently(&deliveries).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let last_name: String =
        sqlx::query_scalar("select last_name from clerk.users where id = 'user_1'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(last_name, "v9");
    assert_eq!(app.ledger_rows().await, 10);
}
