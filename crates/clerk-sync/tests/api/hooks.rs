//! An application's own code on synced events: inside our transaction, and after it commits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clerk_sync::backfill::Resource;
use clerk_sync::clerk::ClerkEvent;
use clerk_sync::delivery::{Delivery, Origin};
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::hooks::{Outcome, Tx};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

/// What an app would write: a `profiles` row for every new user, and a welcome email after.
#[derive(Clone, Default)]
struct Profiles {
    welcomed: Arc<Mutex<Vec<String>>>,
    /// Where each delivery the in-transaction hook saw came from.
    origins: Arc<Mutex<Vec<Origin>>>,
}

#[rocket::async_trait]
impl Hooks for Profiles {
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        webhook: &Delivery,
        _: Outcome,
    ) -> Result<(), HookError> {
        self.origins.lock().unwrap().push(webhook.origin());
        if let ClerkEvent::UserCreated(user) = webhook.event() {
            if user.last_name.as_deref() == Some("Refused") {
                return Err("profiles: refused by a business rule".into());
            }
            sqlx::query("insert into profiles (user_id) values ($1)")
                .bind(&user.id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn after_commit(&self, webhook: &Delivery, _: Outcome) {
        if let ClerkEvent::UserCreated(user) = webhook.event() {
            self.welcomed.lock().unwrap().push(user.id.clone());
        }
    }
}

async fn app(db: PgConnectOptions, hooks: Profiles) -> TestApp {
    let app = TestApp::with_hooks(db, settings(SECRET), hooks).await;
    sqlx::query("create table profiles (user_id text primary key)")
        .execute(&app.db)
        .await
        .unwrap();
    app
}

#[sqlx::test(migrations = false)]
async fn an_in_transaction_hook_writes_the_apps_tables_with_ours(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = app(db, Profiles::default()).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "Doe"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        app.count("select count(*) from profiles where user_id = 'user_1'")
            .await,
        1
    );
    assert_eq!(app.user_rows().await, 1);
}

/// Hooks can tell a verified webhook from a backfilled object: each delivery names its origin.
#[sqlx::test(migrations = false)]
async fn hooks_are_told_where_each_delivery_came_from(_: PgPoolOptions, db: PgConnectOptions) {
    let hooks = Profiles::default();
    let app = app(db, hooks.clone()).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "Doe"))
            .await,
        200,
    )
    .await;
    // What `clerk-sync backfill` writes, applied with hooks (the tool itself runs none).
    let object = serde_json::value::to_raw_value(&serde_json::json!({
        "id": "user_2", "object": "user", "updated_at": 2
    }))
    .unwrap();
    let snapshot = clerk_sync::backfill::snapshot(Resource::Users, &object, 3, None).unwrap();
    assert_eq!(snapshot.origin(), Origin::Backfill);
    let mut tx = clerk_sync::db::begin_write(&app.db).await.unwrap();
    clerk_sync::apply_batch(&mut tx, &[&snapshot], Some(&hooks as &dyn Hooks))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        *hooks.origins.lock().unwrap(),
        vec![Origin::Webhook, Origin::Backfill]
    );
}

#[sqlx::test(migrations = false)]
async fn a_failing_hook_rolls_everything_back_and_answers_500(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let hooks = Profiles::default();
    let app = app(db, hooks.clone()).await;
    let error = expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "Refused"))
            .await,
        500,
    )
    .await;
    assert_eq!(error["error"], "hook_failed");
    assert_eq!(app.count("select count(*) from profiles").await, 0);
    assert_eq!(app.user_rows().await, 0);
    assert_eq!(app.ledger_rows().await, 0);
    rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(hooks.welcomed.lock().unwrap().is_empty());
}

#[sqlx::test(migrations = false)]
async fn the_after_commit_hook_runs_once_per_new_event(_: PgPoolOptions, db: PgConnectOptions) {
    let hooks = Profiles::default();
    let app = app(db, hooks.clone()).await;
    let svix_id = new_svix_id();
    let body = user_event("user.created", "user_1", 1, "Doe");
    expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    // The hook runs after the answer: wait for it however busy the machine is, then a little
    // longer for a second run that must not come.
    let started = std::time::Instant::now();
    while hooks.welcomed.lock().unwrap().is_empty() && started.elapsed() < PATIENT {
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*hooks.welcomed.lock().unwrap(), vec!["user_1".to_owned()]);
}

/// Hooks that misbehave, chosen by the user's last name; the rest behave.
struct Misbehaving;

#[rocket::async_trait]
impl Hooks for Misbehaving {
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        webhook: &Delivery,
        _: Outcome,
    ) -> Result<(), HookError> {
        let ClerkEvent::UserCreated(user) = webhook.event() else {
            return Ok(());
        };
        match user.last_name.as_deref() {
            // A failing statement whose error is ignored: Postgres aborts the transaction.
            Some("Swallows") => {
                let _ = sqlx::query("insert into no_such_table values (1)")
                    .execute(&mut **tx)
                    .await;
            }
            Some("Panics") => panic!("a hook bug"),
            _ => {}
        }
        Ok(())
    }

    async fn after_commit(&self, webhook: &Delivery, _: Outcome) {
        if let ClerkEvent::UserCreated(user) = webhook.event() {
            if user.last_name.as_deref() == Some("PanicsLater") {
                panic!("an after-commit hook bug");
            }
        }
    }
}

/// The sync with [`Misbehaving`] hooks and `/healthz`, one writer per test's choosing, batching
/// concurrent deliveries together.
async fn misbehaving_app(db: PgConnectOptions, writers: usize) -> TestApp {
    let mut settings = settings(SECRET);
    settings.batch.writers = writers;
    settings.batch.max_wait = Duration::from_millis(200);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let rocket = clerk_sync::ClerkSync::new(pool, settings)
        .hooks(Misbehaving)
        .rocket();
    TestApp::launch(db, rocket).await
}

fn users_named(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let body = user_event("user.created", &format!("user_{i}"), 1, name);
            (new_svix_id(), body)
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn a_hook_that_swallows_a_failed_statement_fails_only_its_own_delivery(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = misbehaving_app(db, 1).await;
    let deliveries = users_named(&["Doe", "Swallows", "Roe", "Poe"]);
    let answers = app.deliver_concurrently(&deliveries).await;
    for (i, (status, ack)) in answers.iter().enumerate() {
        assert_eq!(
            *status,
            if i == 1 { 500 } else { 200 },
            "delivery {i}: {ack}"
        );
    }
    assert_eq!(answers[1].1["error"], "hook_failed");
    // Every 200 is committed; nothing of the 500 is.
    assert_eq!(app.user_rows().await, 3);
    assert_eq!(app.ledger_rows().await, 3);
    assert_eq!(
        app.count("select count(*) from clerk.users where id = 'user_1'")
            .await,
        0
    );
}

#[sqlx::test(migrations = false)]
async fn panicking_hooks_fail_only_their_deliveries_and_every_writer_goes_on(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = misbehaving_app(db, 2).await;
    // More panics than writers, each beside deliveries that behave.
    let deliveries = users_named(&[
        "Doe",
        "Panics",
        "Roe",
        "Panics",
        "Poe",
        "Panics",
        "PanicsLater",
        "Moe",
    ]);
    let answers = app.deliver_concurrently(&deliveries).await;
    for (i, (status, ack)) in answers.iter().enumerate() {
        let expected = if deliveries[i].1.contains("\"Panics\"") {
            500
        } else {
            200
        };
        assert_eq!(*status, expected, "delivery {i}: {ack}");
    }
    assert_eq!(app.user_rows().await, 5);
    assert_eq!(app.ledger_rows().await, 5);

    // The writers are all still there: later deliveries are stored, health is 200.
    for (svix_id, body) in users_named(&["A", "B", "C", "D", "E", "F"]) {
        let body = body.replace("\"user_", "\"later_user_");
        expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    }
    assert_eq!(app.user_rows().await, 11);
    let health = app.client.get("/healthz").dispatch().await;
    assert_eq!(health.status().code, 200);
}
