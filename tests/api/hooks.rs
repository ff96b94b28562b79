//! An application's own code on synced events: inside our transaction, and after it commits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clerk_sync::clerk::ClerkEvent;
use clerk_sync::guard::ClerkWebhook;
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::store::{Outcome, Tx};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

/// What an app would write: a `profiles` row for every new user, and a welcome email after.
#[derive(Clone, Default)]
struct Profiles {
    welcomed: Arc<Mutex<Vec<String>>>,
}

#[rocket::async_trait]
impl Hooks for Profiles {
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        webhook: &ClerkWebhook,
        _: Outcome,
    ) -> Result<(), HookError> {
        if let ClerkEvent::UserCreated(user) = &webhook.event {
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

    async fn after_commit(&self, webhook: &ClerkWebhook, _: Outcome) {
        if let ClerkEvent::UserCreated(user) = &webhook.event {
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
    for _ in 0..50 {
        if !hooks.welcomed.lock().unwrap().is_empty() {
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*hooks.welcomed.lock().unwrap(), vec!["user_1".to_owned()]);
}
